/**
 * Round trips of every event shape through the HTTP API and calendar.write into a real Radicale, read
 * back as text (octets: CRLF, ≤ 75-octet lines), by Python's `icalendar` (an independent parser, in the
 * peers' venv: scripts/peers/icalendar.sh) and against the expected values checked by hand; then synced
 * into a real PostgreSQL, where each row must describe the event (all-day dates, zone, rule, attendees,
 * reminders) and `expandOccurrences` must give its occurrences.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer, type ApiServer, type EnqueueFn } from '../../src/api/server.js';
import { staticAccounts, type AccountResolver } from '../../src/jobs/calendar/accounts.js';
import { type CalendarSyncCheckpoint, runCalendarSync } from '../../src/jobs/calendar/calendar-sync.js';
import { runCalendarWrite } from '../../src/jobs/calendar/calendar-write.js';
import { migrate } from '../../src/jobs/calendar/migrate.js';
import { expandOccurrences } from '../../src/jobs/calendar/occurrences.js';
import type { CalendarWritePayload } from '../../src/jobs/calendar/schemas.js';
import { startPostgres, testPool, type PostgresDatabase } from '../support/postgres.js';
import { radicaleUser, startRadicale, type RadicaleServer, type RadicaleUser } from '../support/radicale.js';
import { readWithPythonIcalendar, runToCompletion, testContext } from './calendar-context.js';

let radicale: RadicaleServer;
let database: PostgresDatabase;
let pool: pg.Pool;
let alice: RadicaleUser;
let accounts: AccountResolver;
let api: ApiServer;
let base: string;
const enqueued: Parameters<EnqueueFn>[0][] = [];

beforeAll(async () => {
  const [r, d] = await Promise.allSettled([startRadicale({ users: { alice: 'alice-pw' } }), startPostgres()]);
  if (r.status === 'fulfilled') radicale = r.value;
  if (d.status === 'fulfilled') database = d.value;
  if (r.status === 'rejected') throw r.reason;
  if (d.status === 'rejected') throw d.reason;
  pool = testPool(database.connectionString, { max: 4 });
  await migrate(pool);
  alice = radicaleUser(radicale, 'alice', 'alice-pw');
  await alice.uploadCalendar('shapes', []);
  accounts = staticAccounts({ alice: { serverUrl: alice.homeUrl, username: 'alice', password: 'alice-pw' } });
  api = createApiServer({
    enqueue: async (job) => {
      enqueued.push(job);
      return { id: `job-${enqueued.length}`, deduplicated: false };
    },
  });
  base = (await api.listen()).url;
});

afterAll(async () => {
  await api?.close();
  await pool?.end();
  await Promise.all([radicale?.stop(), database?.stop()]);
});

/**
 * POSTs the event through the API, runs the enqueued calendar.write, and returns the text it PUT (checked
 * octet by octet) and the text Radicale serves back (what another client reads).
 */
