import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/shared/errors.js';
import { computeDelay, DEFAULT_RETRY_POLICY, resolveRetryPolicy, type Jitter, type RetryPolicy } from '../../src/machines/retry-policy.js';

// initialIntervalMs 1000, coefficient 2, cap 20 s: 1, 2, 4, 8, 16, then 20, 20, 20 seconds before jitter.
const TABLE: Array<[Jitter, number, number[]]> = [
  ['none', 0, [1000, 2000, 4000, 8000, 16000, 20000, 20000, 20000]],
  ['none', 0.5, [1000, 2000, 4000, 8000, 16000, 20000, 20000, 20000]],
  ['none', 0.999, [1000, 2000, 4000, 8000, 16000, 20000, 20000, 20000]],
  ['equal', 0, [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]],
  ['equal', 0.5, [750, 1500, 3000, 6000, 12000, 15000, 15000, 15000]],
  ['equal', 0.999, [1000, 1999, 3998, 7996, 15992, 19990, 19990, 19990]],
  ['full', 0, [0, 0, 0, 0, 0, 0, 0, 0]],
  ['full', 0.5, [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]],
  ['full', 0.999, [999, 1998, 3996, 7992, 15984, 19980, 19980, 19980]],
];

describe('computeDelay', () => {
  it.each(TABLE)('jitter %s, random %d: attempts 1..8', (jitter, random, expected) => {
    const policy = resolveRetryPolicy({ initialIntervalMs: 1000, backoffCoefficient: 2, maximumIntervalMs: 20_000, jitter });
    const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => computeDelay(attempt, policy, () => random));
    expect(delays).toEqual(expected);
  });

  it('never exceeds maximumIntervalMs, even at huge attempts', () => {
    for (const jitter of ['none', 'equal', 'full'] as const) {
      const policy = resolveRetryPolicy({ initialIntervalMs: 250, backoffCoefficient: 3, maximumIntervalMs: 7_000, jitter });
      for (const attempt of [1, 5, 50, 1_000, 10_000]) {
        expect(computeDelay(attempt, policy, () => 0.999_999)).toBeLessThanOrEqual(7_000);
      }
    }
  });

  it('treats attempt 0 and below as the first attempt', () => {
    const policy = resolveRetryPolicy({ initialIntervalMs: 1000, jitter: 'none' });
    expect(computeDelay(0, policy, () => 0)).toBe(1000);
    expect(computeDelay(-3, policy, () => 0)).toBe(1000);
  });

  it('with coefficient 1 is a constant interval', () => {
    const policy = resolveRetryPolicy({ initialIntervalMs: 300, backoffCoefficient: 1, jitter: 'none' });
    expect([1, 2, 3, 9].map((a) => computeDelay(a, policy, () => 0.3))).toEqual([300, 300, 300, 300]);
  });

  it('draws from random only when jitter needs it', () => {
    let draws = 0;
    const random = (): number => {
      draws++;
      return 0.5;
    };
    computeDelay(2, resolveRetryPolicy({ jitter: 'none' }), random);
    expect(draws).toBe(0);
    computeDelay(2, resolveRetryPolicy({ jitter: 'full' }), random);
    computeDelay(2, resolveRetryPolicy({ jitter: 'equal' }), random);
    expect(draws).toBe(2);
  });
});

describe('resolveRetryPolicy', () => {
  it('fills the documented defaults (maximumIntervalMs = 100 × initial)', () => {
    expect(resolveRetryPolicy()).toEqual({ ...DEFAULT_RETRY_POLICY, maximumIntervalMs: 100_000, nonRetryableErrors: [] });
    expect(resolveRetryPolicy({ initialIntervalMs: 50 }).maximumIntervalMs).toBe(5_000);
  });

  it('copies nonRetryableErrors (a caller mutating its array later changes nothing)', () => {
    const names = ['AuthError'];
    const policy = resolveRetryPolicy({ nonRetryableErrors: names });
    names.push('Other');
    expect(policy.nonRetryableErrors).toEqual(['AuthError']);
  });

  it.each<[RetryPolicy, string, RegExp]>([
    [{ initialIntervalMs: -1 }, 'retry.initialIntervalMs', /expected a number ≥ 0, got -1/],
    [{ initialIntervalMs: Number.NaN }, 'retry.initialIntervalMs', /expected a number ≥ 0/],
    [{ backoffCoefficient: 0.5 }, 'retry.backoffCoefficient', /expected a number ≥ 1, got 0.5/],
    [{ backoffCoefficient: Number.POSITIVE_INFINITY }, 'retry.backoffCoefficient', /expected a number ≥ 1/],
    [
      { initialIntervalMs: 1000, maximumIntervalMs: 999 },
      'retry.maximumIntervalMs',
      /expected a number ≥ initialIntervalMs \(1000\), got 999/,
    ],
    [{ maximumAttempts: -1 }, 'retry.maximumAttempts', /expected an integer ≥ 0 \(0 = unlimited\), got -1/],
    [{ maximumAttempts: 2.5 }, 'retry.maximumAttempts', /got 2.5/],
    [{ jitter: 'sometimes' as Jitter }, 'retry.jitter', /expected 'full', 'equal' or 'none', got "sometimes"/],
  ])('rejects %j naming %s', (policy, setting, message) => {
    let thrown: unknown;
    try {
      resolveRetryPolicy(policy);
    } catch (error) {
      thrown = error;
    }
    expect(ConfigError.is(thrown)).toBe(true);
    expect((thrown as ConfigError).setting).toBe(setting);
    expect((thrown as ConfigError).message).toMatch(new RegExp(`^${setting.replace('.', '\\.')}: `));
    expect((thrown as ConfigError).message).toMatch(message);
  });

  it('accepts maximumAttempts 0 (unlimited) and an initial interval of 0', () => {
    expect(resolveRetryPolicy({ maximumAttempts: 0, initialIntervalMs: 0 })).toMatchObject({
      maximumAttempts: 0,
      initialIntervalMs: 0,
      maximumIntervalMs: 0,
    });
  });
});
