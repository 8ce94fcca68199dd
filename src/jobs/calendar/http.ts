/**
 * The one door every CalDAV request goes through: adds Basic auth and the job's AbortSignal, and turns
 * transport failures into errors that steer retries: `RateLimitedError` for 429 or 503 with a
 * `Retry-After` (the account's CalDAV key waits on every worker, docs/keys.md), `RetryableError` for
 * other 429s and 5xx and network errors. tsdav gets this function as its `fetch`.
 */
import { NonRetryableError, RateLimitedError, RetryableError } from '../../machines/errors.js';
import type { CalDavAccount } from './accounts.js';

export type Fetch = typeof fetch;

export interface DavFetchOptions {
  account: CalDavAccount;
  signal: AbortSignal;
  /** @defaultValue globalThis.fetch */
  fetch?: Fetch;
  /** Epoch milliseconds, for `Retry-After` dates. @defaultValue Date.now */
  now?: () => number;
}

/**
 * Milliseconds a `Retry-After` value asks for: delta-seconds or an HTTP-date (past dates give 0).
 * `undefined` when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // HTTP-dates start with the day name (IMF-fixdate, RFC 850, asctime); Date.parse alone takes "-5" as a year.
  if (!/^[A-Za-z]{3}/.test(text)) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/** A 4xx that no retry fixes: `NonRetryableError` with reason `http_<status>`. */
export function nonRetryableHttp(status: number, what: string): NonRetryableError {
  return new NonRetryableError(`${what}: HTTP ${status}`, { reason: `http_${status}` });
}

/** The payload's calendar does not exist on the server: `NonRetryableError` with reason `calendar_not_found`. */
export function calendarNotFound(payload: { accountId: string; calendar: string }): NonRetryableError {
  return new NonRetryableError(
    `calendar ${JSON.stringify(payload.calendar)} of account ${JSON.stringify(payload.accountId)} does not exist`,
    {
      reason: 'calendar_not_found',
    },
  );
}

/** The rate key of an account's CalDAV server: `calendar.write`'s rate limit, and what a 429/503 throttles. */
export function caldavRateKey(accountId: string): string {
  return `caldav:${accountId}`;
}

/** Wraps `fetch` for one account and one attempt. */
export function createDavFetch(options: DavFetchOptions): Fetch {
  const baseFetch = options.fetch ?? globalThis.fetch;
  const now = options.now ?? Date.now;
  const authorization = `Basic ${Buffer.from(`${options.account.username}:${options.account.password}`).toString('base64')}`;
  const davFetch = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    options.signal.throwIfAborted();
    const headers = new Headers(init.headers);
    headers.set('authorization', authorization);
    const method = init.method ?? 'GET';
    const where = `${method} ${String(input instanceof Request ? input.url : input)}`;
    let response: Response;
    try {
      response = await baseFetch(input, { ...init, headers, signal: options.signal });
    } catch (error) {
      if (options.signal.aborted) throw options.signal.reason;
      throw new RetryableError(`${where}: ${(error as Error).message}`, { reason: 'network', cause: error });
    }
    if (response.status === 429 || response.status >= 500) {
      await response.body?.cancel().catch(() => undefined);
      const delay = parseRetryAfter(response.headers.get('retry-after'), now());
      // The server asks the account to slow down: with a job store, no job of this account's CalDAV
      // key starts on any worker before then, and no attempt is counted (docs/keys.md).
      if ((response.status === 429 || response.status === 503) && delay !== undefined && delay > 0) {
        throw new RateLimitedError({
          retryAfterMs: delay,
          key: caldavRateKey(options.account.id),
          message: `${where}: HTTP ${response.status}, Retry-After ${Math.ceil(delay / 1000)} s`,
        });
      }
      throw new RetryableError(`${where}: HTTP ${response.status}`, {
        reason: `http_${response.status}`,
        ...(delay === undefined ? {} : { nextRetryDelayMs: delay }),
      });
    }
    return response;
  };
  return davFetch as Fetch;
}
