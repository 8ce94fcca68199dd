/**
 * The job machine, pure. One definition (`jobMachineSetup`) serves every job type; `createJobMachine`
 * builds an instance per type only so that pictures and inspection carry the type's name. The runtime
 * restores a snapshot from the envelope (`restoreJob`), feeds it events through the stepper
 * (job-stepper.ts: `transition()`'s semantics without its per-call actor) and executes the returned
 * actions against the queue. No timers live here: every wait is an SQS delay; an attempt that runs out
 * of time arrives as FAILED with `timedOut: true`.
 *
 *   pending ──START──▶ running ──SUCCEEDED──▶ succeeded            (ack)
 *      │  └─(early)──▶ deferred                                    (defer: re-send for the rest of the wait)
 *      │                  ├──FAILED──▶ backoff                     (retry: next attempt after a delay)
 *      │                  ├──FAILED──▶ dead                        (deadLetter: non-retryable / exhausted / deadline)
 *      │                  ├──CHECKPOINT──▶ checkpointed            (checkpoint: continue from saved state)
 *      │                  ├──RELEASE──▶ released                   (release: the job back to the queue on shutdown)
 *      │                  └──LEASE_DUE──▶ running                  (extendLease)
 *      │                  ├──THROTTLED──▶ held | backoff | dead    (RateLimitedError: held back, up to maximumThrottles)
 *      ├──INVALID──▶ dead                                          (deadLetter invalid_payload)
 *      ├──HELD──▶ held | dead                                      (holdBack: a key busy or out of starts; dead past the deadline)
 *      └──WORKER_LOST──▶ backoff (retry) | dead                    (the message came back unsettled)
 */
import { setup, assign, type StateMachine } from 'xstate';
import type { HistoryEntry } from '../queue/envelope.js';
import { computeDelay, type ResolvedRetryPolicy } from './retry-policy.js';

export interface JobError {
  name: string;
  message: string;
  reason?: string | undefined;
}

export type DeadReason = 'invalid_payload' | 'non_retryable' | 'attempts_exhausted' | 'deadline_exceeded';

export interface JobMachineInput {
  attempt: number;
  history?: readonly HistoryEntry[] | undefined;
  checkpoint?: unknown;
  createdAtMs: number;
  notBeforeMs?: number | undefined;
  policy: ResolvedRetryPolicy;
  deadlineMs?: number | undefined;
  /** RateLimitedErrors allowed before one counts as a failure. @defaultValue 20 */
  maximumThrottles?: number | undefined;
}

export interface JobMachineContext {
  attempt: number;
  history: HistoryEntry[];
  checkpoint: unknown;
  createdAtMs: number;
  notBeforeMs: number | undefined;
  policy: ResolvedRetryPolicy;
  deadlineMs: number | undefined;
  lastError: JobError | undefined;
  maximumThrottles: number;
}

/** Why a job was held back by its keys (docs/keys.md). */
export type HoldReason = 'concurrency' | 'rate' | 'throttled';

export type JobMachineEvent =
  | { type: 'START'; now: number }
  | { type: 'INVALID'; message: string }
  /** The message came back unsettled: its attempt was lost with its worker. A retryable failure. */
  | { type: 'WORKER_LOST'; now: number; random: number }
  | { type: 'SUCCEEDED'; now: number }
  | {
      type: 'FAILED';
      now: number;
      durationMs: number;
      error: JobError;
      /** False for NonRetryableError. */
      retryable: boolean;
      /** From the error, e.g. Retry-After. */
      nextRetryDelayMs?: number | undefined;
      timedOut?: boolean;
      /** A pre-drawn value in [0, 1) for jitter: the machine itself draws nothing. */
      random: number;
    }
  /** Its key is busy or out of starts: not run now, re-sent after `delayMs`; no attempt is counted. */
  | { type: 'HELD'; now: number; reason: HoldReason; delayMs: number }
  /**
   * The handler threw a RateLimitedError: `throttles` is the job's count including this one. Held back
   * for `retryAfterMs` while within `maximumThrottles` (and the deadline); past it, a retryable failure.
   */
  | {
      type: 'THROTTLED';
      now: number;
      retryAfterMs: number;
      throttles: number;
      key?: string | undefined;
      error: JobError;
      durationMs: number;
      random: number;
    }
  | { type: 'CHECKPOINT'; state: unknown }
  | { type: 'LEASE_DUE' }
  | { type: 'RELEASE' };

