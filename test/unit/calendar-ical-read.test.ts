/**
 * Reading real apps' objects (test/fixtures/ical/, modelled on what Apple Calendar, Google export,
 * Thunderbird, Outlook, Nextcloud and python-caldav write): each against values checked by hand, and
 * the occurrences of the recurring ones. The host-independence under two `TZ`s is
 * test/integration/calendar-sync-zones.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseEventIcs } from '../../src/jobs/calendar/ical.js';
import { expandOccurrences } from '../../src/jobs/calendar/occurrences.js';

const fixture = (name: string): string =>
  readFileSync(join(import.meta.dirname, '../fixtures/ical', name), 'utf8').replace(/\r?\n/g, '\r\n');

describe('parseEventIcs on fixtures from calendar apps', () => {
  it('Apple: TZID=America/New_York (VTIMEZONE with RRULEs), weekly with an EXDATE, attendees, an alarm', () => {
    const event = parseEventIcs(fixture('apple-new-york-weekly.ics'));
    expect(event).toMatchObject({
      uid: 'apple-weekly-7C1F5E0A-3B4D-4C7A-9E0B-2A6D5F1C8E11',
      summary: 'Weekly planning',
      allDay: false,
      timeZone: 'America/New_York',
      floating: false,
      startLocal: '2027-06-07T09:00:00',
      endLocal: '2027-06-07T10:00:00',
      rrule: 'FREQ=WEEKLY;COUNT=6;BYDAY=MO',
      exdates: ['2027-06-21T13:00:00.000Z'],
      location: 'Conference Room 3 – Bâtiment B',
      description: 'Weekly planning. Agenda: roadmap, hiring; budget.',
      attendees: [
        { email: 'ada@example.com', name: 'Ada Lovelace', role: 'chair', status: 'accepted' },
        { email: 'grace@example.com', name: 'Grace Hopper', role: 'required', status: 'needs-action' },
      ],
      reminders: [{ minutesBefore: 15, action: 'display' }],
    });
    expect(event.startsAt?.toISOString()).toBe('2027-06-07T13:00:00.000Z');
    expect(event.endsAt?.toISOString()).toBe('2027-06-07T14:00:00.000Z');
  });

  it('Thunderbird-style VTIMEZONE with RDATE lists: read by the IANA name, not by the first RDATE (13:00Z, not 14:00Z)', () => {
    const event = parseEventIcs(fixture('thunderbird-new-york-rdate.ics'));
    expect(event.startsAt?.toISOString()).toBe('2027-06-07T13:00:00.000Z');
    expect(event.endsAt?.toISOString()).toBe('2027-06-07T14:00:00.000Z');
    expect(event.rrule).toBe('FREQ=WEEKLY;UNTIL=20270726T130000Z');
    expect(event.reminders).toEqual([{ minutesBefore: 60, action: 'display' }]);
  });

  it('Google: DATE values are dates (single and multi-day), with no instant', () => {
    expect(parseEventIcs(fixture('google-all-day.ics'))).toMatchObject({
      allDay: true,
      startDate: '2027-03-19',
      endDate: '2027-03-20',
      startsAt: undefined,
      endsAt: undefined,
      timeZone: undefined,
    });
    expect(parseEventIcs(fixture('google-multi-day.ics'))).toMatchObject({
      allDay: true,
      startDate: '2027-03-26',
      endDate: '2027-03-30',
      location: 'Lisboa, Portugal',
    });
  });

  it('Google: UTC times', () => {
    const event = parseEventIcs(fixture('google-utc.ics'));
    expect(event).toMatchObject({ timeZone: undefined, floating: false, startLocal: undefined });
    expect(event.startsAt?.toISOString()).toBe('2027-01-04T09:00:00.000Z');
    expect(event.endsAt?.toISOString()).toBe('2027-01-04T09:15:00.000Z');
  });

  it('Outlook: a Windows zone name is read by its VTIMEZONE (CEST in September)', () => {
    const event = parseEventIcs(fixture('outlook-windows-zone.ics'));
    expect(event.timeZone).toBe('W. Europe Standard Time');
    expect(event.startsAt?.toISOString()).toBe('2027-09-15T08:00:00.000Z');
    expect(event.endsAt?.toISOString()).toBe('2027-09-15T09:30:00.000Z');
    expect(event.attendees).toEqual([
      { email: 'erika@example.org', name: 'Erika Mustermann', role: 'required', status: 'needs-action' },
      { email: 'jose@example.org', name: 'José Álvarez', role: 'optional', status: 'tentative' },
    ]);
    expect(event.description).toBe('Quartalsplanung für Q4 – bitte Unterlagen mitbringen.\n');
  });

  it('Nextcloud: Asia/Tokyo, non-ASCII and a long folded description', () => {
    const event = parseEventIcs(fixture('nextcloud-long-text.ics'));
    expect(event.summary).toBe('東京オフィス 朝会 ☕');
    expect(event.location).toBe('渋谷区, 東京都');
    expect(event.description).toBe(
      '長い説明文です。この説明は七十五オクテットを超える行を折り返すためのものです。Zürich → 東京 ✈️ Ünïcödé ßtraße — 1234567890 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 🎉🎉🎉 終わり。',
    );
    expect(event.startsAt?.toISOString()).toBe('2027-03-09T23:30:00.000Z');
  });

  it('python-caldav: TZID=America/Chicago with no VTIMEZONE is read by its IANA name (15:00Z)', () => {
    expect(parseEventIcs(fixture('caldav-chicago-no-vtimezone.ics')).startsAt?.toISOString()).toBe('2027-01-15T15:00:00.000Z');
  });

  it("Thunderbird's old /mozilla.org/... TZID prefix is read by the IANA name at its end", () => {
    const text = fixture('caldav-chicago-no-vtimezone.ics').replace(
      /TZID=America\/Chicago/g,
      'TZID=/mozilla.org/20050126_1/America/Chicago',
    );
    expect(parseEventIcs(text)).toMatchObject({ timeZone: 'America/Chicago' });
    expect(parseEventIcs(text).startsAt?.toISOString()).toBe('2027-01-15T15:00:00.000Z');
  });

  it('a floating time: in the calendar zone when there is one, else kept floating (wall time, no instant)', () => {
    const text = fixture('floating.ics');
    expect(parseEventIcs(text)).toMatchObject({
      floating: true,
      startsAt: undefined,
      startLocal: '2027-03-10T08:30:00',
      timeZone: undefined,
    });
    const zoned = parseEventIcs(text, { calendarZone: 'Europe/Berlin' });
    expect(zoned).toMatchObject({ floating: true, timeZone: 'Europe/Berlin' });
    expect(zoned.startsAt?.toISOString()).toBe('2027-03-10T07:30:00.000Z');
    // X-WR-TIMEZONE in the object wins over the collection's zone.
    const withHeader = text.replace('VERSION:2.0\r\n', 'VERSION:2.0\r\nX-WR-TIMEZONE:Asia/Kolkata\r\n');
    expect(parseEventIcs(withHeader, { calendarZone: 'Europe/Berlin' }).startsAt?.toISOString()).toBe('2027-03-10T03:00:00.000Z');
  });
});

describe('expandOccurrences', () => {
  it('Apple weekly: COUNT=6 less the EXDATE, the moved occurrence from its RECURRENCE-ID override', () => {
    const occurrences = expandOccurrences(fixture('apple-new-york-weekly.ics'), {
      from: new Date('2027-06-01T00:00:00Z'),
      to: new Date('2027-12-31T00:00:00Z'),
    });
    expect(occurrences.map((o) => [o.start?.toISOString(), o.end?.toISOString(), o.overridden])).toEqual([
      ['2027-06-07T13:00:00.000Z', '2027-06-07T14:00:00.000Z', false],
      ['2027-06-14T13:00:00.000Z', '2027-06-14T14:00:00.000Z', false],
      ['2027-06-28T15:00:00.000Z', '2027-06-28T16:00:00.000Z', true],
      ['2027-07-05T13:00:00.000Z', '2027-07-05T14:00:00.000Z', false],
      ['2027-07-12T13:00:00.000Z', '2027-07-12T14:00:00.000Z', false],
    ]);
    expect(occurrences[2]).toMatchObject({ recurrenceId: '2027-06-28T13:00:00.000Z', summary: 'Weekly planning (moved)' });
  });

  it('a window in the middle, and a zone across its DST change (09:00 local stays 09:00 local)', () => {
    const text = fixture('thunderbird-new-york-rdate.ics')
      .replace('RRULE:FREQ=WEEKLY;UNTIL=20270726T130000Z', 'RRULE:FREQ=WEEKLY')
      .replace(/20270607T/g, '20271025T');
    const occurrences = expandOccurrences(text, { from: new Date('2027-10-30T00:00:00Z'), to: new Date('2027-11-16T00:00:00Z') });
    // 2027-11-07: New York leaves daylight time.
    expect(occurrences.map((o) => o.start?.toISOString())).toEqual([
      '2027-11-01T13:00:00.000Z',
      '2027-11-08T14:00:00.000Z',
      '2027-11-15T14:00:00.000Z',
    ]);
  });

  it('all-day: dates, and a one-off event is its one occurrence', () => {
    const weekly = fixture('google-all-day.ics').replace(
      'DTEND;VALUE=DATE:20270320\r\n',
      'DTEND;VALUE=DATE:20270320\r\nRRULE:FREQ=YEARLY\r\n',
    );
    const occurrences = expandOccurrences(weekly, { from: new Date('2027-01-01T00:00:00Z'), to: new Date('2030-01-01T00:00:00Z') });
    expect(occurrences.map((o) => [o.startDate, o.endDate])).toEqual([
      ['2027-03-19', '2027-03-20'],
      ['2028-03-19', '2028-03-20'],
      ['2029-03-19', '2029-03-20'],
    ]);
    const once = expandOccurrences(fixture('google-utc.ics'), {
      from: new Date('2027-01-01T00:00:00Z'),
      to: new Date('2027-02-01T00:00:00Z'),
    });
    expect(once.map((o) => o.start?.toISOString())).toEqual(['2027-01-04T09:00:00.000Z']);
    expect(
      expandOccurrences(fixture('google-utc.ics'), { from: new Date('2027-02-01T00:00:00Z'), to: new Date('2027-03-01T00:00:00Z') }),
    ).toEqual([]);
  });
});
