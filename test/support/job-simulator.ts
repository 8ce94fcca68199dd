/**
 * A pure simulator of one job's whole life across SQS messages, built on the REAL job machine: each
 * delivery restores the machine from the (simulated) envelope with `initialTransition`, feeds it the
 * events the runtime would (START or INVALID, then the handler's outcome; or, for a message received
 * again unsettled, exactly one WORKER_LOST and nothing else), and a `retry` action becomes the next
 * envelope. No queue, no clock, no runtime.
 *
 * Used by the model test (as the traversal logic for `xstate/graph`) and by the property tests.
 */
import { fromTransition, initialTransition, transition, type SnapshotFrom } from 'xstate';
import {
  createJobMachine,
  type DeadLetterParams,
  type DeadReason,
  type JobMachineEvent,
  type RetryParams,
} from '../../src/machines/job-machine.js';
import type { ResolvedRetryPolicy } from '../../src/machines/retry-policy.js';
import type { HistoryEntry } from '../../src/queue/envelope.js';

/**
 * What happened to one attempt. `lost`: the worker holding the message died before settling it; the
 * next receive of that message (receive count 2) settles it without running the handler.
 */
export type Outcome =
  | { kind: 'success' }
  | { kind: 'retryable'; random?: number; nextRetryDelayMs?: number }
  | { kind: 'nonRetryable' }
  | { kind: 'timeout'; random?: number }
  | { kind: 'invalid' }
  | { kind: 'lost'; random?: number };

export type OutcomeKind = Outcome['kind'];

/**
 * An SQS-visible consequence of a delivery, from the machine's actions. `receiveCount`: of the receive
 * that produced it (2 for the receive after a lost one, 1 otherwise).
 */
export type Effect =
  | { type: 'ack'; attempt: number; receiveCount: number }
  | { type: 'retry'; attempt: number; receiveCount: number; delayMs: number; nextAttempt: number; history: HistoryEntry[] }
  | {
      type: 'deadLetter';
      attempt: number;
      receiveCount: number;
      reason: DeadReason;
      error: DeadLetterParams['error'];
      history: HistoryEntry[];
    };

export interface JobLife {
  status: 'active' | 'succeeded' | 'dead';
  /** `attempt` of the envelope now in the queue. */
  envelopeAttempt: number;
  /** `history` of the envelope now in the queue. */
  history: HistoryEntry[];
  /** Attempts whose handler ran to an outcome in a live worker (lost attempts are not among them), in order. */
  attemptsRun: number[];
  effects: Effect[];
  outcomes: OutcomeKind[];
}

export interface SimulatorConfig {
  policy: ResolvedRetryPolicy;
  createdAtMs?: number;
  deadlineMs?: number;
  /** `now` of the n-th event fed; @defaultValue createdAtMs + n seconds */
  now?: (n: number) => number;
}

const machine = createJobMachine('sim');
type Snapshot = SnapshotFrom<typeof machine>;

export function initialLife(): JobLife {
  return { status: 'active', envelopeAttempt: 1, history: [], attemptsRun: [], effects: [], outcomes: [] };
}

/** The outcomes that can happen next (INVALID only on the very first delivery: a payload never changes). */
export function possibleOutcomes(life: JobLife): OutcomeKind[] {
  if (life.status !== 'active') return [];
  const first = life.outcomes.length === 0;
  return ['success', 'retryable', 'nonRetryable', 'timeout', 'lost', ...(first ? (['invalid'] as const) : [])];
}

