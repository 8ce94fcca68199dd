import { z } from 'zod';
import { backoffDelay, type Jitter } from '../shared/backoff.js';
import { checkOption, type Rule } from '../shared/check-option.js';

export type { Jitter } from '../shared/backoff.js';

/** Temporal-shaped retry policy. All fields optional; see {@link resolveRetryPolicy}. */
export interface RetryPolicy {
  /** @defaultValue 1000 */
  initialIntervalMs?: number;
  /** @defaultValue 2 */
  backoffCoefficient?: number;
  /** @defaultValue 100 × initialIntervalMs */
  maximumIntervalMs?: number;
  /** The first attempt and the retries: 4 means 1 + 3 retries. 0 means unlimited. @defaultValue 4 */
  maximumAttempts?: number;
  /** @defaultValue 'full' */
  jitter?: Jitter;
  /** Error `name`s that go straight to the dead-letter queue. @defaultValue [] */
  nonRetryableErrors?: readonly string[];
}

export type ResolvedRetryPolicy = Required<RetryPolicy>;

export const DEFAULT_RETRY_POLICY = {
  initialIntervalMs: 1000,
  backoffCoefficient: 2,
  maximumAttempts: 4,
  jitter: 'full',
  nonRetryableErrors: [],
} as const satisfies Omit<ResolvedRetryPolicy, 'maximumIntervalMs'>;

/** Fills defaults and checks ranges; a bad field throws a `ConfigError` naming `retry.<field>`. */
export function resolveRetryPolicy(policy: RetryPolicy = {}): ResolvedRetryPolicy {
  const initialIntervalMs = policy.initialIntervalMs ?? DEFAULT_RETRY_POLICY.initialIntervalMs;
  const resolved: ResolvedRetryPolicy = {
    initialIntervalMs,
    backoffCoefficient: policy.backoffCoefficient ?? DEFAULT_RETRY_POLICY.backoffCoefficient,
    maximumIntervalMs: policy.maximumIntervalMs ?? 100 * initialIntervalMs,
    maximumAttempts: policy.maximumAttempts ?? DEFAULT_RETRY_POLICY.maximumAttempts,
    jitter: policy.jitter ?? DEFAULT_RETRY_POLICY.jitter,
    nonRetryableErrors: [...(policy.nonRetryableErrors ?? DEFAULT_RETRY_POLICY.nonRetryableErrors)],
  };
  const check = <T>(field: keyof RetryPolicy, rule: Rule<T>): void => void checkOption(`retry.${field}`, resolved[field], rule);
  check('initialIntervalMs', { schema: z.number().min(0), expected: 'a number ≥ 0' });
  check('backoffCoefficient', { schema: z.number().min(1), expected: 'a number ≥ 1' });
  check('maximumIntervalMs', {
    schema: z.number().min(resolved.initialIntervalMs),
    expected: `a number ≥ initialIntervalMs (${resolved.initialIntervalMs})`,
  });
  check('maximumAttempts', { schema: z.number().int().min(0), expected: 'an integer ≥ 0 (0 = unlimited)' });
  check('jitter', { schema: z.enum(['full', 'equal', 'none']), expected: "'full', 'equal' or 'none'" });
  return resolved;
}

/**
 * The delay before attempt `attempt + 1`, after attempt `attempt` (1-based) failed.
 * Exponential: `initial × coefficient^(attempt-1)`, capped at `maximumIntervalMs`, then jittered:
 * `full` → uniform in [0, d], `equal` → uniform in [d/2, d], `none` → d ({@link backoffDelay}), rounded.
 * Pure: `random` returns [0, 1).
 */
export function computeDelay(attempt: number, policy: ResolvedRetryPolicy, random: () => number): number {
  const backoff = {
    baseMs: policy.initialIntervalMs,
    factor: policy.backoffCoefficient,
    capMs: policy.maximumIntervalMs,
    jitter: policy.jitter,
  };
  return Math.round(backoffDelay(attempt, backoff, random));
}
