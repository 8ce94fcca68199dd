/**
 * One benchmark consumer process. Its configuration comes in `BENCH_CONSUMER` (JSON
 * {@link ConsumerConfig}); it sets up, says `ready`, starts on `go`, reports progress every 50 ms and,
 * on `stop`, stops and sends its result. Kinds: the bare receive/delete ceiling, a calsync-jobs
 * worker, and sqs-consumer (per message or per batch).
 *
 * The calsync-jobs worker runs as `calsync-jobs worker` runs it: `startWorkerProcess` (the CLI's
 * start-up: configuration from the environment, startOtel, the connection, the worker) with the
 * no-op job, started at `go`. With a job store (bench/store.ts) it is a `createWorker` on a counting
 * wrapper of the store instead, and this process then also produces into it (`enqueue`, `trickle`).
 *
 * CPU and event-loop figures run from the first handler start to the `expect`-th settle, for every
 * kind alike: start-up (the CLI's, a client's first connection) is outside them.
 */
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient, type ReceiveMessageCommandOutput } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { Agent } from 'node:http';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { Consumer } from 'sqs-consumer';
import { z } from 'zod';
import { startWorkerProcess, type RunningWorker } from '../../src/cli/commands/worker.js';
import { loadConfig } from '../../src/config/config.js';
import { defineJob } from '../../src/machines/define-job.js';
import { storeRecorder } from '../../src/ops/job-recorder.js';
import type { JobRecorder } from '../../src/queue/job-queue.js';
import { createLogger, DEFAULT_REDACT_PATHS } from '../../src/runtime/logger.js';
import { startEmbeddedStore } from '../../src/store/embedded.js';
import { PostgresJobStore } from '../../src/store/postgres-store.js';
import { createWorker, JobQueue } from '../../src/telemetry/instrumented.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { CountingStore } from './counting-store.js';
import { startOtel, type OtelHandle } from '../../src/telemetry/sdk.js';
import type { ConsumerConfig, ConsumerResult, FromChild, MemorySample, ToChild } from './protocol.js';

const config = JSON.parse(process.env.BENCH_CONSUMER ?? '{}') as ConsumerConfig;
const send = (message: FromChild): void => {
  process.send?.(message);
};

const state = { settled: 0, started: 0, firstStartAt: 0, lastSettleAt: 0 };
/** CPU and event-loop use at the first handler start and at the `expect`-th settle. */
let cpuAtFirst: NodeJS.CpuUsage | undefined;
let eluAtFirst: EventLoopUtilization | undefined;
let cpuWindow: NodeJS.CpuUsage | undefined;
let eluWindow: EventLoopUtilization | undefined;
/** With `profileTo`: the inspector's sampling profiler, started at the first handler start (the measured window). */
const profiler = config.profileTo ? new Session() : undefined;
if (profiler) {
  profiler.connect();
  profiler.post('Profiler.enable');
}
let profiled!: () => void;
const profileWritten = new Promise<void>((resolve) => (profiled = resolve));
const ids: string[] = [];
const pickupMs: number[] = [];
const firstStart = new Map<string, number>();
const jobMs: number[] = [];
let releaseAll!: () => void;
const released = new Promise<void>((resolve) => (releaseAll = resolve));
/** With a store: job id → performance.now() when its SQS send began (after its row was recorded). */
const sendAt = new Map<string, number>();
const storePickupMs: number[] = [];

interface OpenStore {
  counting: CountingStore;
  close(): Promise<void>;
}

/** The worker's store, opened (and migrated) before `ready`: PGlite in this process, or PostgreSQL. */
async function openStore(): Promise<OpenStore | undefined> {
  const spec = config.kind === 'calsync' ? config.store : undefined;
  if (spec === undefined) return undefined;
  if (spec.kind === 'embedded') {
    const embedded = await startEmbeddedStore();
    return { counting: new CountingStore(embedded.store), close: () => embedded.close() };
  }
  const store = await PostgresJobStore.connect(spec.url);
  // The pool's 10 connections opened now (scram authentication is not cheap), not during the drain.
  await Promise.all(Array.from({ length: 10 }, () => store.ping()));
  return { counting: new CountingStore(store), close: () => store.close() };
}
const store = await openStore();

