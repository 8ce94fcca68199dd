/**
 * The runtime with a job store (issue 12, point 4): the real worker on MemoryTransport and
 * MemoryJobStore, on a manual clock. Claims before running, one outcome per job, drops counted,
 * lost attempts charged only when a claim expired, cancel, and store outages.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob, type JobDefinition } from '../../src/machines/define-job.js';
import { NonRetryableError, RetryableError } from '../../src/machines/errors.js';
import { ensureQueues } from '../../src/ops/ensure-queues.js';
import { decodeDeadLetter } from '../../src/queue/dead-letter.js';
import { encodeEnvelope, newEnvelope, type Envelope } from '../../src/queue/envelope.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import type { WorkerTelemetry } from '../../src/runtime/attempt-telemetry.js';
import { noopWorkerTelemetry } from '../../src/runtime/attempt-telemetry.js';
import { JobCancelledError } from '../../src/runtime/job-error.js';
import { createWorker, type Worker } from '../../src/runtime/worker.js';
import type { WorkerOptions } from '../../src/runtime/worker-options.js';
import type { JobStore } from '../../src/store/job-store.js';
import { MemoryJobStore } from '../../src/store/memory-store.js';
import { ManualClock } from '../support/manual-clock.js';
import { FaultyTransport } from '../support/faulty-transport.js';
import { pino } from 'pino';
import { driveUntil, silentLogger } from '../support/runtime-harness.js';

const VISIBILITY_SECONDS = 10;
type StoreMethod = 'claim' | 'settle' | 'renew' | 'ping';

/** A store whose methods can be made to fail, and whose calls are counted. */
function faultyStore(inner: JobStore): JobStore & { fail: Set<StoreMethod>; calls: Record<StoreMethod, number> } {
  const fail = new Set<StoreMethod>();
  const calls: Record<StoreMethod, number> = { claim: 0, settle: 0, renew: 0, ping: 0 };
  const guard =
    <A extends unknown[], R>(method: StoreMethod, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      calls[method]++;
      if (fail.has(method)) throw new Error(`store ${method} refused (test)`);
      return await fn(...args);
    };
  return Object.assign(Object.create(inner) as JobStore, {
    fail,
    calls,
    claim: guard('claim', (r: Parameters<JobStore['claim']>[0]) => inner.claim(r)),
    settle: guard('settle', (r: Parameters<JobStore['settle']>[0]) => inner.settle(r)),
    renew: guard('renew', (r: Parameters<JobStore['renew']>[0]) => inner.renew(r)),
    ping: guard('ping', () => inner.ping()),
  });
}

async function rig() {
  const clock = new ManualClock();
  const memory = new MemoryTransport({ clock });
  const queues = await ensureQueues(memory, { maxReceiveCount: 100, visibilityTimeoutSeconds: VISIBILITY_SECONDS });
  const backing = new MemoryJobStore({ now: () => clock.now() });
  const store = faultyStore(backing);
  const events: string[] = [];
  const duplicates: string[] = [];
  const telemetry: WorkerTelemetry = { ...noopWorkerTelemetry, recordDuplicate: (reason) => duplicates.push(reason) };
  const send = async (envelope: Envelope): Promise<void> => {
    await memory.send(queues.mainQueueUrl, { body: encodeEnvelope(envelope), attributes: { 'job-type': envelope.type } });
  };
  return {
    clock,
    memory,
    store,
    backing,
    events,
    duplicates,
    queues,
    send,
    async enqueue(type: string, payload: unknown, extra: { notBefore?: Date } = {}): Promise<Envelope> {
      const envelope = newEnvelope({ type, payload, now: clock.now(), ...extra });
      await send(envelope);
      return envelope;
    },
    worker(jobs: JobDefinition<any, any>[], options: Partial<WorkerOptions> = {}): Worker {
      const worker = createWorker({
        transport: memory,
        jobs,
        queueUrl: queues.mainQueueUrl,
        dlqUrl: queues.dlqUrl,
        clock,
        random: () => 0.5,
        logger: silentLogger(),
        concurrency: 4,
        visibilityTimeoutSeconds: VISIBILITY_SECONDS,
        waitTimeSeconds: 1,
        deleteFlushMs: 0,
        telemetry,
        store,
        ...options,
      });
      for (const name of ['job:started', 'job:succeeded', 'job:retrying', 'job:dead', 'job:cancelled', 'job:duplicate'] as const) {
        worker.on(name, (e: any) => events.push(`${name}@${e.attempt}${e.reason ? `:${e.reason}` : ''}`));
      }
      return worker;
    },
    async dlq() {
      const messages = await memory.receive(queues.dlqUrl, { maxMessages: 10, waitTimeSeconds: 0, visibilityTimeoutSeconds: 3600 });
      return messages.map((m) => decodeDeadLetter(m.body));
    },
    mainDepth: () => memory.depth(queues.mainQueueUrl),
  };
}

