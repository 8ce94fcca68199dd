/**
 * What every scenario needs: a server (fauxqs in a fresh process per drain, clients connected to it
 * directly; or behind a proxy that adds latency, or ElasticMQ behind the counting proxy), fresh
 * queues per run, a producer that fills the queue, and a drain measured from `go` to the last settle.
 */
import { randomBytes } from 'node:crypto';
import { DeleteQueueCommand } from '@aws-sdk/client-sqs';
import { ensureQueues } from '../src/ops/ensure-queues.js';
import { JobQueue } from '../src/telemetry/instrumented.js';
import type { ConsumerConfig, ConsumerKind, ConsumerResult, HandlerMode, TelemetryMode } from './children/protocol.js';
import { SqsTransport } from '../src/queue/sqs/sqs-transport.js';
import { diffCounts, startCountingProxy, type RequestCounts } from './counting-proxy.js';
import { startConsumer, startServerProcess, within, type ConsumerProcess } from './processes.js';

export interface Target {
  /** `fauxqs`, `fauxqs +10 ms` or `elasticmq`. */
  readonly server: string;
  /** What every client (consumers, producer) connects to: the server itself, or the delay proxy. */
  readonly endpoint: string;
  /** Producer and admin calls. */
  readonly transport: SqsTransport;
  /** The SQS server's process (its CPU is read from /proc), when it is ours. */
  readonly serverPid: number | undefined;
  /** Requests served so far by action: counted in the server (fauxqs) or at the counting proxy (ElasticMQ). */
  counts(): Promise<RequestCounts>;
}

export interface OpenTarget extends Target {
  close(): Promise<void>;
}

/**
 * A fresh fauxqs process (bench/sqs-server.ts) that counts its own requests; with `latencyMs`, the
 * clients go through a proxy that waits that long before forwarding each request (both the ceiling
 * and the consumers, so no side runs through anything the other does not).
 */
export async function openFauxqs(latencyMs = 0): Promise<OpenTarget> {
  const server = await startServerProcess();
  const proxy = latencyMs > 0 ? await startCountingProxy(server.endpoint, { latencyMs }) : undefined;
  const endpoint = proxy?.endpoint ?? server.endpoint;
  const transport = new SqsTransport({ endpoint, region: 'us-east-1' });
  return {
    server: latencyMs > 0 ? `fauxqs +${latencyMs} ms` : 'fauxqs',
    endpoint,
    transport,
    serverPid: server.pid,
    counts: () => server.counts(),
    async close() {
      await transport.close();
      await proxy?.close();
      await server.stop();
    },
  };
}

/** A server we cannot count inside (ElasticMQ): every client goes through the counting proxy. */
export async function openCounted(server: string, upstream: string, serverPid?: number): Promise<OpenTarget> {
  const proxy = await startCountingProxy(upstream);
  const transport = new SqsTransport({ endpoint: proxy.endpoint, region: 'us-east-1' });
  return {
    server,
    endpoint: proxy.endpoint,
    transport,
    serverPid,
    counts: async () => proxy.snapshot(),
    async close() {
      await transport.close();
      await proxy.close();
    },
  };
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
  /** calsync: @defaultValue 'default' (the CLI's: metrics on, traces exported nowhere) */
  telemetry?: TelemetryMode;
  /** With telemetry `otlp`: the OTLP sink's endpoint. */
  otlpEndpoint?: string;
  /** calsync: CALSYNC_HANDLER_TRACE_CONTEXT; unset, the CLI's default. */
  handlerTraceContext?: boolean;
  mode?: HandlerMode;
  /** Consumer processes sharing the queue. @defaultValue 1 */
  processes?: number;
  recordIds?: boolean;
  timeJobs?: boolean;
  visibilityTimeoutSeconds?: number;
  /** Jobs the single consumer is to settle: its CPU window ends there (set by `drain`). */
  expect?: number;
  /** Profile the single consumer's measured window to this `.cpuprofile` path. */
  profileTo?: string;
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
    endpoint: target.endpoint,
    queueUrl: queues.queueUrl,
    dlqUrl: queues.dlqUrl,
    concurrency: spec.concurrency,
    telemetry: spec.telemetry ?? 'default',
    otlpEndpoint: spec.otlpEndpoint,
    handlerTraceContext: spec.handlerTraceContext,
    expect: spec.expect,
    profileTo: spec.profileTo,
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
    const beforeFill = await target.counts();
    await prefill(queues, n);
    const afterFill = await target.counts();
    const processes = spec.processes ?? 1;
    const config = consumerConfig({ ...spec, ...(processes === 1 ? { expect: n } : {}) }, queues, target);
    for (let i = 0; i < processes; i++) consumers.push(startConsumer(config, execArgv));
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
    const atEnd = await target.counts();
    const results = await Promise.all(consumers.map((c) => c.finish()));
    // From the first handler start (start-up outside, for every kind alike) to the last settle.
    const lastSettleAt = Math.max(...results.map((r) => r.lastSettleAt));
    const firstStartAt = Math.min(...results.map((r) => r.firstStartAt || goAt));
    const elapsedMs = lastSettleAt - firstStartAt;
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
