/**
 * Per-key control across worker processes (issue 13): three worker processes
 * (test/fixtures/keys-worker.ts) on fauxqs (in this process) and one PostgreSQL 15 job store.
 *
 * - concurrency: 60 jobs on 3 keys, limit 1, 200 ms handlers: never two runs of one key at once (the
 *   handlers' stamps), all 60 succeed on attempt 1; a SIGKILLed worker's key is free again within one
 *   lease period.
 * - rate: 50 jobs on one key at 5 per second across the workers: no 1-second window of the store's
 *   claim times with more than 5 starts, the last start at least 9 s after the first; another key
 *   is not slowed.
 * - RateLimitedError(retryAfterMs 2000) in one worker: no job of the key starts anywhere for 2 s; the
 *   throwing job then succeeds at attempt 1, no attempt counted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ensureQueues } from '../../src/ops/ensure-queues.js';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { payloadPolicy, storeRecorder } from '../../src/ops/job-recorder.js';
import { JobQueue, type JobSchemaEntry } from '../../src/queue/job-queue.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { PostgresJobStore } from '../../src/store/postgres-store.js';
import { readLog } from '../chaos/support/harness.js';
import { startPostgres, type PostgresDatabase } from '../support/postgres.js';
import { REPO_ROOT, spawnPeer, waitFor, type Peer } from '../support/process.js';

const FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'keys-worker.ts');
const VISIBILITY_SECONDS = 5;
const payload = z.object({ key: z.string(), n: z.int(), ms: z.int().optional(), onceMs: z.int().optional(), throwMs: z.int().optional() });
type Payload = z.output<typeof payload>;
const byKey = { key: (p: Payload) => p.key };
/** The fixture's job types, as a producer knows them (their keys). */
const TYPES: JobSchemaEntry[] = [
  { type: 'keys.serial', schema: payload, keys: { concurrency: byKey } },
  { type: 'keys.rated', schema: payload, keys: { rateLimit: byKey } },
  { type: 'keys.throttled', schema: payload, keys: { rateLimit: byKey } },
];

interface Line {
  e: string;
  pid: number;
  t: number;
  id?: string;
  a?: number;
  key?: string;
  n?: number;
  reason?: string;
}

let sqs: EmbeddedSqs;
let database: PostgresDatabase;
let store: PostgresJobStore;
let transport: SqsTransport;
let queue: JobQueue;
let dir: string;
let log: string;
let env: Record<string, string>;
const workers: Peer[] = [];

async function startWorker(): Promise<Peer> {
  const peer = spawnPeer('keys-worker', process.execPath, ['--import', 'tsx', FIXTURE], {
    cwd: REPO_ROOT,
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
  });
  workers.push(peer);
  await waitFor(
    `keys worker ${peer.pid} to be ready`,
    () => {
      if (peer.child.exitCode !== null) throw new Error(`exited with ${peer.child.exitCode}: ${peer.output().slice(-2_000)}`);
      return lines().some((l) => l.e === 'ready' && l.pid === peer.pid);
    },
    { timeoutMs: 60_000, intervalMs: 50 },
  );
  return peer;
}

const lines = (): Line[] => readLog(log) as unknown as Line[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'calsync-keys-'));
  log = join(dir, 'log.jsonl');
  sqs = await startEmbeddedSqs();
  database = await startPostgres();
  store = await PostgresJobStore.connect(database.connectionString);
  transport = new SqsTransport({ endpoint: sqs.endpoint, region: 'us-east-1' });
  const queues = await ensureQueues(transport, { prefix: 'keys', visibilityTimeoutSeconds: VISIBILITY_SECONDS, maxReceiveCount: 50 });
  queue = new JobQueue({
    transport,
    queueUrl: queues.mainQueueUrl,
    jobs: TYPES,
    recorder: storeRecorder(store, payloadPolicy({ storePayloads: true, logRedact: [] })),
  });
  env = {
    KEYS_ENDPOINT: sqs.endpoint,
    KEYS_QUEUE_URL: queues.mainQueueUrl,
    KEYS_DLQ_URL: queues.dlqUrl,
    KEYS_STORE_URL: database.connectionString,
    KEYS_LOG: log,
    KEYS_DIR: dir,
    KEYS_VISIBILITY_SECONDS: String(VISIBILITY_SECONDS),
  };
  await Promise.all([startWorker(), startWorker(), startWorker()]);
}, 120_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop(5_000)));
  await transport?.close();
  await store?.close();
  await database?.stop();
  await sqs?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function enqueue(type: string, payloads: Payload[]): Promise<string[]> {
  return (await queue.enqueueMany(payloads.map((p) => ({ type, payload: p })))).map((r) => r.id);
}