async function roundTrip(event: Record<string, unknown>): Promise<{ ics: string; served: string }> {
  const response = await fetch(`${base}/accounts/alice/calendars/shapes/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ op: 'upsert', event }),
  });
  expect(response.status, await response.clone().text()).toBe(202);
  await response.arrayBuffer();
  const job = enqueued.at(-1)!;
  expect(job.type).toBe('calendar.write');
  const payload = job.payload as CalendarWritePayload;
  // What calendar.write PUTs, octet for octet (Radicale answers GET with its own serialisation).
  const bodies: string[] = [];
  const recording: typeof fetch = async (input, init) => {
    if (init?.method === 'PUT' && typeof init.body === 'string') bodies.push(init.body);
    return await fetch(input, init);
  };
  expect(await runCalendarWrite(payload, testContext().ctx, { accounts, fetch: recording })).toBe('created');
  expect(bodies).toHaveLength(1);
  checkOctets(bodies[0]!);
  // The same upsert again finds the same event: nothing written.
  expect(await runCalendarWrite(payload, testContext().ctx, { accounts })).toBe('unchanged');
  const stored = await alice.get(`/alice/shapes/${event.uid as string}.ics`);
  expect(stored).toBeDefined();
  return { ics: bodies[0]!, served: stored!.ics };
}

function checkOctets(ics: string): void {
  const bytes = Buffer.from(ics, 'utf8');
  expect(bytes.subarray(-15).toString('latin1')).toBe('END:VCALENDAR\r\n');
  const lines = bytes.toString('latin1').split('\r\n').slice(0, -1);
  for (const line of lines) {
    expect(line.includes('\n') || line.includes('\r')).toBe(false);
    expect(Buffer.from(line, 'latin1').length).toBeLessThanOrEqual(75);
  }
}

const unfolded = (ics: string): string => ics.replace(/\r\n[ \t]/g, '');

function python(ics: string) {
  const parsed = readWithPythonIcalendar(ics);
  expect(parsed.events).toHaveLength(1);
  return { ...parsed, event: parsed.events[0]! };
}

async function syncedRow(uid: string): Promise<Record<string, unknown>> {
  await runToCompletion<CalendarSyncCheckpoint, Awaited<ReturnType<typeof runCalendarSync>>>((ctx) =>
    runCalendarSync({ accountId: 'alice', calendar: 'shapes' }, ctx, { accounts, pool }),
  );
  const { rows } = await pool.query(
    `SELECT uid, summary, starts_at, ends_at, all_day, start_date::text AS start_date, end_date::text AS end_date, time_zone, floating,
            starts_local::text AS starts_local, rrule, exdates, attendees, reminders, ical
       FROM events WHERE account_id = 'alice' AND calendar = 'shapes' AND uid = $1`,
    [uid],
  );
  expect(rows).toHaveLength(1);
  return rows[0] as Record<string, unknown>;
}

const iso = (value: unknown): string | undefined => (value instanceof Date ? value.toISOString() : undefined);

describe('event shapes through the API and calendar.write, read back independently', () => {
  it('UTC: a start with an offset and no timeZone is written in UTC', async () => {
    const { ics, served } = await roundTrip({
      uid: 'utc',
      summary: 'Standup',
      start: '2027-01-04T10:00:00+01:00',
      end: '2027-01-04T10:15:00+01:00',
    });
    expect(unfolded(ics)).toContain('\r\nDTSTART:20270104T090000Z\r\n');
    expect(unfolded(ics)).toContain('\r\nDTEND:20270104T091500Z\r\n');
    expect(ics).not.toContain('VTIMEZONE');
    expect(python(served).event).toMatchObject({ start: '2027-01-04T09:00:00+00:00', end: '2027-01-04T09:15:00+00:00', startTzid: null });
    const row = await syncedRow('utc');
    expect(row).toMatchObject({ all_day: false, time_zone: null, floating: false, rrule: null, start_date: null });
    expect(iso(row.starts_at)).toBe('2027-01-04T09:00:00.000Z');
  });

  it('an IANA zone across a DST change: TZID with its VTIMEZONE; daily 09:00 Berlin is 08:00Z, then 07:00Z', async () => {
    const { ics, served } = await roundTrip({
      uid: 'berlin-dst',
      summary: 'Morning',
      start: '2027-03-26T09:00:00+01:00',
      end: '2027-03-26T09:30:00+01:00',
      timeZone: 'Europe/Berlin',
      rrule: 'FREQ=DAILY;COUNT=4',
    });
    const text = unfolded(ics);
    expect(text).toContain('\r\nDTSTART;TZID=Europe/Berlin:20270326T090000\r\n');
    expect(text).toContain('\r\nDTEND;TZID=Europe/Berlin:20270326T093000\r\n');
    expect(text).toContain('\r\nTZID:Europe/Berlin\r\n');
    expect(text).toContain('\r\nRRULE:FREQ=DAILY;COUNT=4\r\n');
    const expected = ['2027-03-26T08:00:00.000Z', '2027-03-27T08:00:00.000Z', '2027-03-28T07:00:00.000Z', '2027-03-29T07:00:00.000Z'];
    {
      const { event, vtimezones } = python(served);
      expect(vtimezones).toEqual(['Europe/Berlin']);
      expect(event).toMatchObject({ startTzid: 'Europe/Berlin', startLocal: '2027-03-26T09:00:00', rrule: 'FREQ=DAILY;COUNT=4' });
      expect(event.startPlusDays.slice(0, 4).map((t) => new Date(t).toISOString())).toEqual(expected);
    }
    const row = await syncedRow('berlin-dst');
    expect(row).toMatchObject({
      time_zone: 'Europe/Berlin',
      floating: false,
      starts_local: '2027-03-26 09:00:00',
      rrule: 'FREQ=DAILY;COUNT=4',
    });
    const occurrences = expandOccurrences(row.ical as string, {
      from: new Date('2027-03-01T00:00:00Z'),
      to: new Date('2027-04-30T00:00:00Z'),
    });
    expect(occurrences.map((o) => o.start?.toISOString())).toEqual(expected);
  });

  it('an all-day event of one day: VALUE=DATE, stored as dates', async () => {
    const { ics, served } = await roundTrip({ uid: 'holiday', summary: 'Holiday', start: '2027-03-19', end: '2027-03-20' });
    expect(unfolded(ics)).toContain('\r\nDTSTART;VALUE=DATE:20270319\r\n');
    expect(unfolded(ics)).toContain('\r\nDTEND;VALUE=DATE:20270320\r\n');
    expect(python(served).event).toMatchObject({ start: '2027-03-19', end: '2027-03-20' });
    const row = await syncedRow('holiday');
    expect(row).toMatchObject({
      all_day: true,
      start_date: '2027-03-19',
      end_date: '2027-03-20',
      starts_at: null,
      ends_at: null,
      time_zone: null,
    });
  });

  it('a multi-day all-day event', async () => {
    const { ics, served } = await roundTrip({
      uid: 'offsite',
      summary: 'Offsite',
      start: '2027-03-26',
      end: '2027-03-30',
      location: 'Lisboa, Portugal',
    });
    expect(unfolded(ics)).toContain('\r\nDTEND;VALUE=DATE:20270330\r\n');
    expect(python(served).event).toMatchObject({ start: '2027-03-26', end: '2027-03-30', location: 'Lisboa, Portugal' });
    const row = await syncedRow('offsite');
    expect(row).toMatchObject({ all_day: true, start_date: '2027-03-26', end_date: '2027-03-30' });
  });

  it('a weekly recurrence with an exception, in local times of a zone', async () => {
    const { ics, served } = await roundTrip({
      uid: 'weekly',
      summary: 'Weekly planning',
      start: '2027-06-07T09:00:00',
      end: '2027-06-07T10:00:00',
      timeZone: 'America/New_York',
      rrule: 'FREQ=WEEKLY;BYDAY=MO;COUNT=4',
      exdates: ['2027-06-21T09:00:00'],
    });
    expect(unfolded(ics)).toContain('\r\nEXDATE;TZID=America/New_York:20270621T090000\r\n');
    {
      const { event } = python(served);
      expect(event).toMatchObject({
        start: '2027-06-07T13:00:00+00:00',
        rrule: 'FREQ=WEEKLY;COUNT=4;BYDAY=MO',
        exdates: ['2027-06-21T13:00:00+00:00'],
      });
    }
    const row = await syncedRow('weekly');
    expect(row).toMatchObject({
      time_zone: 'America/New_York',
      rrule: 'FREQ=WEEKLY;COUNT=4;BYDAY=MO',
      exdates: ['2027-06-21T13:00:00.000Z'],
    });
    expect(iso(row.starts_at)).toBe('2027-06-07T13:00:00.000Z');
    const occurrences = expandOccurrences(row.ical as string, {
      from: new Date('2027-06-01T00:00:00Z'),
      to: new Date('2028-01-01T00:00:00Z'),
    });
    expect(occurrences.map((o) => o.start?.toISOString())).toEqual([
      '2027-06-07T13:00:00.000Z',
      '2027-06-14T13:00:00.000Z',
      '2027-06-28T13:00:00.000Z',
    ]);
  });

  it('attendees and reminders: ATTENDEE with CN, ROLE, PARTSTAT; VALARM with a relative TRIGGER', async () => {
    const { ics, served } = await roundTrip({
      uid: 'review',
      summary: 'Design review',
      start: '2027-02-01T15:00:00Z',
      end: '2027-02-01T16:00:00Z',
      attendees: [
        { email: 'ada@example.com', name: 'Ada Lovelace', role: 'chair', status: 'accepted' },
        { email: 'grace@example.com', name: 'Grace Hopper', role: 'optional', status: 'tentative' },
      ],
      reminders: [{ minutesBefore: 15 }, { minutesBefore: 60, action: 'email' }],
    });
    expect(unfolded(ics)).toContain('ATTENDEE;CN=Ada Lovelace;ROLE=CHAIR;PARTSTAT=ACCEPTED:mailto:ada@example.com');
    expect(unfolded(ics)).toContain('\r\nTRIGGER:-PT15M\r\n');
    {
      const { event } = python(served);
      expect(event.attendees).toEqual([
        { email: 'ada@example.com', cn: 'Ada Lovelace', role: 'CHAIR', partstat: 'ACCEPTED' },
        { email: 'grace@example.com', cn: 'Grace Hopper', role: 'OPT-PARTICIPANT', partstat: 'TENTATIVE' },
      ]);
      expect(event.alarms).toEqual([
        { action: 'DISPLAY', triggerSeconds: -900 },
        { action: 'EMAIL', triggerSeconds: -3600 },
      ]);
    }
    const row = await syncedRow('review');
    expect(row.attendees).toEqual([
      { email: 'ada@example.com', name: 'Ada Lovelace', role: 'chair', status: 'accepted' },
      { email: 'grace@example.com', name: 'Grace Hopper', role: 'optional', status: 'tentative' },
    ]);
    expect(row.reminders).toEqual([
      { minutesBefore: 15, action: 'display' },
      { minutesBefore: 60, action: 'email' },
    ]);
  });

  it('non-ASCII text and a long description, folded by octets', async () => {
    const description = `${'Zürich → 東京 ✈️ Ünïcödé ßtraße; commas, and "quotes" — '.repeat(40)}\nsecond line 🎉`;
    const summary = '会議 – Ünïcödé ☕';
    const { ics, served } = await roundTrip({
      uid: 'unicode',
      summary,
      start: '2027-05-05T05:05:00Z',
      end: '2027-05-05T06:05:00Z',
      description,
    });
    expect(unfolded(ics)).toContain(`\r\nSUMMARY:${summary}\r\n`);
    expect(python(served).event).toMatchObject({ summary, description });
    const row = await syncedRow('unicode');
    expect(row.summary).toBe(summary);
  });

  it("the docs' window query finds the timed and the all-day events of March", async () => {
    const { rows } = await pool.query<{ uid: string }>(
      `SELECT uid, summary, all_day, start_date, end_date, starts_at, ends_at, time_zone, rrule
         FROM events
        WHERE account_id = 'alice' AND calendar = 'shapes'
          AND (starts_at < '2027-04-01' AND ends_at > '2027-03-01' OR start_date < '2027-04-01' AND end_date > '2027-03-01')
        ORDER BY coalesce(start_date::timestamp, starts_local, starts_at::timestamp)`,
    );
    expect(rows.map((row) => row.uid)).toEqual(['holiday', 'offsite', 'berlin-dst']);
  });

  it('a delete by uid alone', async () => {
    const response = await fetch(`${base}/accounts/alice/calendars/shapes/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ op: 'delete', event: { uid: 'holiday' } }),
    });
    expect(response.status).toBe(202);
    await response.arrayBuffer();
    expect(await runCalendarWrite(enqueued.at(-1)!.payload as CalendarWritePayload, testContext().ctx, { accounts })).toBe('deleted');
    expect(await alice.get('/alice/shapes/holiday.ics')).toBeUndefined();
  });

  it('unknown fields are refused with 400, naming each; nothing is enqueued', async () => {
    const before = enqueued.length;
    const post = async (body: unknown) => {
      const response = await fetch(`${base}/accounts/alice/calendars/shapes/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, json: (await response.json()) as { error: string; field: string } };
    };
    const event = { uid: 'x', summary: 'x', start: '2027-01-04T09:00:00Z', end: '2027-01-04T10:00:00Z' };
    expect(await post({ op: 'upsert', event: { ...event, recurrence: 'weekly', alarms: [] } })).toEqual({
      status: 400,
      json: { error: 'event: Unrecognized keys: "recurrence", "alarms"', field: 'event' },
    });
    expect(await post({ op: 'upsert', event, calendarColour: 'red' })).toEqual({
      status: 400,
      json: { error: 'body: Unrecognized key: "calendarColour"', field: 'body' },
    });
    expect(await post({ op: 'upsert', event: { ...event, attendees: [{ email: 'a@example.com', rsvp: true }] } })).toMatchObject({
      status: 400,
      json: { field: 'event.attendees.0', error: 'event.attendees.0: Unrecognized key: "rsvp"' },
    });
    expect(enqueued.length).toBe(before);
  });
});
