/**
 * A calendar's periodic sync (docs/calendar.md, "Periodic sync"), over the store's schedules
 * (src/ops/schedules.ts):
 *
 * - `PUT /accounts/:id/calendars/:calendar/schedule` with `{ "every": "5m", "jitter": "60s" }` creates
 *   or changes that calendar's `calendar.sync` schedule (overlap `skip`: no sync starts while the last
 *   one is pending or running) → 201 created / 200 changed, the schedule
 * - `GET` → 200 the schedule with its next runs and last runs, 404 when there is none
 * - `DELETE` → 200 `{ id, deleted: true }`, 404 when there is none
 *
 * The schedule's id is `calendar.sync:<account>:<calendar, percent-encoded>`. Without a store: 501.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { createSchedules } from '../ops/schedules.js';
import { DURATION_EXPECTED, durationMs } from '../shared/duration.js';
import { ConfigError, InvalidJobError } from '../shared/errors.js';
import type { JobStore } from '../store/job-store.js';
import { CALENDAR_SYNC_TYPE } from '../jobs/calendar/calendar-sync.js';
import { calendarSyncPayloadSchema, firstIssueField } from '../jobs/calendar/schemas.js';
import { decodeSegment, HttpProblem, send } from './http.js';

const ROUTE = /^\/accounts\/([^/]+)\/calendars\/([^/]+)\/schedule\/?$/;
const METHODS = ['GET', 'PUT', 'DELETE'];
const BODY_FIELDS = ['every', 'jitter'];
/** The body's names for the schedule's fields, so an error names what the client sent. */
const FIELDS: Record<string, string> = { every: 'every', jitterMs: 'jitter' };

/** The schedule id of one calendar's periodic sync. */
export function calendarScheduleId(accountId: string, calendar: string): string {
  return `${CALENDAR_SYNC_TYPE}:${accountId}:${encodeURIComponent(calendar)}`;
}

function duration(body: Record<string, unknown>, field: string): number | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  const ms = typeof value === 'string' ? durationMs(value) : typeof value === 'number' ? value : undefined;
  if (ms === undefined) throw new HttpProblem(400, `${field}: expected ${DURATION_EXPECTED}, got ${JSON.stringify(value)}`, field);
  return ms;
}

export interface ScheduleRouteContext {
  store: JobStore | undefined;
  logger: Logger | undefined;
  /** The request's JSON body (size-limited by the server). */
  body: () => Promise<unknown>;
}

/** Answers a `…/schedule` request and resolves to true; false when the path is not one. */
export async function handleScheduleRoute(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  context: ScheduleRouteContext,
): Promise<boolean> {
  const match = ROUTE.exec(url.pathname);
  if (match === null) return false;
  if (!METHODS.includes(req.method ?? '')) {
    res.setHeader('allow', METHODS.join(', '));
    throw new HttpProblem(405, `${req.method ?? '?'} not allowed on ${url.pathname}: use ${METHODS.join(', ')}`);
  }
  const accountId = decodeSegment(match[1]!, 'accountId');
  const calendar = decodeSegment(match[2]!, 'calendar');
  const parsed = calendarSyncPayloadSchema.safeParse({ accountId, calendar });
  if (!parsed.success) {
    const field = firstIssueField(parsed.error);
    throw new HttpProblem(400, `${field}: ${parsed.error.issues[0]?.message ?? 'invalid'}`, field);
  }
  if (context.store === undefined)
    throw new HttpProblem(501, 'this API runs without a job store: set CALSYNC_STORE_URL or --store to keep schedules');
  const schedules = createSchedules({ store: context.store });
  const id = calendarScheduleId(accountId, calendar);
  const ask = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      if (ConfigError.is(error))
        throw new HttpProblem(
          400,
          `${FIELDS[error.setting] ?? error.setting}${error.message.slice(error.setting.length)}`,
          FIELDS[error.setting] ?? error.setting,
        );
      if (InvalidJobError.is(error)) throw new HttpProblem(400, error.message, error.field);
      context.logger?.error({ err: error }, `schedule ${what} failed`);
      throw new HttpProblem(503, 'the job store did not answer; try again');
    }
  };
  if (req.method === 'GET') {
    const detail = await ask('lookup', () => schedules.show(id));
    if (detail === undefined) throw new HttpProblem(404, `no schedule for calendar ${calendar} of account ${accountId}`);
    send(res, 200, detail);
    return true;
  }
  if (req.method === 'DELETE') {
    if (!(await ask('delete', () => schedules.delete(id))))
      throw new HttpProblem(404, `no schedule for calendar ${calendar} of account ${accountId}`);
    send(res, 200, { id, deleted: true });
    return true;
  }
  const body = await context.body();
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HttpProblem(400, 'body: expected a JSON object { "every": "5m", "jitter": "60s" }', 'body');
  const fields = body as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!BODY_FIELDS.includes(name)) throw new HttpProblem(400, `${name}: unknown field (known: ${BODY_FIELDS.join(', ')})`, name);
  }
  const every = duration(fields, 'every');
  if (every === undefined) throw new HttpProblem(400, `every: expected ${DURATION_EXPECTED}`, 'every');
  const jitterMs = duration(fields, 'jitter');
  const { created, schedule } = await ask('upsert', () =>
    schedules.upsert({
      id,
      job: { type: CALENDAR_SYNC_TYPE, payload: parsed.data },
      every,
      overlap: 'skip',
      ...(jitterMs === undefined ? {} : { jitterMs }),
    }),
  );
  send(res, created ? 201 : 200, schedule);
  return true;
}
