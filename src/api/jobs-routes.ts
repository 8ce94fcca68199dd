/**
 * The API's job lookup over the job store (src/ops/jobs.ts; docs/store.md, "HTTP API"):
 *
 * - `GET /jobs/:id` → 200 the job (`jobView`), 404 `{ error }` when unknown
 * - `GET /jobs?state=&type=&key=&limit=&cursor=` → 200 `{ jobs, nextCursor }`, newest first; 400 names a bad parameter
 * - `POST /jobs/:id/cancel` → 200 `{ id, state: 'cancelled', wasRunning }`, 404, 409 `{ error, state }` when already settled
 *
 * Without a store every one answers 501. A store that fails answers 503.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { cancelJob, listJobs, showJob } from '../ops/jobs.js';
import { JOB_STATES, type JobFilter, type JobState, type JobStore } from '../store/job-store.js';
import { ConfigError } from '../shared/errors.js';
import { allow, decodeSegment, HttpProblem, send } from './http.js';

const JOBS_ROUTE = /^\/jobs(?:\/([^/]+)(\/cancel)?)?\/?$/;
const LIST_PARAMETERS = ['state', 'type', 'key', 'limit', 'cursor'] as const;
const MAX_LIST_LIMIT = 1_000;

function listFilter(query: URLSearchParams): JobFilter {
  for (const name of query.keys()) {
    if (!(LIST_PARAMETERS as readonly string[]).includes(name))
      throw new HttpProblem(400, `${name}: unknown parameter (known: ${LIST_PARAMETERS.join(', ')})`, name);
  }
  const filter: JobFilter = {};
  const state = query.get('state');
  if (state !== null) {
    if (!(JOB_STATES as readonly string[]).includes(state))
      throw new HttpProblem(400, `state: expected one of ${JOB_STATES.join(', ')}, got ${JSON.stringify(state)}`, 'state');
    filter.state = state as JobState;
  }
  for (const name of ['type', 'key', 'cursor'] as const) {
    const value = query.get(name);
    if (value === null) continue;
    if (value === '') throw new HttpProblem(400, `${name}: expected a non-empty value`, name);
    filter[name] = value;
  }
  const limit = query.get('limit');
  if (limit !== null) {
    const n = /^\d+$/.test(limit) ? Number(limit) : Number.NaN;
    if (!Number.isInteger(n) || n < 1 || n > MAX_LIST_LIMIT)
      throw new HttpProblem(400, `limit: expected an integer from 1 to ${MAX_LIST_LIMIT}, got ${JSON.stringify(limit)}`, 'limit');
    filter.limit = n;
  }
  return filter;
}

/**
 * A store call. A `ConfigError` is a bad parameter the store refused (a cursor not from a page: 400
 * naming it); any other failure is a 503 (logged), never a 500 with the driver's words.
 */
async function ask<T>(what: string, call: () => Promise<T>, logger: Logger | undefined): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (ConfigError.is(error)) throw new HttpProblem(400, error.message, error.setting);
    logger?.error({ err: error }, `job store ${what} failed`);
    throw new HttpProblem(503, 'the job store did not answer; try again');
  }
}

/** Answers a `/jobs` request and resolves to true; false when `path` is not a `/jobs` route. */
export async function handleJobsRoute(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  store: JobStore | undefined,
  logger: Logger | undefined,
): Promise<boolean> {
  const match = JOBS_ROUTE.exec(url.pathname);
  if (match === null) return false;
  const [, rawId, cancel] = match;
  allow(req.method, cancel ? 'POST' : 'GET', url.pathname, res);
  if (store === undefined)
    throw new HttpProblem(501, 'this API runs without a job store: set CALSYNC_STORE_URL or --store to look jobs up');
  if (rawId === undefined) {
    const filter = listFilter(url.searchParams);
    send(res, 200, await ask('list', () => listJobs(store, filter), logger));
    return true;
  }
  const id = decodeSegment(rawId, 'id');
  if (!cancel) {
    const job = await ask('lookup', () => showJob(store, id), logger);
    if (job === undefined) throw new HttpProblem(404, `no job ${id}`);
    send(res, 200, job);
    return true;
  }
  const result = await ask('cancel', () => cancelJob(store, id), logger);
  if (result.kind === 'not_found') throw new HttpProblem(404, `no job ${id}`);
  if (result.kind === 'settled') throw new HttpProblem(409, `job ${id} already ${result.state}`, undefined, { state: result.state });
  send(res, 200, { id, state: 'cancelled', wasRunning: result.wasRunning });
  return true;
}