export type FailedEvent = Extract<JobMachineEvent, { type: 'FAILED' }>;

/** What a failure leads to. Pure; shared by the guards and the action parameters. */
export type FailureVerdict = { kind: 'retry'; delayMs: number } | { kind: 'dead'; reason: DeadReason };

type ThrottledEvent = Extract<JobMachineEvent, { type: 'THROTTLED' }>;
type FailureLike = FailedEvent | ThrottledEvent | Extract<JobMachineEvent, { type: 'WORKER_LOST' }>;

/** A lost attempt is judged like any retryable failure; so is a throttle past the cap (its wait as the delay). */
function asFailure(event: FailureLike): FailedEvent {
  if (event.type === 'FAILED') return event;
  if (event.type === 'THROTTLED')
    return {
      type: 'FAILED',
      now: event.now,
      durationMs: event.durationMs,
      error: event.error,
      retryable: true,
      nextRetryDelayMs: event.retryAfterMs,
      random: event.random,
    };
  return { type: 'FAILED', now: event.now, durationMs: 0, error: WORKER_LOST_ERROR, retryable: true, random: event.random };
}

/** A hold of `delayMs` from `now` ends past the job's deadline. */
function holdPastDeadline(context: JobMachineContext, now: number, delayMs: number): boolean {
  return context.deadlineMs !== undefined && now + delayMs > context.createdAtMs + context.deadlineMs;
}

function retryParams(context: JobMachineContext, event: FailureLike): RetryParams {
  const verdict = failureVerdict(context, asFailure(event));
  return {
    delayMs: verdict.kind === 'retry' ? verdict.delayMs : 0,
    nextAttempt: context.attempt + 1,
    history: context.history,
    checkpoint: context.checkpoint,
  };
}

function deadLetterParams(context: JobMachineContext, event: FailureLike): DeadLetterParams {
  const failure = asFailure(event);
  const verdict = failureVerdict(context, failure);
  return { reason: verdict.kind === 'dead' ? verdict.reason : 'attempts_exhausted', error: failure.error, history: context.history };
}

export function failureVerdict(context: JobMachineContext, event: FailedEvent): FailureVerdict {
  const { policy } = context;
  if (!event.retryable || policy.nonRetryableErrors.includes(event.error.name)) return { kind: 'dead', reason: 'non_retryable' };
  if (policy.maximumAttempts > 0 && context.attempt >= policy.maximumAttempts) return { kind: 'dead', reason: 'attempts_exhausted' };
  const delayMs = Math.max(0, Math.round(event.nextRetryDelayMs ?? computeDelay(context.attempt, policy, () => event.random)));
  if (context.deadlineMs !== undefined && event.now + delayMs > context.createdAtMs + context.deadlineMs) {
    return { kind: 'dead', reason: 'deadline_exceeded' };
  }
  return { kind: 'retry', delayMs };
}

function failureEntry(context: JobMachineContext, event: FailedEvent): HistoryEntry {
  return {
    attempt: context.attempt,
    at: new Date(event.now).toISOString(),
    durationMs: Math.max(0, Math.round(event.durationMs)),
    kind: event.timedOut ? 'timeout' : 'failed',
    error: trimError(event.error),
  };
}

function trimError(error: JobError): HistoryEntry['error'] {
  return {
    name: error.name.slice(0, 200),
    message: error.message.slice(0, 2000),
    ...(error.reason === undefined ? {} : { reason: error.reason.slice(0, 200) }),
  };
}

const WORKER_LOST_ERROR: JobError = {
  name: 'WorkerLost',
  message: 'the worker holding this attempt stopped before settling it',
  reason: 'worker_lost',
};

const PLACEHOLDER_CONTEXT: JobMachineContext = {
  attempt: 1,
  history: [],
  checkpoint: undefined,
  createdAtMs: 0,
  notBeforeMs: undefined,
  policy: {
    initialIntervalMs: 1000,
    backoffCoefficient: 2,
    maximumIntervalMs: 100_000,
    maximumAttempts: 4,
    jitter: 'full',
    nonRetryableErrors: [],
  },
  deadlineMs: undefined,
  lastError: undefined,
  maximumThrottles: 20,
};

