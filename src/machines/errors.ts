import { BrandedError } from '../shared/branded-error.js';

export interface JobErrorOptions {
  cause?: unknown;
  /** Overrides the retry policy's computed delay for the next attempt (e.g. from `Retry-After`). */
  nextRetryDelayMs?: number;
  /** A short machine-readable reason that ends up in history and on the dead letter. */
  reason?: string;
}

/** A failure worth retrying; the policy decides when. Any unbranded throw is treated the same way. */
export class RetryableError extends BrandedError {
  static override readonly brand: string = 'RetryableError';
  override readonly name: string = 'RetryableError';
  readonly nextRetryDelayMs: number | undefined;
  readonly reason: string | undefined;

  constructor(message: string, options: JobErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.nextRetryDelayMs = options.nextRetryDelayMs;
    this.reason = options.reason;
  }
}

/** A failure that no retry can fix: the job goes to the dead-letter queue at once. */
export class NonRetryableError extends BrandedError {
  static override readonly brand: string = 'NonRetryableError';
  override readonly name: string = 'NonRetryableError';
  readonly reason: string | undefined;

  constructor(message: string, options: Omit<JobErrorOptions, 'nextRetryDelayMs'> = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = options.reason;
  }
}
