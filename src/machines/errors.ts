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

export interface RateLimitedErrorOptions {
  /** How long the key (or, without one, this job) waits before anything of it starts again; > 0. */
  retryAfterMs: number;
  /**
   * The key to throttle on every worker. @defaultValue the job's `rateLimit` key, else its
   * `concurrency` key, else none (only this job waits)
   */
  key?: string;
  cause?: unknown;
  message?: string;
}

/**
 * The remote said "too many" (HTTP 429, 503 with Retry-After): with a job store, no job of the key
 * starts on any worker for `retryAfterMs`, and this job is tried again after it without counting an
 * attempt, up to the job's `maximumThrottles` (then it counts as a retryable failure). Without a store
 * it is a retryable failure with `nextRetryDelayMs = retryAfterMs` (docs/keys.md).
 */
export class RateLimitedError extends BrandedError {
  static override readonly brand: string = 'RateLimitedError';
  override readonly name: string = 'RateLimitedError';
  readonly retryAfterMs: number;
  readonly key: string | undefined;

  constructor(options: RateLimitedErrorOptions) {
    if (!Number.isFinite(options?.retryAfterMs) || options.retryAfterMs <= 0) {
      throw new TypeError(`RateLimitedError: retryAfterMs: expected a number > 0, got ${String(options?.retryAfterMs)}`);
    }
    if (options.key !== undefined && (typeof options.key !== 'string' || options.key.length === 0)) {
      throw new TypeError(`RateLimitedError: key: expected a non-empty string, got ${JSON.stringify(options.key)}`);
    }
    super(
      options.message ?? `rate limited: retry after ${Math.round(options.retryAfterMs)} ms${options.key ? ` (key ${options.key})` : ''}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.retryAfterMs = Math.ceil(options.retryAfterMs);
    this.key = options.key;
  }
}
