/**
 * The job-store scenarios of `npm run bench` (issue 12; `npm run bench -- --only store` alone): the
 * calsync-jobs worker with a no-op job, store off against PGlite embedded in the worker's process (as
 * `npm start` runs it) and against a real PostgreSQL 15 (bench/postgres-server.ts: fsync on).
 *
 * - Throughput at concurrency 50, with each job's row created by the producer before its send
 *   (JobStore.createJobs, through the worker's own store, in the worker's process: `producer rows`) or
 *   by the worker's claim on first receipt (`worker rows`), as a ratio to store off in the same rotation.
 * - Store round trips per settled job: claim + settle + renew calls counted on a wrapper of the
 *   worker's JobStore (bench/children/counting-store.ts); the producer's createJobs apart.
 * - Pickup at a trickle (one job every 100 ms): SQS send begun (after createJobs) → handler start.
 * - PostgreSQL under more load: more worker processes on one server until jobs/s stops rising, with the
 *   CPU time of each party (/proc/PID/stat: the postmaster and its backends, the workers, the SQS
 *   server, this process) and the whole machine's busy cores (/proc/stat) over the drain.
 *
 * Knobs: BENCH_STORE_RUNS (default 3; BENCH_QUICK 1), BENCH_STORE_N (jobs per throughput run, 3000),
 * BENCH_STORE_TRICKLE (jobs per trickle, 200), BENCH_STORE_TRICKLE_RUNS (1),
 * BENCH_STORE_SATURATION (`processes x concurrency` steps in order of load, default `1x200,4x50`;
 * the 1x50 step is the throughput row), BENCH_STORE_SATURATION_N (jobs per saturation run, 5000; BENCH_STORE_RUNS runs a step),
 * BENCH_STORE_KINDS (the stores beside `off`, default `pglite,postgres`; without postgres, no
 * saturation steps), BENCH_STORE_STATEMENTS=1 (load pg_stat_statements and print what each store statement costs in
 * PostgreSQL: planning, execution, WAL; a diagnosis, off by default since it costs time itself).
 */
import { readFileSync } from 'node:fs';
import type { BenchStoreConfig, ConsumerResult, StoreCallCounts } from './children/protocol.js';
import { diffCounts } from './counting-proxy.js';
import { consumerConfig, runQueues, total, type RunQueues, type Target } from './harness.js';
import {
  CLOCK_TICKS_PER_SECOND,
  processCpuMicros,
  startBenchPostgres,
  type BenchDatabase,
  type BenchPostgres,
  type StatementStat,
  type WalStats,
} from './postgres-server.js';
import { startConsumer, within, type ConsumerProcess } from './processes.js';
import { fmt, median, percentile, spread, type Spread } from './stats.js';

export type StoreKind = 'off' | 'pglite' | 'postgres';
export type RowSource = 'producer' | 'worker';

interface StoreSpec {
  name: string;
  store: StoreKind;
  rows: RowSource;
  processes: number;
  concurrency: number;
}

export interface StoreRow {
  name: string;
  kind: 'throughput' | 'saturation';
  store: StoreKind;
  rows: RowSource;
  processes: number;
  concurrency: number;
  n: number;
  jobsPerSec: Spread;
  /** jobs/s over store off's in the same rotation (saturation rows: over the throughput rows' store-off median). */
  ratioToOff: Spread | undefined;
  /** (claim + settle + renew) calls on the worker's JobStore / jobs settled. */
  storeRoundTripsPerJob: Spread;
  /** Median per job by call: claim, settle, renew. */
  byCall: Record<string, number>;
  /** The producer's createJobs calls per job (0 with worker rows). */
  createJobsPerJob: number;
  /** Median rows per call and ms per call. */
  rowsPerClaim: number;
  rowsPerSettle: number;
  claimMs: number;
  settleMs: number;
  createJobsMs: number;
  sqsRequestsPerJob: Spread;
  workerCpuUsPerJob: Spread;
  /** The worker processes' main-thread event-loop utilisation over the drain (mean of the processes), 0–1. */
  workerEventLoopBusy: Spread;
  postgresCpuUsPerJob: Spread | undefined;
  sqsServerCpuUsPerJob: Spread;
  /** This process: the orchestration (its polling, the producer's admin calls); no proxy since issue 17. */
  proxyCpuUsPerJob: Spread;
  /** CPU of all the above over the drain's wall time, in cores. */
  benchCores: Spread;
  /** worker + PostgreSQL + SQS server + proxy CPU per job, µs. */
  allCpuUsPerJob: Spread;
  /**
   * Store off's all-party CPU µs/job over this row's (medians): the throughput ratio a machine that is
   * CPU-bound everywhere would see; steadier than jobs/s on a busy machine.
   */
  cpuRatioToOff: number | undefined;
  /** Every CPU of the machine that was not idle (/proc/stat), in cores: the difference is other load. */
  machineCores: Spread;
  walSyncsPerJob: Spread | undefined;
  walBytesPerJob: Spread | undefined;
  /** Share of the drain's wall time spent in WAL flushes (pg_stat_wal.wal_sync_time). */
  walSyncShare: Spread | undefined;
  executionsPerJob: Spread;
}