const count = (events: string[], prefix: string): number => events.filter((e) => e.startsWith(prefix)).length;
const empty = { visible: 0, inFlight: 0, delayed: 0 };

describe('one outcome per job', () => {
  it('two copies of one attempt run once: the second is dropped while the first holds the claim', async () => {
    const r = await rig();
    let runs = 0;
    const job = defineJob({
      type: 'slow',
      schema: z.object({}),
      handler: async () => {
        runs++;
        await new Promise<void>((resolve) => r.clock.setTimeout(resolve, 3_000));
      },
    });
    const envelope = await r.enqueue('slow', {});
    await r.send(envelope); // a duplicated send: same job, same attempt, another message
    const worker = r.worker([job]).start();
    await driveUntil(
      r.clock,
      'both copies to be handled',
      async () => (await r.mainDepth()).visible + (await r.mainDepth()).inFlight === 0,
    );
    await worker.stop();
    expect(runs).toBe(1);
    expect(count(r.events, 'job:succeeded')).toBe(1);
    expect(r.duplicates).toEqual(['claim_held']);
    expect((await r.backing.getJob(envelope.id))?.state).toBe('succeeded');
  });

  it('a copy arriving after the job succeeded is dropped as terminal', async () => {
    const r = await rig();
    let runs = 0;
    const job = defineJob({ type: 'quick', schema: z.object({}), handler: async () => void runs++ });
    const envelope = await r.enqueue('quick', {});
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the job to succeed', () => count(r.events, 'job:succeeded') === 1);
    await r.send(envelope);
    await driveUntil(r.clock, 'the copy to be dropped', () => r.duplicates.length === 1);
    await worker.stop();
    expect(runs).toBe(1);
    expect(r.duplicates).toEqual(['terminal']);
    expect(await r.mainDepth()).toEqual(empty);
  });

  it('a copy of a dead job does not run: it completes the dead letter instead', async () => {
    const r = await rig();
    let runs = 0;
    const job = defineJob({
      type: 'poison',
      schema: z.object({}),
      handler: async () => {
        runs++;
        throw new NonRetryableError('poison');
      },
    });
    const envelope = await r.enqueue('poison', {});
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the job to die', () => count(r.events, 'job:dead') === 1);
    await r.send(envelope);
    await driveUntil(r.clock, 'the copy to be handled', async () => (await r.mainDepth()).visible + (await r.mainDepth()).inFlight === 0);
    await worker.stop();
    expect(runs).toBe(1);
    const row = await r.backing.getJob(envelope.id);
    expect(row).toMatchObject({ state: 'dead', deadLetterReason: 'non_retryable' });
    expect(row?.lastError?.message).toBe('poison');
    const dead = await r.dlq();
    expect(dead.every((d) => d.envelope?.id === envelope.id)).toBe(true);
    // The first dead letter, and the one the copy completed (the store cannot know the first landed).
    expect(dead.length).toBe(2);
    expect(r.events).toContain('job:duplicate@1:terminal');
  });

  it('the attempt advances after a retry; a late copy of the older attempt is dropped', async () => {
    const r = await rig();
    const ran: number[] = [];
    const job = defineJob({
      type: 'flaky',
      schema: z.object({}),
      retry: { initialIntervalMs: 1_000, jitter: 'none', maximumAttempts: 3 },
      handler: async (_payload, ctx) => {
        ran.push(ctx.attempt);
        if (ctx.attempt === 1) throw new RetryableError('first fails');
      },
    });
    const envelope = await r.enqueue('flaky', {});
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the retry to succeed', () => count(r.events, 'job:succeeded') === 1);
    const row = await r.backing.getJob(envelope.id);
    expect(row).toMatchObject({ state: 'succeeded', attempt: 2 });
    expect(row?.history.map((h) => h.kind)).toEqual(['failed']);
    await r.send(envelope); // attempt 1 again
    await driveUntil(r.clock, 'the old copy to be dropped', () => r.duplicates.length === 1);
    await worker.stop();
    expect(ran).toEqual([1, 2]);
    // The job is over, so the old copy is dropped as terminal (an older attempt of a live job is `older_attempt`).
    expect(r.duplicates).toEqual(['terminal']);
  });

  it('an older attempt of a job still running is dropped as older_attempt', async () => {
    const r = await rig();
    const ran: number[] = [];
    const job = defineJob({
      type: 'flaky',
      schema: z.object({}),
      retry: { initialIntervalMs: 5_000, jitter: 'none', maximumAttempts: 3 },
      handler: async (_payload, ctx) => {
        ran.push(ctx.attempt);
        if (ctx.attempt === 1) throw new RetryableError('first fails');
      },
    });
    const envelope = await r.enqueue('flaky', {});
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the retry to be scheduled', () => count(r.events, 'job:retrying') === 1);
    await r.send(envelope); // attempt 1 again, while attempt 2 waits in its backoff
    await driveUntil(r.clock, 'the old copy to be dropped', () => r.duplicates.length === 1);
    await driveUntil(r.clock, 'the retry to succeed', () => count(r.events, 'job:succeeded') === 1);
    await worker.stop();
    expect(ran).toEqual([1, 2]);
    expect(r.duplicates).toEqual(['older_attempt']);
  });
});

