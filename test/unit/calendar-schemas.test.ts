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

  it.each([
    ['all-day', { start: '2027-03-19', end: '2027-03-20' }],
    ['multi-day all-day', { start: '2027-03-26', end: '2027-03-30' }],
    ['zoned, with an offset', { start: '2027-03-26T09:00:00+01:00', end: '2027-03-26T10:00:00+01:00', timeZone: 'Europe/Berlin' }],
    ['zoned, local times', { start: '2027-03-26T09:00:00', end: '2027-03-26T10:00:00', timeZone: 'Europe/Berlin' }],
    ['recurring with exceptions', { rrule: 'FREQ=WEEKLY;BYDAY=MO;COUNT=10', exdates: ['2027-01-11T09:00:00Z'] }],
    [
      'attendees and reminders',
      {
        attendees: [{ email: 'ada@example.com', name: 'Ada', role: 'chair', status: 'accepted' }, { email: 'bob@example.com' }],
        reminders: [{ minutesBefore: 15 }, { minutesBefore: 0, action: 'audio' }],
      },
    ],
  ])('accepts an event %s', (_name, fields) => {
    expect(calendarWritePayloadSchema.safeParse({ ...valid, event: { ...valid.event, ...fields } }).error?.issues).toBeUndefined();
  });

  it('a delete needs only the uid', () => {
    expect(calendarWritePayloadSchema.parse({ ...valid, op: 'delete', event: { uid: 'e-1' } }).event).toEqual({ uid: 'e-1' });
    expect(fieldOf({ ...valid, op: 'delete', event: {} })).toBe('event.uid');
  });

  it('refuses unknown fields, naming each: in the event, in an attendee, in a reminder, in the payload', () => {
    const unknown = (value: unknown): string | undefined => {
      const result = calendarWritePayloadSchema.safeParse(value);
      return result.success ? undefined : `${firstIssueField(result.error)}: ${result.error.issues[0]?.message}`;
    };
    expect(unknown({ ...valid, event: { ...valid.event, colour: 'red', recurrence: 'weekly' } })).toBe(
      'event: Unrecognized keys: "colour", "recurrence"',
    );
    expect(unknown({ ...valid, event: { ...valid.event, attendees: [{ email: 'a@example.com', rsvp: true }] } })).toBe(
      'event.attendees.0: Unrecognized key: "rsvp"',
    );
    expect(unknown({ ...valid, event: { ...valid.event, reminders: [{ minutesBefore: 5, sound: 'x' }] } })).toBe(
      'event.reminders.0: Unrecognized key: "sound"',
    );
    expect(unknown({ ...valid, extra: 1 })).toBe('body: Unrecognized key: "extra"');
    expect(unknown({ ...valid, op: 'delete', event: { uid: 'x', alarms: [] } })).toBe('event: Unrecognized key: "alarms"');
  });

  it.each([
    ['date start, date-time end', { start: '2027-03-19', end: '2027-03-20T00:00:00Z' }, 'event.end'],
    ['all-day with a zone', { start: '2027-03-19', end: '2027-03-20', timeZone: 'Europe/Berlin' }, 'event.timeZone'],
    ['all-day ending on its start', { start: '2027-03-19', end: '2027-03-19' }, 'event.end'],
    ['a local time without a zone', { start: '2027-03-26T09:00:00', end: '2027-03-26T10:00:00Z' }, 'event.start'],
    ['a zone that is not IANA', { timeZone: 'W. Europe Standard Time' }, 'event.timeZone'],
    ['a zone that is an offset', { timeZone: '+01:00' }, 'event.timeZone'],
    ['an impossible date', { start: '2027-02-30', end: '2027-03-01' }, 'event.start'],
    ['a bad RRULE part', { rrule: 'FREQ=WEEKLY;BYDAY=XX' }, 'event.rrule'],
    ['an RRULE without FREQ', { rrule: 'COUNT=3' }, 'event.rrule'],
    ['an unknown RRULE part', { rrule: 'FREQ=WEEKLY;EVERY=2' }, 'event.rrule'],
    ['exdates without a rule', { exdates: ['2027-01-11T09:00:00Z'] }, 'event.exdates'],
    ['an all-day exdate on a timed event', { rrule: 'FREQ=DAILY', exdates: ['2027-01-11'] }, 'event.exdates.0'],
    ['an attendee without an email', { attendees: [{ name: 'x' }] }, 'event.attendees.0.email'],
    [
      'an attendee role of another vocabulary',
      { attendees: [{ email: 'a@example.com', role: 'REQ-PARTICIPANT' }] },
      'event.attendees.0.role',
    ],
    ['a reminder after the start', { reminders: [{ minutesBefore: -5 }] }, 'event.reminders.0.minutesBefore'],
    ['a reminder action of another vocabulary', { reminders: [{ minutesBefore: 5, action: 'popup' }] }, 'event.reminders.0.action'],
  ])('rejects %s, naming %s', (_name, fields, field) => {
    expect(fieldOf({ ...valid, event: { ...valid.event, ...fields } })).toBe(field);
  });
});
