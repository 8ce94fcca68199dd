/**
 * A TCP proxy on 127.0.0.1 between workers and the SQS server that can cut the network: `cut(ms)`
 * destroys every open connection and stops listening (new connections are refused) for `ms`, then
 * listens again on the same port.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface CuttableProxy {
  readonly endpoint: string;
  readonly port: number;
  /** Connections destroyed by cuts so far. */
  readonly stats: { cuts: number; destroyed: number; connections: number };
  cut(ms: number): Promise<void>;
  close(): Promise<void>;
}

export async function startCuttableProxy(upstreamPort: number): Promise<CuttableProxy> {
  const sockets = new Set<Socket>();
  const stats = { cuts: 0, destroyed: 0, connections: 0 };
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const onConnection = (client: Socket): void => {
    stats.connections++;
    const upstream = connect({ host: '127.0.0.1', port: upstreamPort });
    track(client);
    track(upstream);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  };
  let server: Server = createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let closed = false;

  const listen = async (): Promise<void> => {
    server = createServer(onConnection);
    // The port was ours a moment ago; retry briefly in case the kernel still holds it.
    for (let tries = 0; ; tries++) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, '127.0.0.1', () => {
            server.off('error', reject);
            resolve();
          });
        });
        return;
      } catch (error) {
        if (tries >= 50) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stats,
    async cut(ms: number) {
      stats.cuts++;
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) {
        socket.destroy();
        stats.destroyed++;
      }
      await closing;
      await new Promise((r) => setTimeout(r, ms));
      if (!closed) await listen();
    },
    async close() {
      closed = true;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
