/**
 * The worker's small HTTP endpoint: `/metrics` (Prometheus text, rendered by the exporter the CLI
 * created with `preventServerStart: true`), `/healthz` (the process is up) and `/readyz` (the worker
 * is polling). Plain `node:http`; listens on 127.0.0.1 unless told otherwise.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What `/metrics` needs: `PrometheusExporter` from `@opentelemetry/exporter-prometheus` fits. */
export interface MetricsRequestHandler {
  getMetricsRequestHandler(request: IncomingMessage, response: ServerResponse): void;
}

export interface MetricsServerOptions {
  /** 0 picks a free port. */
  port: number;
  /** @defaultValue '127.0.0.1' */
  host?: string;
  /** `/readyz` answers 200 while this returns true, 503 otherwise (and when it throws). */
  ready: () => boolean;
  exporter: MetricsRequestHandler;
}

export interface MetricsServer {
  /** The port actually bound (useful with `port: 0`). */
  readonly port: number;
  /** Base URL, e.g. `http://127.0.0.1:9464`. */
  readonly url: string;
  /** Stops listening and drops open keep-alive connections; idempotent. */
  close(): Promise<void>;
}

function text(response: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers });
  response.end(body);
}

function isReady(ready: () => boolean): boolean {
  try {
    return ready() === true;
  } catch {
    return false;
  }
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1';
  const routes = new Set(['/metrics', '/healthz', '/readyz']);

  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?', 1)[0] ?? '/';
    if (!routes.has(path)) {
      text(response, 404, 'not found\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      text(response, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
      return;
    }
    if (path === '/healthz') {
      text(response, 200, 'ok\n');
    } else if (path === '/readyz') {
      if (isReady(options.ready)) text(response, 200, 'ready\n');
      else text(response, 503, 'not ready\n');
    } else {
      try {
        options.exporter.getMetricsRequestHandler(request, response);
      } catch {
        if (!response.headersSent) text(response, 500, '# failed to collect metrics\n');
        else response.end();
      }
    }
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });

  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;

  return {
    port,
    url: `http://${urlHost}:${port}`,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
