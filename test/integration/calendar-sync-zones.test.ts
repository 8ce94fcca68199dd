/**
 * Objects other apps wrote (test/fixtures/ical/: Apple Calendar, Google export, Thunderbird, Outlook,
 * Nextcloud, python-caldav) are put straight into a real Radicale, then calendar.sync runs in a CHILD
 * process under `TZ=America/Los_Angeles` and again under `TZ=Asia/Kolkata` (the worker's own zone is the
 * process's: the vitest process's TZ would prove nothing). PostgreSQL must hold the same instants and
 * dates, checked by hand, for both: dates as dates, TZIDs by their IANA zone (the RDATE-list VTIMEZONE
 * that Radicale and ical.js read by its first value only, the TZID with no VTIMEZONE), Windows zone
 * names by their VTIMEZONE, floating times in the calendar's `calendar-timezone` or kept floating.
 */
import { spawn } from 'node:child_process';
import ICAL from 'ical.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/jobs/calendar/migrate.js';
import { startPostgres, testPool, type PostgresDatabase } from '../support/postgres.js';
import { REPO_ROOT } from '../support/process.js';
import { radicaleUser, startRadicale, type RadicaleServer, type RadicaleUser } from '../support/radicale.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/ical');
const fixture = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8').replace(/\r?\n/g, '\r\n');

/** fixture file → what the row must say, whatever the worker's TZ (hand-checked; see each fixture). */
const EXPECTED: Record<string, Record<string, unknown>> = {
  'apple-new-york-weekly.ics': {
    starts_at: '2027-06-07T13:00:00.000Z',
    ends_at: '2027-06-07T14:00:00.000Z',
    all_day: false,
    time_zone: 'America/New_York',
    floating: false,
    starts_local: '2027-06-07 09:00:00',
    rrule: 'FREQ=WEEKLY;COUNT=6;BYDAY=MO',
    exdates: ['2027-06-21T13:00:00.000Z'],
  },
  // 14:00Z if the VTIMEZONE were read by its first RDATE values (Radicale and ical.js do).
  'thunderbird-new-york-rdate.ics': {
    starts_at: '2027-06-07T13:00:00.000Z',
    ends_at: '2027-06-07T14:00:00.000Z',
    time_zone: 'America/New_York',
    rrule: 'FREQ=WEEKLY;UNTIL=20270726T130000Z',
  },
  'google-all-day.ics': {
    all_day: true,
    start_date: '2027-03-19',
    end_date: '2027-03-20',
    starts_at: null,
    ends_at: null,
    time_zone: null,
  },
  'google-multi-day.ics': { all_day: true, start_date: '2027-03-26', end_date: '2027-03-30', starts_at: null, ends_at: null },
  'google-utc.ics': { starts_at: '2027-01-04T09:00:00.000Z', ends_at: '2027-01-04T09:15:00.000Z', time_zone: null, floating: false },
  'outlook-windows-zone.ics': {
    starts_at: '2027-09-15T08:00:00.000Z',
    ends_at: '2027-09-15T09:30:00.000Z',
    time_zone: 'W. Europe Standard Time',
    starts_local: '2027-09-15 10:00:00',
  },
  'nextcloud-long-text.ics': { starts_at: '2027-03-09T23:30:00.000Z', ends_at: '2027-03-10T00:30:00.000Z', time_zone: 'Asia/Tokyo' },
  // 15:00Z: read by its IANA name though no VTIMEZONE came with it.
  'caldav-chicago-no-vtimezone.ics': {
    starts_at: '2027-01-15T15:00:00.000Z',
    ends_at: '2027-01-15T16:00:00.000Z',
    time_zone: 'America/Chicago',
  },
  // The calendar's calendar-timezone is Europe/Berlin: 08:30 CET.
  'floating.ics': {
    starts_at: '2027-03-10T07:30:00.000Z',
    floating: true,
    time_zone: 'Europe/Berlin',
    starts_local: '2027-03-10 08:30:00',
  },
};

const ZONES = ['America/Los_Angeles', 'Asia/Kolkata'] as const;

let radicale: RadicaleServer;
let database: PostgresDatabase;
let pool: pg.Pool;
let alice: RadicaleUser;

const calendarOf = (tz: string, kind: 'apps' | 'plain'): string => `${kind}-${tz.replace('/', '-').toLowerCase()}`;

beforeAll(async () => {
  const [r, d] = await Promise.allSettled([startRadicale({ users: { alice: 'alice-pw' } }), startPostgres()]);
  if (r.status === 'fulfilled') radicale = r.value;
  if (d.status === 'fulfilled') database = d.value;
  if (r.status === 'rejected') throw r.reason;
  if (d.status === 'rejected') throw d.reason;
  pool = testPool(database.connectionString, { max: 2 });
  await migrate(pool);
  alice = radicaleUser(radicale, 'alice', 'alice-pw');
  for (const tz of ZONES) {
    const apps = calendarOf(tz, 'apps');
    await alice.uploadCalendar(apps, []);
    await alice.setCalendarTimeZone(apps, 'Europe/Berlin');
    for (const name of Object.keys(EXPECTED)) await alice.putText(apps, name, fixture(name));
    // A calendar with no zone of its own: a floating time stays floating.
    const plain = calendarOf(tz, 'plain');
    await alice.uploadCalendar(plain, []);
    await alice.putText(plain, 'floating.ics', fixture('floating.ics'));
  }
});

