/**
 * The calendar product's HTTP API: validates requests with the jobs' own schemas and enqueues jobs,
 * and looks jobs up in the job store (src/api/jobs-routes.ts: `GET /jobs/:id`, `GET /jobs`,
 * `POST /jobs/:id/cancel`) and keeps calendars' periodic syncs there (src/api/schedule-routes.ts:
 * `PUT|GET|DELETE /accounts/:id/calendars/:calendar/schedule`).
 *
 * - `POST /accounts/:id/calendars/:calendar/sync` → `calendar.sync`
 * - `POST /accounts/:id/calendars/:calendar/events` with `{ op, event }` → `calendar.write`
 *
 * Answers 202 `{ id, jobId }` for a new job (`jobId`, the same id, for clients of before the store) and
 * 200 `{ id, jobId, deduplicated: true }` when the `Idempotency-Key` header matched a job of that type
 * (nothing was sent); 400 `{ error, field }` naming the bad field (`event.end`) or the unknown ones
 * (`event: Unrecognized keys: "colour", "alarms"`; the body is `{ op, event }` only); 404, 405 (with
 * `Allow`), 413 past `maxBodyBytes`; 501 for routes this server was built without (no `enqueue`, no `store`).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { EnqueueResult } from '../queue/job-queue.js';
import type { JobStore } from '../store/job-store.js';
import { allow, closeServer, decodeSegment, HttpProblem, listenOn, send } from './http.js';
import { handleJobsRoute } from './jobs-routes.js';
import { handleScheduleRoute } from './schedule-routes.js';
import { CALENDAR_SYNC_TYPE } from '../jobs/calendar/calendar-sync.js';
import { CALENDAR_WRITE_TYPE } from '../jobs/calendar/calendar-write.js';
import {
  calendarEventsBodySchema,
  calendarSyncPayloadSchema,
  calendarWritePayloadSchema,
  firstIssueField,
} from '../jobs/calendar/schemas.js';

/** What the API needs from the queue: `JobQueue.enqueue` from `src/queue`. Resolves to the job id and whether it was a duplicate. */
export type EnqueueFn = (job: { type: string; payload: unknown; idempotencyKey?: string; delayMs?: number }) => Promise<EnqueueResult>;

export interface ApiServerOptions {
  /** Serves the enqueue routes. @defaultValue none: they answer 501 (`dev` serves only the job lookup) */
  enqueue?: EnqueueFn;
  /** Serves `/jobs`. @defaultValue none: those routes answer 501 */
  store?: JobStore;
  /** @defaultValue 262144 (256 KiB) */
  maxBodyBytes?: number;
  /** Errors of `enqueue` and of the store are logged here. */
  logger?: Logger;
}

export interface ApiServer {
  readonly server: Server;
  /** Starts listening. @defaultValue host 127.0.0.1, port 0 (any free port) */
  listen(options?: { port?: number; host?: string }): Promise<{ url: string; port: number }>;
  /** Stops accepting connections and closes idle ones. Idempotent. */
  close(): Promise<void>;
}

export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;

const ROUTE = /^\/accounts\/([^/]+)\/calendars\/([^/]+)\/(sync|events)\/?$/;
const MAX_IDEMPOTENCY_KEY = 256;

/** Reads the body up to `limit` bytes; past it, rejects with 413 and drains the rest without keeping it. */
async function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new HttpProblem(413, `body larger than ${limit} bytes`);
  return await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
        reject(new HttpProblem(413, `body larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!tooLarge) resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpProblem(400, 'body is not valid JSON', 'body');
  }
}

function validate<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = firstIssueField(result.error);
    throw new HttpProblem(400, `${field}: ${issue?.message ?? 'invalid'}`, field);
  }
  return result.data;
}

function idempotencyKey(req: IncomingMessage): string | undefined {
  const value = req.headers['idempotency-key'];
  if (value === undefined) return undefined;
  const key = Array.isArray(value) ? value[0] : value;
  if (key === undefined || key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY) {
    throw new HttpProblem(400, `Idempotency-Key: expected 1 to ${MAX_IDEMPOTENCY_KEY} characters`, 'Idempotency-Key');
  }
  return key;
}

/** Builds the API server; nothing listens until `listen()`. */
export function createApiServer(options: ApiServerOptions): ApiServer {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (await handleJobsRoute(req, res, url, options.store, options.logger)) return;
    const readJson = async (): Promise<unknown> => parseJson(await readBody(req, maxBodyBytes));
    if (await handleScheduleRoute(req, res, url, { store: options.store, logger: options.logger, body: readJson })) return;
    const path = url.pathname;
    const match = ROUTE.exec(path);
    if (match === null) throw new HttpProblem(404, `no route for ${path}`);
    allow(req.method, 'POST', path, res);
    const enqueue = options.enqueue;
    if (enqueue === undefined) throw new HttpProblem(501, 'this server does not enqueue jobs: run "calsync-jobs api" for that');
    const accountId = decodeSegment(match[1] as string, 'accountId');
    const calendar = decodeSegment(match[2] as string, 'calendar');
    const key = idempotencyKey(req);
    const body = parseJson(await readBody(req, maxBodyBytes));
    let job: { type: string; payload: unknown };
    if (match[3] === 'sync') {
      job = { type: CALENDAR_SYNC_TYPE, payload: validate(calendarSyncPayloadSchema, { accountId, calendar }) };
    } else {
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw new HttpProblem(400, 'body: expected a JSON object { op, event }', 'body');
      const { op, event } = validate(calendarEventsBodySchema, body);
      job = { type: CALENDAR_WRITE_TYPE, payload: validate(calendarWritePayloadSchema, { accountId, calendar, op, event }) };
    }
    let result: EnqueueResult;
    try {
      result = await enqueue({ ...job, ...(key === undefined ? {} : { idempotencyKey: key }) });
    } catch (error) {
      options.logger?.error({ err: error, type: job.type }, 'enqueue failed');
      throw new HttpProblem(503, 'could not enqueue the job; try again');
    }
    if (result.deduplicated) send(res, 200, { id: result.id, jobId: result.id, deduplicated: true });
    else send(res, 202, { id: result.id, jobId: result.id });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const problem = error instanceof HttpProblem ? error : new HttpProblem(500, 'internal error');
      if (!(error instanceof HttpProblem)) options.logger?.error({ err: error }, 'api request failed');
      const extra: Record<string, string> = problem.status === 413 ? { connection: 'close' } : {};
      if (res.headersSent) {
        res.destroy();
        return;
      }
      send(
        res,
        problem.status,
        { error: problem.message, ...(problem.field === undefined ? {} : { field: problem.field }), ...problem.extra },
        extra,
      );
      if (problem.status === 413) req.resume();
    });
  });

  let closing: Promise<void> | undefined;
  return {
    server,
    listen({ port = 0, host = '127.0.0.1' } = {}) {
      return listenOn(server, port, host);
    },
    close() {
      closing ??= closeServer(server);
      return closing;
    },
  };
}
