/**
 * `calendar.write`: creates, updates or deletes one event on a CalDAV server. Safe to run twice: an
 * upsert whose object already holds the same event does nothing, a delete of a missing object is done.
 * Creates use `If-None-Match: *`, updates `If-Match: <etag>`; a 412 (someone else wrote first) re-reads.
 * A delete needs only the event's uid.
 */
import { createCalendarObject, deleteCalendarObject, updateCalendarObject } from 'tsdav';
import { defineJob, type JobContext, type JobDefinition } from '../../machines/define-job.js';
import { caldavRateKey } from './http.js';
import { DEFAULT_CALDAV_RATE } from './settings.js';
import { RetryableError } from '../../machines/errors.js';
import type { AccountResolver, CalDavAccount } from './accounts.js';
import { calendarMultiGet, calendarUrl, eventUrl } from './caldav.js';
import { calendarNotFound, createDavFetch, nonRetryableHttp, type Fetch } from './http.js';
import { buildEventIcs, parseEventIcs, sameEvent } from './ical.js';
import { closeHook, resolveDeps, type Deps } from './lazy.js';
import { type CalendarUpsertPayload, calendarWritePayloadSchema, type CalendarWritePayload } from './schemas.js';

export const CALENDAR_WRITE_TYPE = 'calendar.write';

export interface CalendarWriteDeps {
  accounts: AccountResolver;
  /** @defaultValue globalThis.fetch */
  fetch?: Fetch;
  /** Epoch ms for DTSTAMP and `Retry-After` dates. @defaultValue Date.now */
  now?: () => number;
  /** How many 412 races to re-read before giving up with a retryable error. @defaultValue 3 */
  maxConflictRounds?: number;
}

/** What one run did. */
export type CalendarWriteOutcome = 'created' | 'updated' | 'unchanged' | 'deleted' | 'already_absent';

type Ctx = Pick<JobContext, 'signal' | 'logger'>;

/** Fails on statuses that neither succeeded nor mean "look again". 429/5xx never get here (see http.ts). */
function failOn(status: number, what: string): never {
  throw nonRetryableHttp(status, what);
}

async function upsert(
  payload: CalendarUpsertPayload,
  account: CalDavAccount,
  fetch: Fetch,
  deps: CalendarWriteDeps,
  now: () => number,
): Promise<CalendarWriteOutcome> {
  const collection = calendarUrl(account, payload.calendar);
  const url = eventUrl(account, payload.calendar, payload.event.uid);
  const href = new URL(url).pathname;
  const ics = buildEventIcs(payload.event, new Date(now()));
  const rounds = deps.maxConflictRounds ?? 3;
  for (let round = 0; round < rounds; round++) {
    const current = await calendarMultiGet(fetch, collection, [href]);
    if (current.status === 404) throw calendarNotFound(payload);
    if (current.status !== 207) failOn(current.status, `read ${url}`);
    const item = current.items.find((candidate) => candidate.status !== 404 && candidate.data !== undefined);
    if (item?.data !== undefined && item.etag !== undefined) {
      if (sameEvent(parseEventIcs(item.data), payload.event)) return 'unchanged';
      const response = await updateCalendarObject({ calendarObject: { url, etag: item.etag, data: ics }, fetch });
      await response.body?.cancel().catch(() => undefined);
      if (response.ok) return 'updated';
      if (response.status === 412 || response.status === 404) continue;
      if (response.status === 409) throw calendarNotFound(payload);
      failOn(response.status, `update ${url}`);
    }
    const response = await createCalendarObject({
      calendar: { url: collection },
      filename: `${encodeURIComponent(payload.event.uid)}.ics`,
      iCalString: ics,
      fetch,
    });
    await response.body?.cancel().catch(() => undefined);
    if (response.ok) return 'created';
    if (response.status === 412) continue;
    // Radicale answers 409 to a PUT into a collection that does not exist; others say 404.
    if (response.status === 409 || response.status === 404) throw calendarNotFound(payload);
    failOn(response.status, `create ${url}`);
  }
  throw new RetryableError(`${url} kept changing under us (${rounds} precondition failures in a row)`, { reason: 'etag_conflict' });
}

async function remove(payload: CalendarWritePayload, account: CalDavAccount, fetch: Fetch): Promise<CalendarWriteOutcome> {
  const url = eventUrl(account, payload.calendar, payload.event.uid);
  const response = await deleteCalendarObject({ calendarObject: { url }, fetch });
  await response.body?.cancel().catch(() => undefined);
  if (response.ok) return 'deleted';
  if (response.status === 404 || response.status === 410) return 'already_absent';
  failOn(response.status, `delete ${url}`);
}

/** Runs one `calendar.write` and tells what it did (the job's handler logs this). */
export async function runCalendarWrite(payload: CalendarWritePayload, ctx: Ctx, deps: CalendarWriteDeps): Promise<CalendarWriteOutcome> {
  const account = await deps.accounts.resolve(payload.accountId);
  const now = deps.now ?? Date.now;
  const fetch = createDavFetch({ account, signal: ctx.signal, now, ...(deps.fetch ? { fetch: deps.fetch } : {}) });
  const outcome = payload.op === 'delete' ? await remove(payload, account, fetch) : await upsert(payload, account, fetch, deps, now);
  ctx.logger.info(
    { accountId: payload.accountId, calendar: payload.calendar, uid: payload.event.uid, op: payload.op, outcome },
    `calendar.write ${outcome}`,
  );
  return outcome;
}

/**
 * The `calendar.write` job over its dependencies: given outright, or a `Lazy` resolved on the first run.
 * With a job store, at most `rate.perSecond` writes start per account per second across all workers
 * (`CALSYNC_CALDAV_RATE`), and a 429/503 with Retry-After throttles the account (RateLimitedError).
 */
export function createCalendarWriteJob(
  deps: Deps<CalendarWriteDeps>,
  rate: { perSecond: number } = { perSecond: DEFAULT_CALDAV_RATE },
): JobDefinition<CalendarWritePayload> {
  return defineJob({
    type: CALENDAR_WRITE_TYPE,
    schema: calendarWritePayloadSchema,
    rateLimit: { key: (payload) => caldavRateKey(payload.accountId), max: rate.perSecond, perMs: 1_000 },
    handler: async (payload, ctx) => {
      await runCalendarWrite(payload, ctx, await resolveDeps(deps));
    },
    attemptTimeoutMs: 60_000,
    ...closeHook(deps),
  });
}
