import { BrandedError } from './branded-error.js';

/**
 * A failure talking to the queue. `code` is the SQS error code (`AWS.SimpleQueueService.NonExistentQueue`,
 * `QueueDoesNotExist`, `TooManyEntriesInBatchRequest`, `MessageTooLong`, `RequestThrottled`, ...) or a
 * network code (`ECONNREFUSED`); `retryable` says whether the same call may succeed later.
 */
export class TransportError extends BrandedError {
  static override readonly brand: string = 'TransportError';
  override readonly name = 'TransportError';
  readonly code: string;
  readonly retryable: boolean;

  constructor(message: string, options: { code: string; retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.retryable = options.retryable;
  }
}

/** Turns any thrown value into an `Error` (strings, objects and `undefined` included). */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new Error(value);
  try {
    return new Error(JSON.stringify(value) ?? String(value));
  } catch {
    return new Error(String(value));
  }
}

/** A bad setting. `setting` names it (`CALSYNC_CONCURRENCY`, `concurrency`, `--delay-ms`). */
export class ConfigError extends BrandedError {
  static override readonly brand: string = 'ConfigError';
  override readonly name = 'ConfigError';
  readonly setting: string;

  constructor(setting: string, message: string) {
    super(`${setting}: ${message}`);
    this.setting = setting;
  }
}

/**
 * A job rejected before anything was sent: `field` names what is wrong (`payload.calendarId`, `type`,
 * `delayMs`, `body`), `code` says how (`invalid_payload`, `unknown_type`, `too_large`, `invalid_option`).
 */
export class InvalidJobError extends BrandedError {
  static override readonly brand: string = 'InvalidJobError';
  override readonly name = 'InvalidJobError';
  readonly field: string;
  readonly code: 'invalid_payload' | 'unknown_type' | 'too_large' | 'invalid_option';

  constructor(code: InvalidJobError['code'], field: string, message: string) {
    super(message);
    this.code = code;
    this.field = field;
  }
}
