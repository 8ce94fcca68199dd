import { describe, expect, it } from 'vitest';
import { NonRetryableError, RetryableError } from '../../src/machines/errors.js';
import { ConfigError, InvalidJobError, TransportError } from '../../src/shared/errors.js';
import { AttemptTimeoutError, CheckpointSavedError } from '../../src/runtime/job-error.js';

describe('branded errors (one brand helper)', () => {
  it('recognises its own instances and no others', () => {
    const errors = [
      new RetryableError('r'),
      new NonRetryableError('n'),
      new ConfigError('X', 'bad'),
      new TransportError('t', { code: 'c', retryable: true }),
      new InvalidJobError('invalid_payload', 'payload', 'p'),
      new AttemptTimeoutError(5),
      new CheckpointSavedError(),
    ];
    const classes = [
      RetryableError,
      NonRetryableError,
      ConfigError,
      TransportError,
      InvalidJobError,
      AttemptTimeoutError,
      CheckpointSavedError,
    ];
    for (const [i, error] of errors.entries()) {
      expect(classes.map((c) => c.is(error))).toEqual(classes.map((_, j) => j === i));
    }
    expect(RetryableError.is(new Error('plain'))).toBe(false);
    expect(RetryableError.is(undefined)).toBe(false);
    expect(RetryableError.is('RetryableError')).toBe(false);
  });

  it('recognises an instance from another copy of the package by its Symbol.for brand', () => {
    const fromOtherCopy = Object.assign(new Error('x'), { [Symbol.for('calsync-jobs.NonRetryableError')]: true });
    expect(NonRetryableError.is(fromOtherCopy)).toBe(true);
    expect(RetryableError.is(fromOtherCopy)).toBe(false);
  });

  it("gives a user's subclass its parent's brand", () => {
    class QuotaError extends RetryableError {}
    expect(RetryableError.is(new QuotaError('over quota'))).toBe(true);
    expect(NonRetryableError.is(new QuotaError('over quota'))).toBe(false);
  });
});
