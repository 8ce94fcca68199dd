/**
 * `calendar.sync`: mirrors one CalDAV calendar into PostgreSQL with WebDAV sync-collection (RFC 6578).
 *
 * 1. Plan (a run without a checkpoint): a sync REPORT from the stored token (none: a full sync) lists the
 *    changed hrefs with their ETags, the deleted ones and the new token. A token the server refuses
 *    (403/409 `valid-sync-token`) falls back to a full sync, which also deletes local events the server
 *    no longer has. Changed items whose ETag the store already holds are not fetched.
 * 2. One run applies ONE batch of at most `batchSize` objects (calendar-multiget; servers such as
 *    Radicale ignore `nresults`, so paging is ours) in one transaction, with the planned deletions on the
 *    first batch. Then either nothing is left (the same transaction stores the new token: the sync is
 *    complete) or the run calls `saveCheckpoint` with the hrefs still to fetch and returns.
 *
 * Times are read whatever the host's zone (ical-read.ts): dates as dates, TZIDs by their IANA zone, floating
 * times in the calendar's `calendar-timezone`, asked for once at the plan (only when something changed)
 * and carried in the checkpoint.
 *
 * `saveCheckpoint` is continue-as-new: the runtime sends a new message carrying the checkpoint and
 * deletes the current one, so the next batch runs as a new message (maybe on another worker) and this
 * run must stop. A sync of N objects is therefore ceil(N / batchSize) messages; a worker that dies
 * mid-batch leaves the message it held, which comes back and repeats only that batch.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { z } from 'zod';
import { defineJob, type JobContext, type JobDefinition } from '../../machines/define-job.js';
import { NonRetryableError } from '../../machines/errors.js';
import { ConfigError } from '../../shared/errors.js';
import type { AccountResolver } from './accounts.js';
import { calendarMultiGet, calendarTimeZone, calendarUrl, syncCollection, type MultiStatus } from './caldav.js';
import { calendarNotFound, createDavFetch, nonRetryableHttp, type Fetch } from './http.js';
import { EMPTY_EVENT, parseEventIcs, type ParsedEvent } from './ical-read.js';
import { closeHook, Lazy, resolveDeps, type Deps } from './lazy.js';
import { migrate } from './migrate.js';
import { isIanaZone } from './zones.js';
import { calendarSyncPayloadSchema, type CalendarSyncPayload } from './schemas.js';
import { DEFAULT_SYNC_BATCH_SIZE, MAX_SYNC_BATCH_SIZE, type CalendarSyncSettings } from './settings.js';
import { applyBatch, loadEtags, loadSyncToken, type StoredObject } from './store.js';

export const CALENDAR_SYNC_TYPE = 'calendar.sync';

/** `calendar.sync`'s concurrency and coalescing key: `account:calendar`. */
export function calendarSyncKey(payload: CalendarSyncPayload): string {
  return `${payload.accountId}:${payload.calendar}`;
}

/** Progress of an unfinished sync, carried in the job message. Deletions are applied with the first batch. */
export const calendarSyncCheckpointSchema = z.object({
  v: z.literal(1),
  mode: z.enum(['full', 'incremental']),
  /** The server's token for the state being fetched; stored when the last batch is applied. */
  token: z.string().min(1),
  /**
   * hrefs still to fetch, relative to the calendar's path when they are inside it (`e1.ics` for
   * `/alice/work/e1.ics`): the checkpoint travels in an SQS message (256 KiB), so every byte counts.
   */
  remaining: z.array(z.string()),
  /** Totals of the attempts before, for the final statistics. */
  fetched: z.number().int().nonnegative(),
  deleted: z.number().int().nonnegative(),
  /** The calendar's zone (`calendar-timezone`) at the plan, for floating times; absent when it has none. */
  zone: z.string().min(1).max(64).optional(),
});

export type CalendarSyncCheckpoint = z.output<typeof calendarSyncCheckpointSchema>;

/** What one run of the handler did. */
export interface CalendarSyncStats {
  accountId: string;
  calendar: string;
  mode: 'full' | 'incremental';
  /** Whether this run started from a checkpoint. */
  resumed: boolean;
  /** Whether a refused sync token made this a full sync. */
  tokenRejected: boolean;
  /** Objects fetched by this run (calendar-multiget items). */
  fetched: number;
  /** Objects fetched by the whole sync, earlier interrupted runs included. */
  fetchedTotal: number;
  /** Events written to the store by this run. */
  upserted: number;
  /** Events removed from the store by this run. */
  deleted: number;
  /** Batches applied by this run: 1, or 0 when it failed before its transaction committed. */
  batches: number;
  /** Objects still to fetch after this run (in the checkpoint it saved); 0 when completed. */
  remaining: number;
  /** Whether the sync completed (token stored). False: a checkpoint was saved, or the run failed. */
  completed: boolean;
}

