/**
 * PGlite on a thread of its own. PGlite is PostgreSQL compiled to WASM: every query runs on the thread
 * that owns it, and on the worker's main thread it competed with the handlers, the SQS client and the
 * settles (the store benchmark measured the main thread 97 % busy, 0.33–0.60 × store off). Here it
 * runs in a `worker_threads` Worker with its socket server; the process talks to it over loopback
 * TCP, as to any PostgreSQL.
 *
 * The thread's code is plain JavaScript evaluated in the thread (it must load where this package runs
 * from TypeScript source under tsx or vitest, which do not transform worker threads); it imports
 * PGlite and pglite-socket by the URLs this module resolves, so it finds the same copies.
 */
import { Worker } from 'node:worker_threads';

/** What the thread is told at start. */
interface ThreadData {
  pgliteUrl: string;
  socketUrl: string;
  dataDir: string | undefined;
}

const THREAD_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { PGlite } = await import(workerData.pgliteUrl);
  const { PGLiteSocketServer } = await import(workerData.socketUrl);
  const db = await PGlite.create(workerData.dataDir === undefined ? {} : { dataDir: workerData.dataDir });
  // Two connections (see embedded.ts): pg-pool reconnects after a query error before the old socket is gone.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 2 });
  await server.start();
  parentPort.on('message', async (message) => {
    if (message !== 'close') return;
    try {
      await server.stop();
      await db.close();
    } finally {
      parentPort.postMessage({ closed: true });
    }
  });
  parentPort.postMessage({ conn: server.getServerConn() });
})().catch((error) => parentPort.postMessage({ error: String(error && error.stack || error) }));
`;

export interface PgliteThread {
  /** `127.0.0.1:PORT` */
  conn: string;
  /** Stops the socket server and closes PGlite (flushing a folder), then ends the thread. */
  close(): Promise<void>;
}

/** Starts PGlite and its socket server on a thread; resolves once it listens. */
export async function startPgliteThread(dataDir: string | undefined): Promise<PgliteThread> {
  const workerData: ThreadData = {
    pgliteUrl: import.meta.resolve('@electric-sql/pglite'),
    socketUrl: import.meta.resolve('@electric-sql/pglite-socket'),
    dataDir,
  };
  const thread = new Worker(THREAD_CODE, { eval: true, workerData });
  const conn = await new Promise<string>((resolve, reject) => {
    const onMessage = (message: { conn?: string; error?: string }): void => {
      if (message.conn) resolve(message.conn);
      else reject(new Error(`the embedded store's thread failed to start: ${message.error ?? 'no answer'}`));
    };
    thread.once('message', onMessage);
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`the embedded store's thread exited (${code}) before it listened`)));
  });
  let closing: Promise<void> | undefined;
  return {
    conn,
    close: () =>
      (closing ??= (async () => {
        const closed = new Promise<void>((resolve) => {
          thread.once('message', () => resolve());
          thread.once('exit', () => resolve());
        });
        thread.postMessage('close');
        await closed;
        await thread.terminate();
      })()),
  };
}
