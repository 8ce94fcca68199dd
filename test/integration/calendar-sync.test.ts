/**
 * calendar.sync against a real Radicale and a real PostgreSQL: full sync, incremental sync of exactly the
 * changed and deleted objects, an interrupted sync resumed from its checkpoint, and the fallback to a
 * full sync when the stored token is refused. One run applies one batch and checkpoints
 * (continue-as-new); `runToCompletion` re-invokes it with the saved state, as the queue would.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staticAccounts, type AccountResolver } from '../../src/jobs/calendar/accounts.js';
import { parseEventIcs } from '../../src/jobs/calendar/ical.js';
import { migrate } from '../../src/jobs/calendar/migrate.js';
import {
  createCalendarSyncJob,
  runCalendarSync,
  type CalendarSyncCheckpoint,
  type CalendarSyncStats,
} from '../../src/jobs/calendar/calendar-sync.js';
import { NonRetryableError } from '../../src/machines/errors.js';
import { startPostgres, testPool, type PostgresDatabase } from '../support/postgres.js';
import { radicaleUser, startRadicale, type RadicaleServer, type RadicaleUser } from '../support/radicale.js';
import { makeEvents, runToCompletion, testContext } from './calendar-context.js';

let radicale: RadicaleServer;
let database: PostgresDatabase;
let pool: pg.Pool;
let alice: RadicaleUser;
let accounts: AccountResolver;

beforeAll(async () => {
  // Both start at once; whichever started is kept for afterAll even when the other fails.
  const [r, d] = await Promise.allSettled([startRadicale({ users: { alice: 'alice-pw' } }), startPostgres()]);
  if (r.status === 'fulfilled') radicale = r.value;
  if (d.status === 'fulfilled') database = d.value;
  if (r.status === 'rejected') throw r.reason;
  if (d.status === 'rejected') throw d.reason;
  pool = testPool(database.connectionString, { max: 4 });
  await migrate(pool);
  alice = radicaleUser(radicale, 'alice', 'alice-pw');
  accounts = staticAccounts({ alice: { serverUrl: alice.homeUrl, username: 'alice', password: 'alice-pw' } });
});

afterAll(async () => {
  await pool?.end();
  await Promise.all([radicale?.stop(), database?.stop()]);
});

/** href → etag of the store, to compare with the server's listing. */
async function stored(calendar: string): Promise<Map<string, string>> {
  const { rows } = await pool.query<{ href: string; etag: string }>(
    'SELECT href, etag FROM events WHERE account_id = $1 AND calendar = $2',
    ['alice', calendar],
  );
  return new Map(rows.map((row) => [row.href, row.etag]));
}

async function storedToken(calendar: string): Promise<string | null | undefined> {
  const { rows } = await pool.query<{ sync_token: string | null }>(
    'SELECT sync_token FROM calendars WHERE account_id = $1 AND calendar = $2',
    ['alice', calendar],
  );
  return rows[0]?.sync_token;
}

/** One run's statistics folded over a whole sync: sums of the per-run counts, the first run's mode, the last run's end. */
function total(runs: readonly CalendarSyncStats[]): CalendarSyncStats {
  const first = runs[0]!;
  const last = runs.at(-1)!;
  const sum = (key: 'fetched' | 'upserted' | 'deleted' | 'batches'): number => runs.reduce((n, run) => n + run[key], 0);
  return {
    ...last,
    mode: first.mode,
    resumed: first.resumed,
    tokenRejected: first.tokenRejected,
    fetched: sum('fetched'),
    upserted: sum('upserted'),
    deleted: sum('deleted'),
    batches: sum('batches'),
  };
}

/** Syncs `calendar` to completion, one run per batch; `stats` totals the runs. */
async function sync(
  calendar: string,
  options: { batchSize?: number; checkpoint?: CalendarSyncCheckpoint } = {},
): Promise<{ stats: CalendarSyncStats; runs: CalendarSyncStats[]; checkpoints: CalendarSyncCheckpoint[] }> {
  const deps = { accounts, pool, batchSize: options.batchSize ?? 50 };
  const { runs, checkpoints } = await runToCompletion<CalendarSyncCheckpoint, CalendarSyncStats>(
    (ctx) => runCalendarSync({ accountId: 'alice', calendar }, ctx, deps),
    options.checkpoint === undefined ? {} : { checkpoint: options.checkpoint },
  );
  return { stats: total(runs), runs, checkpoints };
}

