import { describe, expect, it } from 'vitest';
import { backoffDelay, type Backoff } from '../../src/shared/backoff.js';

const never = (): number => {
  throw new Error('random drawn without jitter');
};

describe('backoffDelay', () => {
  // Each caller's numbers, and what they give.
  it.each<[string, Backoff, number, () => number, number]>([
    ['settle sends, 1st retry', { baseMs: 200 }, 1, never, 200],
    ['settle sends, 2nd retry', { baseMs: 200 }, 2, never, 400],
    ['settle sends, 3rd retry', { baseMs: 200 }, 3, never, 800],
    ['producer sends: at once', { baseMs: 0 }, 2, never, 0],
    ['deletes, 1st', { baseMs: 50, capMs: 2_000 }, 1, never, 50],
    ['deletes, 6th', { baseMs: 50, capMs: 2_000 }, 6, never, 1_600],
    ['deletes, capped', { baseMs: 50, capMs: 2_000 }, 7, never, 2_000],
    ['lease, 1st', { baseMs: 200, capMs: 12_800 }, 1, never, 200],
    ['lease, capped', { baseMs: 200, capMs: 12_800 }, 9, never, 12_800],
    ['receive, equal jitter low', { baseMs: 200, capMs: 5_000, jitter: 'equal' }, 1, () => 0, 100],
    ['receive, equal jitter mid', { baseMs: 200, capMs: 5_000, jitter: 'equal' }, 3, () => 0.5, 600],
    ['receive, capped then jittered', { baseMs: 200, capMs: 5_000, jitter: 'equal' }, 10, () => 0, 2_500],
    ['full jitter', { baseMs: 1_000, capMs: 100_000, jitter: 'full' }, 3, () => 0.25, 1_000],
    ['another factor', { baseMs: 100, factor: 3 }, 3, never, 900],
    ['failures below 1 count as 1', { baseMs: 100 }, 0, never, 100],
    ['a huge count stays at the cap', { baseMs: 50, capMs: 2_000 }, 5_000, never, 2_000],
  ])('%s', (_what, backoff, failures, random, expected) => {
    expect(backoffDelay(failures, backoff, random)).toBe(expected);
  });

  // The formulas the callers used before this helper, for the same inputs.
  it('gives what each caller computed before', () => {
    for (let failures = 1; failures <= 40; failures++) {
      for (const r of [0, 0.1, 0.5, 0.9, 0.999]) {
        const receive = Math.min(5_000, 100 * 2 ** Math.min(failures, 6)) * (0.5 + r / 2);
        expect(backoffDelay(failures, { baseMs: 200, capMs: 5_000, jitter: 'equal' }, () => r)).toBeCloseTo(receive, 9);
      }
      expect(backoffDelay(failures, { baseMs: 50, capMs: 2_000 })).toBe(Math.min(2_000, 50 * 2 ** (failures - 1)));
      expect(backoffDelay(failures, { baseMs: 200, capMs: 12_800 })).toBe(200 * 2 ** Math.min(failures - 1, 6));
      if (failures <= 3) expect(backoffDelay(failures, { baseMs: 200 })).toBe(100 * 2 ** failures);
    }
  });
});
