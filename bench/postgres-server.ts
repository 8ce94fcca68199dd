/**
 * A private PostgreSQL 15 cluster for the job-store scenarios (bench/store.ts). Unlike the tests'
 * test/support/postgres.ts (fsync off, for speed), this one runs with the server's durability
 * defaults — fsync on, synchronous_commit on, full_page_writes on — so every commit waits for its WAL
 * flush as in production; `track_wal_io_timing` is on so `pg_stat_wal` says how long those flushes took.
 *
 * initdb'ed in a temporary folder, listening on 127.0.0.1 only (and a socket in that folder), a fresh
 * database per run; stopped by its postmaster's PID (SIGINT: fast shutdown), then the folder removed.
 * As root, initdb and pg_ctl run as the `postgres` user. With `statements`, pg_stat_statements is
 * loaded (with planning tracked) so the store's statements can be costed one by one.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { prepareCluster, runAsPostgres } from '../test/support/postgres.js';
import { within } from './processes.js';

export interface WalStats {
  /** WAL flushes to disk (`pg_stat_wal.wal_sync`): one per commit that found its WAL not yet flushed. */
  syncs: number;
  /** Time spent in them, ms (`wal_sync_time`). */
  syncMs: number;
  bytes: number;
}

/** One statement's totals over every database (pg_stat_statements), per call. */
export interface StatementStat {
  query: string;
  calls: number;
  rowsPerCall: number;
  planMsPerCall: number;
  execMsPerCall: number;
  walBytesPerCall: number;
  /** Shared buffers touched (hit + read + dirtied) per call. */
  buffersPerCall: number;
}

export interface BenchDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

export interface BenchPostgres {
  /** The postmaster's PID. */
  readonly pid: number;
  readonly version: string;
  /** The settings that decide what a commit costs, as the server reports them. */
  readonly settings: Record<string, string>;
  createDatabase(): Promise<BenchDatabase>;
  /** CPU time of the postmaster and every process it started (backends, WAL writer, checkpointer, …), µs. */
  cpuMicros(): number;
  walStats(): Promise<WalStats>;
  /** With `statements`: the store's statements, most total time first (undefined without). */
  statements(): Promise<StatementStat[] | undefined>;
  stop(): Promise<void>;
}

export const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime, stime, cutime, cstime of one process, in clock ticks (fields 14–17 of /proc/PID/stat). */
function procTimes(pid: number): { self: number; children: number; ppid: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command (field 2) is in parentheses and may hold spaces: split after its closing one.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const n = (i: number): number => Number(fields[i - 3]);
  return { ppid: n(4), self: n(14) + n(15), children: n(16) + n(17) };
}

/** CPU time of process `pid` (user + system, its own), µs; 0 once it is gone. */
export function processCpuMicros(pid: number): number {
  const t = procTimes(pid);
  return t === undefined ? 0 : (t.self * 1e6) / CLOCK_TICKS_PER_SECOND;
}

/** The process and its living children, plus the children it has reaped (which is where an exited backend's time goes). */
function treeCpuMicros(rootPid: number): number {
  const root = procTimes(rootPid);
  if (root === undefined) return 0;
  let ticks = root.self + root.children;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const t = procTimes(Number(entry));
    if (t?.ppid === rootPid) ticks += t.self;
  }
  return (ticks * 1e6) / CLOCK_TICKS_PER_SECOND;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let databases = 0;

/** initdb, start on 127.0.0.1 and a free port with fsync on; `stop()` shuts it down by PID and removes it. */
export async function startBenchPostgres({ statements = false }: { statements?: boolean } = {}): Promise<BenchPostgres> {
  const { dir, data, password, port, pgCtl } = await prepareCluster('calsync-bench-pg-', { durable: true });
  let pid: number | undefined;
  const shutdown = async (): Promise<void> => {
    if (pid !== undefined && alive(pid)) {
      process.kill(pid, 'SIGINT');
      await within(
        `PostgreSQL (pid ${pid}) to stop`,
        20_000,
        (async () => {
          while (alive(pid!)) await new Promise((r) => setTimeout(r, 50));
        })(),
      ).catch(() => {
        if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
      });
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    runAsPostgres(
      pgCtl,
      [
        '-D',
        data,
        '-l',
        join(dir, 'log'),
        '-w',
        '-t',
        '60',
        '-o',
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c track_wal_io_timing=on${statements ? ' -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_planning=on' : ''}`,
        'start',
      ],
      'pg_ctl start',
    );
    pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const serverUrl = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
    const admin = new pg.Client({ connectionString: serverUrl });
    admin.on('error', () => undefined);
    await admin.connect();
    const shown = await admin.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'shared_buffers', 'max_connections')`,
    );
    if (statements) await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    const version = (await admin.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;
    const postmaster = pid;
    return {
      pid: postmaster,
      version,
      settings: Object.fromEntries(shown.rows.map((r) => [r.name, r.setting])),
      async createDatabase() {
        const name = `bench_${process.pid}_${++databases}`;
        await admin.query(`CREATE DATABASE ${name}`);
        let dropping: Promise<void> | undefined;
        return {
          url: `postgres://postgres:${password}@127.0.0.1:${port}/${name}`,
          drop: () => (dropping ??= admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).then(() => undefined)),
        };
      },
      cpuMicros: () => treeCpuMicros(postmaster),
      async walStats() {
        const { rows } = await admin.query<{ wal_sync: string; wal_sync_time: number; wal_bytes: string }>(
          'SELECT wal_sync, wal_sync_time, wal_bytes FROM pg_stat_wal',
        );
        const r = rows[0]!;
        return { syncs: Number(r.wal_sync), syncMs: Number(r.wal_sync_time), bytes: Number(r.wal_bytes) };
      },
      async statements() {
        if (!statements) return undefined;
        const { rows } = await admin.query<{
          query: string;
          calls: string;
          rows: string;
          plan: number;
          exec: number;
          wal: string;
          buffers: string;
        }>(
          `SELECT regexp_replace(query, '\\s+', ' ', 'g') AS query, sum(calls) AS calls, sum(rows) AS rows,
             sum(total_plan_time) AS plan, sum(total_exec_time) AS exec, sum(wal_bytes) AS wal,
             sum(shared_blks_hit + shared_blks_read + shared_blks_dirtied) AS buffers
           FROM pg_stat_statements WHERE query ILIKE '%calsync_jobs%' AND query NOT ILIKE '%migrations%'
           GROUP BY 1 ORDER BY sum(total_plan_time + total_exec_time) DESC LIMIT 12`,
        );
        return rows.map((r) => {
          const calls = Number(r.calls);
          return {
            query: r.query,
            calls,
            rowsPerCall: Number(r.rows) / calls,
            planMsPerCall: Number(r.plan) / calls,
            execMsPerCall: Number(r.exec) / calls,
            walBytesPerCall: Number(r.wal) / calls,
            buffersPerCall: Number(r.buffers) / calls,
          };
        });
      },
      async stop() {
        await admin.end().catch(() => undefined);
        await shutdown();
      },
    };
  } catch (error) {
    await shutdown().catch(() => undefined);
    throw error;
  }
}
