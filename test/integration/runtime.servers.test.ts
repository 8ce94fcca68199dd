/**
 * The real runtime (createWorker + SqsTransport) against real SQS-compatible servers: fauxqs embedded
 * in this process, ElasticMQ run natively and moto (moto_server from a Python venv). Same cases on all: the demo jobs end as they should,
 * lease extension keeps a long handler's message, stop() under load loses nothing, and a malformed
 * body goes to the DLQ while the worker keeps running.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { flakyJob, helloJob, poisonJob, slowJob } from '../../src/jobs/demo.js';
import { defineJob, type JobDefinition } from '../../src/machines/define-job.js';
import { ensureQueues, type EnsuredQueues } from '../../src/ops/ensure-queues.js';
import { decodeDeadLetter, type DecodedDeadLetter } from '../../src/queue/dead-letter.js';
import { startEmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import type { JobTransport } from '../../src/queue/transport.js';
import { createWorker, type Worker } from '../../src/runtime/worker.js';
import type { WorkerOptions } from '../../src/runtime/worker-options.js';
import { startElasticMq } from '../support/elasticmq.js';
import { startMoto } from '../support/moto.js';
import { eventually, RecordingTransport, silentLogger } from '../support/runtime-harness.js';

interface Server {
  endpoint: string;
  /** What the server accepts per message (and per batch). */
  maxMessageBytes: number;
  stop(): Promise<void>;
}

/**
 * `handsOutTwice`: the server can give one message to two ReceiveMessage calls made at once, within
 * its visibility timeout. moto 5 does (its receive is not atomic across request threads): 8
 * concurrent receive loops over 200 messages with a 60 s visibility timeout got one body twice in 1
 * of 10 rounds here. Without a store the runtime cannot tell such a copy from the first, so a job may
 * then run twice from that one message; a second run from any other message is still a defect.
 */
const SERVERS: Array<{ name: string; handsOutTwice?: boolean; start: () => Promise<Server> }> = [
  {
    name: 'fauxqs (embedded)',
    start: async () => {
      const s = await startEmbeddedSqs();
      return { endpoint: s.endpoint, maxMessageBytes: 1_048_576, stop: () => s.stop() };
    },
  },
  {
    name: 'ElasticMQ (native)',
    start: async () => {
      const s = await startElasticMq();
      return { endpoint: s.endpoint, maxMessageBytes: 262_144, stop: () => s.stop() };
    },
  },
  {
    name: 'moto (moto_server)',
    handsOutTwice: true,
    start: async () => {
      const s = await startMoto();
      return { endpoint: s.endpoint, maxMessageBytes: 1_048_576, stop: () => s.stop() };
    },
  },
];

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