describe('lost attempts are charged only when a claim expired', () => {
  it('a message swallowed by an aborted long poll (received, never claimed) is not charged: maximumAttempts 1 still runs', async () => {
    const r = await rig();
    let runs = 0;
    const job = defineJob({ type: 'once', schema: z.object({}), retry: { maximumAttempts: 1 }, handler: async () => void runs++ });
    const envelope = await r.enqueue('once', {});
    // Another receive took the message and never settled it (its long poll was aborted on a deploy).
    await r.memory.receive(r.queues.mainQueueUrl, { maxMessages: 1, waitTimeSeconds: 0, visibilityTimeoutSeconds: 1 });
    r.clock.advance(1_500);
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the job to settle', () => count(r.events, 'job:succeeded') + count(r.events, 'job:dead') === 1);
    await worker.stop();
    expect(runs).toBe(1);
    expect(r.events).toContain('job:succeeded@1');
    expect((await r.backing.getJob(envelope.id))?.history).toEqual([]);
  });

  it('an attempt whose claim expired unsettled is one lost attempt (worker_lost)', async () => {
    const r = await rig();
    let runs = 0;
    const job = defineJob({ type: 'once', schema: z.object({}), retry: { maximumAttempts: 1 }, handler: async () => void runs++ });
    const envelope = await r.enqueue('once', {});
    // A worker received and claimed it, then died.
    const [taken] = await r.memory.receive(r.queues.mainQueueUrl, { maxMessages: 1, waitTimeSeconds: 0, visibilityTimeoutSeconds: 1 });
    await r.backing.claim([
      {
        jobId: envelope.id,
        type: 'once',
        attempt: 1,
        messageId: taken!.messageId,
        leaseMs: 1_000,
        worker: 'dead-worker:1',
        row: { id: envelope.id, type: 'once', createdAt: r.clock.now() },
      },
    ]);
    r.clock.advance(1_500);
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the job to die', () => count(r.events, 'job:dead') === 1);
    await worker.stop();
    expect(runs).toBe(0);
    expect(r.events).toContain('job:dead@1:attempts_exhausted');
    const row = await r.backing.getJob(envelope.id);
    expect(row).toMatchObject({ state: 'dead', deadLetterReason: 'attempts_exhausted' });
    expect(row?.history.map((h) => h.kind)).toEqual(['worker_lost']);
  });
});

