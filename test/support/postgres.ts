/**
 * A throwaway PostgreSQL database for tests. With `CALSYNC_TEST_DATABASE_URL` set, a fresh database is
 * created on that server per call (dropped on stop); otherwise a private cluster is initdb'ed in a
 * temporary folder, started on 127.0.0.1 and a free port with fsync off, and stopped with `pg_ctl stop`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, waitFor } from './process.js';

export const PG_BIN = process.env.CALSYNC_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface PostgresDatabase {
  /** `postgres://postgres:PASSWORD@127.0.0.1:PORT/DB` */
  readonly connectionString: string;
  /** The postmaster's PID when this call started its own cluster. */
  readonly pid: number | undefined;
  /** Drops the database, or stops the private cluster and removes its folder. Idempotent. */
  stop(): Promise<void>;
  /**
   * Private cluster only (absent on a `CALSYNC_TEST_DATABASE_URL` server): stops the server with
   * `pg_ctl stop -m fast` (every session is ended), waits `downMs` (default 0), and starts it again on
   * the same port and data folder; `pid` is the new postmaster's afterwards. Does not block the event
   * loop (the test process may be serving SQS meanwhile).
   */
  restart?(options?: { downMs?: number }): Promise<void>;
}

export async function startPostgres(): Promise<PostgresDatabase> {
  const external = process.env.CALSYNC_TEST_DATABASE_URL;
  return external ? await freshDatabase(external) : await privateCluster();
}

/** A private cluster whatever `CALSYNC_TEST_DATABASE_URL` says: for tests that restart the server ({@link PostgresDatabase.restart}). */
export async function startPrivatePostgres(): Promise<PostgresDatabase & Required<Pick<PostgresDatabase, 'restart'>>> {
  return await privateCluster();
}

function databaseName(): string {
  return `calsync_test_${randomBytes(6).toString('hex')}`;
}

async function freshDatabase(serverUrl: string): Promise<PostgresDatabase> {
  const name = databaseName();
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let stopping: Promise<void> | undefined;
  return {
    connectionString: url.toString(),
    pid: undefined,
    stop: () =>
      (stopping ??= (async () => {
        const client = new pg.Client({ connectionString: serverUrl });
        await client.connect();
        try {
          // Sessions of pools that were just ended take a moment to go; forcing them out earlier makes
          // pg raise "terminating connection" in the test process.
          await waitFor(
            `sessions on ${name} to close`,
            async () => (await client.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name])).rows[0]?.n === 0,
            { timeoutMs: 3_000, intervalMs: 50 },
          ).catch(() => undefined);
          await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        } finally {
          await client.end();
        }
      })()),
  };
}

/** Runs a PostgreSQL program as the `postgres` user when this process is root (PostgreSQL refuses root). */
export function runAsPostgres(command: string, args: readonly string[], what: string): string {
  const asPostgres = process.getuid?.() === 0;
  const result = asPostgres
    ? spawnSync('runuser', ['-u', 'postgres', '--', command, ...args], { encoding: 'utf8' })
    : spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(`${what} failed (${result.status ?? result.signal}): ${result.stderr || result.stdout || result.error?.message}`);
  }
  return result.stdout;
}

/** {@link run} without blocking the event loop. */
function runAsync(command: string, args: readonly string[], what: string): Promise<string> {
  const asPostgres = process.getuid?.() === 0;
  const child = asPostgres ? spawn('runuser', ['-u', 'postgres', '--', command, ...args]) : spawn(command, args);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) =>
      code === 0 ? resolve(stdout) : reject(new Error(`${what} failed (${code ?? signal}): ${stderr || stdout}`)),
    );
  });
}

/** A fresh cluster's folder, initdb'ed and owned by the user it runs as, and the port it is to use. */
export interface PreparedCluster {
  dir: string;
  data: string;
  password: string;
  port: number;
  pgCtl: string;
}

/**
 * Makes a temporary folder (`prefix`), initdb's a cluster in it with a random password for user
 * `postgres` (owned by the `postgres` user when running as root) and picks a free port; starting it
 * is the caller's (its settings differ: tests run with fsync off, the benchmark with it on).
 * `durable: false` skips initdb's own syncs.
 */
