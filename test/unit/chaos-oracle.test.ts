/**
 * The chaos suite's rule for dead jobs (test/chaos/support/fate.ts, deadOutcomeExplained), on the
 * outcomes it has met. Without a store, a redelivery is a lost attempt, so a job whose every attempt
 * was lost dies attempts_exhausted whatever its handler would have said.
 */
import { describe, expect, it } from 'vitest';
import { CHAOS_POLICY, deadOutcomeExplained } from '../chaos/support/fate.js';

const max = CHAOS_POLICY.maximumAttempts;

describe('deadOutcomeExplained', () => {
  it('a non-retryable job dead non_retryable, once or twice (a lost delete)', () => {
    expect(deadOutcomeExplained([{ reason: 'non_retryable', historyLength: 1, lost: 0 }], true, false)).toBe(true);
    expect(
      deadOutcomeExplained(
        [
          { reason: 'non_retryable', historyLength: 1, lost: 0 },
          { reason: 'non_retryable', historyLength: 2, lost: 1 },
        ],
        true,
        true,
      ),
    ).toBe(true);
  });

  it('a non-retryable job whose every attempt was lost: attempts_exhausted (seen in CI: attempt 4, all 4 lost)', () => {
    expect(deadOutcomeExplained([{ reason: 'attempts_exhausted', historyLength: max, lost: max }], true, false)).toBe(true);
  });

  it('a non-retryable job attempts_exhausted with an attempt that was not lost is unexplained', () => {
    expect(deadOutcomeExplained([{ reason: 'attempts_exhausted', historyLength: max, lost: max - 1 }], true, false)).toBe(false);
    expect(deadOutcomeExplained([{ reason: 'attempts_exhausted', historyLength: max - 1, lost: max - 1 }], true, false)).toBe(false);
  });

  it('a retryable job: attempts_exhausted after exactly maximumAttempts, more only with a duplicated message', () => {
    expect(deadOutcomeExplained([{ reason: 'attempts_exhausted', historyLength: max, lost: 1 }], false, false)).toBe(true);
    expect(deadOutcomeExplained([{ reason: 'attempts_exhausted', historyLength: max + 1, lost: 2 }], false, false)).toBe(false);
    expect(deadOutcomeExplained([{ reason: 'attempts_exhausted', historyLength: max + 1, lost: 2 }], false, true)).toBe(true);
    expect(deadOutcomeExplained([{ reason: 'non_retryable', historyLength: 1, lost: 0 }], false, false)).toBe(false);
  });
});
