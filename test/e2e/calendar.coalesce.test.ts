/**
 * End to end (issue 13): a burst of sync requests for one calendar becomes one sync. `calsync-jobs api`
 * and `calsync-jobs worker` share a PostgreSQL job store (CALSYNC_STORE_URL); the worker reaches
 * Radicale through a proxy that delays every request, so a sync runs for seconds. While one runs, 100
 * POST .../sync requests arrive within a second: the first makes the one pending job, the other 99 are
 * answered `200 { id, deduplicated: true }` with its id (coalesced on `account:calendar`), and it
 * waits for the running one (concurrency 1 on the same key). At most 2 executions; the calendar's
 * rows in PostgreSQL end exactly as Radicale has them, including an event added during the first sync.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DavProxy } from '../fixtures/calendar-dav-proxy.js';
import {
  post,
  startCalendarStack,
  type ApiProcess,
  type CalendarStack,
  type LogLine,
  type WorkerProcess,
} from '../fixtures/calendar-e2e.js';
import { makeEvents } from '../integration/calendar-context.js';
import { waitFor } from '../support/process.js';
import type { RadicaleUser } from '../support/radicale.js';

const PREFIX = `e2e-coalesce-${randomUUID().slice(0, 8)}`;

let stack: CalendarStack | undefined;
let proxy: DavProxy;
let pool: pg.Pool;
let api: ApiProcess;
let alice: RadicaleUser;
let worker: WorkerProcess;

beforeAll(async () => {
  stack = await startCalendarStack({
    prefix: PREFIX,
    concurrency: 4,
    seed: (alice) => alice.uploadCalendar('team', makeEvents('team', 20)),
    // The stack's database holds the calendar tables and, in its own schema, the job store.
    store: true,
  });
  ({ proxy, pool, api, alice } = stack);
  worker = stack.workers[0]!;
}, 600_000);

afterAll(async () => {
  await stack?.stop();
});

const completed = (lines: readonly LogLine[]): LogLine[] => lines.filter((l) => l.msg === 'calendar.sync completed');

describe('calendar.sync coalesced through the API while a sync runs', () => {
  it('100 requests within 1 s make at most 2 executions, and PostgreSQL ends exact', async () => {
    proxy.setDelay(1_000);
    const first = await post(api.url, '/accounts/alice/calendars/team/sync');
    expect(first.status).toBe(202);
    const firstId = String(first.json.id);
    await waitFor('the first sync to be running', async () => (await jobState(firstId)) === 'running', {
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    // A change the running sync may already have missed: the second sync must bring it.
    await alice.put('team', makeEvents('late', 1)[0]!);

    const startedAt = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        await new Promise((resolve) => setTimeout(resolve, i * 9));
        return await post(api.url, '/accounts/alice/calendars/team/sync');
      }),
    );
    expect(Date.now() - startedAt).toBeLessThan(1_500);
    const created = answers.filter((a) => a.status === 202);
    expect(created).toHaveLength(1);
    const secondId = String(created[0]!.json.id);
    expect(secondId).not.toBe(firstId);
    const coalesced = answers.filter((a) => a.status === 200);
    expect(coalesced).toHaveLength(99);
    for (const answer of coalesced) expect(answer.json).toMatchObject({ id: secondId, deduplicated: true });
    // The first is still running: the burst came while a sync ran.
    expect(await jobState(firstId)).toBe('running');

    proxy.setDelay(0);
    await waitFor(
      'both syncs to succeed',
      async () => (await jobState(firstId)) === 'succeeded' && (await jobState(secondId)) === 'succeeded',
      {
        timeoutMs: 120_000,
        intervalMs: 200,
      },
    );
    const runs = completed(worker.lines);
    expect(new Set(runs.map((l) => l.jobId))).toEqual(new Set([firstId, secondId]));
    expect(runs).toHaveLength(2);
    // Never two at once: the second started after the first completed.
    const firstEnd = runs.find((l) => l.jobId === firstId)!;
    const secondStart = worker.lines.find((l) => l.jobId === secondId && l.msg === 'calendar.sync planned');
    expect(Number(secondStart?.time)).toBeGreaterThanOrEqual(Number(firstEnd.time));

    const { rows } = await pool.query<{ href: string; etag: string }>(
      "SELECT href, etag FROM events WHERE account_id = 'alice' AND calendar = 'team'",
    );
    expect(new Map(rows.map((row) => [row.href, row.etag]))).toEqual(await alice.list('team'));
    expect(rows).toHaveLength(21);
  }, 300_000);
});

async function jobState(id: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ state: string }>('SELECT state FROM calsync_jobs.jobs WHERE id = $1', [id]);
  return rows[0]?.state;
}