/** The machine's starting context for an envelope (what `initialTransition` would compute). */
export function initialContext(input: JobMachineInput): JobMachineContext {
  return {
    attempt: input.attempt,
    history: [...(input.history ?? [])],
    checkpoint: input.checkpoint,
    createdAtMs: input.createdAtMs,
    notBeforeMs: input.notBeforeMs,
    policy: input.policy,
    deadlineMs: input.deadlineMs,
    lastError: input.history?.at(-1)?.error,
    maximumThrottles: input.maximumThrottles ?? 20,
  };
}

/**
 * Restores the machine for one received message in `pending`. Equivalent to `initialTransition` (the
 * initial state has no entry actions) at a tenth of the cost, which matters once per message.
 */
export function restoreJob(machine: JobMachine, input: JobMachineInput) {
  return machine.resolveState({ value: 'pending', context: initialContext(input) });
}

/** Parameters of the actions the runtime executes (declared on `jobMachineSetup`'s actions; see {@link JobAction}). */
export interface RetryParams {
  delayMs: number;
  nextAttempt: number;
  history: HistoryEntry[];
  checkpoint: unknown;
}
export interface DeferParams {
  delayMs: number;
}
/** Re-send the same envelope after `delayMs`, no attempt counted; `throttle` when a RateLimitedError asked for it. */
export interface HoldBackParams {
  delayMs: number;
  reason: HoldReason;
  throttle?: { key: string | undefined; retryAfterMs: number } | undefined;
}
export interface DeadLetterParams {
  reason: DeadReason;
  error: JobError | undefined;
  history: HistoryEntry[];
}
export interface CheckpointParams {
  state: unknown;
  history: HistoryEntry[];
}

export const jobMachineSetup = setup({
  types: {
    context: {} as JobMachineContext,
    events: {} as JobMachineEvent,
    input: {} as JobMachineInput,
  },
  actions: {
    ack: (_, _params: undefined) => {},
    retry: (_, _params: RetryParams) => {},
    defer: (_, _params: DeferParams) => {},
    holdBack: (_, _params: HoldBackParams) => {},
    deadLetter: (_, _params: DeadLetterParams) => {},
    extendLease: (_, _params: undefined) => {},
    checkpoint: (_, _params: CheckpointParams) => {},
    release: (_, _params: undefined) => {},
  },
  guards: {
    tooEarly: ({ context, event }) => event.type === 'START' && context.notBeforeMs !== undefined && context.notBeforeMs > event.now,
    pastDeadline: ({ context, event }) =>
      event.type === 'START' && context.deadlineMs !== undefined && event.now > context.createdAtMs + context.deadlineMs,
    willRetry: ({ context, event }) =>
      (event.type === 'FAILED' || event.type === 'WORKER_LOST' || event.type === 'THROTTLED') &&
      failureVerdict(context, asFailure(event)).kind === 'retry',
    heldPastDeadline: ({ context, event }) => event.type === 'HELD' && holdPastDeadline(context, event.now, event.delayMs),
    throttleAllowed: ({ context, event }) =>
      event.type === 'THROTTLED' &&
      event.throttles <= context.maximumThrottles &&
      !holdPastDeadline(context, event.now, event.retryAfterMs),
  },
});

