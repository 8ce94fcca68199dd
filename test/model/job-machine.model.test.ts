/**
 * Model-based tests of a job's whole life. `xstate/graph` enumerates every path of outcomes (success,
 * retryable failure, non-retryable failure, timeout, invalid payload, worker lost) through a pure job
 * simulator that chains the real job machine across messages, for maximumAttempts 1–4. Every path is
 * then run through the REAL runtime (createWorker) on a MemoryTransport driven by a ManualClock, and
 * the SQS requests it made are compared with an independent oracle: deletes, re-sends with their
 * DelaySeconds, DLQ sends with their reason, receive counts and histories.
 *
 * A lost attempt (a worker takes the message and dies) is settled by the next receive of that message
 * (receive count 2) without running the handler: re-sent as the next attempt with a `worker_lost` entry
 * and the policy's delay, or dead-lettered `attempts_exhausted` at the last attempt.
 */
import { getShortestPaths, getSimplePaths } from 'xstate/graph';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../../src/machines/define-job.js';
import { NonRetryableError, RetryableError } from '../../src/machines/errors.js';
import { initialTransition, transition } from 'xstate';
import { jobMachine, type JobMachineEvent } from '../../src/machines/job-machine.js';
import { resolveRetryPolicy, type RetryPolicy } from '../../src/machines/retry-policy.js';
import { decodeDeadLetter } from '../../src/queue/dead-letter.js';
import { decodeEnvelope } from '../../src/queue/envelope.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { ManualClock } from '../support/manual-clock.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import { createWorker } from '../../src/runtime/worker.js';
import { jobLifeLogic, OUTCOME_EVENTS, possibleOutcomes, type JobLife, type OutcomeKind } from '../support/job-simulator.js';
import { driveUntil, RecordingTransport, silentLogger } from '../support/runtime-harness.js';

const RETRY = { initialIntervalMs: 1500, backoffCoefficient: 2, maximumIntervalMs: 4000, jitter: 'none' } as const satisfies RetryPolicy;
const ATTEMPT_TIMEOUT_MS = 3000;
const VISIBILITY_SECONDS = 2;
const LOST_VISIBILITY_SECONDS = 5;

/** What the SQS requests of a path should be, worked out without the machine. */
type ExpectedRequest =
  | { op: 'delete' }
  | { op: 'send-main'; attempt: number; delaySeconds: number; history: string[] }
  | { op: 'send-dlq'; attempt: number; reason: string; receiveCount: number; history: string[] };

interface Oracle {
  requests: ExpectedRequest[];
  handlerAttempts: number[];
  /** ApproximateReceiveCount of each message a worker received, in order. */
  receiveCounts: number[];
  final: 'succeeded' | 'dead';
}

function oracle(outcomes: readonly OutcomeKind[], maximumAttempts: number): Oracle {
  const requests: ExpectedRequest[] = [];
  const handlerAttempts: number[] = [];
  const receiveCounts: number[] = [];
  const history: string[] = [];
  let attempt = 1;
  const dead = (reason: string, receiveCount: number): Oracle => {
    requests.push({ op: 'send-dlq', attempt, reason, receiveCount, history: [...history] }, { op: 'delete' });
    return { requests, handlerAttempts, receiveCounts, final: 'dead' };
  };
  /** The next attempt re-sent after the policy's delay (jitter none), then the message deleted. */
  const retry = (): void => {
    const delayMs = Math.min(RETRY.initialIntervalMs * RETRY.backoffCoefficient ** (attempt - 1), RETRY.maximumIntervalMs);
    requests.push(
      { op: 'send-main', attempt: attempt + 1, delaySeconds: Math.ceil(delayMs / 1000), history: [...history] },
      { op: 'delete' },
    );
    attempt += 1;
  };
  for (const outcome of outcomes) {
    switch (outcome) {
      case 'lost':
        // The dying worker's receive is not a worker's; the next one sees receive count 2, writes the
        // attempt down as lost and settles the message without running the handler.
        receiveCounts.push(2);
        history.push(`worker_lost@${attempt}`);
        if (attempt >= maximumAttempts) return dead('attempts_exhausted', 2);
        retry();
        break;
      case 'invalid':
        receiveCounts.push(1);
        return dead('invalid_payload', 1);
      case 'success':
        receiveCounts.push(1);
        handlerAttempts.push(attempt);
        requests.push({ op: 'delete' });
        return { requests, handlerAttempts, receiveCounts, final: 'succeeded' };
      case 'nonRetryable':
        receiveCounts.push(1);
        handlerAttempts.push(attempt);
        history.push(`failed@${attempt}`);
        return dead('non_retryable', 1);
      case 'retryable':
      case 'timeout': {
        receiveCounts.push(1);
        handlerAttempts.push(attempt);
        history.push(`${outcome === 'timeout' ? 'timeout' : 'failed'}@${attempt}`);
        if (attempt >= maximumAttempts) return dead('attempts_exhausted', 1);
        retry();
        break;
      }
    }
  }
  throw new Error(`oracle: the path ${outcomes.join(' → ')} does not end the job`);
}

