/**
 * The console on real servers, for the browser tests: PostgreSQL 15 (test/support/postgres.ts) and
 * fauxqs in the test process, a real worker claiming and settling through that store, a producer
 * recording every job before it sends it, and consoles over all of it built as `calsync-jobs console`
 * builds them. Each console logs to `lines` (pino JSON), so a test can read who did what.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { z } from 'zod';
import { createConsoleServer, type ConsoleServer, type ConsoleServerOptions } from '../../src/console/server.js';
import { defineJob } from '../../src/machines/define-job.js';
import { NonRetryableError, RetryableError } from '../../src/machines/errors.js';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { ensureQueues, type EnsuredQueues } from '../../src/ops/ensure-queues.js';
import { storeRecorder } from '../../src/ops/job-recorder.js';
import { JobQueue } from '../../src/telemetry/instrumented.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { createWorker, type Worker } from '../../src/runtime/worker.js';
import { PostgresJobStore } from '../../src/store/postgres-store.js';
import { startPostgres, type PostgresDatabase } from './postgres.js';
import { silentLogger } from './runtime-harness.js';

export const CONSOLE_TOKEN = 'console-test-token-0123456789';

/** Flips a job type from failing to working while the test runs (a fixed bug, then a redrive). */
export const healing = { healed: false };

export const consoleJobs = [
  defineJob({
    type: 'console.flaky',
    schema: z.object({ failTimes: z.int().min(0), password: z.string().optional() }),
    retry: { initialIntervalMs: 200, backoffCoefficient: 2, jitter: 'none', maximumAttempts: 5 },
    handler: (payload, ctx) => {
      if (ctx.attempt <= payload.failTimes) throw new RetryableError(`calendar server busy (attempt ${ctx.attempt})`);
    },
  }),
  defineJob({
    type: 'console.heal',
    schema: z.object({ account: z.string() }),
    handler: () => {
      if (!healing.healed) throw new NonRetryableError('the account is locked', { reason: 'account_locked' });
    },
  }),
  defineJob({ type: 'console.later', schema: z.object({}), handler: () => undefined }),
];

export interface LoggedConsole {
  server: ConsoleServer;
  url: string;
  /** Every log line, parsed. */
  lines: Array<Record<string, unknown>>;
}

export interface ConsoleRig {
  postgres: PostgresDatabase;
  sqs: EmbeddedSqs;
  transport: SqsTransport;
  queues: EnsuredQueues;
  store: PostgresJobStore;
  worker: Worker;
  producer: JobQueue;
  /** A console as the CLI builds one; `options` override (token, readonly). */
  console(options?: Partial<ConsoleServerOptions>): Promise<LoggedConsole>;
  stop(): Promise<void>;
}

export async function startConsoleRig(prefix: string): Promise<ConsoleRig> {
  const [postgres, sqs] = await Promise.all([startPostgres(), startEmbeddedSqs()]);
  const transport = new SqsTransport({ endpoint: sqs.endpoint, region: 'us-east-1' });
  const queues = await ensureQueues(transport, { prefix, visibilityTimeoutSeconds: 5 });
  const store = await PostgresJobStore.connect(postgres.connectionString);
  const policy = { enabled: true, redactPaths: ['payload.password'] };
  const worker = createWorker({
    transport,
    jobs: consoleJobs,
    queueUrl: queues.mainQueueUrl,
    dlqUrl: queues.dlqUrl,
    logger: silentLogger(),
    store,
    storePayloads: policy,
    waitTimeSeconds: 1,
    visibilityTimeoutSeconds: 5,
    shutdownGraceMs: 2_000,
  });
  worker.start();
  const producer = new JobQueue({ transport, queueUrl: queues.mainQueueUrl, jobs: consoleJobs, recorder: storeRecorder(store, policy) });
  const consoles: ConsoleServer[] = [];
  return {
    postgres,
    sqs,
    transport,
    queues,
    store,
    worker,
    producer,
    async console(options = {}) {
      const lines: Array<Record<string, unknown>> = [];
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
          done();
        },
      });
      const server = createConsoleServer({
        store,
        storeUrl: postgres.connectionString.replace(/:[^:@/]+@/, ':***@'),
        queues: {
          transport,
          queueUrl: queues.mainQueueUrl,
          queueName: queues.mainQueueName,
          dlqUrl: queues.dlqUrl,
          dlqName: queues.dlqName,
        },
        sender: producer,
        producer,
        jobs: consoleJobs,
        logger: pino({ level: 'info' }, sink),
        ...options,
      });
      consoles.push(server);
      const { url } = await server.listen({ host: '127.0.0.1', port: 0 });
      return { server, url, lines };
    },
    async stop() {
      await Promise.all(consoles.map((c) => c.close()));
      await worker.stop();
      await store.close();
      await transport.close();
      await sqs.stop();
      await postgres.stop();
    },
  };
}
