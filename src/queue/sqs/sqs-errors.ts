/**
 * The one place where AWS SDK and network failures become {@link TransportError}s with a stable
 * `code` and a `retryable` verdict. Recognition is by error name / code, never by message text.
 */
import { TransportError, toError } from '../../shared/errors.js';

/** Codes that mean "this queue does not exist"; all are normalized to `QueueDoesNotExist`. */
const QUEUE_MISSING = new Set(['QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue', 'NonExistentQueue']);

const THROTTLING = new Set([
  'RequestThrottled',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'KmsThrottled',
  'SlowDown',
]);

const TRANSIENT = new Set([
  'ServiceUnavailable',
  'InternalError',
  'InternalFailure',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'PurgeQueueInProgress',
]);

const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

interface SdkLikeError {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  errors?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
}

/** Finds a network error code on the error, its `cause` chain or an AggregateError's members. */
function networkCode(error: SdkLikeError, depth = 0): string | undefined {
  if (depth > 4) return undefined;
  if (typeof error.code === 'string' && NETWORK.has(error.code)) return error.code;
  const inner = [...(Array.isArray(error.errors) ? (error.errors as unknown[]) : []), (error as { cause?: unknown }).cause];
  for (const candidate of inner) {
    if (typeof candidate === 'object' && candidate !== null) {
      const found = networkCode(candidate as SdkLikeError, depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}

/** What the failing call was about, for the message: the operation and the queue URL or name. */
export interface ErrorContext {
  operation: string;
  queue?: string;
}

/**
 * Maps any thrown value from an SQS call to a `TransportError`. Throttling, 5xx and network errors
 * are retryable; client errors (missing queue, bad parameter, bad receipt handle) are not.
 */
export function toTransportError(thrown: unknown, context: ErrorContext): TransportError {
  if (TransportError.is(thrown)) return thrown;
  const error = toError(thrown);
  const sdk = error as SdkLikeError;
  const where = context.queue === undefined ? context.operation : `${context.operation} ${context.queue}`;
  const name = typeof sdk.name === 'string' ? sdk.name : 'Error';
  const awsCode = typeof sdk.Code === 'string' ? sdk.Code : undefined;

  if (QUEUE_MISSING.has(name) || (awsCode !== undefined && QUEUE_MISSING.has(awsCode))) {
    const subject = context.queue === undefined ? 'the queue' : `queue ${context.queue}`;
    return new TransportError(`${context.operation}: ${subject} does not exist`, {
      code: 'QueueDoesNotExist',
      retryable: false,
      cause: error,
    });
  }
  const network = networkCode(sdk);
  if (network !== undefined) {
    return new TransportError(`${where}: network error ${network}: ${error.message}`, {
      code: network,
      retryable: true,
      cause: error,
    });
  }
  if (name === 'AbortError') {
    return new TransportError(`${where}: aborted`, { code: 'AbortError', retryable: false, cause: error });
  }
  const status = sdk.$metadata?.httpStatusCode;
  const code = normalizeCode(name !== 'Error' && name !== 'SQSServiceException' ? name : (awsCode ?? 'Unknown'));
  const retryable =
    THROTTLING.has(code) ||
    TRANSIENT.has(code) ||
    sdk.$retryable?.throttling === true ||
    sdk.$fault === 'server' ||
    (status !== undefined && (status >= 500 || status === 429));
  return new TransportError(`${where}: ${code}: ${error.message}`, { code, retryable, cause: error });
}

/** `AWS.SimpleQueueService.QueueNameExists` → `QueueNameExists` (query-compatible codes carry a prefix). */
function normalizeCode(code: string): string {
  const bare = code.startsWith('AWS.SimpleQueueService.') ? code.slice('AWS.SimpleQueueService.'.length) : code;
  return bare === 'QueueAlreadyExists' ? 'QueueNameExists' : bare;
}
