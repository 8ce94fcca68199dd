/** The API's HTTP plumbing shared by its routes: a problem with its status, and a JSON answer. */
import type { ServerResponse } from 'node:http';

/** An answer other than success: `status`, `{ error, field? }` (plus `extra` fields, e.g. a job's `state`). */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** 405 with `Allow` unless `req.method` is `method`. */
export function allow(method: string | undefined, allowed: string, path: string, res: ServerResponse): void {
  if (method === allowed) return;
  res.setHeader('allow', allowed);
  throw new HttpProblem(405, `${method ?? '?'} not allowed on ${path}: use ${allowed}`);
}

export function decodeSegment(segment: string, field: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpProblem(400, `${field}: bad percent-encoding`, field);
  }
}
