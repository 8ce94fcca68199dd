/**
 * End to end with the real programs: Radicale, PostgreSQL, ElasticMQ, `calsync-jobs api` and
 * `calsync-jobs worker` as child processes sharing one queue. Jobs go in through the API's HTTP routes.
 *
 * 1. 200 `calendar.write` upserts while the worker is SIGKILLed twice with requests provably in flight
 *    (a recording proxy in front of Radicale parks the worker's next requests, then the worker dies):
 *    Radicale ends with exactly the 200 events, each created exactly once, and the last worker counts the
 *    messages the dead one held as `WorkerLost`. The proxy delays each request by 150 ms so the jobs
 *    outlast the kills, and the kills are 12 s apart so that no message is in flight at both. A kill
 *    costs each message it held exactly one attempt (the next receive re-sends it as the next attempt,
 *    however high the receive count: see calendar.sync-resume.test.ts), so even a job caught by both
 *    kills would keep 2 of its 4 attempts; the spacing keeps each job's losses to one so the count below
 *    stays simple, it is not what keeps jobs out of the DLQ.
 * 2. `calendar.sync` fills PostgreSQL with those 200; after 10 changes and 5 deletions made directly on
 *    Radicale, the next sync applies exactly those 15, fetches only the 10 and stores a new token.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEventIcs } from '../../src/jobs/calendar/ical.js';
import type { CalendarEvent } from '../../src/jobs/calendar/schemas.js';
import type { DavProxy } from '../fixtures/calendar-dav-proxy.js';
import {
  drainDeadLetters,
  post,
  queueSize,
  sample,
  startCalendarStack,
  startWorker,
  type CalendarStack,
  type ApiProcess,
  type LogLine,
  type WorkerProcess,
} from '../fixtures/calendar-e2e.js';
import { makeEvents } from '../integration/calendar-context.js';
import { waitFor } from '../support/process.js';
import type { RadicaleUser } from '../support/radicale.js';

const PREFIX = `e2e-write-${randomUUID().slice(0, 8)}`;
const CONCURRENCY = 4;

let stack: CalendarStack | undefined;
let proxy: DavProxy;
let pool: pg.Pool;
let api: ApiProcess;
let alice: RadicaleUser;
let env: NodeJS.ProcessEnv;
/** Every worker process started, killed or not: the stack stops them all. */
let workers: WorkerProcess[] = [];

beforeAll(async () => {
  stack = await startCalendarStack({ prefix: PREFIX, concurrency: CONCURRENCY, seed: (alice) => alice.uploadCalendar('work', []) });
  ({ proxy, pool, api, alice, env, workers } = stack);
}, 600_000);

afterAll(async () => {
  await stack?.stop();
});

const current = (): WorkerProcess => workers.at(-1)!;
const allLines = (): LogLine[] => workers.flatMap((worker) => worker.lines);

/** Objects Radicale created through the proxy (PUT answered 201), by path. */
function createdPaths(): string[] {
  return proxy.requests.filter((r) => r.method === 'PUT' && r.status === 201).map((r) => r.path);
}

/** Parks the worker's next CalDAV requests, waits until one is parked (a job is mid-request), SIGKILLs the worker, starts another. */
async function killWithJobsInFlight(): Promise<{ createdAtKill: number; at: number }> {
  proxy.hold();
  await waitFor('a CalDAV request to be parked (a job in flight)', () => proxy.heldCount() > 0, { timeoutMs: 30_000, intervalMs: 20 });
  await current().kill();
  proxy.drop();
  const createdAtKill = createdPaths().length;
  const at = Date.now();
  workers.push(await startWorker(env, { concurrency: CONCURRENCY }));
  return { createdAtKill, at };
}

function eventPath(event: CalendarEvent): string {
  return `/alice/work/${event.uid}.ics`;
}