describe.each(SERVERS)('the runtime on $name', ({ start, handsOutTwice }) => {
  let server: Server | undefined;
  let transport: SqsTransport;
  const workers: Worker[] = [];

  beforeAll(async () => {
    server = await start();
    transport = new SqsTransport({ endpoint: server.endpoint, region: 'us-east-1', maxMessageBytes: server.maxMessageBytes });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 0 })));
  });
  afterAll(async () => {
    await transport?.close();
    await server?.stop();
  });

  async function queues(prefix: string): Promise<EnsuredQueues> {
    return await ensureQueues(transport, { prefix: `${prefix}-${randomUUID().slice(0, 8)}`, maxReceiveCount: 10 });
  }

  function worker(q: EnsuredQueues, jobs: JobDefinition<any, any>[], extra: Partial<WorkerOptions> = {}): Worker {
    const w = createWorker({
      transport,
      jobs,
      queueUrl: q.mainQueueUrl,
      dlqUrl: q.dlqUrl,
      logger: silentLogger(),
      waitTimeSeconds: 1,
      maxMessageBytes: server!.maxMessageBytes,
      ...extra,
    });
    workers.push(w);
    return w;
  }

  function producer(q: EnsuredQueues, jobs?: JobDefinition<any, any>[]): JobQueue {
    return new JobQueue({ transport, queueUrl: q.mainQueueUrl, maxMessageBytes: server!.maxMessageBytes, ...(jobs ? { jobs } : {}) });
  }

  /** Receives (without deleting) until `count` distinct messages were seen. */
  async function receiveAll(url: string, count: number, via: JobTransport = transport): Promise<string[]> {
    const bodies = new Map<string, string>();
    await eventually(
      `${count} message(s) in ${url}`,
      async () => {
        for (const m of await via.receive(url, { maxMessages: 10, waitTimeSeconds: 1, visibilityTimeoutSeconds: 30 }))
          bodies.set(m.messageId, m.body);
        return bodies.size >= count;
      },
      20_000,
      0,
    );
    return [...bodies.values()];
  }

  async function expectEmpty(url: string): Promise<void> {
    const messages = await transport.receive(url, { maxMessages: 10, waitTimeSeconds: 1 });
    expect(messages).toEqual([]);
  }

  it('runs the demo jobs to their ends: flaky retries twice then succeeds, poison and invalid go to the DLQ, slow succeeds', async () => {
    const q = await queues('demo');
    const w = worker(q, [helloJob, flakyJob, poisonJob, slowJob], { concurrency: 4 });
    const started: Array<[string, number]> = [];
    const succeeded: Array<[string, number]> = [];
    const retrying: Array<[string, number]> = [];
    const dead: Array<[string, string]> = [];
    w.on('job:started', (e) => started.push([e.jobId, e.attempt]));
    w.on('job:succeeded', (e) => succeeded.push([e.jobId, e.attempt]));
    w.on('job:retrying', (e) => retrying.push([e.jobId, e.delayMs]));
    w.on('job:dead', (e) => dead.push([e.jobId, String(e.reason)]));
    w.start();

    const jobs = producer(q, [helloJob, flakyJob, poisonJob, slowJob]);
    const flaky = await jobs.enqueueJob({ type: 'demo.flaky', payload: { failTimes: 2 } });
    const poison = await jobs.enqueueJob({ type: 'demo.poison', payload: { why: 'cannot ever work' } });
    const slow = await jobs.enqueueJob({ type: 'demo.slow', payload: { ms: 1_500 } });
    const invalid = await producer(q).enqueueJob({ type: 'demo.flaky', payload: { failTimes: 'twice' } });

    await eventually('flaky and slow to succeed, poison and invalid to die', () => succeeded.length >= 2 && dead.length >= 2, 30_000);

    expect(started.filter(([id]) => id === flaky).map(([, a]) => a)).toEqual([1, 2, 3]);
    expect(retrying.filter(([id]) => id === flaky).map(([, d]) => d)).toEqual([1_000, 2_000]);
    expect(succeeded.sort()).toEqual(
      [
        [flaky, 3],
        [slow, 1],
      ].sort(),
    );
    expect(dead.sort()).toEqual(
      [
        [invalid, 'invalid_payload'],
        [poison, 'non_retryable'],
      ].sort(),
    );
    expect(started.filter(([id]) => id === invalid)).toEqual([]);

    const letters = new Map<string, DecodedDeadLetter>();
    for (const body of await receiveAll(q.dlqUrl, 2)) {
      const decoded = decodeDeadLetter(body);
      letters.set(decoded.envelope?.id ?? '?', decoded);
    }
    const poisoned = letters.get(poison);
    expect(poisoned?.record).toMatchObject({
      reason: 'non_retryable',
      error: { name: 'NonRetryableError', message: 'cannot ever work', reason: 'poison' },
      receiveCount: 1,
    });
    expect(poisoned?.envelope?.history?.map((h) => [h.attempt, h.kind, h.error.reason])).toEqual([[1, 'failed', 'poison']]);
    const bad = letters.get(invalid);
    expect(bad?.record?.reason).toBe('invalid_payload');
    expect(bad?.record?.error?.message).toMatch(/^payload\.failTimes: /);
    expect(bad?.envelope?.payload).toEqual({ failTimes: 'twice' });
    await expectEmpty(q.mainQueueUrl);
  });

  it('extends the lease of a handler that runs 3× the visibility timeout, which then completes exactly once', async () => {
    const q = await queues('lease');
    const runs: number[] = [];
    const long = defineJob({
      type: 'lease.long',
      schema: z.object({}),
      handler: async (_p, ctx) => {
        runs.push(ctx.attempt);
        await sleep(6_000, ctx.signal);
      },
    });
    const recording = new RecordingTransport(transport);
    const w = worker(q, [long], { transport: recording, visibilityTimeoutSeconds: 2, concurrency: 2 });
    let succeeded = 0;
    w.on('job:succeeded', () => succeeded++);
    w.start();
    await producer(q).enqueueJob({ type: 'lease.long', payload: {} });
    await eventually('the long job to succeed', () => succeeded === 1, 20_000);
    // Past another visibility timeout: a lost lease would show as a second run now.
    await sleep(3_000);
    expect(runs).toEqual([1]);
    expect(succeeded).toBe(1);
    const extensions = recording.records.filter((r) => r.op === 'changeVisibility');
    expect(extensions.length).toBeGreaterThanOrEqual(4);
    expect(new Set(extensions.map((r) => r.op === 'changeVisibility' && r.seconds))).toEqual(new Set([2]));
    await expectEmpty(q.mainQueueUrl);
    await expectEmpty(q.dlqUrl);
  }, 30_000);

  it('loses nothing when stop() comes during load: every job succeeds exactly once across two workers', async () => {
    const q = await queues('load');
    /** Job id → the message id of each of its successes. */
    const runs = new Map<string, string[]>();
    const load = defineJob({
      type: 'load.job',
      schema: z.object({ ms: z.int().min(0) }),
      handler: async (payload, ctx) => {
        await sleep(payload.ms, ctx.signal);
      },
    });
    const count = (e: { jobId: string; messageId: string }): void => void runs.set(e.jobId, [...(runs.get(e.jobId) ?? []), e.messageId]);
    const first = worker(q, [load], { concurrency: 20, visibilityTimeoutSeconds: 5 });
    first.on('job:succeeded', count);
    const ids = await producer(q, [load]).enqueueJobs(
      Array.from({ length: 200 }, (_, i) => ({ type: 'load.job', payload: { ms: 20 + ((i * 37) % 181) } })),
    );
    first.start();
    await eventually('50 jobs to succeed on the first worker', () => runs.size >= 50, 30_000);
    await first.stop({ graceMs: 500 });
    expect(first.state).toBe('stopped');
    expect(first.stats.inFlight).toBe(0);
    const byFirst = new Set(runs.keys());
    expect(byFirst.size).toBeGreaterThanOrEqual(50);
    expect(byFirst.size).toBeLessThan(200);

    const second = worker(q, [load], { concurrency: 20, visibilityTimeoutSeconds: 5 });
    second.on('job:succeeded', count);
    second.start();
    await eventually('every job to succeed', () => runs.size === 200, 45_000);
    await second.stop();

    // Nothing lost, nothing run twice. (On ElasticMQ, moto and fauxqs a few jobs may run as attempt 2 here: stop() aborts
    // an in-flight ReceiveMessage whose messages the server already hid; they return after the 5 s
    // visibility timeout with ApproximateReceiveCount 2, are counted as worker_lost and re-sent as
    // attempt 2 without running, and that message runs once.)
    // A server that hands one message out twice may make a job run twice from that message (see SERVERS).
    expect(new Set(runs.keys())).toEqual(new Set(ids));
    const twice = [...runs].filter(([, messages]) => messages.length > 1);
    const explained = (messages: string[]): boolean => handsOutTwice === true && new Set(messages).size === 1;
    expect(twice.filter(([, messages]) => !explained(messages))).toEqual([]);
    await expectEmpty(q.mainQueueUrl);
    await expectEmpty(q.dlqUrl);
  }, 80_000);

  it('dead-letters a malformed body with its reason and keeps running', async () => {
    const q = await queues('malformed');
    const w = worker(q, [helloJob]);
    const invalid: Array<{ reason: string; message: string }> = [];
    const succeeded: string[] = [];
    w.on('message:invalid', (e) => invalid.push({ reason: e.reason, message: e.message }));
    w.on('job:succeeded', (e) => succeeded.push(e.jobId));
    w.start();
    await transport.send(q.mainQueueUrl, { body: '{"v":1, this is not json' });
    await transport.send(q.mainQueueUrl, { body: JSON.stringify({ v: 7, id: 'x' }) });
    await eventually('both bodies to be rejected', () => invalid.length === 2, 20_000);
    expect(invalid.map((i) => i.reason).sort()).toEqual(['not_json', 'unknown_version']);

    const letters = (await receiveAll(q.dlqUrl, 2)).map(decodeDeadLetter);
    const byReason = new Map(letters.map((l) => [l.record?.reason, l]));
    expect(byReason.get('not_json')?.rawBody).toBe('{"v":1, this is not json');
    expect(byReason.get('not_json')?.record).toMatchObject({ error: { name: 'InvalidMessage', reason: 'not_json' }, receiveCount: 1 });
    expect(byReason.get('unknown_version')?.record?.error?.message).toBe('v: expected 1, got 7');

    const id = await producer(q, [helloJob]).enqueueJob({ type: 'demo.hello', payload: { name: 'still here' } });
    await eventually('a valid job after the bad ones to succeed', () => succeeded.includes(id), 20_000);
    expect(w.state).toBe('running');
    await expectEmpty(q.mainQueueUrl);
  });
});