function memory(): MemorySample {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

/** Handler bookkeeping shared by every kind; returns once the handler may finish. */
async function onHandler(id: string, payload: { t?: number } | undefined): Promise<void> {
  const now = Date.now();
  state.started++;
  if (state.firstStartAt === 0) {
    state.firstStartAt = now;
    cpuAtFirst = process.cpuUsage();
    eluAtFirst = performance.eventLoopUtilization();
    profiler?.post('Profiler.start');
  }
  if (config.recordIds) ids.push(id);
  if (payload?.t !== undefined && config.mode !== 'hold') pickupMs.push(now - payload.t);
  if (config.mode === 'hold') await released;
}

function onSettled(id?: string): void {
  state.settled++;
  const now = Date.now();
  state.lastSettleAt = now;
  if (state.settled === config.expect) {
    cpuWindow = process.cpuUsage(cpuAtFirst);
    eluWindow = performance.eventLoopUtilization(eluAtFirst);
    profiler?.post('Profiler.stop', (error, result) => {
      if (error) send({ type: 'error', message: `profiler: ${error.message}` });
      else writeFileSync(config.profileTo!, JSON.stringify(result.profile));
      profiled();
    });
  }
  if (id !== undefined && config.timeJobs) {
    const first = firstStart.get(id);
    if (first !== undefined) jobMs.push(now - first);
  }
}

function sqsClient(): SQSClient {
  return new SQSClient({
    region: 'us-east-1',
    endpoint: config.endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }) }),
  });
}

interface Runner {
  start(): void;
  stop(): Promise<void>;
}

function ceiling(): Runner {
  const client = sqsClient();
  let running = true;
  const abort = new AbortController();
  const loops: Promise<void>[] = [];
  const loop = async (): Promise<void> => {
    while (running) {
      let out: ReceiveMessageCommandOutput;
      try {
        out = await client.send(new ReceiveMessageCommand({ QueueUrl: config.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }), {
          abortSignal: abort.signal,
        });
      } catch {
        if (!running) return;
        continue;
      }
      const messages = out.Messages ?? [];
      if (messages.length === 0) continue;
      for (const m of messages) await onHandler(m.MessageId ?? '', undefined);
      await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: config.queueUrl,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
      for (let i = 0; i < messages.length; i++) onSettled();
    }
  };
  return {
    start() {
      for (let i = 0; i < config.concurrency; i++) loops.push(loop());
    },
    async stop() {
      running = false;
      abort.abort();
      await Promise.allSettled(loops);
      client.destroy();
    },
  };
}

const benchJob = defineJob({
  type: 'bench.job',
  schema: z.object({ i: z.number(), t: z.number().optional(), p: z.number().optional() }),
  retry: { initialIntervalMs: 0, maximumAttempts: 4 },
  handler: async (payload, ctx) => {
    // From enqueue (payload `t`, at a trickle) or else from the first handler start (drains).
    if (config.timeJobs && ctx.attempt === 1) firstStart.set(ctx.jobId, payload.t ?? Date.now());
    if (payload.p !== undefined) storePickupMs.push(performance.now() - (sendAt.get(ctx.jobId) ?? payload.p));
    await onHandler(ctx.jobId, payload);
    if (config.mode === 'fail-once' && ctx.attempt === 1) throw new Error('fails once');
  },
});