export interface StorePickupRow {
  name: string;
  store: StoreKind;
  samples: number;
  intervalMs: number;
  p50: Spread;
  p95: Spread;
  /** p50 minus store off's p50 (same rotation). */
  addedP50: Spread | undefined;
  addedP95: Spread | undefined;
  storeRoundTripsPerJob: Spread;
  createJobsMs: number;
}

export interface StoreReport {
  settings: Record<string, string | number | boolean>;
  postgres: { version: string; settings: Record<string, string> } | undefined;
  throughput: StoreRow[];
  saturation: StoreRow[];
  /** The saturation step after which jobs/s rose less than 10%, and who had the CPU there. */
  knee: string | undefined;
  pickup: StorePickupRow[];
  /** With BENCH_STORE_STATEMENTS=1: pg_stat_statements over every PostgreSQL run of the section. */
  statements: StatementStat[] | undefined;
  targets: { name: string; pass: boolean; detail: string; info?: boolean }[];
  notes: string[];
  durationSeconds: number;
}

const quick = process.env.BENCH_QUICK === '1';
const RUNS = Number(process.env.BENCH_STORE_RUNS ?? (quick ? 1 : 3));
const N = Number(process.env.BENCH_STORE_N ?? (quick ? 1_000 : 3_000));
const TRICKLE = Number(process.env.BENCH_STORE_TRICKLE ?? (quick ? 30 : 200));
const TRICKLE_RUNS = Number(process.env.BENCH_STORE_TRICKLE_RUNS ?? 1);
const TRICKLE_INTERVAL_MS = 100;
const SATURATION_N = Number(process.env.BENCH_STORE_SATURATION_N ?? (quick ? 2_000 : 5_000));
const SATURATION_STEPS = (process.env.BENCH_STORE_SATURATION ?? (quick ? '2x50' : '1x200,4x50'))
  .split(',')
  .filter((s) => s.trim() !== '')
  .map((s) => {
    const [p, c] = s.split('x').map(Number);
    if (!p || !c) throw new Error(`BENCH_STORE_SATURATION: expected steps like 2x50, got ${s}`);
    return { processes: p, concurrency: c };
  });
const STATEMENTS = process.env.BENCH_STORE_STATEMENTS === '1';
const CONCURRENCY = 50;
const GOAL_RATIO = 0.75;
const GOAL_ROUND_TRIPS = 0.3;

/** BENCH_STORE_KINDS: the stores measured (`off` always is: it is every ratio's baseline). */
const KINDS = new Set<StoreKind>(['off', ...((process.env.BENCH_STORE_KINDS ?? 'pglite,postgres').split(',') as StoreKind[])]);
const THROUGHPUT: StoreSpec[] = (<StoreSpec[]>[
  { name: 'store off', store: 'off', rows: 'worker', processes: 1, concurrency: CONCURRENCY },
  { name: 'PGlite in the worker, producer rows', store: 'pglite', rows: 'producer', processes: 1, concurrency: CONCURRENCY },
  { name: 'PGlite in the worker, worker rows', store: 'pglite', rows: 'worker', processes: 1, concurrency: CONCURRENCY },
  { name: 'PostgreSQL, producer rows', store: 'postgres', rows: 'producer', processes: 1, concurrency: CONCURRENCY },
  { name: 'PostgreSQL, worker rows', store: 'postgres', rows: 'worker', processes: 1, concurrency: CONCURRENCY },
]).filter((spec) => KINDS.has(spec.store));

interface CpuSample {
  at: number;
  postgres: number;
  sqsServer: number;
  self: number;
  machineBusyTicks: number;
  wal: WalStats | undefined;
}

interface StoreRun {
  n: number;
  elapsedMs: number;
  /** From the CPU sample before `go` to the one after the last settle (≥ elapsedMs by a poll). */
  windowMs: number;
  jobsPerSec: number;
  sqsRequests: number;
  results: ConsumerResult[];
  store: StoreCallCounts;
  producer: StoreCallCounts | undefined;
  cpu: { worker: number; postgres: number; sqsServer: number; self: number; machineCores: number };
  wal: { syncs: number; syncMs: number; bytes: number } | undefined;
  errors: string[];
}

const log = (line: string): void => void process.stderr.write(`${line}\n`);

function machineBusyTicks(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
  return fields.slice(0, 8).reduce((a, b) => a + b, 0) - fields[3]! - fields[4]!;
}

async function sample(pg: BenchPostgres | undefined, sqsPid: number): Promise<CpuSample> {
  const self = process.cpuUsage();
  return {
    at: Date.now(),
    postgres: pg?.cpuMicros() ?? 0,
    sqsServer: processCpuMicros(sqsPid),
    self: self.user + self.system,
    machineBusyTicks: machineBusyTicks(),
    wal: pg ? await pg.walStats() : undefined,
  };
}

function emptyCounts(): StoreCallCounts {
  return {
    calls: { createJobs: 0, claim: 0, settle: 0, renew: 0, other: 0 },
    rows: { createJobs: 0, claim: 0, settle: 0, renew: 0 },
    ms: { createJobs: 0, claim: 0, settle: 0, renew: 0 },
  };
}

