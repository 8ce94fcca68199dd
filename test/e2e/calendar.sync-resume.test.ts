/**
 * End to end: a `calendar.sync` of 1,000 events (enqueued through `calsync-jobs api`) runs one batch
 * of 50 per message (continue-as-new). The worker process is SIGKILLed while it fetches a batch, after
 * several checkpoints; a new worker picks the checkpoint message up again and finishes. A recording
 * proxy in front of Radicale sees every request, the killed one included, so the test can tell what was
 * fetched twice (at most that one batch) and that the new worker never re-planned (no sync REPORT).
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DavProxy } from '../fixtures/calendar-dav-proxy.js';
import {
  drainDeadLetters,
  post,
  queueSize,
  sample,
  startCalendarStack,
  startWorker,
  type ApiProcess,
  type CalendarStack,
  type LogLine,
  type WorkerProcess,
} from '../fixtures/calendar-e2e.js';
import { makeEvents } from '../integration/calendar-context.js';
import { waitFor } from '../support/process.js';
import type { RadicaleUser } from '../support/radicale.js';

const PREFIX = `e2e-resume-${randomUUID().slice(0, 8)}`;
const BATCH = 50;
const EVENTS = 1000;

let stack: CalendarStack | undefined;
let proxy: DavProxy;
let pool: pg.Pool;
let api: ApiProcess;
let alice: RadicaleUser;
let env: NodeJS.ProcessEnv;
/** Every worker process started, killed or not: the stack stops them all. */
let workers: WorkerProcess[] = [];

beforeAll(async () => {
  stack = await startCalendarStack({
    prefix: PREFIX,
    concurrency: 4,
    seed: (alice) => alice.uploadCalendar('big', makeEvents('big', EVENTS)),
    extraEnv: { CALSYNC_SYNC_BATCH_SIZE: String(BATCH) },
  });
  ({ proxy, pool, api, alice, env, workers } = stack);
}, 600_000);

afterAll(async () => {
  await stack?.stop();
});

const runsOf = (lines: readonly LogLine[], jobId: string, msg: string): LogLine[] =>
  lines.filter((l) => l.jobId === jobId && l.msg === msg);
const multigets = (): number[] => proxy.requests.filter((r) => r.report === 'calendar-multiget').map((r) => r.hrefs);

