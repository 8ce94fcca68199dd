/**
 * An HTTP proxy in front of an SQS-compatible server that counts every request by its action (the
 * `X-Amz-Target` header of the JSON protocol: `AmazonSQS.ReceiveMessage` → `ReceiveMessage`), so the
 * benchmark counts SQS requests at the server's door rather than trusting the client's own numbers.
 */
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type RequestCounts = Record<string, number>;

export interface CountingProxy {
  /** `http://127.0.0.1:<port>`: point the SQS clients here. */
  readonly endpoint: string;
  /** A copy of the counts so far. */
  snapshot(): RequestCounts;
  close(): Promise<void>;
}

/** Counts in `after` minus counts in `before`, zeros dropped. */
export function diffCounts(after: RequestCounts, before: RequestCounts): RequestCounts {
  const out: RequestCounts = {};
  for (const [action, n] of Object.entries(after)) {
    const d = n - (before[action] ?? 0);
    if (d !== 0) out[action] = d;
  }
  return out;
}

export function actionOf(target: string | string[] | undefined): string {
  const raw = Array.isArray(target) ? target[0] : target;
  if (!raw) return 'Unknown';
  const dot = raw.lastIndexOf('.');
  return dot >= 0 ? raw.slice(dot + 1) : raw;
}

/**
 * Starts the proxy on 127.0.0.1 (a free port) forwarding to `upstream` (`http://127.0.0.1:PORT`).
 * With `latencyMs`, every request waits that long before it is forwarded: a stand-in for the round
 * trip to a real SQS endpoint (a few ms in-region), which a loopback server does not have.
 */
export async function startCountingProxy(upstream: string, { latencyMs = 0 }: { latencyMs?: number } = {}): Promise<CountingProxy> {
  const target = new URL(upstream);
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256 });
  const counts: RequestCounts = {};
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    if (res.destroyed) return;
    const upstreamReq = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    upstreamReq.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    // A client that gives up (an aborted long poll) releases the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    req.pipe(upstreamReq);
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const action = actionOf(req.headers['x-amz-target']);
    counts[action] = (counts[action] ?? 0) + 1;
    if (latencyMs > 0) setTimeout(forward, latencyMs, req, res);
    else forward(req, res);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    snapshot: () => ({ ...counts }),
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      })),
  };
}
