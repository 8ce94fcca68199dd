/**
 * `calsync-jobs api --store embedded` as a process of its own (PGlite in it) against fauxqs in this
 * process: the enqueue routes record and dedup (202 for a new job, 200 `deduplicated` for a repeated
 * Idempotency-Key, one message on the queue), and the `/jobs` routes answer from the store. The
 * process is stopped by its PID with SIGTERM and must exit 0 (the store closed after the server).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import type { EnsuredQueues } from '../../src/ops/ensure-queues.js';
import type { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { spawnPeer, waitFor, type Peer, REPO_ROOT } from '../support/process.js';
import { BIN, cliEnv, createQueues, drain, jobIds, testTransport, uniquePrefix } from './cli-harness.js';

let sqs: EmbeddedSqs | undefined;
let transport: SqsTransport | undefined;
let queues: EnsuredQueues;
let api: Peer | undefined;
let base: string;

beforeAll(async () => {
  sqs = await startEmbeddedSqs();
  transport = testTransport(sqs.endpoint);
  const prefix = uniquePrefix();
  queues = await createQueues(transport, prefix);
  api = spawnPeer('api', process.execPath, [BIN, 'api', '--port', '0', '--store', 'embedded', '--log-level', 'warn'], {
    cwd: REPO_ROOT,
    env: cliEnv(sqs.endpoint, prefix),
  });
  base = await waitFor('the api to print its URL', () => /^(http:\/\/127\.0\.0\.1:\d+)$/m.exec(api!.output())?.[1], { timeoutMs: 60_000 });
}, 90_000);

afterAll(async () => {
  await api?.stop(5_000);
  await transport?.close();
  await sqs?.stop();
});

async function call(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const response = await fetch(`${base}${path}`, { method, headers });
  return { status: response.status, json: await response.json() };
}

describe('calsync-jobs api with the embedded store', () => {
  it('answers 202 { id, jobId } for a new job and 200 { deduplicated: true } for a repeated Idempotency-Key, sending once', async () => {
    const first = await call('POST', '/accounts/alice/calendars/work/sync', { 'idempotency-key': 'sync-1' });
    expect(first.status).toBe(202);
    expect(first.json).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), jobId: first.json.id });
    const again = await call('POST', '/accounts/alice/calendars/work/sync', { 'idempotency-key': 'sync-1' });
    expect(again).toEqual({ status: 200, json: { id: first.json.id, jobId: first.json.id, deduplicated: true } });
    expect(jobIds(await drain(transport!, queues.mainQueueUrl))).toEqual([first.json.id]);

    const job = await call('GET', `/jobs/${first.json.id}`);
    expect(job.status).toBe(200);
    expect(job.json).toMatchObject({
      id: first.json.id,
      type: 'calendar.sync',
      state: 'pending',
      attempt: 1,
      idempotencyKey: 'sync-1',
      payload: { accountId: 'alice', calendar: 'work' },
      history: [],
      retries: 0,
    });
  });

  it('GET /jobs filters and pages; GET /jobs/:id and POST /jobs/:id/cancel answer 404, 200 and 409', async () => {
    const ids: string[] = [];
    for (const calendar of ['a', 'b', 'c']) ids.push((await call('POST', `/accounts/bob/calendars/${calendar}/sync`)).json.id);
    const page = await call('GET', '/jobs?type=calendar.sync&state=pending&limit=2');
    expect(page.status).toBe(200);
    expect(page.json.jobs.map((job: { id: string }) => job.id)).toEqual([ids[2], ids[1]]);
    const next = await call('GET', `/jobs?type=calendar.sync&state=pending&limit=2&cursor=${encodeURIComponent(page.json.nextCursor)}`);
    expect(next.json.jobs[0].id).toBe(ids[0]);
    expect(await call('GET', `/jobs?key=${ids[1]}`)).toMatchObject({ status: 200, json: { jobs: [{ id: ids[1] }], nextCursor: null } });
    expect(await call('GET', '/jobs?limit=lots')).toMatchObject({ status: 400, json: { field: 'limit' } });

    expect(await call('GET', '/jobs/11111111-2222-4333-8444-555555555555')).toMatchObject({
      status: 404,
      json: { error: expect.any(String) },
    });
    expect(await call('POST', `/jobs/${ids[0]}/cancel`)).toEqual({
      status: 200,
      json: { id: ids[0], state: 'cancelled', wasRunning: false },
    });
    expect(await call('POST', `/jobs/${ids[0]}/cancel`)).toMatchObject({ status: 409, json: { state: 'cancelled' } });
    expect((await call('POST', '/jobs/11111111-2222-4333-8444-555555555555/cancel')).status).toBe(404);
    expect((await call('GET', `/jobs/${ids[0]}`)).json.state).toBe('cancelled');
  });

  it('stops on SIGTERM and exits 0', async () => {
    await api!.stop(10_000);
    expect(api!.child.exitCode, api!.output()).toBe(0);
  });
});
