/**
 * Dedup across processes: two producer processes (test/fixtures/dedup-enqueuer.ts, run with `node
 * --import tsx`) each make 25 concurrent `queue.enqueue` calls with one idempotency key, at the same
 * moment, against one PostgreSQL 15 store and one SQS server (fauxqs, in this process). Exactly one
 * job is recorded, exactly one message reaches the queue (counted by receiving), and the other 49
 * calls answer `deduplicated: true` with that job's id.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { ensureQueues, type EnsuredQueues } from '../../src/ops/ensure-queues.js';
import type { EnqueueResult } from '../../src/queue/job-queue.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { PostgresJobStore } from '../../src/store/postgres-store.js';
import { startPostgres, type PostgresDatabase } from '../support/postgres.js';
import { REPO_ROOT, spawnPeer, waitFor, type Peer } from '../support/process.js';
import { drain, jobIds, uniquePrefix } from './cli-harness.js';

const FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'dedup-enqueuer.ts');

describe('50 concurrent enqueues with one idempotency key from two processes', () => {
  let postgres: PostgresDatabase | undefined;
  let sqs: EmbeddedSqs | undefined;
  let transport: SqsTransport | undefined;
  let store: PostgresJobStore | undefined;
  let queues: EnsuredQueues;
  const children: Peer[] = [];

  beforeAll(async () => {
    [postgres, sqs] = await Promise.all([startPostgres(), startEmbeddedSqs()]);
    transport = new SqsTransport({ endpoint: sqs.endpoint, region: 'us-east-1' });
    queues = await ensureQueues(transport, { prefix: uniquePrefix() });
    // Migrated here once, so the two producers race on the rows, not on the migration.
    store = await PostgresJobStore.connect(postgres.connectionString);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(children.map((child) => child.stop(1_000)));
    await store?.close();
    await transport?.close();
    await sqs?.stop();
    await postgres?.stop();
  });

  it('records one job, sends one message and reports 49 duplicates', async () => {
    const key = `invoice-${uniquePrefix()}`;
    for (const name of ['producer-a', 'producer-b']) {
      children.push(
        spawnPeer(name, process.execPath, ['--import', 'tsx', FIXTURE], {
          cwd: REPO_ROOT,
          stdio: ['pipe', 'pipe', 'pipe'],
          env: {
            ...process.env,
            STORE_URL: postgres!.connectionString,
            SQS_ENDPOINT: sqs!.endpoint,
            QUEUE_URL: queues.mainQueueUrl,
            KEY: key,
            COUNT: '25',
          },
        }),
      );
    }
    await waitFor('both producers to be ready', () => children.every((child) => child.output().includes('READY')), {
      timeoutMs: 60_000,
    });
    // Both at once: each fires its 25 enqueues as soon as it reads the line.
    for (const child of children) child.child.stdin?.end('go\n');
    const lines = await waitFor(
      'both producers to report',
      () => {
        const found = children.map((child) => /^RESULTS (.*)$/m.exec(child.output())?.[1]);
        return found.every((line) => line !== undefined) ? (found as string[]) : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const results = lines.flatMap((line) => JSON.parse(line) as EnqueueResult[]);
    expect(results).toHaveLength(50);
    const ids = new Set(results.map((result) => result.id));
    expect(ids.size).toBe(1);
    const [id] = ids;
    expect(results.filter((result) => result.deduplicated)).toHaveLength(49);

    const rows = await store!.listJobs({ key, limit: 1_000 });
    expect(rows.jobs.map((job) => job.id)).toEqual([id]);
    expect(rows.jobs[0]).toMatchObject({ type: 'dedup.once', idempotencyKey: key, state: 'pending' });
    expect(jobIds(await drain(transport!, queues.mainQueueUrl))).toEqual([id]);
  }, 120_000);
});