describe('calendar.sync end to end: a worker killed mid-sync, resumed by another', () => {
  it('resumes from the last checkpoint, re-fetches at most the batch in flight, and ends with the exact store', async () => {
    const { status, json } = await post(api.url, '/accounts/alice/calendars/big/sync');
    expect(status).toBe(202);
    const jobId = String(json.jobId);
    const [first] = workers;

    // Let 4 batches land, then park the worker's next request: a multiget of the 5th or 6th batch.
    await waitFor('4 checkpoints', () => runsOf(first!.lines, jobId, 'calendar.sync checkpointed').length >= 4, {
      timeoutMs: 120_000,
      intervalMs: 20,
    });
    proxy.hold();
    // Parked, and the run before it has finished saving its checkpoint (its message is deleted):
    // the only message of this job is the one the parked run holds.
    await waitFor(
      'a multiget to be parked after the previous run checkpointed',
      () => proxy.heldCount() === 1 && runsOf(first!.lines, jobId, 'calendar.sync checkpointed').length === multigets().length - 1,
      { timeoutMs: 30_000, intervalMs: 20 },
    );
    await first!.kill();
    proxy.drop();
    const checkpointedBeforeKill = runsOf(first!.lines, jobId, 'calendar.sync checkpointed');
    const applied = checkpointedBeforeKill.length;
    expect(applied).toBeGreaterThanOrEqual(4);
    expect(applied).toBeLessThan(EVENTS / BATCH);
    const requestsAtKill = proxy.requests.length;
    const { rows: atKill } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM events WHERE calendar = 'big'");
    expect(atKill[0]?.n).toBe(applied * BATCH);

    const second = await startWorker(env, { concurrency: 4 });
    workers.push(second);
    const done = await waitFor('the sync to complete on the new worker', () => runsOf(second.lines, jobId, 'calendar.sync completed')[0], {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    expect(done).toMatchObject({ completed: true, resumed: true, fetchedTotal: EVENTS });

    // The new worker started from the checkpoint the killed run's message carried: no new plan (no
    // sync REPORT), its first run had exactly the rest to fetch.
    const afterKill = proxy.requests.slice(requestsAtKill);
    expect(afterKill.filter((r) => r.report === 'sync-collection')).toEqual([]);
    const planned = runsOf(second.lines, jobId, 'calendar.sync planned');
    expect(planned[0]).toMatchObject({ resumed: true, toFetch: EVENTS - applied * BATCH });
    expect(planned.every((line) => line.resumed === true)).toBe(true);

    // Fetched across both workers: every batch once in the runs that finished, plus the one batch the
    // killed run asked for (which the new worker fetched again).
    const finished = [...checkpointedBeforeKill, ...runsOf(second.lines, jobId, 'calendar.sync checkpointed'), done];
    expect(finished.reduce((n, line) => n + Number(line.fetched), 0)).toBe(EVENTS);
    const fetchedFromServer = multigets().reduce((n, hrefs) => n + hrefs, 0);
    expect(fetchedFromServer).toBeGreaterThanOrEqual(EVENTS);
    expect(fetchedFromServer).toBeLessThanOrEqual(EVENTS + BATCH);
    expect(multigets().filter((hrefs) => hrefs > BATCH)).toEqual([]);

    // The store is exact and the token stored.
    const { rows } = await pool.query<{ href: string; etag: string }>(
      "SELECT href, etag FROM events WHERE account_id = 'alice' AND calendar = 'big'",
    );
    expect(new Map(rows.map((row) => [row.href, row.etag]))).toEqual(await alice.list('big'));
    expect(rows).toHaveLength(EVENTS);
    const token = await pool.query<{ sync_token: string | null }>(
      "SELECT sync_token FROM calendars WHERE account_id = 'alice' AND calendar = 'big'",
    );
    expect(token.rows[0]?.sync_token).toMatch(/\S/);

    // The killed run's message came back to the new worker, which counted exactly one attempt lost with
    // the dead worker, whatever the receive count (measured here: often 3, because once visible again
    // ElasticMQ handed the message to a long poll the dead worker had left open). It re-sent the job as
    // the next attempt, with the checkpoint and the loss on record, without running it; that message ran.
    const lost = second.lines.filter((l) => l.jobId === jobId && String(l.msg).startsWith('received again unsettled'));
    expect(lost).toHaveLength(1);
    expect(Number(lost[0]!.receiveCount)).toBeGreaterThanOrEqual(2);
    // The killed run was on a checkpoint message (attempt 1); the first run on the new worker is attempt 2.
    expect(lost[0]).toMatchObject({ attempt: 1, msg: 'received again unsettled: attempt 1 was lost with its worker (worker_lost)' });
    expect(planned[0]).toMatchObject({ attempt: 2 });
    // Later runs continue from checkpoints (attempt reset to 1): no other attempt was lost or failed.
    expect(planned.slice(1).map((line) => line.attempt)).toEqual(planned.slice(1).map(() => 1));
    const metrics = await second.metrics();
    expect(sample(metrics, 'calsync_jobs_failed_total', { job_type: 'calendar.sync', error_type: 'WorkerLost' })).toBe(1);
    expect(sample(metrics, 'calsync_jobs_failed_total', { job_type: 'calendar.sync' })).toBe(1);
    expect(sample(metrics, 'calsync_jobs_retried_total', { job_type: 'calendar.sync' })).toBe(1);
    expect(sample(metrics, 'calsync_jobs_processed_total', { job_type: 'calendar.sync', outcome: 'retrying' })).toBe(1);
    await waitFor('the queue to be empty', async () => (await queueSize(stack!.sqs.endpoint, `${PREFIX}`)) === 0, {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    expect(await drainDeadLetters(stack!.sqs.endpoint, `${PREFIX}-dlq`)).toEqual([]);
  }, 300_000);
});
