/**
 * Regression tests for the settle rules (issue 10, defects 1–4, 7, 9–11 and the suspected ones): the
 * real worker on MemoryTransport behind a fault-injecting wrapper, on a manual clock. Each case failed
 * on 61473f5.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NonRetryableError, RetryableError } from '../../src/machines/errors.js';
import { defineJob, type JobContext, type JobDefinition } from '../../src/machines/define-job.js';
import { ensureQueues } from '../../src/ops/ensure-queues.js';
import { decodeDeadLetter } from '../../src/queue/dead-letter.js';
import { encodeEnvelope, newEnvelope } from '../../src/queue/envelope.js';
import { TransportError } from '../../src/shared/errors.js';
import { ManualClock } from '../support/manual-clock.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import type { AttemptOutcome, WorkerTelemetry } from '../../src/runtime/attempt-telemetry.js';
import { createWorkerTelemetry } from '../../src/telemetry/worker-telemetry.js';
import { createWorker, type Worker } from '../../src/runtime/worker.js';
import type { WorkerOptions } from '../../src/runtime/worker-options.js';
import { FaultyTransport, throttled } from '../support/faulty-transport.js';
import { driveUntil, settle, silentLogger } from '../support/runtime-harness.js';

const VISIBILITY_SECONDS = 10;

interface Rig {
  clock: ManualClock;
  memory: MemoryTransport;
  transport: FaultyTransport;
  queueUrl: string;
  dlqUrl: string;
  events: string[];
  outcomes: AttemptOutcome[];
  worker(jobs: JobDefinition<any, any>[], options?: Partial<WorkerOptions>): Worker;
  enqueue(type: string, payload: unknown, extra?: { notBefore?: Date }): Promise<string>;
  dlq(): Promise<ReturnType<typeof decodeDeadLetter>[]>;
  mainDepth(): Promise<{ visible: number; inFlight: number; delayed: number }>;
}

async function rig({ maxMessageBytes }: { maxMessageBytes?: number } = {}): Promise<Rig> {
  const clock = new ManualClock();
  const memory = new MemoryTransport({ clock, ...(maxMessageBytes === undefined ? {} : { maxMessageBytes }) });
  const queues = await ensureQueues(memory, { maxReceiveCount: 100, visibilityTimeoutSeconds: VISIBILITY_SECONDS });
  const transport = new FaultyTransport(memory);
  const events: string[] = [];
  const outcomes: AttemptOutcome[] = [];
  const recording = (): WorkerTelemetry => {
    const real = createWorkerTelemetry({ queueName: queues.mainQueueName, dlqName: queues.dlqName, clock });
    return {
      ...real,
      recordInvalid: (reason, jobType) => real.recordInvalid(reason, jobType),
      observeQueueDepth: (read, options) => real.observeQueueDepth(read, options),
      startAttempt(info) {
        const attempt = real.startAttempt(info);
        return {
          run: (fn) => attempt.run(fn),
          traceId: attempt.traceId,
          spanId: attempt.spanId,
          end(result) {
            outcomes.push(result.outcome);
            attempt.end(result);
          },
        };
      },
    };
  };
  return {
    clock,
    memory,
    transport,
    queueUrl: queues.mainQueueUrl,
    dlqUrl: queues.dlqUrl,
    events,
    outcomes,
    worker(jobs, options = {}) {
      const worker = createWorker({
        transport,
        jobs,
        queueUrl: queues.mainQueueUrl,
        dlqUrl: queues.dlqUrl,
        clock,
        random: () => 0.5,
        logger: silentLogger(),
        concurrency: 2,
        visibilityTimeoutSeconds: VISIBILITY_SECONDS,
        waitTimeSeconds: 1,
        deleteFlushMs: 0,
        telemetry: recording(),
        ...options,
      });
      for (const name of [
        'job:started',
        'job:succeeded',
        'job:retrying',
        'job:dead',
        'job:checkpointed',
        'job:released',
        'worker:error',
        'message:invalid',
      ] as const) {
        worker.on(name, (e: any) =>
          events.push(`${name}${e.attempt === undefined ? '' : `@${e.attempt}`}${e.reason ? `:${e.reason}` : ''}`),
        );
      }
      return worker;
    },
    async enqueue(type, payload, extra = {}) {
      const envelope = newEnvelope({ type, payload, now: clock.now(), ...(extra.notBefore ? { notBefore: extra.notBefore } : {}) });
      await memory.send(queues.mainQueueUrl, { body: encodeEnvelope(envelope), attributes: { 'job-type': type } });
      return envelope.id;
    },
    async dlq() {
      const messages = await memory.receive(queues.dlqUrl, { maxMessages: 10, waitTimeSeconds: 0, visibilityTimeoutSeconds: 3600 });
      return messages.map((m) => decodeDeadLetter(m.body));
    },
    mainDepth: () => memory.depth(queues.mainQueueUrl),
  };
}

const count = (events: string[], prefix: string): number => events.filter((e) => e.startsWith(prefix)).length;

describe('the lease is kept until the settle is confirmed', () => {
  it('defect 1: a dead-lettered job whose delete is throttled past the visibility timeout never runs again', async () => {
    const r = await rig();
    let runs = 0;
    const job = defineJob({
      type: 'poison',
      schema: z.object({}),
      handler: async () => {
        runs += 1;
        if (runs === 1) throw new NonRetryableError('poison');
      },
    });
    // Every delete is throttled for 25 s: longer than the 10 s visibility timeout.
    const throttledUntil = r.clock.now() + 25_000;
    r.transport.before = (call) => {
      if ((call.method === 'deleteBatch' || call.method === 'delete') && r.clock.now() < throttledUntil) throw throttled();
    };
    await r.enqueue('poison', {});
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the delete to land', async () => r.clock.now() > throttledUntil + 15_000);
    await worker.stop();
    expect(runs).toBe(1);
    expect(count(r.events, 'job:dead')).toBe(1);
    expect(count(r.events, 'job:succeeded')).toBe(0);
    expect(await r.mainDepth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    const dead = await r.dlq();
    expect(dead.map((d) => d.record?.reason)).toEqual(['non_retryable']);
  });

  it('defect 2: one failed lease extension is retried at once and does not fork the job', async () => {
    const r = await rig();
    const job = defineJob({
      type: 'long',
      schema: z.object({}),
      retry: { initialIntervalMs: 1_000, maximumAttempts: 3 },
      handler: async (_payload, ctx) => {
        // 2.5 visibility periods, then attempt 1 fails and attempt 2 succeeds.
        if (ctx.attempt === 1) {
          await new Promise<void>((resolve) => r.clock.setTimeout(resolve, 25_000));
          throw new RetryableError('first attempt fails');
        }
      },
    });
    r.transport.before = (call) => {
      if (call.method === 'changeVisibility' && call.n === 1) throw throttled();
    };
    await r.enqueue('long', {});
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the job to succeed', () => count(r.events, 'job:succeeded') > 0);
    await driveUntil(r.clock, 'any duplicate to show', () => r.clock.now() > 1_700_000_000_000 + 90_000);
    await worker.stop();
    expect(count(r.events, 'job:retrying')).toBe(1);
    expect(count(r.events, 'job:succeeded')).toBe(1);
    expect(r.transport.count('changeVisibility')).toBeGreaterThanOrEqual(2);
  });

  it('defect 11: a delete confirmed inside the lease is a success, and events and metrics agree', async () => {
    const r = await rig();
    const job = defineJob({
      type: 'quick',
      schema: z.object({}),
      handler: async () => {
        await new Promise<void>((resolve) => r.clock.setTimeout(resolve, 4_000));
      },
    });
    // The delete is answered 5.5 s after it was asked: 9.5 s into a 10 s lease (inside it).
    r.transport.before = async (call) => {
      if (call.method === 'deleteBatch') await new Promise<void>((resolve) => r.clock.setTimeout(resolve, 5_500));
    };
    await r.enqueue('quick', {});
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the job to settle', () => r.outcomes.length > 0);
    await worker.stop();
    expect(count(r.events, 'job:succeeded')).toBe(1);
    expect(count(r.events, 'worker:error')).toBe(0);
    expect(r.outcomes).toEqual(['succeeded']);
    expect(await r.mainDepth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('a lease known lost sends no successor: the redelivered copy carries the job on', async () => {
    const r = await rig();
    let runs = 0;
    const job = defineJob({
      type: 'stuck',
      schema: z.object({}),
      retry: { initialIntervalMs: 1_000, maximumAttempts: 5 },
      handler: async (_payload, ctx) => {
        runs += 1;
        if (ctx.attempt === 1 && runs === 1) {
          await new Promise<void>((resolve) => r.clock.setTimeout(resolve, 30_000));
          throw new RetryableError('late failure');
        }
      },
    });
    // Every extension fails: the lease runs out at 10 s while the handler still runs.
    r.transport.before = (call) => {
      if (call.method === 'changeVisibility') throw throttled();
    };
    await r.enqueue('stuck', {});
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the first handler to end', () => r.clock.now() > 1_700_000_000_000 + 60_000);
    await worker.stop();
    // The redelivered copy (lost once) was re-sent as attempt 2, which succeeded; the first copy's
    // late failure sent nothing.
    expect(count(r.events, 'job:retrying')).toBe(1);
    expect(count(r.events, 'job:succeeded@2')).toBe(1);
    expect(count(r.events, 'job:succeeded')).toBe(1);
    expect(r.outcomes).toContain('abandoned');
  });
});

describe('a successor is sent while the lease is held, or not at all', () => {
  it('a retry send still under way when the lease runs out is aborted, not landed late beside the redelivered copy', async () => {
    const r = await rig();
    const job = defineJob({
      type: 'cut',
      schema: z.object({}),
      retry: { initialIntervalMs: 1_000, maximumAttempts: 5 },
      handler: async (_payload, ctx) => {
        if (ctx.attempt === 1) throw new RetryableError('first attempt fails');
      },
    });
    // A network cut: for 20 s sends hang (until aborted) and extensions fail, so the 10 s lease runs out.
    const cutUntil = r.clock.now() + 20_000;
    r.transport.before = (call) => {
      if (r.clock.now() >= cutUntil) return undefined;
      if (call.method === 'changeVisibility') throw throttled();
      if (call.method !== 'send' && call.method !== 'sendBatch') return undefined;
      return new Promise<void>((resolve, reject) => {
        const timer = r.clock.setTimeout(resolve, cutUntil - r.clock.now());
        call.signal?.addEventListener('abort', () => {
          r.clock.clearTimeout(timer);
          reject(new TransportError('aborted', { code: 'AbortError', retryable: true }));
        });
      });
    };
    await r.enqueue('cut', {});
    // A second slot receives the redelivered copy once the first copy's lease has run out.
    const worker = r.worker([job], { concurrency: 2 }).start();
    await driveUntil(r.clock, 'the job to succeed', () => count(r.events, 'job:succeeded') > 0);
    await driveUntil(r.clock, 'any duplicate to show', () => r.clock.now() > 1_700_000_000_000 + 90_000);
    await worker.stop();
    // One retry (from the redelivered copy, charged worker_lost), one success: no second attempt 2.
    expect(count(r.events, 'job:succeeded')).toBe(1);
    expect(count(r.events, 'job:retrying')).toBe(1);
    expect(await r.mainDepth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });
});

describe('an extension counts only if it lands while the lease is held', () => {
  it('a lenient server answering an extension after the lease ran out does not extend it (found by the chaos suite)', async () => {
    const r = await rig();
    const job = defineJob({
      type: 'late',
      schema: z.object({}),
      retry: { initialIntervalMs: 1_000, maximumAttempts: 5 },
      handler: async (_payload, ctx) => {
        if (ctx.attempt === 1 && r.clock.now() < 1_700_000_000_000 + 5_000) {
          await new Promise<void>((resolve) => r.clock.setTimeout(resolve, 12_500));
          throw new RetryableError('fails after the lease ran out');
        }
      },
    });
    // The first extension (asked at 5 s of a 10 s lease) is answered "ok" at 12 s, after the lease ran
    // out and the second slot received the message again, as fauxqs answers a stale handle.
    r.transport.before = async (call) => {
      if (call.method !== 'changeVisibility' || call.n !== 1) return undefined;
      await new Promise<void>((resolve) => r.clock.setTimeout(resolve, 1_700_000_000_000 + 12_000 - r.clock.now()));
      return 'answer-ok';
    };
    await r.enqueue('late', {});
    const worker = r.worker([job], { concurrency: 2 }).start();
    await driveUntil(r.clock, 'the job to succeed', () => count(r.events, 'job:succeeded') > 0);
    await driveUntil(r.clock, 'any duplicate to show', () => r.clock.now() > 1_700_000_000_000 + 90_000);
    await worker.stop();
    expect(count(r.events, 'job:succeeded')).toBe(1);
    expect(count(r.events, 'job:retrying')).toBe(1);
    expect(r.outcomes).toContain('abandoned');
  });
});

describe('stop() settles everything and always stops', () => {
  it('defect 3: one failed release does not skip the delete flush or leave the worker draining', async () => {
    const r = await rig();
    const quick = defineJob({ type: 'quick', schema: z.object({}), handler: async () => undefined });
    const hang = defineJob({
      type: 'hang',
      schema: z.object({}),
      handler: async (_payload, ctx) => {
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      },
    });
    await r.enqueue('hang', {});
    await r.enqueue('quick', {});
    const worker = r.worker([quick, hang], { deleteFlushMs: 1_000 }).start();
    await driveUntil(r.clock, 'both jobs to start', () => count(r.events, 'job:started') === 2, { stepMs: 10 });
    // The release send of the hanging job is refused.
    r.transport.before = (call) => {
      if (call.method === 'send' || call.method === 'sendBatch') throw new Error('refused');
    };
    let stopped = false;
    let failure: unknown;
    worker.stop({ graceMs: 0 }).then(
      () => (stopped = true),
      (error: unknown) => (failure = error),
    );
    await driveUntil(r.clock, 'stop() to resolve', () => stopped || failure !== undefined);
    expect(failure).toBeUndefined();
    expect(worker.state).toBe('stopped');
    expect(count(r.events, 'job:succeeded')).toBe(1);
    // The quick job's message is gone; only the hanging job's message is left (it comes back).
    expect((await r.mainDepth()).inFlight).toBe(1);
  });

  it('defect 4: stop() waits for a job that is still settling after the grace period', async () => {
    const r = await rig();
    const job = defineJob({
      type: 'fails',
      schema: z.object({}),
      retry: { initialIntervalMs: 1_000, maximumAttempts: 3 },
      handler: async () => {
        await new Promise<void>((resolve) => r.clock.setTimeout(resolve, 100));
        throw new RetryableError('try again');
      },
    });
    await r.enqueue('fails', {});
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the job to start', () => count(r.events, 'job:started') === 1, { stepMs: 10 });
    // The retry's send takes 3 s, well past the 500 ms grace period.
    r.transport.before = async (call) => {
      if (call.method === 'send' || call.method === 'sendBatch') await new Promise<void>((resolve) => r.clock.setTimeout(resolve, 3_000));
    };
    let stopped = false;
    void worker.stop({ graceMs: 500 }).then(() => {
      stopped = true;
      r.events.push('stopped');
    });
    await driveUntil(r.clock, 'stop() to resolve', () => stopped, { stepMs: 50 });
    expect(r.events.indexOf('job:retrying@1')).toBeGreaterThanOrEqual(0);
    expect(r.events.indexOf('job:retrying@1')).toBeLessThan(r.events.indexOf('stopped'));
    // Attempt 2 waits in the queue; attempt 1 is deleted.
    expect(await r.mainDepth()).toMatchObject({ inFlight: 0 });
  });

  it('stop() returns within the grace period plus its hard limit while every call hangs', async () => {
    const r = await rig();
    const job = defineJob({
      type: 'hang',
      schema: z.object({}),
      handler: async (_payload, ctx) => {
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      },
    });
    await r.enqueue('hang', {});
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the job to start', () => count(r.events, 'job:started') === 1, { stepMs: 10 });
    r.transport.before = (call) => (call.method === 'receive' ? undefined : new Promise<void>(() => undefined));
    const startedAt = r.clock.now();
    let stopped = false;
    void worker.stop({ graceMs: 300 }).then(() => (stopped = true));
    await driveUntil(r.clock, 'stop() to resolve', () => stopped, { stepMs: 100 });
    expect(r.clock.now() - startedAt).toBeLessThanOrEqual(300 + 10_000);
    expect(worker.state).toBe('stopped');
  });
});

describe('what a settle sends always fits and always goes out', () => {
  it('defect 7: a long-failing job keeps retrying within a 256 KiB limit and dead-letters with a record', async () => {
    const r = await rig({ maxMessageBytes: 262_144 });
    const noisy = '"\\'.repeat(1_000); // 2,000 characters that JSON escaping doubles
    const job = defineJob({
      type: 'noisy',
      schema: z.object({}),
      retry: { initialIntervalMs: 1, maximumIntervalMs: 1, maximumAttempts: 130, jitter: 'none' },
      handler: async (_payload, ctx) => {
        throw new RetryableError(`${noisy} ${ctx.attempt}`);
      },
    });
    await r.enqueue('noisy', {});
    const worker = r.worker([job], { maxMessageBytes: 262_144 }).start();
    await driveUntil(r.clock, 'the job to end', () => count(r.events, 'job:dead') > 0, { stepMs: 500, maxSteps: 5_000 });
    await worker.stop();
    expect(count(r.events, 'job:retrying')).toBe(129);
    expect(count(r.events, 'worker:error')).toBe(0);
    const [dead] = await r.dlq();
    expect(dead?.record?.reason).toBe('attempts_exhausted');
    const history = dead!.envelope!.history!;
    expect(history.every((h) => h.kind === 'failed')).toBe(true);
    expect(history[0]!.attempt).toBe(1);
    expect(history.at(-1)!.attempt).toBe(130);
    expect(dead!.envelope!.historyOmitted! + history.length).toBe(130);
  });

  it('defect 7: an invalid payload near the limit is dead-lettered as a minimal oversize record', async () => {
    const r = await rig({ maxMessageBytes: 262_144 });
    const job = defineJob({ type: 'typed', schema: z.object({ n: z.number() }), handler: async () => undefined });
    // The envelope fits the limit as it arrives; the same envelope plus its dead-letter record does not.
    await r.enqueue('typed', { n: 'x'.repeat(261_900) });
    const worker = r.worker([job], { maxMessageBytes: 262_144 }).start();
    await driveUntil(r.clock, 'the job to be dead', () => count(r.events, 'job:dead') > 0);
    await worker.stop();
    const [dead] = await r.dlq();
    expect(dead?.record?.reason).toBe('oversize');
    expect(dead?.record?.error?.message).toMatch(/invalid_payload/);
    expect(dead?.record?.error?.message).toMatch(/bytes/);
    expect(await r.mainDepth()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('defect 8: a successor the server refuses for its content dead-letters the job with the real error', async () => {
    const r = await rig();
    let runs = 0;
    const job = defineJob({
      type: 'refused',
      schema: z.object({}),
      handler: async () => {
        runs += 1;
        throw new RetryableError('boom');
      },
    });
    // A TransportError as the SQS mapper gives it.
    r.transport.before = (call) => {
      if ((call.method === 'send' || call.method === 'sendBatch') && call.queueUrl === r.queueUrl) {
        throw new TransportError('Invalid characters found', { code: 'InvalidMessageContents', retryable: false });
      }
    };
    await r.enqueue('refused', {});
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the job to be dead', () => count(r.events, 'job:dead') > 0);
    await driveUntil(r.clock, 'any redelivery', () => r.clock.now() > 1_700_000_000_000 + 60_000);
    await worker.stop();
    expect(runs).toBe(1);
    const [dead] = await r.dlq();
    expect(dead?.record?.reason).toBe('unsendable');
    expect(dead?.record?.error?.message).toMatch(/boom/);
    expect(dead?.record?.error?.message).toMatch(/InvalidMessageContents|Invalid characters/);
  });

  it('defect 9: a schema whose refine throws is an invalid payload, not a crash loop', async () => {
    const r = await rig();
    let runs = 0;
    const job = defineJob({
      type: 'url',
      schema: z.object({ url: z.string() }).refine((p) => new URL(p.url).protocol === 'https:'),
      handler: async () => {
        runs += 1;
      },
    });
    await r.enqueue('url', { url: 'not a url' });
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the job to be dead', () => count(r.events, 'job:dead') > 0);
    await worker.stop();
    expect(runs).toBe(0);
    const [dead] = await r.dlq();
    expect(dead?.record?.reason).toBe('invalid_payload');
    expect(dead?.record?.error?.message).toMatch(/schema threw TypeError: Invalid URL/);
  });
});

describe('checkpoints and hops', () => {
  it('defect 10: saveCheckpoint() rejects when the checkpoint is queued behind the end of the attempt', async () => {
    const r = await rig();
    let saved: JobContext<unknown> | undefined;
    const job = defineJob({
      type: 'steps',
      schema: z.object({}),
      handler: async (_payload, ctx) => {
        saved = ctx;
        void ctx.heartbeat(); // holds the machine's queue for 2 s (a slow ChangeMessageVisibility)
      },
    });
    r.transport.before = async (call) => {
      if (call.method === 'changeVisibility') await new Promise<void>((resolve) => r.clock.setTimeout(resolve, 2_000));
    };
    await r.enqueue('steps', {});
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the handler to return', () => saved !== undefined, { stepMs: 10 });
    // The handler has returned; SUCCEEDED waits behind the heartbeat, and the checkpoint behind it.
    const result = saved!.saveCheckpoint({ step: 2 }).then(
      () => 'resolved',
      (error: Error) => error.name,
    );
    await driveUntil(r.clock, 'the job to settle', () => count(r.events, 'job:succeeded') > 0);
    expect(await result).toBe('CheckpointNotSaved');
    expect(count(r.events, 'job:checkpointed')).toBe(0);
    await worker.stop();
  });

  it('a hop message received too early once and back after its time is not charged a lost attempt', async () => {
    const r = await rig();
    let runs = 0;
    const job = defineJob({
      type: 'later',
      schema: z.object({}),
      retry: { maximumAttempts: 1 },
      handler: async () => {
        runs += 1;
      },
    });
    await r.enqueue('later', {}, { notBefore: new Date(r.clock.now() + 30_000) });
    // A worker that died: it received the hop before its time and never settled it.
    const taken = await r.memory.receive(r.queueUrl, { maxMessages: 1, waitTimeSeconds: 0, visibilityTimeoutSeconds: 40 });
    expect(taken).toHaveLength(1);
    r.clock.advance(41_000);
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the job to settle', () => count(r.events, 'job:succeeded') + count(r.events, 'job:dead') > 0);
    await worker.stop();
    expect(runs).toBe(1);
    expect(count(r.events, 'job:succeeded')).toBe(1);
  });
});

describe('SQS visibility is capped at 12 hours', () => {
  it('defineJob refuses an attemptTimeoutMs over 12 h', () => {
    expect(() =>
      defineJob({ type: 'x', schema: z.object({}), attemptTimeoutMs: 12 * 3_600_000 + 1, handler: async () => undefined }),
    ).toThrow(/x\.attemptTimeoutMs.*43200000/);
  });

  it('the runtime times an attempt out before the cap and never asks for visibility past it', async () => {
    const r = await rig();
    const visibility = 600;
    const job = defineJob({
      type: 'forever',
      schema: z.object({}),
      attemptTimeoutMs: 12 * 3_600_000,
      retry: { maximumAttempts: 1 },
      handler: async (_payload, ctx) => {
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
        throw ctx.signal.reason;
      },
    });
    const receivedAt = r.clock.now();
    const asked: number[] = [];
    r.transport.before = (call) => {
      if (call.method === 'changeVisibility') asked.push(r.clock.now());
    };
    await r.enqueue('forever', {});
    const worker = r.worker([job], { visibilityTimeoutSeconds: visibility }).start();
    await driveUntil(r.clock, 'the attempt to time out', () => count(r.events, 'job:dead') > 0, { stepMs: 60_000, maxSteps: 2_000 });
    await worker.stop();
    const [dead] = await r.dlq();
    expect(dead?.record?.error?.name).toBe('AttemptTimeout');
    expect(r.clock.now() - receivedAt).toBeLessThan(12 * 3_600_000);
    expect(count(r.events, 'worker:error')).toBe(0);
    await settle();
  });
});
