/**
 * The set-up of the CLI tests with a job store: a real PostgreSQL 15 (test/support/postgres.ts) and
 * fauxqs in the test process, the queues under a prefix of the file's own, the CLI's environment
 * pointing at both, and rows in states the CLI cannot make by itself (running, dead), written by a
 * store in the test the way a worker writes them: claim, then settle.
 */
import { afterAll, beforeAll } from 'vitest';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import type { EnsuredQueues } from '../../src/ops/ensure-queues.js';
import type { HistoryEntry } from '../../src/queue/envelope.js';
import type { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import type { NewJob } from '../../src/store/job-store.js';
import { PostgresJobStore } from '../../src/store/postgres-store.js';
import { startPostgres, type PostgresDatabase } from '../support/postgres.js';
import { cliEnv, createQueues, testTransport, uniquePrefix } from './cli-harness.js';

export interface StoreCli {
  /** The CLI's environment: the SQS server, the queue prefix, CALSYNC_STORE_URL. */
  env: NodeJS.ProcessEnv;
  transport: SqsTransport;
  queues: EnsuredQueues;
  store: PostgresJobStore;
}

/** Starts the servers before the file's tests and stops them after; the fields are set once `beforeAll` ran. */
export function useStoreCli(): StoreCli {
  const context = {} as StoreCli;
  let postgres: PostgresDatabase | undefined;
  let sqs: EmbeddedSqs | undefined;
  beforeAll(async () => {
    [postgres, sqs] = await Promise.all([startPostgres(), startEmbeddedSqs()]);
    const prefix = uniquePrefix();
    context.transport = testTransport(sqs.endpoint);
    context.queues = await createQueues(context.transport, prefix);
    context.store = await PostgresJobStore.connect(postgres.connectionString);
    context.env = { ...cliEnv(sqs.endpoint, prefix), CALSYNC_STORE_URL: postgres.connectionString };
  }, 120_000);
  afterAll(async () => {
    await context.store?.close();
    await context.transport?.close();
    await sqs?.stop();
    await postgres?.stop();
  });
  return context;
}

export const json = <T>(stdout: string): T => JSON.parse(stdout) as T;

export const failure = (attempt: number): HistoryEntry => ({
  attempt,
  at: new Date().toISOString(),
  durationMs: 7,
  kind: 'failed',
  error: { name: 'NonRetryableError', message: 'the account was deleted' },
});

/** A row as a producer writes it. */
export async function pendingRow(store: PostgresJobStore, extra: Partial<NewJob> = {}): Promise<NewJob> {
  const row: NewJob = { id: crypto.randomUUID(), type: 'test.cli', createdAt: Date.now(), payload: { n: 1 }, ...extra };
  await store.createJobs([row]);
  return row;
}

/** A row a worker has claimed (attempt 1 running). */
export async function runningRow(store: PostgresJobStore, extra: Partial<NewJob> = {}): Promise<NewJob> {
  const row = await pendingRow(store, extra);
  await store.claim([{ jobId: row.id, type: row.type, attempt: 1, messageId: `m-${row.id}`, leaseMs: 60_000, worker: 'test:1', row }]);
  return row;
}

/** A row whose attempt 1 ended `succeeded` or `dead` (non_retryable). */
export async function settledRow(store: PostgresJobStore, kind: 'succeeded' | 'dead', extra: Partial<NewJob> = {}): Promise<NewJob> {
  const row = await runningRow(store, extra);
  const outcome = kind === 'succeeded' ? { kind } : { kind, reason: 'non_retryable', error: failure(1).error, history: [failure(1)] };
  await store.settle([{ jobId: row.id, attempt: 1, messageId: `m-${row.id}`, outcome }]);
  return row;
}