/** Paths of a job's life that end it, from xstate/graph over the simulator. */
function lifePaths(maximumAttempts: number): Array<{ outcomes: OutcomeKind[]; life: JobLife }> {
  const logic = jobLifeLogic({ policy: resolveRetryPolicy({ ...RETRY, maximumAttempts }) });
  const paths = getSimplePaths(logic, {
    events: (snapshot) => possibleOutcomes(snapshot.context).map((kind) => OUTCOME_EVENTS[kind]),
    serializeState: (snapshot) => JSON.stringify(snapshot.context.outcomes),
    toState: (snapshot) => snapshot.context.status !== 'active',
  });
  return paths.map((path) => ({
    outcomes: path.steps.map((s) => s.event.type).filter((t): t is OutcomeKind => t in OUTCOME_EVENTS),
    life: path.state.context,
  }));
}

interface RunResult {
  requests: ExpectedRequest[];
  handlerAttempts: number[];
  receiveCounts: number[];
  succeeded: number;
  dead: number;
  leaseExtensions: number[];
  mainDepth: { visible: number; inFlight: number; delayed: number };
  dlqCount: number;
}

/** Runs one path through the real runtime: a fresh worker per delivery, raw receives for lost ones. */
async function runPath(outcomes: readonly OutcomeKind[], maximumAttempts: number): Promise<RunResult> {
  const clock = new ManualClock();
  const memory = new MemoryTransport({ clock });
  const queueUrl = await memory.createQueue('model-main');
  const dlqUrl = await memory.createQueue('model-dlq');
  const transport = new RecordingTransport(memory);
  const handlerAttempts: number[] = [];
  let succeeded = 0;
  let dead = 0;

  const job = defineJob({
    type: 'model.job',
    schema: z.object({ n: z.number() }),
    retry: { ...RETRY, maximumAttempts },
    attemptTimeoutMs: ATTEMPT_TIMEOUT_MS,
    handler: async (_payload, ctx) => {
      handlerAttempts.push(ctx.attempt);
      const outcome = outcomes[ctx.attempt - 1];
      switch (outcome) {
        case 'success':
          return;
        case 'retryable':
          throw new RetryableError(`scripted failure on attempt ${ctx.attempt}`);
        case 'nonRetryable':
          throw new NonRetryableError(`scripted poison on attempt ${ctx.attempt}`);
        case 'timeout':
          await new Promise<never>((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }));
          return;
        default:
          throw new NonRetryableError(`the handler ran attempt ${ctx.attempt}, scripted as ${String(outcome)}`);
      }
    },
  });

  const producer = new JobQueue({ transport: memory, queueUrl, clock });
  await producer.enqueueJob({ type: 'model.job', payload: outcomes[0] === 'invalid' ? { n: 'not a number' } : { n: 1 } });

  const deliverOnce = async (): Promise<void> => {
    let settled = 0;
    const worker = createWorker({
      transport,
      jobs: [job],
      queueUrl,
      dlqUrl,
      clock,
      random: () => 0.5,
      logger: silentLogger(),
      concurrency: 1,
      visibilityTimeoutSeconds: VISIBILITY_SECONDS,
      deleteFlushMs: 0,
      shutdownGraceMs: 0,
    });
    worker.on('job:succeeded', () => {
      succeeded += 1;
      settled += 1;
    });
    worker.on('job:retrying', () => (settled += 1));
    worker.on('job:dead', () => {
      dead += 1;
      settled += 1;
    });
    worker.on('message:invalid', () => (settled += 1));
    worker.start();
    try {
      await driveUntil(clock, 'the delivery to settle', () => settled > 0);
    } finally {
      await worker.stop();
    }
  };

  for (let i = 0; i < outcomes.length; i++) {
    if (outcomes[i] === 'lost') {
      // A worker that dies: it receives the message and never settles it; its visibility then runs out.
      await driveUntil(clock, 'the message to become visible', async () => (await memory.depth(queueUrl)).visible > 0);
      const taken = await memory.receive(queueUrl, {
        maxMessages: 10,
        waitTimeSeconds: 0,
        visibilityTimeoutSeconds: LOST_VISIBILITY_SECONDS,
      });
      expect(taken).toHaveLength(1);
      expect(taken[0]!.receiveCount).toBe(1);
      clock.advance(LOST_VISIBILITY_SECONDS * 1000);
    }
    // After a lost attempt this is the receive that finds the message unsettled (receive count 2) and
    // settles it (re-sent as the next attempt, or dead-lettered) without running the handler.
    await deliverOnce();
  }

  const requests: ExpectedRequest[] = [];
  const leaseExtensions: number[] = [];
  const receiveCounts: number[] = [];
  for (const r of transport.records) {
    if (r.op === 'receive') {
      expect(r.queueUrl).toBe(queueUrl);
      receiveCounts.push(...r.messages.map((m) => m.receiveCount));
    } else if (r.op === 'delete') {
      expect(r.queueUrl).toBe(queueUrl);
      requests.push({ op: 'delete' });
    } else if (r.op === 'changeVisibility') {
      leaseExtensions.push(r.seconds);
    } else if (r.op === 'send' && r.queueUrl === queueUrl) {
      const decoded = decodeEnvelope(r.body);
      if (!decoded.ok) throw new Error(`re-sent body is not an envelope: ${decoded.message}`);
      const history = (decoded.envelope.history ?? []).map((h) => `${h.kind}@${h.attempt}`);
      requests.push({ op: 'send-main', attempt: decoded.envelope.attempt, delaySeconds: r.delaySeconds ?? 0, history });
    } else if (r.op === 'send' && r.queueUrl === dlqUrl) {
      const { envelope, record } = decodeDeadLetter(r.body);
      if (!envelope || !record) throw new Error(`DLQ body lacks an envelope or a record: ${r.body}`);
      const history = (envelope.history ?? []).map((h) => `${h.kind}@${h.attempt}`);
      requests.push({ op: 'send-dlq', attempt: envelope.attempt, reason: record.reason, receiveCount: record.receiveCount ?? -1, history });
    } else if (r.op === 'send') {
      throw new Error(`a send to an unexpected queue ${r.queueUrl}`);
    }
  }
  const dlqMessages = await memory.receive(dlqUrl, { maxMessages: 10, waitTimeSeconds: 0 });
  return {
    requests,
    handlerAttempts,
    receiveCounts,
    succeeded,
    dead,
    leaseExtensions,
    mainDepth: await memory.depth(queueUrl),
    dlqCount: dlqMessages.length,
  };
}