describe('calendar.sync', () => {
  it('a first (full) sync of 200 events fills the store exactly, in batches of 50', async () => {
    await alice.uploadCalendar('team', makeEvents('team', 200));
    const seen: CalendarSyncStats[] = [];
    const job = createCalendarSyncJob({ accounts, pool, batchSize: 50, onStats: (stats) => seen.push(stats) });
    const { runs, checkpoints } = await runToCompletion<CalendarSyncCheckpoint, CalendarSyncStats>(async (ctx) => {
      await job.handler({ accountId: 'alice', calendar: 'team' }, ctx);
      return seen.at(-1)!;
    });

    // One batch a run: 4 runs, each but the last ending in a checkpoint (continue-as-new).
    expect(seen).toHaveLength(4);
    expect(runs.map((run) => [run.fetched, run.batches, run.completed])).toEqual([
      [50, 1, false],
      [50, 1, false],
      [50, 1, false],
      [50, 1, true],
    ]);
    expect(runs.map((run) => run.resumed)).toEqual([false, true, true, true]);
    expect(total(seen)).toMatchObject({
      mode: 'full',
      resumed: false,
      fetched: 200,
      fetchedTotal: 200,
      upserted: 200,
      deleted: 0,
      batches: 4,
      completed: true,
    });
    expect(checkpoints.map((c) => c.remaining.length)).toEqual([150, 100, 50]);
    expect(await stored('team')).toEqual(await alice.list('team'));
    expect(await storedToken('team')).toMatch(/\S/);
    const { rows } = await pool.query('SELECT uid, summary, starts_at, ends_at FROM events WHERE calendar = $1 AND uid = $2', [
      'team',
      'team-0007',
    ]);
    expect(rows[0]).toMatchObject({ uid: 'team-0007', summary: 'team event 7' });
    expect(rows[0].starts_at.toISOString()).toBe(makeEvents('team', 8)[7]!.start);
    expect(rows[0].ends_at.toISOString()).toBe(makeEvents('team', 8)[7]!.end);
  });

  it('after 10 changes and 5 deletions on the server, the next sync applies exactly those 15 and fetches only the 10', async () => {
    const events = makeEvents('team', 200);
    const tokenBefore = await storedToken('team');
    for (const event of events.slice(20, 30)) await alice.put('team', { ...event, summary: `${event.summary} (moved)` });
    for (const event of events.slice(100, 105)) await alice.remove(`/alice/team/${event.uid}.ics`);

    const { stats } = await sync('team');
    expect(stats).toMatchObject({ mode: 'incremental', fetched: 10, upserted: 10, deleted: 5, batches: 1, completed: true });
    const server = await alice.list('team');
    expect(server.size).toBe(195);
    expect(await stored('team')).toEqual(server);
    const { rows } = await pool.query<{ summary: string }>(
      "SELECT summary FROM events WHERE calendar = 'team' AND summary LIKE '%(moved)' ORDER BY uid",
    );
    expect(rows.map((row) => row.summary)).toEqual(events.slice(20, 30).map((event) => `${event.summary} (moved)`));
    expect(await storedToken('team')).not.toBe(tokenBefore);

    const quiet = await sync('team');
    expect(quiet.stats).toMatchObject({ mode: 'incremental', fetched: 0, upserted: 0, deleted: 0, completed: true });
  });

  it('a sync of 1,000 events interrupted after 2 batches resumes from its checkpoint and fetches only the rest', async () => {
    const events = makeEvents('big', 1000);
    await alice.uploadCalendar('big', events);
    const deps = { accounts, pool, batchSize: 50 };
    const applied: CalendarSyncStats[] = [];
    const saved: CalendarSyncCheckpoint[] = [];
    for (let run = 0; run < 2; run++) {
      const step = testContext<CalendarSyncCheckpoint>(saved.length === 0 ? {} : { checkpoint: saved.at(-1)! });
      applied.push(await runCalendarSync({ accountId: 'alice', calendar: 'big' }, step.ctx, deps));
      saved.push(...step.checkpoints);
    }
    // The third run's worker dies while it fetches: its signal aborts mid-request and nothing is applied.
    const dying = testContext<CalendarSyncCheckpoint>({ checkpoint: saved.at(-1)! });
    const died: CalendarSyncStats[] = [];
    const killOnFetch: typeof fetch = async (input, init) => {
      dying.controller.abort(new Error('worker stopped'));
      return await fetch(input, init);
    };
    await expect(
      runCalendarSync({ accountId: 'alice', calendar: 'big' }, dying.ctx, { ...deps, fetch: killOnFetch, onStats: (s) => died.push(s) }),
    ).rejects.toThrow('worker stopped');
    expect(dying.checkpoints).toEqual([]);
    expect(died[0]).toMatchObject({ resumed: true, fetched: 0, batches: 0, completed: false });
    expect(total(applied)).toMatchObject({ fetched: 100, batches: 2, completed: false });
    expect(saved.map((c) => c.remaining.length)).toEqual([950, 900]);
    expect((await stored('big')).size).toBe(100);
    expect(await storedToken('big')).toBeNull();

    // The message that came back after the death carries the last saved checkpoint.
    const last = saved.at(-1)!;
    expect(last.remaining).toHaveLength(900);
    // hrefs travel relative to the calendar's path: 900 of them fit in well under the 256 KiB of an SQS message.
    expect(last.remaining[0]).toMatch(/^big-\d{4}\.ics$/);
    expect(JSON.stringify(last).length).toBeLessThan(16 * 1024);
    const resumed = await sync('big', { checkpoint: last });
    expect(resumed.stats).toMatchObject({ resumed: true, fetched: 900, fetchedTotal: 1000, upserted: 900, batches: 18, completed: true });
    expect(resumed.runs).toHaveLength(18);
    const server = await alice.list('big');
    expect(server.size).toBe(1000);
    expect(await stored('big')).toEqual(server);
    expect(await storedToken('big')).toMatch(/\S/);
  });

  it('a refused stored token falls back to a full sync that repairs the store, deleting what the server lacks', async () => {
    await pool.query(
      "UPDATE calendars SET sync_token = 'http://radicale.org/ns/sync/bogus' WHERE account_id = 'alice' AND calendar = 'team'",
    );
    // The store drifted: 3 rows lost, 2 stale, 1 the server never had.
    await pool.query("DELETE FROM events WHERE calendar = 'team' AND uid IN ('team-0001', 'team-0002', 'team-0003')");
    await pool.query(
      "UPDATE events SET etag = '\"stale\"', summary = 'stale' WHERE calendar = 'team' AND uid IN ('team-0010', 'team-0011')",
    );
    await pool.query(
      "INSERT INTO events (account_id, calendar, href, uid, etag, summary, ical) VALUES ('alice', 'team', '/alice/team/ghost.ics', 'ghost', '\"g\"', 'ghost', 'x')",
    );

    const { stats } = await sync('team');
    expect(stats).toMatchObject({ mode: 'full', tokenRejected: true, fetched: 5, upserted: 5, deleted: 1, completed: true });
    expect(await stored('team')).toEqual(await alice.list('team'));
    expect(await storedToken('team')).not.toBe('http://radicale.org/ns/sync/bogus');
    const { rows } = await pool.query<{ summary: string }>("SELECT summary FROM events WHERE calendar = 'team' AND uid = 'team-0010'");
    expect(rows[0]?.summary).toBe('team event 10');
    expect(parseEventIcs((await alice.get('/alice/team/team-0010.ics'))!.ics).summary).toBe('team event 10');
  });

  it('a calendar that does not exist is non-retryable calendar_not_found', async () => {
    const error = await sync('nowhere').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(NonRetryableError.is(error) && error.reason).toBe('calendar_not_found');
    expect((error as Error).message).toContain('nowhere');
    expect(await storedToken('nowhere')).toBeUndefined();
  });
});