function addCounts(into: StoreCallCounts, more: StoreCallCounts | undefined): StoreCallCounts {
  if (!more) return into;
  for (const table of ['calls', 'rows', 'ms'] as const) {
    const a = into[table] as Record<string, number>;
    const b = more[table] as Record<string, number>;
    for (const key of Object.keys(b)) a[key] = (a[key] ?? 0) + (b[key] ?? 0);
  }
  return into;
}

const workerRoundTrips = (c: StoreCallCounts): number => c.calls.claim + c.calls.settle + c.calls.renew;

class StoreBench {
  readonly #target: Target;
  readonly #sqsPid: number;
  #pg: BenchPostgres | undefined;

  constructor(target: Target, sqsPid: number) {
    this.#target = target;
    this.#sqsPid = sqsPid;
  }

  async postgres(): Promise<BenchPostgres> {
    this.#pg ??= await startBenchPostgres({ statements: STATEMENTS });
    return this.#pg;
  }

  async stop(): Promise<void> {
    await this.#pg?.stop();
  }

  /** A fresh queue (and database), `processes` consumers, the prefill from the consumers, the drain. */
  async drain(spec: StoreSpec, n: number, execArgv: readonly string[] = []): Promise<StoreRun> {
    const queues = await runQueues(this.#target);
    const pg = spec.store === 'postgres' ? await this.postgres() : undefined;
    const db = pg ? await pg.createDatabase() : undefined;
    const store: BenchStoreConfig | undefined =
      spec.store === 'pglite' ? { kind: 'embedded' } : db ? { kind: 'postgres', url: db.url } : undefined;
    const consumers: ConsumerProcess[] = [];
    try {
      const config = {
        ...consumerConfig({ kind: 'calsync', concurrency: spec.concurrency, telemetry: 'off' }, queues, this.#target),
        store,
      };
      for (let i = 0; i < spec.processes; i++) consumers.push(startConsumer(config, execArgv));
      await Promise.all(consumers.map((c) => c.ready));
      // Each process enqueues its share (recording rows through its own store when `producer rows`).
      const record = spec.rows === 'producer' && store !== undefined;
      const shares = consumers.map((_, i) => Math.floor(n / spec.processes) + (i < n % spec.processes ? 1 : 0));
      const enqueued = await Promise.all(consumers.map((c, i) => c.ask({ type: 'enqueue', n: shares[i]!, record }, 'enqueued', 120_000)));
      const producer = store ? enqueued.reduce((sum, e) => addCounts(sum, e.store), emptyCounts()) : undefined;
      const beforeGo = await this.#target.counts();
      const start = await sample(pg, this.#sqsPid);
      for (const c of consumers) c.send({ type: 'go' });
      await within(
        `${n} jobs to settle (${spec.name})`,
        120_000,
        new Promise<void>((resolve) => {
          const timer = setInterval(() => {
            if (consumers.reduce((sum, c) => sum + c.progress.settled, 0) >= n) {
              clearInterval(timer);
              resolve();
            }
          }, 20);
        }),
      );
      const end = await sample(pg, this.#sqsPid);
      const atEnd = await this.#target.counts();
      const results = await Promise.all(consumers.map((c) => c.finish()));
      const elapsedMs = Math.max(...results.map((r) => r.lastSettleAt)) - start.at;
      const seconds = (end.at - start.at) / 1000;
      return {
        n,
        elapsedMs,
        windowMs: end.at - start.at,
        jobsPerSec: (n / elapsedMs) * 1000,
        sqsRequests: total(diffCounts(atEnd, beforeGo)),
        results,
        store: results.reduce((sum, r) => addCounts(sum, r.store), emptyCounts()),
        producer,
        cpu: {
          worker: results.reduce((s, r) => s + r.cpuMicros, 0),
          postgres: end.postgres - start.postgres,
          sqsServer: end.sqsServer - start.sqsServer,
          self: end.self - start.self,
          machineCores: (end.machineBusyTicks - start.machineBusyTicks) / CLOCK_TICKS_PER_SECOND / seconds,
        },
        wal:
          start.wal && end.wal
            ? { syncs: end.wal.syncs - start.wal.syncs, syncMs: end.wal.syncMs - start.wal.syncMs, bytes: end.wal.bytes - start.wal.bytes }
            : undefined,
        errors: consumers.flatMap((c) => c.errors),
      };
    } finally {
      await Promise.all(consumers.map((c) => c.kill()));
      await queues.dispose();
      await db?.drop().catch(() => undefined);
    }
  }

  /**
   * One consumer per store kind (c=10, as the main pickup rows), each on its own queue, all idle a
   * second, then one job every `intervalMs` from each consumer's own process, the kinds' schedules
   * offset by `intervalMs / kinds` so no two sends coincide: at 10 jobs/s each, the three share the
   * machine without waiting on one another, and the trickle takes one third of the time.
   */
  async trickles(kinds: readonly StoreKind[], count: number, intervalMs: number): Promise<Map<StoreKind, TrickleResult>> {
    const runs: { kind: StoreKind; queues: RunQueues; db: BenchDatabase | undefined; consumer: ConsumerProcess | undefined }[] = [];
    try {
      for (const kind of kinds) {
        const queues = await runQueues(this.#target);
        const pg = kind === 'postgres' ? await this.postgres() : undefined;
        runs.push({ kind, queues, db: pg ? await pg.createDatabase() : undefined, consumer: undefined });
      }
      for (const run of runs) {
        const store: BenchStoreConfig | undefined =
          run.kind === 'pglite' ? { kind: 'embedded' } : run.db ? { kind: 'postgres', url: run.db.url } : undefined;
        run.consumer = startConsumer({
          ...consumerConfig({ kind: 'calsync', concurrency: 10, telemetry: 'off' }, run.queues, this.#target),
          store,
        });
      }
      await Promise.all(runs.map((r) => r.consumer!.ready));
      for (const r of runs) r.consumer!.send({ type: 'go' });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await Promise.all(
        runs.map(async (r, i) => {
          await new Promise((resolve) => setTimeout(resolve, (i * intervalMs) / runs.length));
          const ask = { type: 'trickle', count, intervalMs, record: r.kind !== 'off' } as const;
          await r.consumer!.ask(ask, 'trickled', count * intervalMs + 60_000);
        }),
      );
      await within(
        'trickle jobs to settle',
        60_000,
        new Promise<void>((resolve) => {
          const timer = setInterval(() => {
            if (runs.every((r) => r.consumer!.progress.settled >= count)) {
              clearInterval(timer);
              resolve();
            }
          }, 20);
        }),
      );
      const results = await Promise.all(runs.map((r) => r.consumer!.finish()));
      return new Map(
        runs.map((r, i) => [r.kind, { latencies: results[i]!.storePickupMs ?? [], store: results[i]!.store ?? emptyCounts() }]),
      );
    } finally {
      await Promise.all(runs.map((r) => r.consumer?.kill()));
      for (const r of runs) {
        await r.queues.dispose();
        await r.db?.drop().catch(() => undefined);
      }
    }
  }
}

interface TrickleResult {
  latencies: number[];
  store: StoreCallCounts;
}

function perCall(runs: StoreRun[], kind: 'claim' | 'settle' | 'createJobs', what: 'rows' | 'ms'): number {
  return median(
    runs.flatMap((r) => {
      const counts = kind === 'createJobs' ? r.producer : r.store;
      if (!counts || counts.calls[kind] === 0) return [];
      return [counts[what][kind] / counts.calls[kind]];
    }),
  );
}

function row(kind: StoreRow['kind'], spec: StoreSpec, runs: StoreRun[], ratios: number[] | undefined): StoreRow {
  const n = runs[0]!.n;
  const perJob = (f: (r: StoreRun) => number): Spread => spread(runs.map((r) => f(r) / r.n));
  const pg = spec.store === 'postgres';
  // Over the same window as the machine's figure; the workers' CPU runs on to their stop (a few ms more).
  const cores = (r: StoreRun): number => (r.cpu.worker + r.cpu.postgres + r.cpu.sqsServer + r.cpu.self) / 1000 / r.windowMs;
  return {
    name: spec.name,
    kind,
    store: spec.store,
    rows: spec.rows,
    processes: spec.processes,
    concurrency: spec.concurrency,
    n,
    jobsPerSec: spread(runs.map((r) => r.jobsPerSec)),
    ratioToOff: ratios ? spread(ratios) : undefined,
    storeRoundTripsPerJob: perJob((r) => workerRoundTrips(r.store)),
    byCall: Object.fromEntries((['claim', 'settle', 'renew'] as const).map((k) => [k, median(runs.map((r) => r.store.calls[k] / r.n))])),
    createJobsPerJob: median(runs.map((r) => (r.producer?.calls.createJobs ?? 0) / r.n)),
    rowsPerClaim: perCall(runs, 'claim', 'rows'),
    rowsPerSettle: perCall(runs, 'settle', 'rows'),
    claimMs: perCall(runs, 'claim', 'ms'),
    settleMs: perCall(runs, 'settle', 'ms'),
    createJobsMs: perCall(runs, 'createJobs', 'ms'),
    sqsRequestsPerJob: perJob((r) => r.sqsRequests),
    workerCpuUsPerJob: perJob((r) => r.cpu.worker),
    workerEventLoopBusy: spread(runs.map((r) => r.results.reduce((s, x) => s + (x.eventLoopBusy ?? Number.NaN), 0) / r.results.length)),
    postgresCpuUsPerJob: pg ? perJob((r) => r.cpu.postgres) : undefined,
    sqsServerCpuUsPerJob: perJob((r) => r.cpu.sqsServer),
    proxyCpuUsPerJob: perJob((r) => r.cpu.self),
    benchCores: spread(runs.map(cores)),
    allCpuUsPerJob: perJob((r) => r.cpu.worker + r.cpu.postgres + r.cpu.sqsServer + r.cpu.self),
    cpuRatioToOff: undefined,
    machineCores: spread(runs.map((r) => r.cpu.machineCores)),
    walSyncsPerJob: pg ? perJob((r) => r.wal?.syncs ?? Number.NaN) : undefined,
    walBytesPerJob: pg ? perJob((r) => r.wal?.bytes ?? Number.NaN) : undefined,
    walSyncShare: pg ? spread(runs.map((r) => (r.wal?.syncMs ?? Number.NaN) / r.elapsedMs)) : undefined,
    executionsPerJob: perJob((r) => r.results.reduce((s, x) => s + x.executions, 0)),
  };
}

function describeRun(spec: StoreSpec, r: StoreRun): string {
  const rt = workerRoundTrips(r.store) / r.n;
  return (
    `${r.jobsPerSec.toFixed(0)} jobs/s, worker event loop ${((r.results.reduce((s, x) => s + (x.eventLoopBusy ?? 0), 0) / r.results.length) * 100).toFixed(0)}% busy, store ${rt.toFixed(3)} rt/job (claim ${r.store.calls.claim}, settle ${r.store.calls.settle}, renew ${r.store.calls.renew}` +
    `${r.producer ? `, producer createJobs ${r.producer.calls.createJobs}` : ''}), CPU µs/job worker ${(r.cpu.worker / r.n).toFixed(0)}` +
    `${spec.store === 'postgres' ? ` postgres ${(r.cpu.postgres / r.n).toFixed(0)}` : ''} sqs ${(r.cpu.sqsServer / r.n).toFixed(0)} bench ${(r.cpu.self / r.n).toFixed(0)}, machine ${r.cpu.machineCores.toFixed(2)} cores` +
    `${r.wal ? `, WAL syncs ${r.wal.syncs} (${r.wal.syncMs.toFixed(0)} ms)` : ''}${r.errors.length ? ` errors: ${r.errors.slice(0, 2).join(' | ')}` : ''}`
  );
}

/** One drain with `execArgv` for the consumer (bench/profile.ts: `--cpu-prof`); resolves to its log line. */
export async function profileStoreDrain(
  target: Target,
  sqsPid: number,
  store: StoreKind,
  rows: RowSource,
  concurrency: number,
  n: number,
  execArgv: readonly string[],
): Promise<string> {
  const bench = new StoreBench(target, sqsPid);
  try {
    const spec: StoreSpec = { name: `store ${store}, ${rows} rows`, store, rows, processes: 1, concurrency };
    return `${spec.name}: ${describeRun(spec, await bench.drain(spec, n, execArgv))}`;
  } finally {
    await bench.stop();
  }
}

/** Runs every store scenario against `target` (fauxqs, connected to directly; `sqsPid` its process). */
export async function storeScenarios(target: Target, sqsPid: number): Promise<StoreReport> {
  const started = Date.now();
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(0)}s`;
  const bench = new StoreBench(target, sqsPid);
  const report: StoreReport = {
    settings: {
      runs: RUNS,
      jobsPerRun: N,
      concurrency: CONCURRENCY,
      trickleJobs: TRICKLE,
      trickleIntervalMs: TRICKLE_INTERVAL_MS,
      trickleRuns: TRICKLE_RUNS,
      saturationJobsPerRun: SATURATION_N,
      saturationSteps: ['1x50', ...SATURATION_STEPS.map((s) => `${s.processes}x${s.concurrency}`)].join(','),
    },
    postgres: undefined,
    throughput: [],
    saturation: [],
    knee: undefined,
    pickup: [],
    statements: undefined,
    targets: [],
    notes: [],
    durationSeconds: 0,
  };
  try {
    const pg = await bench.postgres();
    report.postgres = { version: pg.version, settings: pg.settings };
    log(`[store ${elapsed()}] PostgreSQL ${pg.version} (pid ${pg.pid}): ${JSON.stringify(pg.settings)}`);

    // 1–2. Throughput and round trips; the order rotates each run so drift spreads over every row.
    const runs = new Map<string, StoreRun[]>(THROUGHPUT.map((s) => [s.name, []]));
    for (let rep = 0; rep < RUNS; rep++) {
      const order = THROUGHPUT.map((_, i) => THROUGHPUT[(i + rep) % THROUGHPUT.length]!);
      for (const spec of order) {
        const r = await bench.drain(spec, N);
        runs.get(spec.name)!.push(r);
        log(`[store ${elapsed()}] run ${rep + 1}/${RUNS} ${spec.name}: ${describeRun(spec, r)}`);
      }
    }
    const off = runs.get('store off')!;
    const offMedian = median(off.map((r) => r.jobsPerSec));
    report.throughput = THROUGHPUT.map((spec) => {
      const rs = runs.get(spec.name)!;
      return row('throughput', spec, rs, spec.store === 'off' ? undefined : rs.map((r, i) => r.jobsPerSec / off[i]!.jobsPerSec));
    });
    const offCpu = report.throughput.find((r) => r.store === 'off')!.allCpuUsPerJob.median;
    for (const r of report.throughput) if (r.store !== 'off') r.cpuRatioToOff = offCpu / r.allCpuUsPerJob.median;

    // 4. PostgreSQL under more load: the 1×50 step is the throughput row; then more processes.
    const base = THROUGHPUT.find((s) => s.store === 'postgres' && s.rows === 'producer');
    // Without PostgreSQL among BENCH_STORE_KINDS there are no steps.
    if (base)
      report.saturation.push({
        ...report.throughput.find((r) => r.name === base.name)!,
        kind: 'saturation',
        name: '1 process × c=50 (the row above)',
      });
    const steps: StoreSpec[] = base
      ? SATURATION_STEPS.map((step) => ({
          ...base,
          ...step,
          name: `${step.processes} process${step.processes === 1 ? '' : 'es'} × c=${step.concurrency}`,
        }))
      : [];
    for (const spec of steps) {
      const rs: StoreRun[] = [];
      for (let rep = 0; rep < RUNS; rep++) {
        rs.push(await bench.drain(spec, SATURATION_N));
        log(`[store ${elapsed()}] saturation ${spec.name} run ${rep + 1}: ${describeRun(spec, rs.at(-1)!)}`);
      }
      const stepRow = row(
        'saturation',
        spec,
        rs,
        rs.map((r) => r.jobsPerSec / offMedian),
      );
      stepRow.cpuRatioToOff = offCpu / stepRow.allCpuUsPerJob.median;
      report.saturation.push(stepRow);
    }
    report.knee = knee(report.saturation);

    // 3. Pickup at a trickle, store off / PGlite / PostgreSQL at once (staggered), the order rotated.
    const kinds = (['off', 'pglite', 'postgres'] as const).filter((k) => KINDS.has(k));
    const trickles = new Map<StoreKind, TrickleResult[]>(kinds.map((k) => [k, []]));
    for (let rep = 0; rep < TRICKLE_RUNS; rep++) {
      const results = await bench.trickles(
        kinds.map((_, i) => kinds[(i + rep) % kinds.length]!),
        TRICKLE,
        TRICKLE_INTERVAL_MS,
      );
      for (const k of kinds) {
        const t = results.get(k)!;
        trickles.get(k)!.push(t);
        log(
          `[store ${elapsed()}] trickle run ${rep + 1}/${TRICKLE_RUNS} store ${k}: p50 ${percentile(t.latencies, 50).toFixed(1)} ms, p95 ${percentile(t.latencies, 95).toFixed(1)} ms, ${t.latencies.length} samples, store calls ${JSON.stringify(t.store.calls)}`,
        );
      }
    }
    const offT = trickles.get('off')!;
    report.pickup = kinds.map((k) => {
      const ts = trickles.get(k)!;
      const p = (q: number) => ts.map((t) => percentile(t.latencies, q));
      const added = (q: number) =>
        k === 'off' ? undefined : spread(ts.map((t, i) => percentile(t.latencies, q) - percentile(offT[i]!.latencies, q)));
      return {
        name: k === 'off' ? 'trickle, store off' : k === 'pglite' ? 'trickle, PGlite in the worker' : 'trickle, PostgreSQL',
        store: k,
        samples: ts[0]!.latencies.length,
        intervalMs: TRICKLE_INTERVAL_MS,
        p50: spread(p(50)),
        p95: spread(p(95)),
        addedP50: added(50),
        addedP95: added(95),
        storeRoundTripsPerJob: spread(ts.map((t) => workerRoundTrips(t.store) / TRICKLE)),
        createJobsMs: median(ts.flatMap((t) => (t.store.calls.createJobs > 0 ? [t.store.ms.createJobs / t.store.calls.createJobs] : []))),
      };
    });
    report.statements = await pg.statements();
  } finally {
    await bench.stop();
  }
  report.targets = targets(report);
  report.notes.push(
    `PostgreSQL ${report.postgres?.version ?? '?'}: a private cluster on 127.0.0.1 started for this run with the server's defaults (fsync ${report.postgres?.settings.fsync}, synchronous_commit ${report.postgres?.settings.synchronous_commit}, wal_sync_method ${report.postgres?.settings.wal_sync_method}, shared_buffers ${report.postgres?.settings.shared_buffers} × 8 KiB), a fresh database per run; each worker process has a pool of 10 (PostgresJobStore.connect's default).`,
    "The worker runs with OpenTelemetry off (OTEL_SDK_DISABLED: no SDK registered), as before issue 17, so these rows compare with earlier runs of this section; the main table's calsync-jobs rows run with the CLI's default telemetry.",
    'PGlite runs in the worker process, on its main thread, through one connection (src/store/embedded.ts), as `npm start` runs it; its CPU is part of the worker CPU µs/job.',
    '"producer rows": before `go`, each worker process enqueues its share through a JobQueue whose recorder is its own store (JobStore.createJobs of 10 before each SendMessageBatch of 10), as a producer with the store does; "worker rows": the same sends without a recorder, and the claim creates each row on first receipt.',
    "Store round trips per job = (claim + settle + renew) calls on the worker's JobStore from `go` to stop / jobs settled; the producer's createJobs are counted apart. These are calls: calls that wait for a connection run joined into one statement (src/store/batch-coalescer.ts), so PGlite's one connection runs fewer statements than this. Renewals run every third of the visibility timeout (30 s here, so every 10 s): a drain of a few seconds makes none; at steady load they add one round trip per worker per 10 s.",
    'CPU: worker = the consumer processes\' own user + system time from `go` to stop; PostgreSQL = /proc/PID/stat of the postmaster, its living children and the children it reaped; SQS server = the fauxqs process (every client connects to it directly, its requests counted inside it); bench = this process (the orchestration). "bench cores" is their sum over the drain\'s wall time; "machine cores" is every non-idle CPU in /proc/stat over the same time, so machine minus bench is load from outside the bench.',
    'Everything shares the 2 cores: client, SQS server, the bench process and PostgreSQL. The saturation steps therefore find where this machine stops scaling, not what PostgreSQL alone could do; "PostgreSQL-bound ceiling" = cores × 10⁶ / PostgreSQL CPU µs/job is what PostgreSQL could do with the whole machine at the measured cost per job.',
    `Pickup at a trickle: one job every ${TRICKLE_INTERVAL_MS} ms, enqueued from the worker's own process (the same clock): from the moment its SQS send began (with a store, after its createJobs returned) to its handler start; concurrency 10 (pollers 1), as the main pickup rows. The three kinds trickle at the same time, each into its own worker and queue, their sends offset by a third of the interval.`,
  );
  report.durationSeconds = (Date.now() - started) / 1000;
  return report;
}

/**
 * The step with the most jobs/s (median), every step's figure in order of load, and who had the CPU
 * there: a later step that did not beat it by 10% means more load no longer helped.
 */
function knee(steps: StoreRow[]): string | undefined {
  if (steps.length < 2) return undefined;
  const best = steps.reduce((a, b) => (b.jobsPerSec.median > a.jobsPerSec.median ? b : a));
  const later = steps.slice(steps.indexOf(best) + 1);
  const share = (usPerJob: number): string => ((usPerJob * best.jobsPerSec.median) / 1e6).toFixed(2);
  const pgUs = best.postgresCpuUsPerJob?.median ?? Number.NaN;
  const cores = Number(best.machineCores.median.toFixed(2));
  return (
    `steps ${steps.map((s) => `${s.name.replace(' (the row above)', '')} ${s.jobsPerSec.median.toFixed(0)}`).join(' → ')} jobs/s. ` +
    `Most: ${best.name.replace(' (the row above)', '')} at ${best.jobsPerSec.median.toFixed(0)} jobs/s` +
    `${later.length > 0 ? ' (more load after it did not help)' : ' (the last step: more load may still help)'}. ` +
    `There, in cores: workers ${share(best.workerCpuUsPerJob.median)} (main thread ${(best.workerEventLoopBusy.median * 100).toFixed(0)}% busy), ` +
    `PostgreSQL ${share(pgUs)}, SQS server ${share(best.sqsServerCpuUsPerJob.median)}, bench ${share(best.proxyCpuUsPerJob.median)}; ` +
    `whole machine ${cores} of 2. PostgreSQL itself at ${pgUs.toFixed(0)} µs/job would saturate both cores at ${(2e6 / pgUs).toFixed(0)} jobs/s.`
  );
}

function targets(report: StoreReport): StoreReport['targets'] {
  const out: StoreReport['targets'] = [];
  const on = report.throughput.filter((r) => r.store !== 'off');
  if (on.length === 0) return out;
  const worst = on.reduce((a, b) => ((b.ratioToOff?.median ?? 0) < (a.ratioToOff?.median ?? 0) ? b : a));
  out.push({
    name: `store on ≥ ${GOAL_RATIO} × store off (jobs/s, c=${CONCURRENCY})`,
    pass: on.every((r) => (r.ratioToOff?.median ?? 0) >= GOAL_RATIO),
    detail:
      `${on.map((r) => `${r.name}: ${fmt(r.ratioToOff!, 2)}`).join(', ')}; worst ${worst.name}` +
      `; by all-party CPU µs/job (store off's / this): ${on.map((r) => `${r.name}: ${r.cpuRatioToOff?.toFixed(2)}`).join(', ')}`,
  });
  const worstRt = on.reduce((a, b) => (b.storeRoundTripsPerJob.median > a.storeRoundTripsPerJob.median ? b : a));
  out.push({
    name: `≤ ${GOAL_ROUND_TRIPS} store round trips per job (worker: claim + settle + renew) at load`,
    pass: on.every((r) => r.storeRoundTripsPerJob.median <= GOAL_ROUND_TRIPS),
    detail:
      `${on.map((r) => `${r.name}: ${r.storeRoundTripsPerJob.median.toFixed(3)}`).join(', ')}; worst ${worstRt.name}` +
      `; with the producer's createJobs: +${Math.max(...on.map((r) => r.createJobsPerJob)).toFixed(3)}`,
  });
  for (const p of report.pickup.filter((x) => x.addedP50)) {
    out.push({
      name: `pickup added at a trickle, ${p.name.replace('trickle, ', '')}`,
      pass: true,
      info: true,
      detail: `p50 ${signed(p.addedP50!)} ms, p95 ${signed(p.addedP95!)} ms (p50 ${fmt(p.p50, 1)}, p95 ${fmt(p.p95, 1)} ms)`,
    });
  }
  if (report.knee) out.push({ name: 'PostgreSQL saturation on this machine', pass: true, info: true, detail: report.knee });
  return out;
}

const dash = (s: Spread | undefined, digits = 0): string => (s ? fmt(s, digits) : '–');
/** `+3.1 (+2.0–+4.2)`, `-1.0` */
const signed = (s: Spread): string => fmt(s, 1).replace(/(^|[(–])(?=\d)/g, '$1+');

export function storeMarkdown(report: StoreReport): string {
  const lines: string[] = [];
  lines.push(
    `## Job store: store off vs PGlite vs PostgreSQL (calsync-jobs, no-op job, c=${report.settings.concurrency}, ${report.settings.jobsPerRun} jobs per run, ${report.settings.runs} runs rotated)`,
    '',
  );
  lines.push(
    '| scenario | jobs/s | × store off | × store off by CPU/job | store round trips/job (claim, settle, renew) | + producer createJobs/job | worker CPU µs/job | worker main thread busy | PostgreSQL CPU µs/job | SQS server CPU µs/job | bench process CPU µs/job | bench / machine cores busy | SQS req/job | pickup p50 / p95 ms (added p50 / p95) |',
  );
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const calls = (r: StoreRow): string =>
    `${fmt(r.storeRoundTripsPerJob, 3)} (${['claim', 'settle', 'renew'].map((k) => (r.byCall[k] ?? 0).toFixed(3)).join(', ')})`;
  const rowLine = (label: string, r: StoreRow): string =>
    `| ${label} | ${fmt(r.jobsPerSec)} | ${dash(r.ratioToOff, 2)} | ${r.cpuRatioToOff === undefined ? '–' : r.cpuRatioToOff.toFixed(2)} | ${r.store === 'off' ? '–' : calls(r)} | ${r.store === 'off' ? '–' : r.createJobsPerJob.toFixed(3)} | ${fmt(r.workerCpuUsPerJob)} | ${(r.workerEventLoopBusy.median * 100).toFixed(0)}% | ${dash(r.postgresCpuUsPerJob)} | ${fmt(r.sqsServerCpuUsPerJob)} | ${fmt(r.proxyCpuUsPerJob)} | ${r.benchCores.median.toFixed(2)} / ${r.machineCores.median.toFixed(2)} | ${fmt(r.sqsRequestsPerJob, 3)} | – |`;
  for (const r of report.throughput) lines.push(rowLine(r.name, r));
  for (const r of report.saturation.slice(1))
    lines.push(rowLine(`PostgreSQL, producer rows, **${r.name}** (${r.n} jobs, ${r.jobsPerSec.runs} runs; × the store-off median)`, r));
  for (const p of report.pickup) {
    lines.push(
      `| ${p.name} (1 job / ${p.intervalMs} ms, ${p.samples} jobs, c=10) | ${(1000 / p.intervalMs).toFixed(0)} | – | – | ${p.store === 'off' ? '–' : fmt(p.storeRoundTripsPerJob, 2)} | ${p.store === 'off' ? '–' : '1.000'} | | | | | | | | ${fmt(p.p50, 1)} / ${fmt(p.p95, 1)}${p.addedP50 ? ` (${signed(p.addedP50)} / ${signed(p.addedP95!)})` : ''} |`,
    );
  }
  lines.push('', '### Store calls in detail (medians per call)', '');
  lines.push(
    '| scenario | rows/claim | ms/claim | rows/settle | ms/settle | ms/createJobs (producer) | WAL flushes/job | WAL bytes/job | share of wall time in WAL flushes | executions/job |',
  );
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of [...report.throughput.filter((x) => x.store !== 'off'), ...report.saturation.slice(1)]) {
    const f = (v: number, d: number): string => (Number.isFinite(v) ? v.toFixed(d) : '–');
    lines.push(
      `| ${r.kind === 'saturation' ? `PostgreSQL, ${r.name}` : r.name} | ${f(r.rowsPerClaim, 1)} | ${f(r.claimMs, 2)} | ${f(r.rowsPerSettle, 1)} | ${f(r.settleMs, 2)} | ${f(r.createJobsMs, 2)} | ${dash(r.walSyncsPerJob, 3)} | ${dash(r.walBytesPerJob)} | ${r.walSyncShare ? `${(r.walSyncShare.median * 100).toFixed(0)}%` : '–'} | ${fmt(r.executionsPerJob, 3)} |`,
    );
  }
  for (const p of report.pickup.filter((x) => x.store !== 'off'))
    lines.push(`| ${p.name} | | | | | ${Number.isFinite(p.createJobsMs) ? p.createJobsMs.toFixed(2) : '–'} | | | | |`);
  if (report.knee) lines.push('', `**Saturation knee:** ${report.knee}`);
  if (report.statements) {
    lines.push('', '### PostgreSQL statements (pg_stat_statements over every PostgreSQL run above; BENCH_STORE_STATEMENTS=1)', '');
    lines.push(
      '| statement | calls | rows/call | plan ms/call | exec ms/call | WAL bytes/call | buffers/call |',
      '|---|---:|---:|---:|---:|---:|---:|',
    );
    for (const st of report.statements) {
      const text = st.query.length > 90 ? `${st.query.slice(0, 90)}…` : st.query;
      lines.push(
        `| \`${text.replaceAll('|', '\\|')}\` | ${st.calls} | ${st.rowsPerCall.toFixed(1)} | ${st.planMsPerCall.toFixed(3)} | ${st.execMsPerCall.toFixed(3)} | ${st.walBytesPerCall.toFixed(0)} | ${st.buffersPerCall.toFixed(0)} |`,
      );
    }
  }
  lines.push('', '### Store targets', '');
  for (const t of report.targets) lines.push(`- ${t.info ? 'INFO' : t.pass ? 'PASS' : 'FAIL'} ${t.name}: ${t.detail}`);
  lines.push('', '### Store notes', '');
  for (const n of report.notes) lines.push(`- ${n}`);
  return `${lines.join('\n')}\n`;
}