describe('the per-message job machine (xstate/graph)', () => {
  const policy = resolveRetryPolicy({ ...RETRY, maximumAttempts: 2 });
  const events: JobMachineEvent[] = [
    { type: 'START', now: 1_700_000_000_000 },
    { type: 'INVALID', message: 'payload: bad' },
    { type: 'WORKER_LOST', now: 1_700_000_000_000, random: 0 },
    { type: 'SUCCEEDED', now: 1_700_000_001_000 },
    { type: 'FAILED', now: 1_700_000_001_000, durationMs: 1, error: { name: 'Error', message: 'x' }, retryable: true, random: 0 },
    { type: 'FAILED', now: 1_700_000_001_000, durationMs: 1, error: { name: 'Error', message: 'x' }, retryable: false, random: 0 },
    {
      type: 'FAILED',
      now: 1_700_000_001_000,
      durationMs: 1,
      error: { name: 'AttemptTimeout', message: 'x' },
      retryable: true,
      timedOut: true,
      random: 0,
    },
    { type: 'CHECKPOINT', state: { step: 1 } },
    { type: 'RELEASE' },
    { type: 'HELD', now: 1_700_000_000_000, reason: 'concurrency', delayMs: 1_000 },
    {
      type: 'THROTTLED',
      now: 1_700_000_001_000,
      retryAfterMs: 2_000,
      throttles: 1,
      error: { name: 'RateLimitedError', message: 'x' },
      durationMs: 1,
      random: 0,
    },
  ];

  it('reaches every final state from a fresh message, and every path into one ends there', () => {
    const paths = getShortestPaths(jobMachine, { events, input: { attempt: 1, createdAtMs: 1_700_000_000_000, policy } });
    const finals = new Set(paths.filter((p) => p.state.status === 'done').map((p) => String(p.state.value)));
    expect([...finals].sort()).toEqual(['backoff', 'checkpointed', 'dead', 'held', 'released', 'succeeded']);
    for (const path of paths) {
      if (path.state.status !== 'done') expect(['pending', 'running']).toContain(path.state.value);
    }
  });

  it('ends the message at one WORKER_LOST: backoff (retry as the next attempt) while attempts remain, dead at maximumAttempts 2', () => {
    const lostAt = 1_700_000_000_000;
    for (const attempt of [1, 2]) {
      const input = { attempt, createdAtMs: lostAt, policy };
      const paths = getSimplePaths(jobMachine, { events, input });
      const withLost = paths.filter((p) => p.steps.some((s) => s.event.type === 'WORKER_LOST'));
      // Only from pending, and it is the last event of its path: nothing runs on a message found unsettled.
      expect(withLost).toHaveLength(1);
      const [path] = withLost;
      expect(path!.steps.map((s) => s.event.type)).toEqual(['xstate.init', 'WORKER_LOST']);
      expect(path!.state.status).toBe('done');
      expect(path!.state.value).toBe(attempt === 1 ? 'backoff' : 'dead');
      expect(path!.state.context.attempt).toBe(attempt);
      expect(path!.state.context.history.map((h) => [h.kind, h.attempt, h.error?.name])).toEqual([['worker_lost', attempt, 'WorkerLost']]);

      // The actions the runtime would execute.
      const [pending] = initialTransition(jobMachine, input);
      const [, actions] = transition(jobMachine, pending, { type: 'WORKER_LOST', now: lostAt, random: 0 });
      const history = [
        {
          attempt,
          at: new Date(lostAt).toISOString(),
          durationMs: 0,
          kind: 'worker_lost',
          error: expect.objectContaining({ name: 'WorkerLost', reason: 'worker_lost' }),
        },
      ];
      const effects = actions.filter((a) => a.type === 'retry' || a.type === 'deadLetter').map((a) => ({ type: a.type, params: a.params }));
      expect(effects).toEqual(
        attempt === 1
          ? [{ type: 'retry', params: { delayMs: RETRY.initialIntervalMs, nextAttempt: 2, history, checkpoint: undefined } }]
          : [
              {
                type: 'deadLetter',
                params: {
                  reason: 'attempts_exhausted',
                  error: expect.objectContaining({ name: 'WorkerLost', reason: 'worker_lost' }),
                  history,
                },
              },
            ],
      );
    }
  });

  it('judges WORKER_LOST like a retryable failure: jittered policy delay, deadline_exceeded, checkpoint kept, unlimited attempts', () => {
    const createdAtMs = 1_700_000_000_000;
    const lost = (input: Parameters<typeof initialTransition<typeof jobMachine>>[1], now: number, random: number) => {
      const [pending] = initialTransition(jobMachine, input);
      const [next, actions] = transition(jobMachine, pending, { type: 'WORKER_LOST', now, random });
      return {
        state: next.value,
        actions: actions
          .filter((a) => a.type === 'retry' || a.type === 'deadLetter')
          .map((a) => ({ type: a.type, params: a.params as Record<string, unknown> })),
      };
    };
    // Full jitter over min(1000 × 2^(3-1), 3000) = 3000 with random 0.5: 1500 ms after attempt 3 of 5.
    const jittered = resolveRetryPolicy({
      initialIntervalMs: 1000,
      backoffCoefficient: 2,
      maximumIntervalMs: 3000,
      maximumAttempts: 5,
      jitter: 'full',
    });
    const retried = lost({ attempt: 3, createdAtMs, policy: jittered, checkpoint: { page: 7 } }, createdAtMs, 0.5);
    expect(retried.state).toBe('backoff');
    expect(retried.actions).toHaveLength(1);
    expect(retried.actions[0]).toMatchObject({ type: 'retry', params: { delayMs: 1500, nextAttempt: 4, checkpoint: { page: 7 } } });
    // initialIntervalMs 0: re-sent at once.
    const immediate = lost(
      { attempt: 1, createdAtMs, policy: resolveRetryPolicy({ initialIntervalMs: 0, maximumAttempts: 2 }) },
      createdAtMs,
      0.9,
    );
    expect(immediate.actions).toMatchObject([{ type: 'retry', params: { delayMs: 0, nextAttempt: 2 } }]);
    // maximumAttempts 0 is unlimited: a lost attempt 50 is still retried.
    const unlimited = lost({ attempt: 50, createdAtMs, policy: resolveRetryPolicy({ ...RETRY, maximumAttempts: 0 }) }, createdAtMs, 0);
    expect(unlimited.actions).toMatchObject([{ type: 'retry', params: { delayMs: RETRY.maximumIntervalMs, nextAttempt: 51 } }]);
    // The retry would land past the deadline: dead-lettered deadline_exceeded, with the WorkerLost error.
    const late = lost({ attempt: 1, createdAtMs, policy, deadlineMs: 1000 }, createdAtMs, 0);
    expect(late.state).toBe('dead');
    expect(late.actions).toMatchObject([
      {
        type: 'deadLetter',
        params: { reason: 'deadline_exceeded', error: { name: 'WorkerLost' }, history: [{ kind: 'worker_lost', attempt: 1 }] },
      },
    ]);
  });
});

