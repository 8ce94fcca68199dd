/**
 * The calendar product's HTTP API: validates requests with the jobs' own schemas and enqueues jobs.
 *
 * - `POST /accounts/:id/calendars/:calendar/sync` → `calendar.sync`
 * - `POST /accounts/:id/calendars/:calendar/events` with `{ op, event }` → `calendar.write`
 *
 * Answers 202 `{ jobId }`; 400 `{ error, field }` naming the bad field (`event.end`); 404, 405 (with
 * `Allow`), 413 past `maxBodyBytes`. An `Idempotency-Key` header is passed to the queue.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { CALENDAR_SYNC_TYPE } from '../jobs/calendar/calendar-sync.js';
import { CALENDAR_WRITE_TYPE } from '../jobs/calendar/calendar-write.js';
import { calendarSyncPayloadSchema, calendarWritePayloadSchema, firstIssueField } from '../jobs/calendar/schemas.js';

/** What the API needs from the queue: `enqueueJob` from `src/queue`. Resolves to the job id. */
export type EnqueueFn = (job: { type: string; payload: unknown; idempotencyKey?: string; delayMs?: number }) => Promise<string>;

export interface ApiServerOptions {
  enqueue: EnqueueFn;
  /** @defaultValue 262144 (256 KiB) */
  maxBodyBytes?: number;
  /** Errors of `enqueue` are logged here. */
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

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

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

function decodeSegment(segment: string, field: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpProblem(400, `${field}: bad percent-encoding`, field);
  }
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
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const match = ROUTE.exec(path);
    if (match === null) throw new HttpProblem(404, `no route for ${path}`);
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      throw new HttpProblem(405, `${req.method ?? '?'} not allowed on ${path}: use POST`);
    }
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
      const { op, event } = body as { op?: unknown; event?: unknown };
      job = { type: CALENDAR_WRITE_TYPE, payload: validate(calendarWritePayloadSchema, { accountId, calendar, op, event }) };
    }
    let jobId: string;
    try {
      jobId = await options.enqueue({ ...job, ...(key === undefined ? {} : { idempotencyKey: key }) });
    } catch (error) {
      options.logger?.error({ err: error, type: job.type }, 'enqueue failed');
      throw new HttpProblem(503, 'could not enqueue the job; try again');
    }
    send(res, 202, { jobId });
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
        problem.field === undefined ? { error: problem.message } : { error: problem.message, field: problem.field },
        extra,
      );
      if (problem.status === 413) req.resume();
    });
  });

  let closing: Promise<void> | undefined;
  return {
    server,
    async listen({ port = 0, host = '127.0.0.1' } = {}) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const address = server.address() as AddressInfo;
      return { url: `http://${host}:${address.port}`, port: address.port };
    },
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        if (!server.listening) return resolve();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
