const CONFIG = Symbol.for('calsync-jobs.ConfigError');
const TRANSPORT_ERROR = Symbol.for('calsync-jobs.TransportError');

/**
 * A failure talking to the queue. `code` is the SQS error code (`AWS.SimpleQueueService.NonExistentQueue`,
 * `QueueDoesNotExist`, `TooManyEntriesInBatchRequest`, `MessageTooLong`, `RequestThrottled`, ...) or a
 * network code (`ECONNREFUSED`); `retryable` says whether the same call may succeed later.
 */
export class TransportError extends Error {
  readonly [TRANSPORT_ERROR] = true;
  override readonly name = 'TransportError';
  readonly code: string;
  readonly retryable: boolean;

  constructor(message: string, options: { code: string; retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
    this.retryable = options.retryable;
  }

  static is(value: unknown): value is TransportError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[TRANSPORT_ERROR] === true;
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
export class ConfigError extends Error {
  readonly [CONFIG] = true;
  override readonly name = 'ConfigError';
  readonly setting: string;

  constructor(setting: string, message: string) {
    super(`${setting}: ${message}`);
    this.setting = setting;
  }

  static is(value: unknown): value is ConfigError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[CONFIG] === true;
  }
}

const INVALID_JOB = Symbol.for('calsync-jobs.InvalidJobError');

/**
 * A job rejected before anything was sent: `field` names what is wrong (`payload.calendarId`, `type`,
 * `delayMs`, `body`), `code` says how (`invalid_payload`, `unknown_type`, `too_large`, `invalid_option`).
 */
export class InvalidJobError extends Error {
  readonly [INVALID_JOB] = true;
  override readonly name = 'InvalidJobError';
  readonly field: string;
  readonly code: 'invalid_payload' | 'unknown_type' | 'too_large' | 'invalid_option';

  constructor(code: InvalidJobError['code'], field: string, message: string) {
    super(message);
    this.code = code;
    this.field = field;
  }

  static is(value: unknown): value is InvalidJobError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[INVALID_JOB] === true;
  }
}