/** Builds the machine for one job type (`id` is the type name, so pictures and inspection name it). */
export function createJobMachine(id = 'job') {
  return jobMachineSetup.createMachine({
    id,
    initial: 'pending',
    // XState's transition() builds a throwaway actor that computes an initial snapshot without input:
    // give it a cheap placeholder instead of letting initialContext throw (a stack trace per call).
    context: ({ input }) => (input === undefined ? PLACEHOLDER_CONTEXT : initialContext(input)),
    states: {
      pending: {
        on: {
          INVALID: {
            target: 'dead',
            actions: [
              assign({ lastError: ({ event }) => ({ name: 'InvalidPayload', message: event.message, reason: 'invalid_payload' }) }),
              {
                type: 'deadLetter',
                params: ({ context, event }) => ({
                  reason: 'invalid_payload' as const,
                  error: { name: 'InvalidPayload', message: event.message, reason: 'invalid_payload' },
                  history: context.history,
                }),
              },
            ],
          },
          WORKER_LOST: [
            {
              guard: 'willRetry',
              target: 'backoff',
              actions: [
                assign(({ context, event }) => ({
                  history: [...context.history, lostEntry(context, event.now)],
                  lastError: WORKER_LOST_ERROR,
                })),
                { type: 'retry', params: ({ context, event }) => retryParams(context, event) },
              ],
            },
            {
              target: 'dead',
              actions: [
                assign(({ context, event }) => ({
                  history: [...context.history, lostEntry(context, event.now)],
                  lastError: WORKER_LOST_ERROR,
                })),
                { type: 'deadLetter', params: ({ context, event }) => deadLetterParams(context, event) },
              ],
            },
          ],
          HELD: [
            {
              guard: 'heldPastDeadline',
              target: 'dead',
              actions: {
                type: 'deadLetter',
                params: ({ context }) => ({ reason: 'deadline_exceeded' as const, error: context.lastError, history: context.history }),
              },
            },
            {
              target: 'held',
              actions: { type: 'holdBack', params: ({ event }) => ({ delayMs: event.delayMs, reason: event.reason }) },
            },
          ],
          START: [
            {
              guard: 'pastDeadline',
              target: 'dead',
              actions: {
                type: 'deadLetter',
                params: ({ context }) => ({ reason: 'deadline_exceeded' as const, error: context.lastError, history: context.history }),
              },
            },
            {
              guard: 'tooEarly',
              target: 'deferred',
              actions: {
                type: 'defer',
                params: ({ context, event }) => ({ delayMs: (context.notBeforeMs ?? event.now) - event.now }),
              },
            },
            { target: 'running' },
          ],
        },
      },
      running: {
        on: {
          SUCCEEDED: { target: 'succeeded', actions: 'ack' },
          LEASE_DUE: { actions: 'extendLease' },
          RELEASE: { target: 'released', actions: 'release' },
          CHECKPOINT: {
            target: 'checkpointed',
            actions: [
              assign({ checkpoint: ({ event }) => event.state }),
              { type: 'checkpoint', params: ({ context }) => ({ state: context.checkpoint, history: context.history }) },
            ],
          },
          THROTTLED: [
            {
              guard: 'throttleAllowed',
              target: 'held',
              actions: {
                type: 'holdBack',
                params: ({ event }) => ({
                  delayMs: event.retryAfterMs,
                  reason: 'throttled' as const,
                  throttle: { key: event.key, retryAfterMs: event.retryAfterMs },
                }),
              },
            },
            {
              guard: 'willRetry',
              target: 'backoff',
              actions: [
                assign(({ context, event }) => ({
                  history: [...context.history, failureEntry(context, asFailure(event))],
                  lastError: event.error,
                })),
                { type: 'retry', params: ({ context, event }) => retryParams(context, event) },
              ],
            },
            {
              target: 'dead',
              actions: [
                assign(({ context, event }) => ({
                  history: [...context.history, failureEntry(context, asFailure(event))],
                  lastError: event.error,
                })),
                { type: 'deadLetter', params: ({ context, event }) => deadLetterParams(context, event) },
              ],
            },
          ],
          FAILED: [
            {
              guard: 'willRetry',
              target: 'backoff',
              actions: [
                assign(({ context, event }) => ({ history: [...context.history, failureEntry(context, event)], lastError: event.error })),
                { type: 'retry', params: ({ context, event }) => retryParams(context, event) },
              ],
            },
            {
              target: 'dead',
              actions: [
                assign(({ context, event }) => ({ history: [...context.history, failureEntry(context, event)], lastError: event.error })),
                { type: 'deadLetter', params: ({ context, event }) => deadLetterParams(context, event) },
              ],
            },
          ],
        },
      },
      succeeded: { type: 'final' },
      backoff: { type: 'final' },
      dead: { type: 'final' },
      deferred: { type: 'final' },
      held: { type: 'final' },
      checkpointed: { type: 'final' },
      released: { type: 'final' },
    },
  });
}

/** The machine every job type shares (types differ only by input: policy, deadline, envelope). */
export const jobMachine = createJobMachine();

function lostEntry(context: JobMachineContext, now: number): HistoryEntry {
  return {
    attempt: context.attempt,
    at: new Date(now).toISOString(),
    durationMs: 0,
    kind: 'worker_lost',
    error: trimError(WORKER_LOST_ERROR),
  };
}

export type JobMachine = typeof jobMachine;

/**
 * One action the machine asks the runtime to execute, as `{ type, params }`: a discriminated union
 * derived from the machine's own type (the actions declared in `jobMachineSetup` above, each with its
 * params type), so switching on `type` gives the params that action's definition declares. XState's
 * `transition()` returns actions with `params: unknown`; the stepper (job-stepper.ts) returns these.
 */
export type JobAction =
  JobMachine extends StateMachine<any, any, any, any, infer Action, any, any, any, any, any, any, any, any, any, any> ? Action : never;