describe.each([1, 2, 3, 4])('a job’s whole life through the real runtime, maximumAttempts %i', (maximumAttempts) => {
  const paths = lifePaths(maximumAttempts);

  it('enumerates every outcome path (simulator agrees with the oracle on the end of each)', () => {
    // 2 + 3 + 1 at maximumAttempts 1; each extra attempt triples the failing prefixes.
    const expected = { 1: 6, 2: 18, 3: 54, 4: 162 }[maximumAttempts];
    expect(paths).toHaveLength(expected!);
    for (const { outcomes, life } of paths) {
      const want = oracle(outcomes, maximumAttempts);
      expect(life.status, outcomes.join(' → ')).toBe(want.final);
      expect(life.attemptsRun).toEqual(want.handlerAttempts);
      // One settling receive per outcome; after a lost attempt it is the message's second receive.
      expect(life.effects.map((e) => e.receiveCount)).toEqual(want.receiveCounts);
      expect(Math.max(0, ...life.attemptsRun)).toBeLessThanOrEqual(maximumAttempts);
    }
  });

  it.each(paths.map((p) => [p.outcomes.join(' → '), p.outcomes] as const))('%s', async (_name, outcomes) => {
    const want = oracle(outcomes, maximumAttempts);
    const got = await runPath(outcomes, maximumAttempts);

    expect(got.requests).toEqual(want.requests);
    expect(got.handlerAttempts).toEqual(want.handlerAttempts);
    expect(got.receiveCounts).toEqual(want.receiveCounts);
    expect(Math.max(0, ...got.handlerAttempts)).toBeLessThanOrEqual(maximumAttempts);
    expect({ succeeded: got.succeeded, dead: got.dead }).toEqual(
      want.final === 'succeeded' ? { succeeded: 1, dead: 0 } : { succeeded: 0, dead: 1 },
    );
    expect(got.mainDepth).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(got.dlqCount).toBe(want.final === 'dead' ? 1 : 0);

    // Lease: a handler that runs until its timeout keeps its message with ChangeMessageVisibility.
    const timeouts = outcomes.filter((o, i) => o === 'timeout' && want.handlerAttempts.includes(i + 1)).length;
    if (timeouts === 0) expect(got.leaseExtensions).toEqual([]);
    else {
      expect(got.leaseExtensions.length).toBeGreaterThanOrEqual(2 * timeouts);
      expect(new Set(got.leaseExtensions)).toEqual(new Set([VISIBILITY_SECONDS]));
    }
  });
});
