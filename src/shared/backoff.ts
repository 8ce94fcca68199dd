/**
 * The one backoff formula: every wait before a retry (the job's retry policy, the send and delete
 * batchers, the receive loop, the lease's extensions) is computed here, each caller with its own
 * numbers. Pure: chance comes in through `random`.
 */
import { systemRandom, type Random } from './clock.js';

/** `full`: uniform in [0, d]; `equal`: uniform in [d/2, d]; `none`: d. */
export type Jitter = 'full' | 'equal' | 'none';

export interface Backoff {
  /** The wait after the first failure. */
  baseMs: number;
  /** Each further failure multiplies the wait by this. @defaultValue 2 */
  factor?: number;
  /** The wait never exceeds this (before jitter). @defaultValue no cap */
  capMs?: number;
  /** @defaultValue 'none' */
  jitter?: Jitter;
}

/**
 * The wait after failure number `failures` (1-based): `baseMs × factor^(failures − 1)`, capped at
 * `capMs`, then jittered. `random` returns [0, 1) and is called only when there is jitter.
 */
export function backoffDelay(failures: number, backoff: Backoff, random: Random = systemRandom): number {
  const exponent = Math.max(0, failures - 1);
  const raw = backoff.baseMs * (backoff.factor ?? 2) ** exponent;
  const capped = Math.min(raw, backoff.capMs ?? Number.POSITIVE_INFINITY);
  switch (backoff.jitter ?? 'none') {
    case 'none':
      return capped;
    case 'equal':
      return capped / 2 + random() * (capped / 2);
    case 'full':
      return random() * capped;
  }
}