/** The OTEL_* variables of a telemetry mode (every other OTEL_* variable of the bench's own environment dropped). */
function otelEnv(): Record<string, string> {
  for (const key of Object.keys(process.env)) if (key.startsWith('OTEL_')) delete process.env[key];
  if (config.telemetry === 'off') return { OTEL_SDK_DISABLED: 'true' };
  if (config.telemetry === 'default') return {};
  if (!config.otlpEndpoint) throw new Error('telemetry otlp needs otlpEndpoint');
  return {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${config.otlpEndpoint}/v1/traces`,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
  };
}

/** `calsync-jobs worker --concurrency N --metrics-port 0` (metrics on unless telemetry is off), started at `go`. */
function calsyncCli(): Runner {
  Object.assign(process.env, otelEnv(), {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_SQS: config.endpoint,
    CALSYNC_QUEUE_URL: config.queueUrl,
    CALSYNC_DLQ_URL: config.dlqUrl,
    CALSYNC_CONCURRENCY: String(config.concurrency),
    CALSYNC_VISIBILITY_TIMEOUT_SECONDS: String(config.visibilityTimeoutSeconds),
    CALSYNC_STORE_URL: 'none',
    CALSYNC_LOG_LEVEL: 'warn',
    ...(config.handlerTraceContext === undefined ? {} : { CALSYNC_HANDLER_TRACE_CONTEXT: String(config.handlerTraceContext) }),
    ...(config.telemetry === 'off' ? {} : { CALSYNC_METRICS_PORT: '0' }),
  });
  let starting: Promise<RunningWorker> | undefined;
  return {
    start() {
      starting = startWorkerProcess(loadConfig(process.env), [benchJob], { serviceName: 'calsync-bench' }).then((running) => {
        running.worker.on('job:succeeded', (e) => onSettled(e.jobId));
        running.worker.on('job:dead', (e) => send({ type: 'error', message: `job ${e.jobId} dead: ${e.reason}` }));
        return running;
      });
      starting.catch((error: unknown) => send({ type: 'error', message: `worker start: ${String(error)}` }));
    },
    async stop() {
      const running = await starting?.catch(() => undefined);
      // Every job has settled: abort the open long polls at once (a CLI stop lets them run out within
      // its grace period, up to 20 s), then the CLI's own shutdown (telemetry flushed, connection closed).
      await running?.worker.stop({ graceMs: 0 });
      await running?.shutdown();
    },
  };
}

/** With a job store: a worker on the counting wrapper of the store opened above. */
function calsyncWithStore(counting: CountingStore): Runner {
  const transport = new SqsTransport({ endpoint: config.endpoint, region: 'us-east-1' });
  let otel: OtelHandle | undefined;
  const worker = createWorker({
    transport,
    jobs: [benchJob],
    queueUrl: config.queueUrl,
    dlqUrl: config.dlqUrl,
    concurrency: config.concurrency,
    visibilityTimeoutSeconds: config.visibilityTimeoutSeconds,
    logger: createLogger({ level: 'warn' }),
    store: counting,
  });
  worker.on('job:succeeded', (e) => onSettled(e.jobId));
  worker.on('job:dead', (e) => send({ type: 'error', message: `job ${e.jobId} dead: ${e.reason}` }));
  return {
    start: () => {
      void (async () => {
        if (config.telemetry !== 'off') otel = await startOtel({ serviceName: 'calsync-bench', env: { ...process.env, ...otelEnv() } });
        worker.start();
      })();
    },
    async stop() {
      await worker.stop({ graceMs: 2_000 });
      await transport.close();
      await otel?.shutdown();
    },
  };
}

function sqsConsumer(batch: boolean): Runner {
  const client = sqsClient();
  const parse = (body: string | undefined): { t?: number } | undefined => {
    if (body === undefined) return undefined;
    return (JSON.parse(body) as { payload?: { t?: number } }).payload;
  };
  const common = { queueUrl: config.queueUrl, sqs: client, batchSize: 10, waitTimeSeconds: 20, messageAttributeNames: ['All'] };
  const consumer = batch
    ? Consumer.create({
        ...common,
        handleMessageBatch: async (messages) => {
          for (const m of messages) await onHandler(m.MessageId ?? '', parse(m.Body));
          return messages;
        },
      })
    : Consumer.create({
        ...common,
        handleMessage: async (m) => {
          await onHandler(m.MessageId ?? '', parse(m.Body));
          return m;
        },
      });
  consumer.on('message_processed', () => onSettled());
  consumer.on('error', (error) => {
    if (!stopping) send({ type: 'error', message: String(error) });
  });
  return {
    start: () => consumer.start(),
    async stop() {
      consumer.stop({ abort: true });
      await new Promise((r) => setTimeout(r, 50));
      client.destroy();
    },
  };
}

/**
 * This process as the producer: a JobQueue of its own (own SQS client), recording each job through
 * the worker's store first when `record` — in one process with the worker, as `npm start` runs it.
 */
function producer(record: boolean): JobQueue {
  producerTransport ??= new SqsTransport({ endpoint: config.endpoint, region: 'us-east-1' });
  const transport = producerTransport;
  let recorder: JobRecorder | undefined;
  if (record && store) {
    const inner = storeRecorder(store.counting, { enabled: true, redactPaths: DEFAULT_REDACT_PATHS });
    recorder = {
      async record(jobs) {
        const results = await inner.record(jobs);
        const now = performance.now();
        for (const job of jobs) sendAt.set(job.id, now);
        return results;
      },
      forget: (ids) => inner.forget(ids),
    };
  }
  // A synthetic W3C traceparent per job, as a traced producer would send (as in harness.ts).
  const attributes = (): Record<string, string> => ({
    traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`,
  });
  return new JobQueue({ transport, queueUrl: config.queueUrl, attributes, ...(recorder ? { recorder } : {}) });
}
let producerTransport: SqsTransport | undefined;