export interface CalendarSyncDeps {
  accounts: AccountResolver;
  pool: pg.Pool;
  /** Objects per calendar-multiget and per transaction. @defaultValue 50 */
  batchSize?: number;
  /** Called with the statistics when a run ends: completed, checkpointed or failed. */
  onStats?: (stats: CalendarSyncStats) => void;
  /** @defaultValue globalThis.fetch */
  fetch?: Fetch;
  /** @defaultValue Date.now */
  now?: () => number;
}

type Ctx = Pick<JobContext<CalendarSyncCheckpoint>, 'signal' | 'logger' | 'checkpoint' | 'saveCheckpoint'>;

/** `/alice/work/e1.ics` → `e1.ics` when `base` is `/alice/work/`; anything else stays as it is. */
function compactHref(href: string, base: string): string {
  return href.startsWith(base) && href.length > base.length ? href.slice(base.length) : href;
}

function expandHref(entry: string, base: string): string {
  return entry.startsWith('/') || entry.includes('://') ? entry : `${base}${entry}`;
}

function expectMultiStatus(result: MultiStatus, payload: CalendarSyncPayload, what: string): void {
  if (result.status === 404) throw calendarNotFound(payload);
  if (result.status !== 207) throw nonRetryableHttp(result.status, what);
}

interface Plan {
  checkpoint: CalendarSyncCheckpoint;
  deletes: string[];
  tokenRejected: boolean;
}

async function plan(payload: CalendarSyncPayload, ctx: Ctx, deps: CalendarSyncDeps, fetch: Fetch, url: string): Promise<Plan> {
  const stored = await loadSyncToken(deps.pool, payload.accountId, payload.calendar);
  let mode: 'full' | 'incremental' = stored === undefined ? 'full' : 'incremental';
  let tokenRejected = false;
  let report = await syncCollection(fetch, url, stored);
  if (stored !== undefined && (report.status === 403 || report.status === 409)) {
    ctx.logger.warn(
      { accountId: payload.accountId, calendar: payload.calendar, status: report.status },
      'sync token refused (valid-sync-token): full sync',
    );
    mode = 'full';
    tokenRejected = true;
    report = await syncCollection(fetch, url, undefined);
  }
  expectMultiStatus(report, payload, `sync-collection ${url}`);
  if (report.syncToken === undefined)
    throw new NonRetryableError(`${url} answered sync-collection without a sync-token`, { reason: 'no_sync_token' });
  const local = await loadEtags(deps.pool, payload.accountId, payload.calendar);
  const present = report.items.filter((item) => item.status !== 404);
  const changed = present.filter((item) => item.etag === undefined || local.get(item.href) !== item.etag).map((item) => item.href);
  let deletes: string[];
  if (mode === 'full') {
    const onServer = new Set(present.map((item) => item.href));
    deletes = [...local.keys()].filter((href) => !onServer.has(href));
  } else {
    deletes = report.items.filter((item) => item.status === 404 && local.has(item.href)).map((item) => item.href);
  }
  const base = new URL(url).pathname;
  const zone = changed.length > 0 ? await calendarTimeZone(fetch, url).catch(() => undefined) : undefined;
  const usable = zone !== undefined && isIanaZone(zone) ? zone : undefined;
  return {
    checkpoint: {
      v: 1,
      mode,
      token: report.syncToken,
      remaining: changed.map((href) => compactHref(href, base)),
      fetched: 0,
      deleted: 0,
      ...(usable === undefined ? {} : { zone: usable }),
    },
    deletes,
    tokenRejected,
  };
}

/** The columns of one object; an object ical.js cannot read is still stored (its text), with empty columns. */
function readEvent(ical: string, href: string, log: Logger, calendarZone: string | undefined): ParsedEvent {
  try {
    return parseEventIcs(ical, { calendarZone });
  } catch (error) {
    log.warn({ href, err: error }, 'calendar object is not valid iCalendar: stored without summary and times');
    return { ...EMPTY_EVENT };
  }
}

/**
 * Runs one step of `calendar.sync`: plans (or resumes from `ctx.checkpoint`), applies one batch, then
 * either completes (token stored, `completed: true`) or saves a checkpoint and returns
 * (`completed: false`; the runtime continues the sync as a new message).
 */
