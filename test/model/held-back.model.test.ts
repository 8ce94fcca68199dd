/**
 * Model-based paths of the held-back transitions (issue 13, docs/keys.md): `xstate/graph` enumerates
 * every path of the job machine over HELD (a key busy or out of starts; within or past the deadline)
 * and THROTTLED (a RateLimitedError; within or past maximumThrottles) beside the events of a run, and
 * each path is judged against an oracle worked out without the machine: a hold re-sends the same
 * attempt with its history untouched (no attempt counted), a hold past the deadline is dead
 * `deadline_exceeded`, a throttle past the cap is a retryable failure waiting retryAfterMs.
 *
 * Then every kind of held path runs through the REAL runtime (createWorker on a MemoryTransport with a
 * MemoryJobStore) and its SQS requests are compared with the same oracle.
 */
import { initialTransition, transition } from 'xstate';
import { getSimplePaths } from 'xstate/graph';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob, type JobDefinition } from '../../src/machines/define-job.js';
import { RateLimitedError } from '../../src/machines/errors.js';
import { jobMachine, type JobMachineEvent } from '../../src/machines/job-machine.js';
import { resolveRetryPolicy } from '../../src/machines/retry-policy.js';
import { ensureQueues } from '../../src/ops/ensure-queues.js';
import { decodeDeadLetter } from '../../src/queue/dead-letter.js';
import { decodeEnvelope, encodeEnvelope, newEnvelope } from '../../src/queue/envelope.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import { createWorker, type Worker } from '../../src/runtime/worker.js';
import { MemoryJobStore } from '../../src/store/memory-store.js';
import { eventually, RecordingTransport, silentLogger } from '../support/runtime-harness.js';

const CREATED = 1_700_000_000_000;
const DEADLINE_MS = 10_000;
const MAX_THROTTLES = 2;
const policy = resolveRetryPolicy({ initialIntervalMs: 1000, maximumAttempts: 2, jitter: 'none' });
const error = { name: 'RateLimitedError', message: 'slow down' };

const EVENTS: JobMachineEvent[] = [
  { type: 'START', now: CREATED },
  { type: 'SUCCEEDED', now: CREATED + 1 },
  { type: 'HELD', now: CREATED, reason: 'concurrency', delayMs: 2_000 },
  { type: 'HELD', now: CREATED, reason: 'rate', delayMs: DEADLINE_MS + 1 },
  { type: 'THROTTLED', now: CREATED + 1, retryAfterMs: 3_000, throttles: 1, key: 'k', error, durationMs: 1, random: 0 },
  { type: 'THROTTLED', now: CREATED + 1, retryAfterMs: 3_000, throttles: MAX_THROTTLES + 1, key: 'k', error, durationMs: 1, random: 0 },
  { type: 'THROTTLED', now: CREATED + 1, retryAfterMs: DEADLINE_MS, throttles: 1, key: 'k', error, durationMs: 1, random: 0 },
];

type Expected =
  | { state: 'held'; holdBack: { delayMs: number; reason: string; throttle?: { key: string; retryAfterMs: number } } }
  | { state: 'dead'; reason: string }
  | { state: 'backoff'; nextAttempt: number; delayMs: number }
  | { state: 'succeeded' };

/** What a path's last event must lead to, from the event and the attempt alone. */
function oracle(event: JobMachineEvent, attempt: number): Expected {
  switch (event.type) {
    case 'HELD':
      return CREATED + event.delayMs > CREATED + DEADLINE_MS
        ? { state: 'dead', reason: 'deadline_exceeded' }
        : { state: 'held', holdBack: { delayMs: event.delayMs, reason: event.reason } };
    case 'THROTTLED': {
      const late = event.now + event.retryAfterMs > CREATED + DEADLINE_MS;
      if (event.throttles <= MAX_THROTTLES && !late)
        return {
          state: 'held',
          holdBack: { delayMs: event.retryAfterMs, reason: 'throttled', throttle: { key: 'k', retryAfterMs: event.retryAfterMs } },
        };
      // A failure: retried after retryAfterMs while attempts and the deadline allow.
      if (attempt >= policy.maximumAttempts) return { state: 'dead', reason: 'attempts_exhausted' };
      if (late) return { state: 'dead', reason: 'deadline_exceeded' };
      return { state: 'backoff', nextAttempt: attempt + 1, delayMs: event.retryAfterMs };
    }
    case 'SUCCEEDED':
      return { state: 'succeeded' };
    default:
      throw new Error(`oracle: no final event ${event.type}`);
  }
}