/** `n` jobs in 8 lanes of enqueueJobs(10), as harness.ts's prefill. */
async function enqueue(n: number, record: boolean): Promise<void> {
  const jobs = producer(record);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      const from = next;
      next = Math.min(n, next + 10);
      const batch = [];
      for (let i = from; i < next; i++) batch.push({ type: 'bench.job', payload: { i } });
      await jobs.enqueueJobs(batch);
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
}

/** One job every `intervalMs`; resolves with how late the last one was sent against its schedule. */
async function trickle(count: number, intervalMs: number, record: boolean): Promise<number> {
  const jobs = producer(record);
  const startAt = performance.now();
  const sends: Promise<unknown>[] = [];
  let late = 0;
  for (let i = 0; i < count; i++) {
    const due = startAt + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    late = Math.max(late, performance.now() - due);
    // `p`: when no row is recorded first, the send begins now; with a recorder, sendAt has the time after createJobs.
    sends.push(jobs.enqueueJob({ type: 'bench.job', payload: { i, p: performance.now() } }));
  }
  await Promise.all(sends);
  return late;
}

const runner =
  config.kind === 'ceiling'
    ? ceiling()
    : config.kind === 'calsync'
      ? store
        ? calsyncWithStore(store.counting)
        : calsyncCli()
      : sqsConsumer(config.kind === 'sqs-consumer-batch');

let progress: NodeJS.Timeout | undefined;
let cpuAtGo: NodeJS.CpuUsage | undefined;
let eluAtGo: EventLoopUtilization | undefined;
let stopping = false;
process.on('message', (raw: unknown) => {
  const message = raw as ToChild;
  if (message.type === 'enqueue') {
    const start = performance.now();
    void enqueue(message.n, message.record).then(
      () => send({ type: 'enqueued', ms: performance.now() - start, ...(store ? { store: store.counting.reset() } : {}) }),
      (error: unknown) => send({ type: 'error', message: `enqueue: ${String(error)}` }),
    );
  } else if (message.type === 'trickle') {
    void trickle(message.count, message.intervalMs, message.record).then(
      (lateMs) => send({ type: 'trickled', lateMs }),
      (error: unknown) => send({ type: 'error', message: `trickle: ${String(error)}` }),
    );
  } else if (message.type === 'go') {
    store?.counting.reset();
    cpuAtGo = process.cpuUsage();
    eluAtGo = performance.eventLoopUtilization();
    runner.start();
    progress = setInterval(
      () => send({ type: 'progress', settled: state.settled, started: state.started, rss: process.memoryUsage.rss() }),
      50,
    );
  } else if (message.type === 'release') {
    releaseAll();
  } else if (message.type === 'measure') {
    send({ type: 'memory', memory: memory(), started: state.started });
  } else if (message.type === 'stop') {
    clearInterval(progress);
    stopping = true;
    const cpu = process.cpuUsage(cpuAtGo);
    const window = cpuWindow ?? cpu;
    const elu = eluWindow ?? performance.eventLoopUtilization(eluAtGo);
    void (async () => {
      if (profiler) await profileWritten;
      await runner.stop();
      await producerTransport?.close();
      const counts = store ? structuredClone(store.counting.counts) : undefined;
      await store?.close();
      const result: ConsumerResult = {
        type: 'result',
        settled: state.settled,
        executions: state.started,
        firstStartAt: state.firstStartAt,
        lastSettleAt: state.lastSettleAt,
        cpuMicros: window.user + window.system,
        cpuMicrosGoToStop: cpu.user + cpu.system,
        eventLoopBusy: elu.utilization,
        ...(config.recordIds ? { ids } : {}),
        ...(pickupMs.length > 0 ? { pickupMs } : {}),
        ...(config.timeJobs ? { jobMs } : {}),
        ...(counts ? { store: counts } : {}),
        ...(storePickupMs.length > 0 ? { storePickupMs } : {}),
      };
      // Disconnect only once the result is written: on Node 24 a disconnect right after send() drops a
      // large message (5,000 recorded ids), and the parent waited for it in vain.
      process.send?.(result, undefined, undefined, () => {
        process.disconnect?.();
        setTimeout(() => process.exit(0), 100).unref();
      });
    })();
  }
});
process.on('disconnect', () => setTimeout(() => process.exit(0), 200).unref());
send({ type: 'ready', memory: memory() });
