/**
 * A local OTLP/HTTP receiver for "traces exported over OTLP": it reads every POST to the end (so the
 * exporter's request completes as it would against a collector), answers 200 with an empty
 * protobuf `Export…ServiceResponse` (zero bytes: no partial success), and counts requests and bytes.
 * It decodes nothing: what the bench measures is the worker's cost of producing and sending spans.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpSink {
  /** `http://127.0.0.1:PORT`; the trace exporter posts to `/v1/traces`. */
  readonly endpoint: string;
  /** Requests and body bytes received so far, by path. */
  snapshot(): Record<string, { requests: number; bytes: number }>;
  close(): Promise<void>;
}

export async function startOtlpSink(): Promise<OtlpSink> {
  const seen: Record<string, { requests: number; bytes: number }> = {};
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    seen[path] ??= { requests: 0, bytes: 0 };
    const entry = seen[path];
    entry.requests++;
    req.on('data', (chunk: Buffer) => {
      entry.bytes += chunk.length;
    });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' });
      res.end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    snapshot: () => structuredClone(seen),
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