export async function runCalendarSync(payload: CalendarSyncPayload, ctx: Ctx, deps: CalendarSyncDeps): Promise<CalendarSyncStats> {
  const batchSize = deps.batchSize ?? DEFAULT_SYNC_BATCH_SIZE;
  const account = await deps.accounts.resolve(payload.accountId);
  const fetch = createDavFetch({
    account,
    signal: ctx.signal,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  });
  const url = calendarUrl(account, payload.calendar);
  const base = new URL(url).pathname;

  const resumeFrom = calendarSyncCheckpointSchema.safeParse(ctx.checkpoint);
  if (ctx.checkpoint !== undefined && !resumeFrom.success)
    ctx.logger.warn({ issues: resumeFrom.error.issues.length }, 'calendar.sync checkpoint unreadable: starting over');
  const resumed = resumeFrom.success;
  const planned = resumeFrom.success
    ? { checkpoint: resumeFrom.data, deletes: [], tokenRejected: false }
    : await plan(payload, ctx, deps, fetch, url);
  let state = planned.checkpoint;
  const pendingDeletes = planned.deletes;
  const stats: CalendarSyncStats = {
    accountId: payload.accountId,
    calendar: payload.calendar,
    mode: state.mode,
    resumed,
    tokenRejected: planned.tokenRejected,
    fetched: 0,
    fetchedTotal: state.fetched,
    upserted: 0,
    deleted: 0,
    batches: 0,
    remaining: state.remaining.length,
    completed: false,
  };
  const log = ctx.logger.child({ accountId: payload.accountId, calendar: payload.calendar, mode: state.mode });
  log.info({ resumed, toFetch: state.remaining.length, toDelete: pendingDeletes.length }, 'calendar.sync planned');
  let checkpointed = false;
  try {
    ctx.signal.throwIfAborted();
    const batch = state.remaining.slice(0, batchSize);
    const rest = state.remaining.slice(batchSize);
    const upserts: StoredObject[] = [];
    const vanished: string[] = [];
    if (batch.length > 0) {
      const result = await calendarMultiGet(
        fetch,
        url,
        batch.map((entry) => expandHref(entry, base)),
      );
      expectMultiStatus(result, payload, `calendar-multiget ${url}`);
      stats.fetched = batch.length;
      for (const item of result.items) {
        if (item.status === 404) vanished.push(item.href);
        else if (item.status >= 200 && item.status < 300 && item.data !== undefined) {
          upserts.push({ href: item.href, etag: item.etag, ical: item.data, event: readEvent(item.data, item.href, log, state.zone) });
        }
      }
    }
    const deletes = [...pendingDeletes, ...vanished];
    const complete = rest.length === 0;
    ctx.signal.throwIfAborted();
    await applyBatch(deps.pool, {
      accountId: payload.accountId,
      calendar: payload.calendar,
      upserts,
      deletes,
      ...(complete ? { completeWithToken: state.token } : {}),
    });
    stats.batches = 1;
    stats.upserted = upserts.length;
    stats.deleted = deletes.length;
    stats.fetchedTotal = state.fetched + batch.length;
    stats.remaining = rest.length;
    state = { ...state, remaining: rest, fetched: state.fetched + batch.length, deleted: state.deleted + deletes.length };
    if (complete) {
      stats.completed = true;
    } else {
      // Continue-as-new: the next batch is a new message (maybe on another worker); this run ends here.
      await ctx.saveCheckpoint(state);
      checkpointed = true;
    }
  } finally {
    log.info(
      { ...stats },
      stats.completed ? 'calendar.sync completed' : checkpointed ? 'calendar.sync checkpointed' : 'calendar.sync interrupted',
    );
    deps.onStats?.(stats);
  }
  return stats;
}

function checkBatchSize(batchSize: number | undefined): void {
  const size = batchSize ?? DEFAULT_SYNC_BATCH_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_SYNC_BATCH_SIZE) {
    throw new ConfigError('batchSize', `expected an integer from 1 to ${MAX_SYNC_BATCH_SIZE}, got ${String(batchSize)}`);
  }
}

/**
 * The `calendar.sync` job over its dependencies: given outright (checked now; the schema must be migrated),
 * or a `Lazy` opened on the first run (`openCalendarSyncDeps`), whose pool the job's `close` hook ends
 * at worker shutdown.
 */
export function createCalendarSyncJob(deps: Deps<CalendarSyncDeps>): JobDefinition<CalendarSyncPayload, CalendarSyncCheckpoint> {
  if (!(deps instanceof Lazy)) checkBatchSize(deps.batchSize);
  return defineJob<typeof calendarSyncPayloadSchema, CalendarSyncCheckpoint>({
    type: CALENDAR_SYNC_TYPE,
    schema: calendarSyncPayloadSchema,
    // With a job store: one sync of a calendar at a time on all workers, and a burst of requests while
    // one is pending collapses into it (one running plus one pending, docs/keys.md).
    concurrency: { key: calendarSyncKey, limit: 1 },
    coalesce: { key: calendarSyncKey },
    handler: async (payload, ctx) => {
      const resolved = await resolveDeps(deps);
      if (deps instanceof Lazy) checkBatchSize(resolved.batchSize);
      await runCalendarSync(payload, ctx, resolved);
    },
    // The worker process calls it after its last settle: the pool must not keep the process alive.
    ...closeHook(deps),
  });
}

/**
 * Opens what `calendar.sync` needs from its settings: a pool of 4 connections to `databaseUrl`, with the
 * schema migrated (`migrations/*.sql`). A failed migration ends the pool again.
 */
export async function openCalendarSyncDeps(settings: CalendarSyncSettings): Promise<CalendarSyncDeps> {
  const pool = new pg.Pool({ connectionString: settings.databaseUrl, max: 4 });
  // An idle client whose connection the server ends (restart, failover) is reported on the pool; with
  // no listener that would crash the worker. The next query opens a new connection.
  pool.on('error', (error) => process.emitWarning(`calendar.sync: an idle PostgreSQL connection failed: ${error.message}`));
  try {
    await migrate(pool);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  return { accounts: settings.accounts, pool, batchSize: settings.batchSize };
}