describe('cancel', () => {
  it('a delayed job cancelled before it is due never runs', async () => {
    const r = await rig();
    let runs = 0;
    const job = defineJob({ type: 'later', schema: z.object({}), handler: async () => void runs++ });
    const envelope = newEnvelope({ type: 'later', payload: {}, now: r.clock.now() });
    await r.backing.createJobs([{ id: envelope.id, type: 'later', createdAt: r.clock.now(), scheduledAt: r.clock.now() + 5_000 }]);
    await r.memory.send(r.queues.mainQueueUrl, { body: encodeEnvelope(envelope), delaySeconds: 5 });
    const worker = r.worker([job]).start();
    expect(await r.backing.cancelJob(envelope.id)).toEqual({ kind: 'cancelled', wasRunning: false });
    await driveUntil(r.clock, 'the message to be dropped', () => r.duplicates.length === 1);
    await worker.stop();
    expect(runs).toBe(0);
    expect(r.duplicates).toEqual(['cancelled']);
    expect(await r.mainDepth()).toEqual(empty);
  });

  it('a running job cancelled sees ctx.signal aborted within one lease period, and ends cancelled', async () => {
    const r = await rig();
    let reason: unknown;
    let abortedAt: number | undefined;
    const job = defineJob({
      type: 'long',
      schema: z.object({}),
      handler: async (_payload, ctx) => {
        await new Promise<void>((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            reason = ctx.signal.reason;
            abortedAt = r.clock.now();
            resolve();
          });
        });
        throw ctx.signal.reason;
      },
    });
    const envelope = await r.enqueue('long', {});
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the job to start', () => count(r.events, 'job:started') === 1);
    const cancelledAt = r.clock.now();
    expect(await r.backing.cancelJob(envelope.id)).toEqual({ kind: 'cancelled', wasRunning: true });
    await driveUntil(r.clock, 'the job to end cancelled', () => count(r.events, 'job:cancelled') === 1);
    await worker.stop();
    expect(JobCancelledError.is(reason)).toBe(true);
    expect(abortedAt! - cancelledAt).toBeLessThanOrEqual(VISIBILITY_SECONDS * 1000);
    expect(count(r.events, 'job:retrying') + count(r.events, 'job:dead') + count(r.events, 'job:succeeded')).toBe(0);
    expect((await r.backing.getJob(envelope.id))?.state).toBe('cancelled');
    expect(await r.mainDepth()).toEqual(empty);
  });
});

describe('store outages', () => {
  it('while claims fail nothing runs and the worker is not ready; it recovers by itself and runs each job once', async () => {
    const r = await rig();
    const runs = new Map<string, number>();
    const job = defineJob({
      type: 'quick',
      schema: z.object({ n: z.number() }),
      handler: async (_payload, ctx) => void runs.set(ctx.jobId, (runs.get(ctx.jobId) ?? 0) + 1),
    });
    r.store.fail.add('claim').add('ping');
    for (let n = 0; n < 5; n++) await r.enqueue('quick', { n });
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'a claim to fail', () => r.store.calls.claim > 0);
    await driveUntil(r.clock, 'a while of outage', () => r.store.calls.ping >= 3);
    expect(runs.size).toBe(0);
    expect(worker.stats.ready).toBe(false);
    const receivesDuringOutage = r.store.calls.claim;
    r.store.fail.clear();
    await driveUntil(r.clock, 'every job to succeed', () => count(r.events, 'job:succeeded') === 5);
    expect(worker.stats.ready).toBe(true);
    await worker.stop();
    expect([...runs.values()]).toEqual([1, 1, 1, 1, 1]);
    // The worker stopped receiving while the store was down, instead of receiving in a loop.
    expect(receivesDuringOutage).toBeLessThanOrEqual(4);
  });

  it('a settle write that fails is retried while the lease is held: the job succeeds once', async () => {
    const r = await rig();
    let runs = 0;
    const job = defineJob({ type: 'quick', schema: z.object({}), handler: async () => void runs++ });
    const envelope = await r.enqueue('quick', {});
    r.store.fail.add('settle');
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'settles to fail a few times', () => r.store.calls.settle >= 3);
    r.store.fail.clear();
    await driveUntil(r.clock, 'the job to succeed', () => count(r.events, 'job:succeeded') === 1);
    await worker.stop();
    expect(runs).toBe(1);
    expect((await r.backing.getJob(envelope.id))?.state).toBe('succeeded');
    expect(await r.mainDepth()).toEqual(empty);
  });
});

