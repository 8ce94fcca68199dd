/** The API's HTTP plumbing shared by its routes: a problem with its status, and a JSON answer. */
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

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

/** Listens on `host:port` (0: a free port) and gives the URL; the API and the console both serve this way. */
export async function listenOn(server: Server, port: number, host: string): Promise<{ url: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  return { url: `http://${shown}:${address.port}`, port: address.port };
}

/** Stops accepting, ends idle keep-alive connections, and resolves once every request is done. */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (!server.listening) return resolve();
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeIdleConnections();
  });
}