export async function prepareCluster(prefix: string, { durable }: { durable: boolean }): Promise<PreparedCluster> {
  const initdb = join(PG_BIN, 'initdb');
  const pgCtl = join(PG_BIN, 'pg_ctl');
  if (!existsSync(initdb) || !existsSync(pgCtl)) {
    throw new Error(
      `postgres is not installed in ${PG_BIN}: apt-get install postgresql-15 (or scripts/peers/postgres.sh install), or set CALSYNC_TEST_DATABASE_URL`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    const data = join(dir, 'data');
    const password = randomBytes(12).toString('hex');
    const pwfile = join(dir, 'pwfile');
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (process.getuid?.() === 0) {
      const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
      const gids = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
      if (ids.status !== 0) throw new Error('postgres is not installed: apt-get install postgresql-15 (no "postgres" user to run it as)');
      const uid = Number(ids.stdout.trim());
      const gid = Number(gids.stdout.trim());
      await chown(dir, uid, gid);
      await chown(pwfile, uid, gid);
    }
    await chmod(dir, 0o700);
    const port = await freePort();
    const args = [
      '-D',
      data,
      '-U',
      'postgres',
      `--pwfile=${pwfile}`,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
    ];
    runAsPostgres(initdb, durable ? args : [...args, '--no-sync'], 'initdb');
    return { dir, data, password, port, pgCtl };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function privateCluster(): Promise<PostgresDatabase & Required<Pick<PostgresDatabase, 'restart'>>> {
  const { dir, data, password, port, pgCtl } = await prepareCluster('calsync-pg-', { durable: false });
  let started = false;
  const cleanup = async (): Promise<void> => {
    if (started) runAsPostgres(pgCtl, ['-D', data, '-m', 'fast', '-w', 'stop'], 'pg_ctl stop');
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const startArgs = [
      '-D',
      data,
      '-l',
      join(dir, 'log'),
      '-w',
      '-t',
      '60',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`,
      'start',
    ];
    runAsPostgres(pgCtl, startArgs, 'pg_ctl start');
    started = true;
    const serverUrl = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    const name = databaseName();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    const pidOf = (status: string): number | undefined => {
      const pidLine = status.match(/PID: (\d+)/);
      return pidLine?.[1] === undefined ? undefined : Number(pidLine[1]);
    };
    let pid = pidOf(runAsPostgres(pgCtl, ['-D', data, 'status'], 'pg_ctl status'));
    let stopping: Promise<void> | undefined;
    let restarting: Promise<void> | undefined;
    return {
      connectionString: `postgres://postgres:${password}@127.0.0.1:${port}/${name}`,
      get pid() {
        return pid;
      },
      // A stop waits for a restart under way, so the cluster it stops is running (or was never restarted).
      stop: () => (stopping ??= (restarting ?? Promise.resolve()).catch(() => undefined).then(cleanup)),
      restart: async ({ downMs = 0 } = {}) => {
        if (stopping) throw new Error('restart(): the cluster is stopped');
        if (restarting) throw new Error('restart(): a restart is already under way');
        restarting = (async () => {
          await runAsync(pgCtl, ['-D', data, '-m', 'fast', '-w', 'stop'], 'pg_ctl stop');
          started = false;
          pid = undefined;
          if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
          await runAsync(pgCtl, startArgs, 'pg_ctl start');
          started = true;
          pid = pidOf(await runAsync(pgCtl, ['-D', data, 'status'], 'pg_ctl status'));
        })();
        try {
          await restarting;
        } finally {
          restarting = undefined;
        }
      },
    };
  } catch (error) {
    await cleanup().catch(() => undefined);
    throw error;
  }
}

/**
 * A pool for tests. Stopping the server ends idle connections ("terminating connection due to
 * administrator command"), which the pool reports as an 'error' event: unhandled, that fails the run.
 */
export function testPool(connectionString: string, options: Omit<pg.PoolConfig, 'connectionString'> = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString, ...options });
  pool.on('error', () => undefined);
  return pool;
}
