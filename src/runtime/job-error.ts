import { NonRetryableError, RateLimitedError, RetryableError } from '../machines/errors.js';
import type { FailedEvent, JobError } from '../machines/job-machine.js';
import { toError } from '../shared/errors.js';
import { BrandedError } from '../shared/branded-error.js';

/** An attempt ran past its `attemptTimeoutMs`: a retryable failure. */
export class AttemptTimeoutError extends BrandedError {
  static override readonly brand: string = 'AttemptTimeoutError';
  override readonly name = 'AttemptTimeout';
  constructor(timeoutMs: number) {
    super(`the attempt ran longer than attemptTimeoutMs (${timeoutMs} ms) and was aborted`);
  }
}

/** The job saved a checkpoint: it continues from there in a new message, so this run must end. */
export class CheckpointSavedError extends BrandedError {
  static override readonly brand: string = 'CheckpointSavedError';
  override readonly name = 'CheckpointSaved';
  constructor() {
    super('the job saved a checkpoint and continues in a new message; this run must stop');
  }
}

/** `saveCheckpoint()` could not send the continuation (the attempt already ended, or the send failed). */
export class CheckpointNotSavedError extends BrandedError {
  static override readonly brand: string = 'CheckpointNotSavedError';
  override readonly name = 'CheckpointNotSaved';
  constructor() {
    super('the checkpoint was not saved: the attempt had already ended, or its lease was lost');
  }
}

/** The worker is shutting down and released the job to another worker. */
export class WorkerStoppingError extends BrandedError {
  static override readonly brand: string = 'WorkerStoppingError';
  override readonly name = 'WorkerStopping';
  constructor() {
    super('the worker is stopping; the job was released to another worker');
  }
}

/** The job was cancelled in the job store (`calsync-jobs jobs cancel`): this attempt ends with no outcome of its own. */
export class JobCancelledError extends BrandedError {
  static override readonly brand: string = 'JobCancelledError';
  override readonly name = 'JobCancelled';
  constructor() {
    super('the job was cancelled; this attempt stops and the job does not run again');
  }
}

/** How a thrown value steers the machine: retryable or not, an override delay, a reason. */
export function classifyFailure(thrown: unknown): Pick<FailedEvent, 'error' | 'retryable' | 'nextRetryDelayMs' | 'timedOut'> {
  const error = toError(thrown);
  const reason = NonRetryableError.is(error) || RetryableError.is(error) ? error.reason : undefined;
  const jobError: JobError = { name: error.name || 'Error', message: error.message || String(error), ...(reason ? { reason } : {}) };
  return {
    error: jobError,
    retryable: !NonRetryableError.is(error),
    // A RateLimitedError judged as a failure (no store, or past maximumThrottles) waits as it asked.
    nextRetryDelayMs: RetryableError.is(error) ? error.nextRetryDelayMs : RateLimitedError.is(error) ? error.retryAfterMs : undefined,
    timedOut: AttemptTimeoutError.is(error),
  };
}