describe('calendar jobs end to end: API + worker processes, Radicale, PostgreSQL, ElasticMQ', () => {
  const events = makeEvents('w', 200);
  const jobIds: string[] = [];

  it('200 writes enqueued through the API survive two SIGKILLs of the worker: exactly 200 events, each created once', async () => {
    proxy.setDelay(150);
    // Enqueue at a steady pace while the kills happen; every answer is 202 with a job id.
    const enqueueing = (async () => {
      for (let i = 0; i < events.length; i += 10) {
        const answers = await Promise.all(
          events.slice(i, i + 10).map((event) => post(api.url, '/accounts/alice/calendars/work/events', { op: 'upsert', event })),
        );
        for (const answer of answers) {
          expect(answer.status).toBe(202);
          jobIds.push(String(answer.json.jobId));
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();

    await waitFor('40 events to be created', () => createdPaths().length >= 40, { timeoutMs: 120_000, intervalMs: 20 });
    const first = await killWithJobsInFlight();
    // The messages lost at the first kill come back within ~6 s (visibility 3 s, maybe twice: a long poll
    // the dead worker left open can take them first), are re-sent as their next attempt (a retry delay of
    // at most 1 s) and settled by the second worker long before the second kill.
    await waitFor(
      '120 events created and 12 s since the first kill',
      () => createdPaths().length >= 120 && Date.now() - first.at >= 12_000,
      { timeoutMs: 120_000, intervalMs: 20 },
    );
    const second = await killWithJobsInFlight();
    await enqueueing;
    proxy.setDelay(0);
    expect(jobIds).toHaveLength(200);
    expect(new Set(jobIds).size).toBe(200);

    await waitFor(
      'Radicale to hold 200 events and the queue to be empty',
      async () => (await alice.list('work')).size === 200 && (await queueSize(stack!.sqs.endpoint, `${PREFIX}`)) === 0,
      {
        timeoutMs: 180_000,
        intervalMs: 500,
      },
    );
    expect(first.createdAtKill).toBeGreaterThanOrEqual(40);
    expect(second.createdAtKill).toBeGreaterThanOrEqual(120);
    expect(second.createdAtKill).toBeLessThan(200);

    // Exactly the 200 expected objects, none missing, none extra; each created by exactly one PUT.
    const listing = await alice.list('work');
    expect([...listing.keys()].sort()).toEqual(events.map(eventPath).sort());
    const created = createdPaths();
    expect(created).toHaveLength(200);
    expect(new Set(created).size).toBe(200);
    // And each holds the right content.
    for (const event of events) {
      const object = await alice.get(eventPath(event));
      const parsed = parseEventIcs(object!.ics);
      expect({
        uid: parsed.uid,
        summary: parsed.summary,
        start: parsed.startsAt?.toISOString(),
        end: parsed.endsAt?.toISOString(),
      }).toEqual({
        uid: event.uid,
        summary: event.summary,
        start: event.start,
        end: event.end,
      });
    }

    // Every job id the API returned was settled by some worker (created, or unchanged when a dead
    // worker's PUT had already landed); nothing went to the DLQ.
    const settled = new Set(
      allLines()
        .filter((l) => l.msg === 'calendar.write created' || l.msg === 'calendar.write unchanged')
        .map((l) => l.jobId),
    );
    expect(jobIds.filter((id) => !settled.has(id))).toEqual([]);
    expect(await drainDeadLetters(stack!.sqs.endpoint, `${PREFIX}-dlq`)).toEqual([]);

    // Both kills happened with a request parked, so at least one message was in flight at the second
    // kill: it came back to the last worker, which counted the dead worker's attempt as WorkerLost.
    const isLost = (l: LogLine): boolean => l.type === 'calendar.write' && String(l.msg).startsWith('received again unsettled');
    const lostOnLast = current().lines.filter(isLost);
    expect(lostOnLast.length).toBeGreaterThanOrEqual(1);
    // Each message held by a dead worker was counted once, as one lost attempt, whatever its receive
    // count; and with the kills 12 s apart no job was caught by both, so every loss is of attempt 1.
    const lostEverywhere = allLines().filter(isLost);
    expect(lostEverywhere.map((l) => [l.attempt, Number(l.receiveCount) >= 2])).toEqual(lostEverywhere.map(() => [1, true]));
    expect(new Set(lostEverywhere.map((l) => l.jobId)).size).toBe(lostEverywhere.length);
    const text = await current().metrics();
    expect(sample(text, 'calsync_jobs_failed_total', { job_type: 'calendar.write', error_type: 'WorkerLost' })).toBe(lostOnLast.length);
    // Each was re-sent as attempt 2 (a retry) and ran as attempt 2; no job ran a later attempt, and a job
    // never lost ran only as attempt 1. (A lost job may also show an attempt-1 line: the dead worker
    // finished its PUT but not the delete.)
    expect(sample(text, 'calsync_jobs_retried_total', { job_type: 'calendar.write' })).toBe(lostOnLast.length);
    const lostIds = new Set(lostEverywhere.map((l) => l.jobId));
    const settledLines = allLines().filter((l) => l.msg === 'calendar.write created' || l.msg === 'calendar.write unchanged');
    expect(settledLines.filter((l) => !lostIds.has(l.jobId) && l.attempt !== 1)).toEqual([]);
    expect(settledLines.filter((l) => l.attempt !== 1 && l.attempt !== 2)).toEqual([]);
    const ranAsTwo = new Set(settledLines.filter((l) => l.attempt === 2).map((l) => l.jobId));
    expect([...lostIds].filter((id) => !ranAsTwo.has(id))).toEqual([]);
    expect([...ranAsTwo].filter((id) => !lostIds.has(id))).toEqual([]);
  }, 300_000);

  it('calendar.sync through the API fills PostgreSQL with exactly those 200 events', async () => {
    const { status, json } = await post(api.url, '/accounts/alice/calendars/work/sync');
    expect(status).toBe(202);
    const jobId = String(json.jobId);
    const done = await waitFor(
      'the sync to complete',
      () => current().lines.find((l) => l.jobId === jobId && l.msg === 'calendar.sync completed'),
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    expect(done).toMatchObject({ mode: 'full', resumed: true, fetchedTotal: 200, completed: true });
    const runs = current().lines.filter(
      (l) => l.jobId === jobId && (l.msg === 'calendar.sync checkpointed' || l.msg === 'calendar.sync completed'),
    );
    expect(runs.map((l) => l.fetched)).toEqual([50, 50, 50, 50]);

    const { rows } = await pool.query<{ href: string; etag: string; uid: string; summary: string; starts_at: Date; ends_at: Date }>(
      "SELECT href, etag, uid, summary, starts_at, ends_at FROM events WHERE account_id = 'alice' AND calendar = 'work' ORDER BY uid",
    );
    expect(rows).toHaveLength(200);
    expect(new Map(rows.map((row) => [row.href, row.etag]))).toEqual(await alice.list('work'));
    expect(
      rows.map((row) => ({ uid: row.uid, summary: row.summary, start: row.starts_at.toISOString(), end: row.ends_at.toISOString() })),
    ).toEqual(events.map((event) => ({ uid: event.uid, summary: event.summary, start: event.start, end: event.end })));
    const token = await pool.query<{ sync_token: string | null }>(
      "SELECT sync_token FROM calendars WHERE account_id = 'alice' AND calendar = 'work'",
    );
    expect(token.rows[0]?.sync_token).toMatch(/\S/);
  }, 120_000);

  it('after 10 changes and 5 deletions on Radicale, the next sync applies exactly those 15, fetches only the 10 and stores a new token', async () => {
    const tokenBefore = (
      await pool.query<{ sync_token: string }>("SELECT sync_token FROM calendars WHERE account_id = 'alice' AND calendar = 'work'")
    ).rows[0]?.sync_token;
    const changed = events.slice(20, 30);
    const deleted = events.slice(100, 105);
    for (const event of changed) await alice.put('work', { ...event, summary: `${event.summary} (moved)` });
    for (const event of deleted) await alice.remove(eventPath(event));
    const requestsBefore = proxy.requests.length;

    const { status, json } = await post(api.url, '/accounts/alice/calendars/work/sync');
    expect(status).toBe(202);
    const jobId = String(json.jobId);
    const done = await waitFor(
      'the incremental sync to complete',
      () => current().lines.find((l) => l.jobId === jobId && l.msg === 'calendar.sync completed'),
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    // The job's own statistics: one run, 10 fetched and upserted, 5 deleted.
    expect(done).toMatchObject({
      mode: 'incremental',
      resumed: false,
      fetched: 10,
      fetchedTotal: 10,
      upserted: 10,
      deleted: 5,
      batches: 1,
      completed: true,
    });
    // What the worker actually asked Radicale: one sync REPORT, then one multiget of exactly the 10 changed hrefs.
    const asked = proxy.requests.slice(requestsBefore);
    expect(asked.filter((r) => r.report === 'sync-collection')).toHaveLength(1);
    expect(asked.filter((r) => r.report === 'calendar-multiget').map((r) => r.hrefs)).toEqual([10]);

    const { rows } = await pool.query<{ href: string; etag: string; uid: string; summary: string }>(
      "SELECT href, etag, uid, summary FROM events WHERE account_id = 'alice' AND calendar = 'work' ORDER BY uid",
    );
    expect(rows).toHaveLength(195);
    expect(new Map(rows.map((row) => [row.href, row.etag]))).toEqual(await alice.list('work'));
    expect(rows.filter((row) => row.summary.endsWith('(moved)')).map((row) => row.uid)).toEqual(changed.map((event) => event.uid));
    expect(rows.some((row) => deleted.some((event) => event.uid === row.uid))).toBe(false);
    const tokenAfter = (
      await pool.query<{ sync_token: string }>("SELECT sync_token FROM calendars WHERE account_id = 'alice' AND calendar = 'work'")
    ).rows[0]?.sync_token;
    expect(tokenAfter).toMatch(/\S/);
    expect(tokenAfter).not.toBe(tokenBefore);
  }, 120_000);
});
