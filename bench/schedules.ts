/**
 * The scheduler's cost (issue 14; `npm run bench -- --only schedules`): 100,000 schedules every
 * 5 minutes on one PostgreSQL 15 (bench/postgres-server.ts: fsync on) with 2 worker processes
 * (bench/children/scheduler-worker.ts), each running the scheduler and the no-op tick jobs.
 *
 * The schedules are the real thing, not compressed: every 5 min, with a jitter of just under 5 min,
 * all anchored at the same start, so their fire times spread evenly over the 5 minutes (≈333 ticks/s).
 * What is measured is a window of that cycle (BENCH_SCHEDULES_SECONDS, default 45 s: ≈15,000 ticks),
 * not the whole 5 minutes, so the section takes about 2–3 minutes.
 *
 * - Store round trips per tick: the scheduler's claimDue (empty polls included), advance and
 *   createJobs calls of both workers over the ticks they fired; the job path's claim, settle and renew apart.
 * - Worker CPU per tick (both workers' user + system CPU over the window, per tick: scheduling and
 *   running the tick's job), against a baseline in the same invocation: the same two workers with the
 *   scheduler off, running the same rate of the same job enqueued by this process (CPU per job).
 * - PostgreSQL CPU per tick (the postmaster and its backends), the same way.
 * - Lag p50/p99: a tick's fire time (its time plus jitter) to its job enqueued (goal: p99 within 1 s).
 *   The three seconds of the window with the latest ticks say whether a p99 is spread or one stall.
 *
 * The rows are inserted with SQL in batches (the timing computed by src/store/schedule-timing.ts, as
 * `schedules.upsert` would): 100,000 upserts one by one would only measure the seeding.
 * Knobs: BENCH_SCHEDULES_N (100000), BENCH_SCHEDULES_SECONDS (45), BENCH_SCHEDULES_PASSES (the
 * scheduler's passes at once; its default, 2); BENCH_QUICK: 10,000 and 15 s.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { ensureQueues } from '../src/ops/ensure-queues.js';
import { JobQueue } from '../src/queue/job-queue.js';
import { SqsTransport } from '../src/queue/sqs/sqs-transport.js';
import { fireAt } from '../src/store/schedule-timing.js';
import { PostgresJobStore } from '../src/store/postgres-store.js';
import { storeRecorder } from '../src/store/store-recorder.js';
import type { SchedulerWorkerConfig, SchedulerWorkerResult } from './children/scheduler-worker.js';
import { startBenchPostgres } from './postgres-server.js';
import { BENCH_DIR, stopChild, within } from './processes.js';
import { percentile } from './stats.js';

const quick = process.env.BENCH_QUICK === '1';
const N = Number(process.env.BENCH_SCHEDULES_N ?? (quick ? 10_000 : 100_000));
const WINDOW_S = Number(process.env.BENCH_SCHEDULES_SECONDS ?? (quick ? 15 : 45));
const EVERY_MS = 300_000;
const WORKERS = 2;
const P99_GOAL_MS = 1_000;

export interface ScheduleBenchReport {
  schedules: number;
  everyMs: number;
  windowSeconds: number;
  workers: number;
  postgres: { version: string; settings: Record<string, string> };
  ticks: number;
  ticksPerSecond: number;
  jobsRun: number;
  roundTripsPerTick: { claimDue: number; advance: number; createJobs: number; total: number };
  jobPathCallsPerTick: number;
  lagMs: { p50: number; p99: number; max: number };
  /** The seconds of the window with the latest ticks: offset from the window's start, ticks in it, their max lag. */
  worstSeconds: Array<{ second: number; ticks: number; maxLagMs: number }>;
  workerCpuUsPerTick: number;
  baselineWorkerCpuUsPerJob: number;
  cpuRatioToBaseline: number;
  postgresCpuUsPerTick: number;
  baselinePostgresCpuUsPerJob: number;
  targets: { name: string; pass: boolean; detail: string }[];
}

interface Child {
  ready: Promise<void>;
  start(): void;
  stop(): Promise<SchedulerWorkerResult>;
  kill(): Promise<void>;
}

