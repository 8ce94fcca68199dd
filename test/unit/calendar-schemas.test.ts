import { describe, expect, it } from 'vitest';
import { calendarSyncPayloadSchema, calendarWritePayloadSchema, firstIssueField } from '../../src/jobs/calendar/schemas.js';

const valid = {
  accountId: 'alice',
  calendar: 'work',
  op: 'upsert',
  event: { uid: 'e-1', summary: 'Standup', start: '2027-01-04T09:00:00Z', end: '2027-01-04T09:15:00+00:00' },
};

function fieldOf(value: unknown): string | undefined {
  const result = calendarWritePayloadSchema.safeParse(value);
  return result.success ? undefined : firstIssueField(result.error);
}

describe('calendar payload schemas', () => {
  it('accepts a complete write payload and keeps optional fields', () => {
    const parsed = calendarWritePayloadSchema.parse({ ...valid, event: { ...valid.event, location: 'Room 1', description: 'daily' } });
    expect(parsed.event).toMatchObject({ location: 'Room 1', description: 'daily' });
  });

  it.each([
    ['end before start', { ...valid, event: { ...valid.event, end: '2027-01-04T08:00:00Z' } }, 'event.end'],
    ['end equal to start', { ...valid, event: { ...valid.event, end: valid.event.start } }, 'event.end'],
    ['missing uid', { ...valid, event: { ...valid.event, uid: undefined } }, 'event.uid'],
    ['empty uid', { ...valid, event: { ...valid.event, uid: '' } }, 'event.uid'],
    ['not an ISO datetime', { ...valid, event: { ...valid.event, start: 'tomorrow' } }, 'event.start'],
    ['unknown op', { ...valid, op: 'patch' }, 'op'],
    ['calendar escaping the account', { ...valid, calendar: '../bob/work' }, 'calendar'],
    ['absolute calendar path', { ...valid, calendar: '/alice/work' }, 'calendar'],
    ['credentials-looking account id', { ...valid, accountId: 'alice:pw' }, 'accountId'],
  ])('rejects %s, naming %s', (_name, value, field) => {
    expect(fieldOf(value)).toBe(field);
  });

  it('the end-before-start error reads as a sentence about event.end', () => {
    const result = calendarWritePayloadSchema.safeParse({ ...valid, event: { ...valid.event, end: '2027-01-04T08:00:00Z' } });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe('must be after event.start');
  });

  it('sync payloads accept nested calendar paths and reject dot segments', () => {
    expect(calendarSyncPayloadSchema.parse({ accountId: 'a', calendar: 'calendars/work/' }).calendar).toBe('calendars/work/');
    expect(calendarSyncPayloadSchema.safeParse({ accountId: 'a', calendar: 'calendars/./work' }).success).toBe(false);
  });
});
