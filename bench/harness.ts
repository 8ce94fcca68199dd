/**
 * What every scenario needs: a server behind the counting proxy, fresh queues per run, a producer
 * that fills the queue, and a drain measured from `go` to the last settle.
 */
import { randomBytes } from 'node:crypto';
import { DeleteQueueCommand } from '@aws-sdk/client-sqs';
import { ensureQueues } from '../src/ops/ensure-queues.js';
import { JobQueue } from '../src/telemetry/instrumented.js';
import type { SqsTransport } from '../src/queue/sqs/sqs-transport.js';
import type { ConsumerConfig, ConsumerKind, ConsumerResult, HandlerMode } from './children/protocol.js';
import { diffCounts, type CountingProxy, type RequestCounts } from './counting-proxy.js';
import { startConsumer, within, type ConsumerProcess } from './processes.js';

export interface Target {
  /** `fauxqs` or `elasticmq`. */
  readonly server: string;
  readonly proxy: CountingProxy;
  /** Producer and admin calls, through the proxy. */
  readonly transport: SqsTransport;
}

export interface RunQueues {
  queueUrl: string;
  dlqUrl: string;
  jobs: JobQueue;
  dispose(): Promise<void>;
}

let runCounter = 0;

/** Fresh main queue + DLQ for one run (deleted by `dispose`). */
export async function runQueues(target: Target, visibilityTimeoutSeconds = 30): Promise<RunQueues> {
  const prefix = `b${process.pid}-${++runCounter}`;
  const ensured = await ensureQueues(target.transport, { prefix, visibilityTimeoutSeconds, maxReceiveCount: 10 });
  // A synthetic W3C traceparent per job, as a traced producer would send: the consumer extracts it.
  const attributes = (): Record<string, string> => ({
    traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
  });
  const jobs = new JobQueue({ transport: target.transport, queueUrl: ensured.mainQueueUrl, attributes });
  return {
    queueUrl: ensured.mainQueueUrl,
    dlqUrl: ensured.dlqUrl,
    jobs,
    async dispose() {
      for (const url of [ensured.mainQueueUrl, ensured.dlqUrl]) {
        await target.transport.client.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => undefined);
      }
    },
  };
}

/** Enqueues `n` jobs of type `bench.job` in 8 parallel lanes of SendMessageBatch(10). */
export async function prefill(queues: RunQueues, n: number, lanes = 8): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      const from = next;
      next = Math.min(n, next + 10);
      const batch = [];
      for (let i = from; i < next; i++) batch.push({ type: 'bench.job', payload: { i } });
      await queues.jobs.enqueueJobs(batch);
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
}

export interface DrainSpec {
  kind: ConsumerKind;
  /** calsync concurrency, or ceiling loops; ignored by sqs-consumer (one batch of 10). */
  concurrency: number;
  telemetry?: boolean;
  mode?: HandlerMode;
  /** Consumer processes sharing the queue. @defaultValue 1 */
  processes?: number;
  recordIds?: boolean;
  timeJobs?: boolean;
  visibilityTimeoutSeconds?: number;
}

export interface DrainResult {
  n: number;
  elapsedMs: number;
  msgPerSec: number;
  /** Consuming side: every request from `go` until the last settle was seen. */
  consumerRequests: RequestCounts;
  /** The prefill's requests (SendMessageBatch). */
  producerRequests: RequestCounts;
  executions: number;
  distinctIds?: number;
  results: ConsumerResult[];
  errors: string[];
}

export function consumerConfig(spec: DrainSpec, queues: RunQueues, target: Target): ConsumerConfig {
  return {
    kind: spec.kind,
    endpoint: target.proxy.endpoint,
    queueUrl: queues.queueUrl,
    dlqUrl: queues.dlqUrl,
    concurrency: spec.concurrency,
    telemetry: spec.telemetry ?? false,
    mode: spec.mode ?? 'noop',
    visibilityTimeoutSeconds: spec.visibilityTimeoutSeconds ?? 30,
    recordIds: spec.recordIds ?? false,
    timeJobs: spec.timeJobs ?? false,
  };
}

/** Fills a fresh queue with `n` jobs, starts the consumers, and measures until `n` jobs have settled. */
export async function drain(
  target: Target,
  spec: DrainSpec,
  n: number,
  timeoutMs = 120_000,
  execArgv: readonly string[] = [],
): Promise<DrainResult> {
  const queues = await runQueues(target, spec.visibilityTimeoutSeconds ?? 30);
  const consumers: ConsumerProcess[] = [];
  try {
    const beforeFill = target.proxy.snapshot();
    await prefill(queues, n);
    const afterFill = target.proxy.snapshot();
    for (let i = 0; i < (spec.processes ?? 1); i++) consumers.push(startConsumer(consumerConfig(spec, queues, target), execArgv));
    await Promise.all(consumers.map((c) => c.ready));
    const goAt = Date.now();
    for (const c of consumers) c.send({ type: 'go' });
    await within(
      `${n} jobs to settle (${spec.kind})`,
      timeoutMs,
      new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (consumers.reduce((sum, c) => sum + c.progress.settled, 0) >= n) {
            clearInterval(timer);
            resolve();
          }
        }, 20);
      }),
    );
    const atEnd = target.proxy.snapshot();
    const results = await Promise.all(consumers.map((c) => c.finish()));
    const lastSettleAt = Math.max(...results.map((r) => r.lastSettleAt));
    const elapsedMs = lastSettleAt - goAt;
    const ids = results.flatMap((r) => r.ids ?? []);
    return {
      n,
      elapsedMs,
      msgPerSec: (n / elapsedMs) * 1000,
      consumerRequests: diffCounts(atEnd, afterFill),
      producerRequests: diffCounts(afterFill, beforeFill),
      executions: results.reduce((sum, r) => sum + r.executions, 0),
      ...(spec.recordIds ? { distinctIds: new Set(ids).size } : {}),
      results,
      errors: consumers.flatMap((c) => c.errors),
    };
  } finally {
    await Promise.all(consumers.map((c) => c.kill()));
    await queues.dispose();
  }
}

/** Requests of the consuming side per settled job: receive + delete + visibility (+ retry sends). */
export function consumerRequestsPerJob(counts: RequestCounts, n: number): number {
  return total(counts) / n;
}

export function total(counts: RequestCounts): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}