describe('renewals', () => {
  it('a claim whose settle was written is not renewed while its delete is slow (no false "claim lost" warning)', async () => {
    const r = await rig();
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const transport = new FaultyTransport(r.memory);
    // Every delete takes 5 s: longer than a renewal period (a third of the 10 s visibility).
    transport.before = async (call) => {
      if (call.method === 'deleteBatch') await new Promise<void>((resolve) => r.clock.setTimeout(resolve, 5_000));
    };
    const job = defineJob({ type: 'quick', schema: z.object({}), handler: async () => undefined });
    await r.enqueue('quick', {});
    const worker = r.worker([job], { transport, logger }).start();
    await driveUntil(r.clock, 'the job to succeed', () => count(r.events, 'job:succeeded') === 1);
    await worker.stop();
    expect(lines.filter((line) => line.includes('no longer holds this attempt'))).toEqual([]);
  });
});

describe('rows the worker creates', () => {
  it('a job sent by a producer without the store gets its row on first receipt, payload redacted', async () => {
    const r = await rig();
    const job = defineJob({
      type: 'foreign',
      schema: z.object({ name: z.string(), password: z.string() }),
      handler: async () => undefined,
    });
    const envelope = await r.enqueue('foreign', { name: 'ada', password: 'hunter2' });
    const worker = r.worker([job]).start();
    await driveUntil(r.clock, 'the job to succeed', () => count(r.events, 'job:succeeded') === 1);
    await worker.stop();
    const row = await r.backing.getJob(envelope.id);
    expect(row).toMatchObject({ type: 'foreign', state: 'succeeded', attempt: 1 });
    expect(row?.payload).toEqual({ name: 'ada', password: '[redacted]' });
  });

  it('claims and settles cost one store round trip per receive batch and per flush', async () => {
    const r = await rig();
    const job = defineJob({ type: 'quick', schema: z.object({ n: z.number() }), handler: async () => undefined });
    for (let n = 0; n < 10; n++) await r.enqueue('quick', { n });
    const worker = r.worker([job], { concurrency: 10, deleteFlushMs: 5 }).start();
    await driveUntil(r.clock, 'every job to succeed', () => count(r.events, 'job:succeeded') === 10, { stepMs: 5 });
    await worker.stop();
    expect(r.store.calls.claim).toBe(1);
    expect(r.store.calls.settle).toBeLessThanOrEqual(2);
  });
});

describe('concurrency counts handlers, not settles', () => {
  it('a slow settle frees its slot for the next handler, and at most concurrency more are settling', async () => {
    const r = await rig();
    // Every settle waits until the test opens the gate: the store's commit is slow.
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const settle = r.store.settle.bind(r.store);
    r.store.settle = async (requests) => {
      await gate;
      return await settle(requests);
    };
    const started: number[] = [];
    const job = defineJob({ type: 'quick', schema: z.object({ n: z.number() }), handler: async ({ n }) => void started.push(n) });
    for (let n = 0; n < 5; n++) await r.enqueue('quick', { n });
    const worker = r.worker([job], { concurrency: 1 }).start();
    // concurrency 1: one handler at a time; a finished handler's settle runs outside the slot, so a
    // second job starts while the first still waits on its commit — and no third until one settles.
    await driveUntil(r.clock, 'two handlers to have run', () => started.length === 2);
    await driveUntil(r.clock, 'some simulated time', () => false, { maxSteps: 50 }).catch(() => undefined);
    expect(started).toHaveLength(2);
    expect(worker.stats.inFlight).toBe(2);
    open();
    await driveUntil(r.clock, 'every job to succeed', () => count(r.events, 'job:succeeded') === 5);
    await worker.stop();
    expect(started.sort()).toEqual([0, 1, 2, 3, 4]);
  });
});
