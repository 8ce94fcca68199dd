import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../../src/jobs/calendar/http.js';
import { buildEventIcs, parseEventIcs, sameEvent } from '../../src/jobs/calendar/ical.js';

const NOW = Date.parse('2026-11-29T12:00:00Z');

describe('parseRetryAfter', () => {
  it.each([
    ['7', 7000],
    [' 120 ', 120_000],
    ['0', 0],
    ['Sun, 29 Nov 2026 12:00:30 GMT', 30_000],
    ['Sun, 29 Nov 2026 11:59:00 GMT', 0],
    ['soon', undefined],
    ['-5', undefined],
    [null, undefined],
  ])('%j → %j ms', (value, expected) => {
    expect(parseRetryAfter(value, NOW)).toBe(expected);
  });
});

describe('iCalendar objects', () => {
  const event = {
    uid: 'e-1',
    summary: 'Plan, review; ship',
    start: '2027-01-04T09:00:00+01:00',
    end: '2027-01-04T10:30:00+01:00',
    location: 'Room\n2',
  };

  it('round-trips through ical.js with UTC times and escaped text', () => {
    const ics = buildEventIcs(event, new Date(NOW));
    expect(ics).toContain('DTSTART:20270104T080000Z');
    expect(ics).toContain('SUMMARY:Plan\\, review\\; ship');
    const parsed = parseEventIcs(ics);
    expect(parsed).toMatchObject({ uid: 'e-1', summary: 'Plan, review; ship', location: 'Room\n2', description: undefined });
    expect(parsed.startsAt?.toISOString()).toBe('2027-01-04T08:00:00.000Z');
    expect(sameEvent(parsed, event)).toBe(true);
  });

  it('sameEvent ignores DTSTAMP but sees every field that the payload sets', () => {
    const stored = parseEventIcs(buildEventIcs(event, new Date(0)));
    expect(sameEvent(stored, event)).toBe(true);
    expect(sameEvent(stored, { ...event, summary: 'other' })).toBe(false);
    expect(sameEvent(stored, { ...event, end: '2027-01-04T10:31:00+01:00' })).toBe(false);
    expect(sameEvent(stored, { ...event, description: 'added' })).toBe(false);
  });
});
