/**
 * The job store embedded in this process, for `npm start` and tests: PGlite (PostgreSQL compiled to
 * WASM) in memory or in a folder, served on 127.0.0.1 by pglite-socket so the same `pg` code as for a
 * real server talks to it (PostgresJobStore, unchanged).
 *
 * PGlite is one session. The pool therefore has one connection, which never idles out, so
 * transactions queue in the pool instead of interleaving in the one backend. The socket server
 * accepts two connections all the same: pg-pool throws a connection away after any query error and
 * opens a new one at once, and with a limit of one the server refuses the new one ("Too many
 * connections") until it has noticed the old one closing, so the query after every error failed.
 * Seen with pglite-socket 0.2.17; test/store/store.conformance.test.ts ("a statement the database
 * rejects fails alone") catches a return of it.
 *
 * Start-up, measured on this project's 2-core machine (Node 20): `PGlite.create()`
 * takes 1.4–2.7 s (up to 8 s while other test processes compete for the cores): it compiles and
 * initialises the WASM module. The socket and the first connection add about 15 ms, the migration
 * 30–55 ms; close() takes a few ms.
 */
import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import pg from 'pg';
import { PostgresJobStore } from './postgres-store.js';

export interface EmbeddedStoreOptions {
  /** A folder for the data, created when missing; one process at a time. @defaultValue none: in memory, gone on close */
  dir?: string | undefined;
}

export interface EmbeddedStore {
  store: PostgresJobStore;
  /** `postgres://postgres@127.0.0.1:PORT/postgres`: no password, loopback only. */
  url: string;
  /** Ends the pool, stops the socket server, closes PGlite (flushing a folder). Idempotent. */
  close(): Promise<void>;
}

/** Starts PGlite, its socket on a free loopback port and a one-connection store over it, migrated. */
export async function startEmbeddedStore(options: EmbeddedStoreOptions = {}): Promise<EmbeddedStore> {
  if (options.dir !== undefined) await mkdir(options.dir, { recursive: true });
  const db = await PGlite.create(options.dir === undefined ? {} : { dataDir: options.dir });
  let server: PGLiteSocketServer | undefined;
  let store: PostgresJobStore | undefined;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await store?.close();
      await server?.stop();
      await db.close();
    })());
  try {
    server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 2 });
    await server.start();
    const url = `postgres://postgres@${server.getServerConn()}/postgres`;
    const pool = new pg.Pool({ connectionString: url, max: 1, idleTimeoutMillis: 0, application_name: 'calsync-jobs' });
    // Errors of an idle connection surface here; the next query reconnects. Unhandled, they would crash.
    pool.on('error', () => undefined);
    store = new PostgresJobStore({ pool, closePool: true, prepareStatements: false });
    await store.migrate();
    return { store, url, close };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}