function startChild(config: SchedulerWorkerConfig): Child {
  const child = fork(join(BENCH_DIR, 'children', 'scheduler-worker.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_SCHEDULER_WORKER: JSON.stringify(config), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  let onReady!: () => void;
  let onResult: ((r: SchedulerWorkerResult) => void) | undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.on('message', (message: { type: string }) => {
    if (message.type === 'ready') onReady();
    if (message.type === 'result') onResult?.(message as SchedulerWorkerResult);
  });
  return {
    ready: within('a scheduler worker to start', 60_000, ready),
    start: () => child.send({ type: 'start' }),
    stop: () =>
      within(
        'a scheduler worker to report',
        30_000,
        new Promise<SchedulerWorkerResult>((resolve) => {
          onResult = resolve;
          child.send({ type: 'stop' });
        }),
      ),
    kill: () => stopChild(child),
  };
}

const sleepUntil = (at: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/** Inserts `n` schedules every 5 min anchored at `startAt`, their first fire times spread over the 5 minutes after it. */
async function seed(url: string, n: number, startAt: number): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    for (let from = 0; from < n; from += 5_000) {
      const rows = [];
      for (let i = from; i < Math.min(n, from + 5_000); i++) {
        const id = `account-${String(i).padStart(6, '0')}`;
        rows.push({ id, fire: fireAt({ id, jitterMs: EVERY_MS - 1 }, startAt) });
      }
      await pool.query(
        `INSERT INTO calsync_jobs.schedules (id, job_type, payload_box, every_ms, jitter_ms, overlap, catchup_window_ms, start_at,
           next_tick_at, next_fire_at, due_at)
         SELECT r.id, 'bench.tick', '{"v":{"n":1}}'::jsonb, $2, $3, 'skip', 60000, to_timestamp($4 / 1000.0),
           to_timestamp($4 / 1000.0), to_timestamp(r.fire / 1000.0), to_timestamp(r.fire / 1000.0)
         FROM jsonb_to_recordset($1::jsonb) AS r(id text, fire float8)`,
        [JSON.stringify(rows), EVERY_MS, EVERY_MS - 1, startAt],
      );
    }
    // Vacuumed now, not by autovacuum inside the window: with fsync on, its pass over the 100,000
    // rows just inserted stalled the scheduler's commits for about 1.5 s there (the window's latest
    // second: +35 s, 825 ticks at once, 1.8 s late; p99 1.4–1.6 s in two of four runs). A table of
    // schedules that grew over weeks is not vacuumed whole the minute after it was written.
    await pool.query('VACUUM (ANALYZE) calsync_jobs.schedules');
  } finally {
    await pool.end();
  }
}

export async function scheduleBench(sqsEndpoint: string, log: (line: string) => void): Promise<ScheduleBenchReport> {
  const postgres = await startBenchPostgres();
  const transport = new SqsTransport({ endpoint: sqsEndpoint, region: 'us-east-1' });
  const children: Child[] = [];
  try {
    const database = await postgres.createDatabase();
    const store = await PostgresJobStore.connect(database.url, { max: 4 });
    // Queues of their own per phase: the baseline's leftovers must not reach the scheduler's workers.
    const baselineQueues = await ensureQueues(transport, { prefix: `bench-base-${process.pid}`, maxReceiveCount: 5 });
    const queues = await ensureQueues(transport, { prefix: `bench-sched-${process.pid}`, maxReceiveCount: 5 });
    const config = (scheduler: boolean): SchedulerWorkerConfig => ({
      sqsEndpoint,
      queueUrl: (scheduler ? queues : baselineQueues).mainQueueUrl,
      dlqUrl: (scheduler ? queues : baselineQueues).dlqUrl,
      storeUrl: database.url,
      scheduler,
      passes: process.env.BENCH_SCHEDULES_PASSES === undefined ? undefined : Number(process.env.BENCH_SCHEDULES_PASSES),
    });

    // Baseline first: the same workers, scheduler off, the same job at the same rate from a producer.
    const rate = N / (EVERY_MS / 1000);
    log(`schedules: baseline, 2 workers without the scheduler, ${rate.toFixed(0)} jobs/s for ${WINDOW_S} s`);
    for (let i = 0; i < WORKERS; i++) children.push(startChild(config(false)));
    await Promise.all(children.map((c) => c.ready));
    const producer = new JobQueue({
      transport,
      queueUrl: baselineQueues.mainQueueUrl,
      recorder: storeRecorder(store, { enabled: true, redactPaths: [] }),
    });
    let pgCpu = postgres.cpuMicros();
    for (const c of children) c.start();
    const baselineEnds = Date.now() + WINDOW_S * 1000;
    let sent = 0;
    let failedSends = 0;
    // Batches of 10 every 10 / rate seconds (the tick rate, as SendMessageBatch carries it), several in
    // flight so a slow commit does not slow the rate; the window ends on time whatever was sent.
    const inFlight = new Set<Promise<unknown>>();
    for (let next = Date.now(); Date.now() < baselineEnds; next += (10 / rate) * 1000) {
      await sleepUntil(next);
      if (inFlight.size >= 16) await Promise.race(inFlight);
      const sending = producer.enqueueMany(Array.from({ length: 10 }, () => ({ type: 'bench.tick', payload: { n: 1 } })));
      inFlight.add(sending);
      void sending
        .finally(() => inFlight.delete(sending))
        .catch((error: unknown) => {
          if (failedSends++ === 0) log(`schedules: a baseline send failed: ${String(error)}`);
        });
      sent += 10;
    }
    await Promise.allSettled([...inFlight]);
    // CPU is counted until the workers stop: let them finish what was sent (bounded).
    const drainedBy = Date.now() + 20_000;
    while (Date.now() < drainedBy && (await transport.depth(baselineQueues.mainQueueUrl)).visible > 0)
      await new Promise((resolve) => setTimeout(resolve, 500));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const baseline = await Promise.all(children.map((c) => c.stop()));
    const baselinePgCpu = postgres.cpuMicros() - pgCpu;
    await Promise.all(children.splice(0).map((c) => c.kill()));
    const baselineJobs = sum(baseline.map((r) => r.jobsRun));
    log(`schedules: baseline ran ${baselineJobs} of ${sent} jobs (${(sent / WINDOW_S).toFixed(0)}/s sent)`);

    // The scheduler: workers first (nothing is due yet), then 100,000 schedules whose first fires
    // spread over the 5 minutes from startAt, far enough ahead for the seeding to finish.
    for (let i = 0; i < WORKERS; i++) children.push(startChild(config(true)));
    await Promise.all(children.map((c) => c.ready));
    const startAt = Date.now() + 45_000;
    log(`schedules: seeding ${N} schedules every 5 min, the first fires from ${new Date(startAt).toISOString()}`);
    await seed(database.url, N, startAt);
    if (Date.now() > startAt) throw new Error(`seeding ${N} schedules outlasted the 45 s before their first fire time`);
    await sleepUntil(startAt);
    pgCpu = postgres.cpuMicros();
    for (const c of children) c.start();
    log(`schedules: measuring ${WINDOW_S} s of the cycle`);
    await sleepUntil(startAt + WINDOW_S * 1000);
    const results = await Promise.all(children.map((c) => c.stop()));
    const schedulerPgCpu = postgres.cpuMicros() - pgCpu;
    await Promise.all(children.splice(0).map((c) => c.kill()));
    await store.close();

    const ticks = sum(results.map((r) => r.ticks));
    const lags = results.flatMap((r) => r.lagsMs);
    const callsOf = (name: string) => sum(results.map((r) => r.calls[name] ?? 0));
    const perTick = (n: number) => (ticks === 0 ? Number.NaN : n / ticks);
    const roundTrips = {
      claimDue: perTick(callsOf('claimDue')),
      advance: perTick(callsOf('advance')),
      createJobs: perTick(callsOf('createJobs')),
      total: perTick(callsOf('claimDue') + callsOf('advance') + callsOf('createJobs') + callsOf('getJob')),
    };
    const workerCpu = perTick(sum(results.map((r) => r.cpuMicros)));
    const baselineCpu = baselineJobs === 0 ? Number.NaN : sum(baseline.map((r) => r.cpuMicros)) / baselineJobs;
    const lag = { p50: percentile(lags, 50), p99: percentile(lags, 99), max: Math.max(...lags) };
    // Where the p99 comes from: late ticks spread over the window, or one stall (a checkpoint, an
    // autovacuum of the seeded table, a worker's GC) that made a second's ticks late together.
    const bySecond = new Map<number, { ticks: number; maxLagMs: number }>();
    for (const r of results)
      r.enqueuedAtMs.forEach((at, i) => {
        const second = Math.floor((at - startAt) / 1000);
        const slot = bySecond.get(second) ?? { ticks: 0, maxLagMs: 0 };
        slot.ticks++;
        slot.maxLagMs = Math.max(slot.maxLagMs, r.lagsMs[i]!);
        bySecond.set(second, slot);
      });
    const worstSeconds = [...bySecond]
      .map(([second, slot]) => ({ second, ...slot }))
      .sort((a, b) => b.maxLagMs - a.maxLagMs)
      .slice(0, 3);
    return {
      schedules: N,
      everyMs: EVERY_MS,
      windowSeconds: WINDOW_S,
      workers: WORKERS,
      postgres: { version: postgres.version, settings: postgres.settings },
      ticks,
      ticksPerSecond: ticks / WINDOW_S,
      jobsRun: sum(results.map((r) => r.jobsRun)),
      roundTripsPerTick: roundTrips,
      jobPathCallsPerTick: perTick(callsOf('claim') + callsOf('settle') + callsOf('renew')),
      lagMs: lag,
      worstSeconds,
      workerCpuUsPerTick: workerCpu,
      baselineWorkerCpuUsPerJob: baselineCpu,
      cpuRatioToBaseline: workerCpu / baselineCpu,
      postgresCpuUsPerTick: perTick(schedulerPgCpu),
      baselinePostgresCpuUsPerJob: baselineJobs === 0 ? Number.NaN : baselinePgCpu / baselineJobs,
      targets: [
        {
          name: `every tick within ${P99_GOAL_MS} ms of its time at p99`,
          pass: lag.p99 <= P99_GOAL_MS,
          detail: `p99 ${lag.p99.toFixed(0)} ms`,
        },
        {
          name: 'the scheduler keeps the rate (ticks/s ≥ 95 % of N / 300 s)',
          pass: ticks / WINDOW_S >= 0.95 * rate,
          detail: `${(ticks / WINDOW_S).toFixed(0)} ticks/s of ${rate.toFixed(0)}`,
        },
      ],
    };
  } finally {
    await Promise.all(children.map((c) => c.kill()));
    await transport.close();
    await postgres.stop();
  }
}

export function scheduleMarkdown(r: ScheduleBenchReport): string {
  const f = (v: number, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : '–');
  return [
    `## Schedules (${r.schedules.toLocaleString('en')} schedules every ${r.everyMs / 60_000} min, ${r.workers} workers, PostgreSQL ${r.postgres.version} fsync ${r.postgres.settings.fsync ?? '?'})`,
    '',
    `A ${r.windowSeconds} s window of the 5-minute cycle (not time-compressed): ${r.ticks} ticks fired, ${f(r.ticksPerSecond, 0)} ticks/s, ${r.jobsRun} tick jobs run.`,
    '',
    '| measure | value |',
    '|---|---|',
    `| store round trips per tick (claimDue + advance + createJobs) | ${f(r.roundTripsPerTick.total, 3)} (${f(r.roundTripsPerTick.claimDue, 3)} + ${f(r.roundTripsPerTick.advance, 3)} + ${f(r.roundTripsPerTick.createJobs, 3)}) |`,
    `| job path store calls per tick (claim + settle + renew) | ${f(r.jobPathCallsPerTick, 3)} |`,
    `| lag, fire time → enqueued: p50 / p99 / max | ${f(r.lagMs.p50, 0)} / ${f(r.lagMs.p99, 0)} / ${f(r.lagMs.max, 0)} ms |`,
    `| the window's latest seconds (offset: ticks enqueued, latest lag) | ${r.worstSeconds.map((w) => `+${w.second} s: ${w.ticks}, ${f(w.maxLagMs, 0)} ms`).join('; ')} |`,
    `| worker CPU per tick (scheduling + running its job) | ${f(r.workerCpuUsPerTick, 0)} µs |`,
    `| baseline: worker CPU per job, scheduler off, same rate from a producer | ${f(r.baselineWorkerCpuUsPerJob, 0)} µs |`,
    `| ratio to baseline | ${f(r.cpuRatioToBaseline)} × |`,
    `| PostgreSQL CPU per tick / per baseline job | ${f(r.postgresCpuUsPerTick, 0)} / ${f(r.baselinePostgresCpuUsPerJob, 0)} µs |`,
    '',
    "Two cores shared by the workers, PostgreSQL, fauxqs and this process (and other engineers' tests): take the CPU figures as indicative.",
    '',
  ].join('\n');
}
