/**
 * One run of a handler, to its outcome: it ends when the handler settles, when the attempt's time
 * limit passes (the signal is aborted with an {@link AttemptTimeoutError}: a retryable failure, even
 * if the handler goes on in the background, as with Temporal's start-to-close timeout), or when the
 * job is released on a forced stop. The time limit is `attemptTimeoutMs`, kept inside SQS's 12-hour
 * visibility cap ({@link attemptTimeoutMs}).
 */
import type { Clock } from '../shared/clock.js';
import type { AttemptAbort } from './job-context.js';
import { AttemptTimeoutError } from './job-error.js';
import { maxAttemptMs } from './lease.js';

export type HandlerOutcome = { kind: 'ok' } | { kind: 'error'; error: unknown } | { kind: 'released' };

/**
 * The attempt's time limit: `attemptTimeoutMs`, but never past SQS's 12-hour cap on the message's
 * visibility (less one visibility period for the settle), counted from the receive.
 */
export function attemptTimeoutMs(
  definitionTimeoutMs: number,
  visibilityTimeoutSeconds: number,
  /** When the message's visibility timeout started (epoch ms). */
  receivedAt: number,
  now: number,
): number {
  return Math.max(0, Math.min(definitionTimeoutMs, maxAttemptMs(visibilityTimeoutSeconds) - (now - receivedAt)));
}

export interface HandlerRun {
  /** Starts the handler (inside the attempt's trace context); called once, synchronously. */
  start(): Promise<void>;
  clock: Clock;
  timeoutMs: number;
  /** Aborted with the timeout error when the time limit passes. */
  abort: AttemptAbort;
  /** Hands over what ends the run as `released` (a forced stop). */
  onRelease(release: () => void): void;
}

/** Runs the handler until it settles, times out or is released. */
export async function runHandler({ start, clock, timeoutMs, abort, onRelease }: HandlerRun): Promise<HandlerOutcome> {
  let timer: unknown;
  const outcome = await new Promise<HandlerOutcome>((resolve) => {
    onRelease(() => resolve({ kind: 'released' }));
    timer = clock.setTimeout(() => {
      const error = new AttemptTimeoutError(timeoutMs);
      abort.abort(error);
      resolve({ kind: 'error', error });
    }, timeoutMs);
    start().then(
      () => resolve({ kind: 'ok' }),
      (error: unknown) => resolve({ kind: 'error', error }),
    );
  });
  clock.clearTimeout(timer);
  return outcome;
}
