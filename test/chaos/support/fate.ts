/**
 * What happens to each chaos job, decided from a seed and the job id (and the attempt number for
 * retryable failures), so the worker processes and the test agree without talking to each other.
 */
import { createHash } from 'node:crypto';

export const CHAOS_POLICY = { initialIntervalMs: 100, backoffCoefficient: 2, maximumAttempts: 4, jitter: 'full' } as const;
export const RETRYABLE_RATE = 0.2;
export const NON_RETRYABLE_RATE = 0.01;

/** A number in [0, 1) from the parts. */
export function unit(...parts: Array<string | number>): number {
  return createHash('sha256').update(parts.join(':')).digest().readUInt32BE(0) / 2 ** 32;
}

export function isNonRetryable(seed: string, jobId: string): boolean {
  return unit(seed, jobId, 'non-retryable') < NON_RETRYABLE_RATE;
}

export function failsAttempt(seed: string, jobId: string, attempt: number): boolean {
  return unit(seed, jobId, 'attempt', attempt) < RETRYABLE_RATE;
}

/** Handler run time in ms (2–20), so kills and cuts find handlers in flight. */
export function handlerMs(seed: string, jobId: string, attempt: number): number {
  return 2 + Math.floor(unit(seed, jobId, 'duration', attempt) * 18);
}

/** How the job ends and after how many executions when nothing goes wrong. */
export function faultFreeFate(
  seed: string,
  jobId: string,
  maximumAttempts: number = CHAOS_POLICY.maximumAttempts,
): { outcome: 'succeeded' | 'non_retryable' | 'attempts_exhausted'; executions: number } {
  if (isNonRetryable(seed, jobId)) return { outcome: 'non_retryable', executions: 1 };
  for (let attempt = 1; attempt <= maximumAttempts; attempt++) {
    if (!failsAttempt(seed, jobId, attempt)) return { outcome: 'succeeded', executions: attempt };
  }
  return { outcome: 'attempts_exhausted', executions: maximumAttempts };
}

/** What a DLQ entry says of how its job ended (test/chaos/support/kill-run.ts, DeadEntry). */
export interface DeadOutcome {
  reason: string;
  historyLength: number;
  /** History entries of kind worker_lost. */
  lost: number;
}

/**
 * Whether a job's DLQ entries are an outcome the runtime (without a store) may leave under kills and
 * cuts. A non-retryable job dies `non_retryable`; a retryable one `attempts_exhausted` after exactly
 * `maximumAttempts` attempts, or more when a duplicated message carried one more lost receipt.
 *
 * Either may also die `attempts_exhausted` with **every** attempt lost. Without a store, each
 * redelivery of a message is charged as a lost attempt (docs/design.md, "A redelivered message is one
 * lost attempt"): the worker died, or the receive was swallowed by a cut. A job whose deliveries were
 * all cut short never ended its handler's run on its own terms. A CI run saw this for a non-retryable
 * job (attempt 4, 4 history entries, all worker_lost), and the older rule called it a problem.
 */
export function deadOutcomeExplained(
  entries: readonly DeadOutcome[],
  nonRetryable: boolean,
  duplicated: boolean,
  maximumAttempts: number = CHAOS_POLICY.maximumAttempts,
): boolean {
  const attemptsSpent = (d: DeadOutcome): boolean =>
    d.reason === 'attempts_exhausted' && (duplicated ? d.historyLength >= maximumAttempts : d.historyLength === maximumAttempts);
  return entries.every((d) =>
    nonRetryable ? d.reason === 'non_retryable' || (attemptsSpent(d) && d.lost === d.historyLength) : attemptsSpent(d),
  );
}

/** A small seeded PRNG (mulberry32) for the supervisor's choices. */
export function prng(seed: string): () => number {
  let a = Math.floor(unit(seed, 'prng') * 2 ** 32);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