describe('the held-back transitions (xstate/graph)', () => {
  for (const attempt of [1, 2]) {
    const input = { attempt, createdAtMs: CREATED, policy, deadlineMs: DEADLINE_MS, maximumThrottles: MAX_THROTTLES };
    const paths = getSimplePaths(jobMachine, { events: EVENTS, input });

    it(`attempt ${attempt} of 2: every path ends as the oracle says; a hold never counts an attempt`, () => {
      const done = paths.filter((p) => p.state.status === 'done');
      // START then one of 5 run endings (SUCCEEDED, 3 THROTTLED), plus the 2 HELD from pending.
      expect(done.map((p) => p.steps.map((s) => s.event.type).join(' '))).toHaveLength(6);
      const finals = new Set(done.map((p) => String(p.state.value)));
      expect(finals.has('held')).toBe(true);
      for (const path of done) {
        const last = path.steps.at(-1)!.event as JobMachineEvent;
        const want = oracle(last, attempt);
        expect(path.state.value, path.steps.map((s) => s.event.type).join(' → ')).toBe(want.state);
        if (want.state === 'held') {
          expect(path.state.context.attempt).toBe(attempt);
          expect(path.state.context.history).toEqual([]);
        }
      }
    });

    it(`attempt ${attempt} of 2: the actions of each held path are the oracle's`, () => {
      for (const event of EVENTS.filter((e) => e.type === 'HELD' || e.type === 'THROTTLED')) {
        const [pending] = initialTransition(jobMachine, input);
        const [running, startActions] = transition(jobMachine, pending, { type: 'START', now: CREATED });
        expect(startActions).toEqual([]);
        const [after, actions] = transition(jobMachine, event.type === 'HELD' ? pending : running, event);
        const want = oracle(event, attempt);
        expect(after.value).toBe(want.state);
        const effects = actions.map((a) => ({ type: a.type, params: a.params }));
        if (want.state === 'held') expect(effects).toEqual([{ type: 'holdBack', params: want.holdBack }]);
        if (want.state === 'dead') expect(effects).toMatchObject([{ type: 'deadLetter', params: { reason: want.reason } }]);
        if (want.state === 'backoff')
          expect(effects).toMatchObject([{ type: 'retry', params: { nextAttempt: want.nextAttempt, delayMs: want.delayMs } }]);
      }
    });
  }
});

// The real runtime: each kind of held path, its SQS requests against the oracle.

const payload = z.object({ key: z.string(), n: z.int() });
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 0 })));
});

type Until = (store: MemoryJobStore, ids: string[], mainSends: () => string[]) => Promise<boolean>;

async function run(job: JobDefinition<any, any>, payloads: Array<z.output<typeof payload>>, until: Until) {
  const memory = new MemoryTransport();
  const transport = new RecordingTransport(memory);
  const queues = await ensureQueues(memory, { maxReceiveCount: 100, visibilityTimeoutSeconds: 10 });
  const store = new MemoryJobStore();
  const ids: string[] = [];
  for (const p of payloads) {
    const envelope = newEnvelope({ type: job.type, payload: p, now: Date.now() });
    ids.push(envelope.id);
    await memory.send(queues.mainQueueUrl, { body: encodeEnvelope(envelope), attributes: { 'job-type': job.type } });
  }
  const worker = createWorker({
    transport,
    jobs: [job],
    queueUrl: queues.mainQueueUrl,
    dlqUrl: queues.dlqUrl,
    logger: silentLogger(),
    waitTimeSeconds: 1,
    deleteFlushMs: 0,
    random: () => 0,
    store,
  });
  workers.push(worker.start());
  const mainSends = () => transport.records.flatMap((r) => (r.op === 'send' && r.queueUrl === queues.mainQueueUrl ? [r.body] : []));
  await eventually('the path to end', () => until(store, ids, mainSends), 15_000);
  await worker.stop({ graceMs: 0 });
  const sends = transport.records.flatMap((r) => (r.op === 'send' ? [r] : []));
  return {
    ids,
    store,
    main: sends
      .filter((s) => s.queueUrl === queues.mainQueueUrl)
      .map((s) => ({ envelope: decodeEnvelope(s.body), delaySeconds: s.delaySeconds })),
    dlq: sends.filter((s) => s.queueUrl === queues.dlqUrl).map((s) => decodeDeadLetter(s.body)),
  };
}

