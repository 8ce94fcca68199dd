/**
 * One benchmark consumer process. Its configuration comes in `BENCH_CONSUMER` (JSON
 * {@link ConsumerConfig}); it sets up, says `ready`, starts on `go`, reports progress every 50 ms and,
 * on `stop`, stops and sends its result. Kinds: the bare receive/delete ceiling, a calsync-jobs
 * worker, and sqs-consumer (per message or per batch).
 */
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient, type ReceiveMessageCommandOutput } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Agent } from 'node:http';
import { Consumer } from 'sqs-consumer';
import { z } from 'zod';
import { defineJob } from '../../src/machines/define-job.js';
import { createLogger } from '../../src/runtime/logger.js';
import { createWorker } from '../../src/telemetry/instrumented.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { startInMemoryOtel, type InMemoryOtel } from './in-memory-otel.js';
import type { ConsumerConfig, ConsumerResult, FromChild, MemorySample, ToChild } from './protocol.js';

const config = JSON.parse(process.env.BENCH_CONSUMER ?? '{}') as ConsumerConfig;
const send = (message: FromChild): void => {
  process.send?.(message);
};

const state = { settled: 0, started: 0, firstStartAt: 0, lastSettleAt: 0 };
const ids: string[] = [];
const pickupMs: number[] = [];
const firstStart = new Map<string, number>();
const jobMs: number[] = [];
let releaseAll!: () => void;
const released = new Promise<void>((resolve) => (releaseAll = resolve));

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
  if (state.firstStartAt === 0) state.firstStartAt = now;
  if (config.recordIds) ids.push(id);
  if (payload?.t !== undefined && config.mode !== 'hold') pickupMs.push(now - payload.t);
  if (config.mode === 'hold') await released;
}

function onSettled(id?: string): void {
  state.settled++;
  const now = Date.now();
  state.lastSettleAt = now;
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

function calsync(): Runner {
  const transport = new SqsTransport({ endpoint: config.endpoint, region: 'us-east-1' });
  const job = defineJob({
    type: 'bench.job',
    schema: z.object({ i: z.number(), t: z.number().optional() }),
    retry: { initialIntervalMs: 0, maximumAttempts: 4 },
    handler: async (payload, ctx) => {
      // From enqueue (payload `t`, at a trickle) or else from the first handler start (drains).
      if (config.timeJobs && ctx.attempt === 1) firstStart.set(ctx.jobId, payload.t ?? Date.now());
      await onHandler(ctx.jobId, payload);
      if (config.mode === 'fail-once' && ctx.attempt === 1) throw new Error('fails once');
    },
  });
  const worker = createWorker({
    transport,
    jobs: [job],
    queueUrl: config.queueUrl,
    dlqUrl: config.dlqUrl,
    concurrency: config.concurrency,
    visibilityTimeoutSeconds: config.visibilityTimeoutSeconds,
    logger: createLogger({ level: 'warn' }),
  });
  worker.on('job:succeeded', (e) => onSettled(e.jobId));
  worker.on('job:dead', (e) => send({ type: 'error', message: `job ${e.jobId} dead: ${e.reason}` }));
  return {
    start: () => void worker.start(),
    async stop() {
      await worker.stop({ graceMs: 2_000 });
      await transport.close();
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

let otel: InMemoryOtel | undefined;
if (config.telemetry) otel = startInMemoryOtel();
const runner =
  config.kind === 'ceiling' ? ceiling() : config.kind === 'calsync' ? calsync() : sqsConsumer(config.kind === 'sqs-consumer-batch');

let progress: NodeJS.Timeout | undefined;
let cpuAtGo: NodeJS.CpuUsage | undefined;
let stopping = false;
process.on('message', (raw: unknown) => {
  const message = raw as ToChild;
  if (message.type === 'go') {
    cpuAtGo = process.cpuUsage();
    runner.start();
    progress = setInterval(() => send({ type: 'progress', settled: state.settled, started: state.started }), 50);
  } else if (message.type === 'release') {
    releaseAll();
  } else if (message.type === 'measure') {
    send({ type: 'memory', memory: memory(), started: state.started });
  } else if (message.type === 'stop') {
    clearInterval(progress);
    stopping = true;
    const cpu = process.cpuUsage(cpuAtGo);
    void (async () => {
      await runner.stop();
      const result: ConsumerResult = {
        type: 'result',
        settled: state.settled,
        executions: state.started,
        firstStartAt: state.firstStartAt,
        lastSettleAt: state.lastSettleAt,
        cpuMicros: cpu.user + cpu.system,
        ...(config.recordIds ? { ids } : {}),
        ...(pickupMs.length > 0 ? { pickupMs } : {}),
        ...(config.timeJobs ? { jobMs } : {}),
        ...(otel ? { spans: otel.spansExported() } : {}),
      };
      await otel?.shutdown();
      send(result);
      process.disconnect?.();
      setTimeout(() => process.exit(0), 100).unref();
    })();
  }
});
process.on('disconnect', () => setTimeout(() => process.exit(0), 200).unref());
send({ type: 'ready', memory: memory() });