async function states(ids: string[]): Promise<string[]> {
  return await Promise.all(
    ids.map(async (id) => {
      const job = await store.getJob(id);
      return job ? `${job.state}@${job.attempt}` : 'missing';
    }),
  );
}

describe('concurrency per key across 3 worker processes', () => {
  it('60 jobs on 3 keys, limit 1: no two runs of a key overlap, all succeed on attempt 1', async () => {
    const keys = ['c-a', 'c-b', 'c-c'];
    const ids = await enqueue(
      'keys.serial',
      Array.from({ length: 60 }, (_, n) => ({ key: keys[n % 3]!, n, ms: 200 })),
    );
    await waitFor('60 jobs to succeed', async () => (await states(ids)).every((s) => s === 'succeeded@1'), {
      timeoutMs: 90_000,
      intervalMs: 500,
    });
    const mine = lines().filter((l) => l.key !== undefined && keys.includes(l.key));
    for (const key of keys) {
      const starts = mine.filter((l) => l.key === key && l.e === 'start').sort((a, b) => a.t - b.t);
      const ends = mine.filter((l) => l.key === key && l.e === 'end');
      expect(starts).toHaveLength(20);
      for (const [i, start] of starts.entries()) {
        const end = ends.find((e) => e.id === start.id)!;
        const next = starts[i + 1];
        if (next) expect(next.t, `${key}: run ${next.id} started before ${start.id} ended`).toBeGreaterThanOrEqual(end.t);
      }
    }
    // The work was spread: more than one worker ran jobs.
    expect(new Set(mine.map((l) => l.pid)).size).toBeGreaterThan(1);
  }, 120_000);

  it("a SIGKILLed worker's key is free again within one lease period", async () => {
    // The first run holds the key for a minute; the job's later run (its lost attempt retried) is short.
    const [holder] = await enqueue('keys.serial', [{ key: 'kill-k', n: 0, onceMs: 60_000, ms: 10 }]);
    await waitFor('the long run to start', () => lines().some((l) => l.e === 'start' && l.id === holder), {
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    const runner = lines().find((l) => l.e === 'start' && l.id === holder)!.pid;
    const victim = workers.find((w) => w.pid === runner)!;
    const [next] = await enqueue('keys.serial', [{ key: 'kill-k', n: 1, ms: 10 }]);
    // Held back while the key is held.
    await waitFor('the next job to be held back', () => lines().some((l) => l.e === 'held' && l.id === next), {
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    const killedAt = Date.now();
    process.kill(victim.pid, 'SIGKILL');
    await victim.stop(0);
    await waitFor('both jobs to succeed', async () => (await states([holder!, next!])).every((s) => s.startsWith('succeeded')), {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    const after = lines().filter((l) => l.e === 'start' && l.key === 'kill-k' && l.t > killedAt);
    const first = Math.min(...after.map((l) => l.t));
    // The dead worker's hold ends with its claim, at most one lease (the visibility timeout) after its
    // last renewal; then the key's next start (the next job, or the lost attempt retried) follows, the
    // held job's re-send delay being bounded by that end, rounded up to SQS's whole seconds.
    expect(first - killedAt).toBeLessThanOrEqual(VISIBILITY_SECONDS * 1000 + 2_000);
    expect(await states([holder!, next!])).toEqual(['succeeded@2', 'succeeded@1']);
    await startWorker();
  }, 90_000);
});

describe('rate per key across 3 worker processes', () => {
  it('50 jobs at 5 per second: never more than 5 starts in a second, over at least 9 s; another key is not slowed', async () => {
    const ids = await enqueue(
      'keys.rated',
      Array.from({ length: 50 }, (_, n) => ({ key: 'r-slow', n })),
    );
    const others = await enqueue(
      'keys.rated',
      Array.from({ length: 5 }, (_, n) => ({ key: 'r-other', n })),
    );
    await waitFor('55 jobs to succeed', async () => (await states([...ids, ...others])).every((s) => s === 'succeeded@1'), {
      timeoutMs: 90_000,
      intervalMs: 500,
    });
    // The store's claim times are the starts the limit counts (one clock, the database's).
    const starts = (await Promise.all(ids.map(async (id) => (await store.getJob(id))!.startedAt!))).sort((a, b) => a - b);
    for (const at of starts) {
      const inWindow = starts.filter((s) => s >= at && s < at + 1_000).length;
      expect(inWindow, `starts in [${at}, ${at + 1_000})`).toBeLessThanOrEqual(5);
    }
    expect(starts.at(-1)! - starts[0]!).toBeGreaterThanOrEqual(9_000);
    // The handlers saw the same spacing.
    const stamps = lines()
      .filter((l) => l.e === 'start' && l.key === 'r-slow')
      .map((l) => l.t)
      .sort((a, b) => a - b);
    expect(stamps).toHaveLength(50);
    expect(stamps.at(-1)! - stamps[0]!).toBeGreaterThanOrEqual(9_000 - 100);
    const otherStarts = lines()
      .filter((l) => l.e === 'start' && l.key === 'r-other')
      .map((l) => l.t);
    // Another key is not slowed: its 5 jobs all started within the slow key's first two windows.
    expect(otherStarts).toHaveLength(5);
    expect(Math.max(...otherStarts)).toBeLessThan(stamps[10]!);
  }, 120_000);
});

describe('RateLimitedError across 3 worker processes', () => {
  it('retryAfterMs 2000: no job of the key starts anywhere for 2 s, and the throwing job counts no attempt', async () => {
    const [thrower] = await enqueue('keys.throttled', [{ key: 't-k', n: 0, throwMs: 2_000 }]);
    await waitFor(
      'the throttle to be written (job:held)',
      () => lines().some((l) => l.e === 'held' && l.id === thrower && l.reason === 'throttled'),
      {
        timeoutMs: 30_000,
        intervalMs: 20,
      },
    );
    const thrownAt = lines().find((l) => l.e === 'throw' && l.id === thrower)!.t;
    const ids = await enqueue(
      'keys.throttled',
      Array.from({ length: 20 }, (_, n) => ({ key: 't-k', n: n + 1 })),
    );
    const others = await enqueue(
      'keys.throttled',
      Array.from({ length: 5 }, (_, n) => ({ key: 't-other', n })),
    );
    await waitFor('26 jobs to succeed', async () => (await states([thrower!, ...ids, ...others])).every((s) => s === 'succeeded@1'), {
      timeoutMs: 60_000,
      intervalMs: 500,
    });
    const starts = lines().filter((l) => l.e === 'start' && l.key === 't-k');
    expect(starts).toHaveLength(21);
    for (const start of starts) expect(start.t - thrownAt, `job ${start.id}`).toBeGreaterThanOrEqual(2_000);
    // Several workers ran them: the throttle held on every one.
    expect(new Set(starts.map((l) => l.pid)).size).toBeGreaterThan(1);
    const otherStarts = lines()
      .filter((l) => l.e === 'start' && l.key === 't-other')
      .map((l) => l.t);
    // Another key is not throttled: its jobs ran before the throttled key's first start after the throw.
    expect(otherStarts).toHaveLength(5);
    expect(Math.max(...otherStarts)).toBeLessThan(Math.min(...starts.map((l) => l.t)));
    expect(await store.getJob(thrower!)).toMatchObject({ state: 'succeeded', attempt: 1, history: [] });
  }, 90_000);
});