/** Feeds one delivery's outcome to the real machine (or chain of machines) and returns the new life. */
export function step(life: JobLife, outcome: Outcome, config: SimulatorConfig): JobLife {
  if (life.status !== 'active') throw new Error(`step: the job is already ${life.status}`);
  const createdAtMs = config.createdAtMs ?? 1_700_000_000_000;
  let n = life.outcomes.length * 10;
  const now = (): number => (config.now ? config.now(n++) : createdAtMs + 1000 * n++);
  let [snapshot] = initialTransition(machine, {
    attempt: life.envelopeAttempt,
    history: life.history,
    createdAtMs,
    policy: config.policy,
    deadlineMs: config.deadlineMs,
  });
  const next: JobLife = {
    ...life,
    outcomes: [...life.outcomes, outcome.kind],
    effects: [...life.effects],
    attemptsRun: [...life.attemptsRun],
  };
  let receiveCount = 1;
  const feed = (event: JobMachineEvent): boolean => {
    const [after, actions] = transition(machine, snapshot, event);
    snapshot = after;
    for (const action of actions) record(next, action, snapshot, receiveCount);
    return after.status === 'done';
  };

  if (outcome.kind === 'lost') {
    // This receive dies before it settles the message. The next receive of the same message (receive
    // count 2) feeds exactly one WORKER_LOST, which settles it: a retry (the next attempt, re-sent) or
    // the DLQ. Nothing else happens on that receive, so it is simulated here, in the same step.
    receiveCount = 2;
    feed({ type: 'WORKER_LOST', now: now(), random: outcome.random ?? 0 });
    return finish(next, snapshot);
  }
  if (outcome.kind === 'invalid') {
    feed({ type: 'INVALID', message: 'payload.x: expected string, received undefined' });
    return finish(next, snapshot);
  }
  if (feed({ type: 'START', now: now() })) return finish(next, snapshot);
  next.attemptsRun.push(snapshot.context.attempt);
  switch (outcome.kind) {
    case 'success':
      feed({ type: 'SUCCEEDED', now: now() });
      break;
    case 'retryable':
      feed({
        type: 'FAILED',
        now: now(),
        durationMs: 5,
        error: { name: 'RetryableError', message: 'try again' },
        retryable: true,
        nextRetryDelayMs: outcome.nextRetryDelayMs,
        random: outcome.random ?? 0,
      });
      break;
    case 'timeout':
      feed({
        type: 'FAILED',
        now: now(),
        durationMs: 5,
        error: { name: 'AttemptTimeout', message: 'too slow' },
        retryable: true,
        timedOut: true,
        random: outcome.random ?? 0,
      });
      break;
    case 'nonRetryable':
      feed({
        type: 'FAILED',
        now: now(),
        durationMs: 5,
        error: { name: 'NonRetryableError', message: 'never' },
        retryable: false,
        random: 0,
      });
      break;
  }
  return finish(next, snapshot);
}

function record(life: JobLife, action: { type: string; params?: unknown }, snapshot: Snapshot, receiveCount: number): void {
  const attempt = snapshot.context.attempt;
  if (action.type === 'ack') life.effects.push({ type: 'ack', attempt, receiveCount });
  if (action.type === 'retry') {
    const p = action.params as RetryParams;
    life.effects.push({ type: 'retry', attempt, receiveCount, delayMs: p.delayMs, nextAttempt: p.nextAttempt, history: p.history });
  }
  if (action.type === 'deadLetter') {
    const p = action.params as DeadLetterParams;
    life.effects.push({ type: 'deadLetter', attempt, receiveCount, reason: p.reason, error: p.error, history: p.history });
  }
}

function finish(life: JobLife, snapshot: Snapshot): JobLife {
  const last = life.effects.at(-1);
  // In a final state the machine's history holds every failed attempt, lost ones included.
  if (snapshot.value === 'succeeded') return { ...life, status: 'succeeded', history: snapshot.context.history };
  if (snapshot.value === 'dead') return { ...life, status: 'dead', history: snapshot.context.history };
  if (snapshot.value === 'backoff' && last?.type === 'retry') {
    return { ...life, envelopeAttempt: last.nextAttempt, history: last.history };
  }
  throw new Error(`simulator: unexpected machine state ${JSON.stringify(snapshot.value)} after ${life.outcomes.join(', ')}`);
}

/** Runs a whole outcome list (stops at the first final state); returns the life and the outcomes used. */
export function simulate(outcomes: readonly Outcome[], config: SimulatorConfig): JobLife {
  let life = initialLife();
  for (const outcome of outcomes) {
    if (life.status !== 'active') break;
    if (outcome.kind === 'invalid' && life.outcomes.length > 0) continue;
    life = step(life, outcome, config);
  }
  return life;
}

export const OUTCOME_EVENTS: Record<OutcomeKind, { type: OutcomeKind }> = {
  success: { type: 'success' },
  retryable: { type: 'retryable' },
  nonRetryable: { type: 'nonRetryable' },
  timeout: { type: 'timeout' },
  invalid: { type: 'invalid' },
  lost: { type: 'lost' },
};

/** The simulator as actor logic, so `xstate/graph` can traverse a job's whole life. */
export function jobLifeLogic(config: SimulatorConfig) {
  return fromTransition(
    (life: JobLife, event: { type: OutcomeKind }) => (life.status === 'active' ? step(life, { kind: event.type }, config) : life),
    initialLife(),
  );
}
