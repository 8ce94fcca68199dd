/**
 * The worker with a job store on real servers (issue 12): fauxqs with embedded PGlite, and moto with
 * a real PostgreSQL 15. Cancel (a delayed job never runs; a running one sees its signal aborted), and
 * a message an aborted long poll swallowed (as a worker killed mid-deploy leaves behind) is not
 * charged an attempt: `maximumAttempts: 1` still runs it, because no claim for it ever existed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../../src/machines/define-job.js';
import { ensureQueues } from '../../src/ops/ensure-queues.js';
import { startEmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { encodeEnvelope, newEnvelope } from '../../src/queue/envelope.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { JobCancelledError } from '../../src/runtime/job-error.js';
import { createWorker } from '../../src/runtime/worker.js';
import { startEmbeddedStore } from '../../src/store/embedded.js';
import type { JobStore } from '../../src/store/job-store.js';
import { PostgresJobStore } from '../../src/store/postgres-store.js';
import { startMoto } from '../support/moto.js';
import { startPostgres } from '../support/postgres.js';
import { eventually, silentLogger } from '../support/runtime-harness.js';

interface Rig {
  endpoint: string;
  store: JobStore;
  stop(): Promise<void>;
}

const RIGS: Array<{ name: string; start: () => Promise<Rig> }> = [
  {
    name: 'fauxqs + PGlite',
    start: async () => {
      const sqs = await startEmbeddedSqs();
      const embedded = await startEmbeddedStore();
      return {
        endpoint: sqs.endpoint,
        store: embedded.store,
        stop: async () => {
          await embedded.close();
          await sqs.stop();
        },
      };
    },
  },
  {
    name: 'moto + PostgreSQL 15',
    start: async () => {
      const moto = await startMoto();
      const database = await startPostgres();
      const store = await PostgresJobStore.connect(database.connectionString);
      return {
        endpoint: moto.endpoint,
        store,
        stop: async () => {
          await store.close();
          await database.stop();
          await moto.stop();
        },
      };
    },
  },
];

describe.each(RIGS)('a worker with a store on $name', ({ name, start }) => {
  let rig: Rig;
  let transport: SqsTransport;

  beforeAll(async () => {
    rig = await start();
    transport = new SqsTransport({ endpoint: rig.endpoint, region: 'us-east-1' });
  });

  afterAll(async () => {
    await transport?.close();
    await rig?.stop();
  });

  const queuesFor = async (what: string) =>
    await ensureQueues(transport, { prefix: `${what}-${name.split(' ')[0]}-${Date.now().toString(36)}`, visibilityTimeoutSeconds: 3 });

  const workerFor = (queues: Awaited<ReturnType<typeof queuesFor>>, jobs: Parameters<typeof createWorker>[0]['jobs']) =>
    createWorker({
      transport,
      jobs,
      queueUrl: queues.mainQueueUrl,
      dlqUrl: queues.dlqUrl,
      logger: silentLogger(),
      store: rig.store,
      waitTimeSeconds: 1,
      visibilityTimeoutSeconds: 3,
      shutdownGraceMs: 2_000,
    });

  const sendJob = async (queueUrl: string, type: string, payload: unknown, delaySeconds = 0): Promise<string> => {
    const envelope = newEnvelope({ type, payload, now: Date.now() });
    await rig.store.createJobs([{ id: envelope.id, type, createdAt: Date.parse(envelope.createdAt), payload }]);
    await transport.send(queueUrl, { body: encodeEnvelope(envelope), delaySeconds, attributes: { 'job-type': type } });
    return envelope.id;
  };

  it('a job delayed 5 s and cancelled meanwhile never runs', async () => {
    const queues = await queuesFor('cancel-delayed');
    let runs = 0;
    const job = defineJob({ type: 'later', schema: z.object({}), handler: async () => void runs++ });
    const worker = workerFor(queues, [job]);
    const dropped: string[] = [];
    worker.on('job:duplicate', (e) => dropped.push(e.reason));
    worker.start();
    try {
      const id = await sendJob(queues.mainQueueUrl, 'later', {}, 5);
      expect(await rig.store.cancelJob(id)).toEqual({ kind: 'cancelled', wasRunning: false });
      await eventually('the delayed message to be dropped', () => dropped.length === 1, 15_000);
      expect((await rig.store.getJob(id))?.state).toBe('cancelled');
    } finally {
      await worker.stop();
    }
    expect(runs).toBe(0);
    expect(dropped).toEqual(['cancelled']);
  });

  it('a running job cancelled sees ctx.signal aborted within one lease period', async () => {
    const queues = await queuesFor('cancel-running');
    let reason: unknown;
    let abortedAt = 0;
    const job = defineJob({
      type: 'long',
      schema: z.object({}),
      attemptTimeoutMs: 60_000,
      handler: async (_payload, ctx) => {
        await new Promise<void>((resolve) =>
          ctx.signal.addEventListener('abort', () => {
            reason = ctx.signal.reason;
            abortedAt = Date.now();
            resolve();
          }),
        );
        throw ctx.signal.reason;
      },
    });
    const worker = workerFor(queues, [job]);
    const events: string[] = [];
    for (const event of ['job:started', 'job:cancelled', 'job:retrying', 'job:dead', 'job:succeeded'] as const)
      worker.on(event, () => events.push(event));
    worker.start();
    let id = '';
    let cancelledAt = 0;
    try {
      id = await sendJob(queues.mainQueueUrl, 'long', {});
      await eventually('the job to start', () => events.includes('job:started'), 15_000);
      cancelledAt = Date.now();
      expect(await rig.store.cancelJob(id)).toEqual({ kind: 'cancelled', wasRunning: true });
      await eventually('the job to end cancelled', () => events.includes('job:cancelled'), 15_000);
    } finally {
      await worker.stop();
    }
    expect(JobCancelledError.is(reason)).toBe(true);
    expect(abortedAt - cancelledAt).toBeLessThanOrEqual(3_000 + 500);
    expect(events).toEqual(['job:started', 'job:cancelled']);
    expect((await rig.store.getJob(id))?.state).toBe('cancelled');
    const depth = await transport.depth(queues.mainQueueUrl);
    expect(depth.visible + depth.inFlight + depth.delayed).toBe(0);
  });

  it('a message swallowed by an aborted long poll is not charged an attempt: maximumAttempts 1 still runs it', async () => {
    const queues = await queuesFor('swallowed');
    const runs: string[] = [];
    const job = defineJob({
      type: 'deploy.job',
      schema: z.object({}),
      retry: { maximumAttempts: 1 },
      handler: async (_payload, ctx) => void runs.push(ctx.jobId),
    });
    // A worker killed mid-deploy leaves its long poll open: the server hands it the next message,
    // which comes back after the visibility timeout with a receive count of 2 and no claim behind it.
    const abort = new AbortController();
    const swallowing = transport
      .receive(queues.mainQueueUrl, { maxMessages: 1, waitTimeSeconds: 5, visibilityTimeoutSeconds: 2, signal: abort.signal })
      .catch(() => []);
    await new Promise((resolve) => setTimeout(resolve, 300));
    abort.abort();
    const id = await sendJob(queues.mainQueueUrl, 'deploy.job', {});
    await swallowing;
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    // The worker's receives, seen through a wrapper: the scenario really happened only if the job's
    // message came back with a receive count of 2.
    const counts: number[] = [];
    const seen = Object.create(transport) as SqsTransport;
    seen.receive = async (...args: Parameters<SqsTransport['receive']>) => {
      const messages = await transport.receive(...args);
      counts.push(...messages.map((m) => m.receiveCount));
      return messages;
    };
    const worker = createWorker({ ...workerFor(queues, [job]).options, transport: seen });
    const dead: string[] = [];
    worker.on('job:dead', (e) => dead.push(e.reason));
    worker.start();
    try {
      await eventually('the job to run', () => runs.length > 0, 20_000);
    } finally {
      await worker.stop();
    }
    expect(counts).toEqual([2]);
    expect(runs).toEqual([id]);
    expect(dead).toEqual([]);
    const row = await rig.store.getJob(id);
    expect(row).toMatchObject({ state: 'succeeded', attempt: 1, history: [] });
  });
});