afterAll(async () => {
  await pool?.end();
  await Promise.all([radicale?.stop(), database?.stop()]);
});

/** The child: calendar.sync of the given calendars to completion, in this process's TZ; prints what it saw. */
const CHILD = `
const { pathToFileURL } = await import('node:url');
const root = process.env.CALSYNC_REPO_ROOT;
const load = (path) => import(pathToFileURL(root + '/' + path).href);
const { runCalendarSync } = await load('src/jobs/calendar/calendar-sync.ts');
const { staticAccounts } = await load('src/jobs/calendar/accounts.ts');
const { runToCompletion } = await load('test/integration/calendar-context.ts');
const pg = (await import('pg')).default;
const pool = new pg.Pool({ connectionString: process.env.CALSYNC_DATABASE_URL, max: 2 });
const accounts = staticAccounts(JSON.parse(process.env.CALSYNC_ACCOUNTS));
const runs = [];
for (const calendar of JSON.parse(process.env.SYNC_CALENDARS)) {
  const { runs: stats } = await runToCompletion((ctx) => runCalendarSync({ accountId: 'alice', calendar }, ctx, { accounts, pool }));
  runs.push({ calendar, upserted: stats.reduce((n, s) => n + s.upserted, 0) });
}
await pool.end();
process.stdout.write(JSON.stringify({ zone: Intl.DateTimeFormat().resolvedOptions().timeZone, offsetMinutes: new Date(2027, 5, 7).getTimezoneOffset(), runs }));
`;

async function syncInChild(
  tz: string,
  calendars: string[],
): Promise<{ zone: string; offsetMinutes: number; runs: { calendar: string; upserted: number }[] }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      TZ: tz,
      CALSYNC_REPO_ROOT: REPO_ROOT,
      CALSYNC_DATABASE_URL: database.connectionString,
      CALSYNC_ACCOUNTS: JSON.stringify({ alice: { serverUrl: alice.homeUrl, username: 'alice', password: 'alice-pw' } }),
      SYNC_CALENDARS: JSON.stringify(calendars),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`sync child (TZ=${tz}) exited with ${code}: ${stderr}`);
  return JSON.parse(stdout);
}

async function rows(calendar: string): Promise<Map<string, Record<string, unknown>>> {
  const result = await pool.query(
    `SELECT href, starts_at, ends_at, all_day, start_date::text AS start_date, end_date::text AS end_date, time_zone, floating,
            starts_local::text AS starts_local, rrule, exdates
       FROM events WHERE account_id = 'alice' AND calendar = $1`,
    [calendar],
  );
  return new Map(
    result.rows.map((row: Record<string, unknown>) => [
      String(row.href).split('/').pop()!,
      {
        ...row,
        starts_at: row.starts_at instanceof Date ? row.starts_at.toISOString() : row.starts_at,
        ends_at: row.ends_at instanceof Date ? row.ends_at.toISOString() : row.ends_at,
      },
    ]),
  );
}

describe('the fixtures exercise the defects', () => {
  it.each(['the fixture as written', 'what Radicale serves'])(
    'ical.js reading the RDATE-list VTIMEZONE alone puts 09:00 New York in June 2027 at 14:00Z (%s)',
    async (source) => {
      const text =
        source === 'what Radicale serves'
          ? (await alice.get(`/alice/${calendarOf(ZONES[0], 'apps')}/thunderbird-new-york-rdate.ics`))!.ics
          : fixture('thunderbird-new-york-rdate.ics');
      const calendar = new ICAL.Component(ICAL.parse(text));
      const start = new ICAL.Event(calendar.getFirstSubcomponent('vevent')!).startDate;
      expect(start.zone?.tzid).toBe('America/New_York');
      expect(new Date(start.toUnixTime() * 1000).toISOString()).toBe('2027-06-07T14:00:00.000Z');
    },
  );
});

describe.each(ZONES)('calendar.sync of other apps objects, in a worker with TZ=%s', (tz) => {
  it('stores the same instants and dates as every other host', async () => {
    const seen = await syncInChild(tz, [calendarOf(tz, 'apps'), calendarOf(tz, 'plain')]);
    // The child really ran in that zone (Asia/Kolkata may be reported by its old name).
    expect(seen.offsetMinutes).toBe(tz === 'America/Los_Angeles' ? 420 : -330);
    expect(seen.runs).toEqual([
      { calendar: calendarOf(tz, 'apps'), upserted: Object.keys(EXPECTED).length },
      { calendar: calendarOf(tz, 'plain'), upserted: 1 },
    ]);
    const stored = await rows(calendarOf(tz, 'apps'));
    expect([...stored.keys()].sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const [name, expected] of Object.entries(EXPECTED)) expect(stored.get(name), name).toMatchObject(expected);
    const plain = await rows(calendarOf(tz, 'plain'));
    expect(plain.get('floating.ics')).toMatchObject({
      floating: true,
      starts_at: null,
      time_zone: null,
      starts_local: '2027-03-10 08:30:00',
    });
  });
});