describe('the held paths through the real runtime', () => {
  it('HELD → held: the same attempt re-sent after the key frees, history untouched', async () => {
    // A start a minute ago fills the window of 1: the second job waits ~60 s, past the park budget.
    const job = defineJob({
      type: 'model.held',
      schema: payload,
      rateLimit: { key: (p) => p.key, max: 1, perMs: 60_000 },
      handler: async () => undefined,
    });
    const got = await run(
      job,
      [
        { key: 'k', n: 0 },
        { key: 'k', n: 1 },
      ],
      async (store, ids, sends) => (await store.getJob(ids[0]!))?.state === 'succeeded' && sends().some((body) => body.includes(ids[1]!)),
    );
    const held = got.main.filter((m) => m.envelope.ok && m.envelope.envelope.id === got.ids[1]);
    expect(held).toHaveLength(1);
    const envelope = held[0]!.envelope.ok ? held[0]!.envelope.envelope : undefined;
    expect(envelope).toMatchObject({ attempt: 1 });
    expect(envelope?.history ?? []).toEqual([]);
    // random 0: the delay is the store's retryAfterMs (≤ 60 s), rounded up to whole seconds.
    expect(held[0]!.delaySeconds).toBeGreaterThanOrEqual(55);
    expect(held[0]!.delaySeconds).toBeLessThanOrEqual(60);
    expect(got.dlq).toEqual([]);
    expect(await got.store.getJob(got.ids[1]!)).toMatchObject({ state: 'pending', attempt: 1 });
  });

  it('HELD past the deadline → dead deadline_exceeded, written in the store', async () => {
    const job = defineJob({
      type: 'model.late',
      schema: payload,
      deadlineMs: DEADLINE_MS,
      rateLimit: { key: (p) => p.key, max: 1, perMs: 60_000 },
      handler: async () => undefined,
    });
    const got = await run(
      job,
      [
        { key: 'k', n: 0 },
        { key: 'k', n: 1 },
      ],
      async (store, ids) => (await store.getJob(ids[1]!))?.state === 'dead',
    );
    expect(got.dlq.map((d) => d.record?.reason)).toEqual(['deadline_exceeded']);
    expect(got.main).toEqual([]);
    expect(await got.store.getJob(got.ids[1]!)).toMatchObject({ state: 'dead', attempt: 1, deadLetterReason: 'deadline_exceeded' });
  });

  it('THROTTLED within the cap → held: re-sent after retryAfterMs, then succeeds at attempt 1', async () => {
    let runs = 0;
    const job = defineJob({
      type: 'model.throttled',
      schema: payload,
      maximumThrottles: MAX_THROTTLES,
      handler: async () => {
        runs++;
        if (runs === 1) throw new RateLimitedError({ retryAfterMs: 1_000 });
      },
    });
    const got = await run(job, [{ key: 'k', n: 0 }], async (store, ids) => (await store.getJob(ids[0]!))?.state === 'succeeded');
    expect(got.main.map((m) => [m.envelope.ok && m.envelope.envelope.attempt, m.delaySeconds])).toEqual([[1, 1]]);
    expect(await got.store.getJob(got.ids[0]!)).toMatchObject({ state: 'succeeded', attempt: 1, history: [] });
  });

  it('THROTTLED past the cap → backoff: the next attempt, waiting retryAfterMs', async () => {
    let runs = 0;
    const job = defineJob({
      type: 'model.capped',
      schema: payload,
      maximumThrottles: 0,
      retry: { maximumAttempts: 2 },
      handler: async () => {
        runs++;
        if (runs === 1) throw new RateLimitedError({ retryAfterMs: 1_000 });
      },
    });
    const got = await run(job, [{ key: 'k', n: 0 }], async (store, ids) => (await store.getJob(ids[0]!))?.state === 'succeeded');
    expect(got.main.map((m) => [m.envelope.ok && m.envelope.envelope.attempt, m.delaySeconds])).toEqual([[2, 1]]);
    expect(await got.store.getJob(got.ids[0]!)).toMatchObject({ state: 'succeeded', attempt: 2 });
  });
});
