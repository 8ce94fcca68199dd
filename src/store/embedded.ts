/**
 * The job store embedded in this process, for `npm start` and tests: PGlite (PostgreSQL compiled to
 * WASM) in memory or in a folder, served on 127.0.0.1 by pglite-socket so the same `pg` code as for a
 * real server talks to it (PostgresJobStore, unchanged).
 *
 * PGlite is one session. The pool therefore has one connection, which never idles out, so
 * transactions queue in the pool instead of interleaving in the one backend. The socket server
 * accepts more connections all the same (its query queue keeps a transaction's statements together):
 * pg-pool throws a connection away after any query error and opens a new one at once, and the server
 * counts a closed connection until it has noticed it closing, so with a limit of one the query after
 * every error failed ("Too many connections"), and with two a CLI started right after another one
 * (`--store` with this URL) was refused. Seen with pglite-socket 0.2.17; test/store/embedded.test.ts
 * ("one PGlite session, many connections") and store.conformance.test.ts ("a statement the database
 * rejects fails alone") catch a return of it. The socket connections share the one session, prepared
 * statements included: their names differ per connection (postgres-sql.ts, runPrepared).
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

/** Connections the socket accepts at once: the store's own, the one replacing it, and a few CLIs. */
const SOCKET_CONNECTIONS = 8;

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
    server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: SOCKET_CONNECTIONS });
    await server.start();
    const url = `postgres://postgres@${server.getServerConn()}/postgres`;
    const pool = new pg.Pool({ connectionString: url, max: 1, idleTimeoutMillis: 0, application_name: 'calsync-jobs' });
    // Errors of an idle connection surface here; the next query reconnects. Unhandled, they would crash.
    pool.on('error', () => undefined);
    store = new PostgresJobStore({ pool, closePool: true });
    await store.migrate();
    return { store, url, close };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}
