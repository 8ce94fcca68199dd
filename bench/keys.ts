/**
 * The per-key scenarios of `npm run bench` (issue 13; `npm run bench -- --only keys` alone): the
 * calsync-jobs worker, in this process, on fauxqs (the bench's server, through its counting proxy) with
 * a PostgreSQL 15 job store (bench/postgres-server.ts: fsync on); the producer records each job's row
 * (and its key's row) before sending, as `calsync-jobs api` does.
 *
 * - Throughput at concurrency 50: a no-op job with a concurrency key over 1,000 distinct keys (limit 1)
 *   against the same job with no key, alternating in one rotation; the ratio is the goal's (≥ 0.7×).
 * - Store round trips per settled job (claim + settle + renew calls on a counting wrapper of the
 *   worker's JobStore; held jobs' re-claims included), with keys and without.
 * - Release to next start: 200 jobs on ONE key (limit 1), handlers of 5 ms; for each job, the time
 *   from the previous job's handler end (before its settle) to its handler start. One worker (the held
 *   jobs park on the key their own worker holds and wake on its settle), and two workers (a job held
 *   by a key the other worker holds polls the store, then is re-sent with an SQS delay).
 *
 * Knobs: BENCH_KEYS_RUNS (default 3; BENCH_QUICK 1), BENCH_KEYS_N (jobs per throughput run, 2000),
 * BENCH_KEYS_CHAIN (jobs on one key, 200).
 */
import { z } from 'zod';
import { defineJob, type JobDefinition } from '../src/machines/define-job.js';
import { payloadPolicy, storeRecorder } from '../src/ops/job-recorder.js';
import { JobQueue } from '../src/queue/job-queue.js';
import { createLogger } from '../src/runtime/logger.js';
import { createWorker, type Worker } from '../src/runtime/worker.js';
import type { JobStore } from '../src/store/job-store.js';
import { PostgresJobStore } from '../src/store/postgres-store.js';
import { runQueues, type Target } from './harness.js';
import { startBenchPostgres } from './postgres-server.js';
import { fmt, percentile, spread, type Spread } from './stats.js';

const quick = process.env.BENCH_QUICK === '1';
const RUNS = Number(process.env.BENCH_KEYS_RUNS ?? (quick ? 1 : 3));
const N = Number(process.env.BENCH_KEYS_N ?? (quick ? 500 : 2_000));
const CHAIN = Number(process.env.BENCH_KEYS_CHAIN ?? (quick ? 50 : 200));
const DISTINCT_KEYS = 1_000;
const CONCURRENCY = 50;

export interface KeysThroughputRow {
  name: string;
  n: number;
  jobsPerSec: Spread;
  /** jobs/s over the no-key row's, run by run in the same rotation. */
  ratioToNoKey: Spread | undefined;
  storeRoundTripsPerJob: Spread;
  byCall: Record<string, number>;
}

export interface KeysReleaseRow {
  name: string;
  workers: number;
  jobs: number;
  /** Previous handler end → next handler start, ms. */
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
}

export interface KeysReport {
  postgres: { version: string; settings: Record<string, string> };
  throughput: KeysThroughputRow[];
  release: KeysReleaseRow[];
  notes: string[];
}

type Counts = { claim: number; settle: number; renew: number };

/** The worker's store, with its hot-path calls counted. */
function counting(store: JobStore, counts: Counts): JobStore {
  return new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const method = (value as (...args: unknown[]) => unknown).bind(target);
      if (property === 'claim' || property === 'settle' || property === 'renew')
        return (...args: unknown[]) => {
          counts[property]++;
          return method(...args);
        };
      return method;
    },
  });
}

const payload = z.object({ i: z.int() });

function job(type: string, keyed: boolean, handler: (p: { i: number }) => Promise<void> | void): JobDefinition<{ i: number }> {
  return defineJob({
    type,
    schema: payload,
    handler: async (p) => await handler(p),
    ...(keyed ? { concurrency: { key: (p: { i: number }) => `k${p.i % DISTINCT_KEYS}`, limit: 1 } } : {}),
  });
}

const logger = createLogger({ level: 'warn' });

/** Drains `n` prefilled jobs with `workers` workers; resolves to the seconds from start to the last success. */
async function drain(workers: Worker[], n: number): Promise<number> {
  let done = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    for (const worker of workers) {
      worker.on('job:succeeded', () => {
        if (++done === n) resolve();
      });
      worker.start();
    }
  });
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(workers.map((w) => w.stop({ graceMs: 1_000 })));
  return seconds;
}

/** A producer that records each job in `store` before sending it (payloads not stored), as the API does. */
function recordingProducer(
  transport: Target['transport'],
  queueUrl: string,
  definition: JobDefinition<{ i: number }>,
  store: JobStore,
): JobQueue {
  return new JobQueue({
    transport,
    queueUrl,
    jobs: [definition],
    recorder: storeRecorder(store, payloadPolicy({ storePayloads: false, logRedact: [] })),
  });
}

async function prefillJobs(queue: JobQueue, type: string, n: number): Promise<void> {
  for (let from = 0; from < n; from += 100) {
    const batch = Array.from({ length: Math.min(100, n - from) }, (_, k) => ({ type, payload: { i: from + k } }));
    await queue.enqueueMany(batch);
  }
}

export async function keyScenarios(target: Target): Promise<KeysReport> {
  const postgres = await startBenchPostgres();
  const report: KeysReport = {
    postgres: { version: postgres.version, settings: postgres.settings },
    throughput: [],
    release: [],
    notes: [],
  };
  try {
    const database = await postgres.createDatabase();
    const store = await PostgresJobStore.connect(database.url);
    try {
      // Throughput, alternating no key / 1,000 keys run by run.
      const results: Record<'none' | 'keys', { jps: number[]; rt: number[]; by: Counts[] }> = {
        none: { jps: [], rt: [], by: [] },
        keys: { jps: [], rt: [], by: [] },
      };
      for (let run = 0; run < RUNS; run++) {
        for (const variant of ['none', 'keys'] as const) {
          const type = `bench.keys.${variant}`;
          const definition = job(type, variant === 'keys', () => undefined);
          const queues = await runQueues(target);
          const producer = recordingProducer(target.transport, queues.queueUrl, definition, store);
          await prefillJobs(producer, type, N);
          const counts: Counts = { claim: 0, settle: 0, renew: 0 };
          const worker = createWorker({
            transport: target.transport,
            jobs: [definition],
            queueUrl: queues.queueUrl,
            dlqUrl: queues.dlqUrl,
            concurrency: CONCURRENCY,
            logger,
            store: counting(store, counts),
          });
          const seconds = await drain([worker], N);
          results[variant].jps.push(N / seconds);
          results[variant].rt.push((counts.claim + counts.settle + counts.renew) / N);
          results[variant].by.push(counts);
          await queues.dispose();
        }
      }
      const row = (variant: 'none' | 'keys', name: string): KeysThroughputRow => {
        const r = results[variant];
        const mid = (k: keyof Counts) =>
          percentile(
            r.by.map((c) => c[k] / N),
            50,
          );
        return {
          name,
          n: N,
          jobsPerSec: spread(r.jps),
          ratioToNoKey: variant === 'none' ? undefined : spread(r.jps.map((j, i) => j / results.none.jps[i]!)),
          storeRoundTripsPerJob: spread(r.rt),
          byCall: { claim: mid('claim'), settle: mid('settle'), renew: mid('renew') },
        };
      };
      report.throughput.push(
        row('none', 'no key'),
        row('keys', `concurrency key over ${DISTINCT_KEYS.toLocaleString('en')} keys, limit 1`),
      );

      // Release → next start on one key.
      for (const workers of [1, 2]) {
        const gaps: number[] = [];
        const type = `bench.keys.chain${workers}`;
        const runs: Array<{ start: number; end: number }> = [];
        const definition = defineJob({
          type,
          schema: payload,
          concurrency: { key: () => 'one-key', limit: 1 },
          handler: async () => {
            const start = performance.now();
            await new Promise((resolve) => setTimeout(resolve, 5));
            runs.push({ start, end: performance.now() });
          },
        });
        const queues = await runQueues(target);
        const producer = recordingProducer(target.transport, queues.queueUrl, definition, store);
        await prefillJobs(producer, type, CHAIN);
        const list = Array.from({ length: workers }, () =>
          createWorker({
            transport: target.transport,
            jobs: [definition],
            queueUrl: queues.queueUrl,
            dlqUrl: queues.dlqUrl,
            concurrency: 10,
            logger,
            store,
          }),
        );
        await drain(list, CHAIN);
        runs.sort((a, b) => a.start - b.start);
        for (let i = 1; i < runs.length; i++) gaps.push(runs[i]!.start - runs[i - 1]!.end);
        report.release.push({
          name: workers === 1 ? 'one worker: held jobs park on their own worker’s key' : 'two workers: the key often held by the other one',
          workers,
          jobs: CHAIN,
          p50Ms: percentile(gaps, 50),
          p95Ms: percentile(gaps, 95),
          maxMs: Math.max(...gaps),
        });
        await queues.dispose();
      }
    } finally {
      await store.close();
      await database.drop();
    }
  } finally {
    await postgres.stop();
  }
  report.notes.push(
    `Throughput: ${N} jobs per run, concurrency ${CONCURRENCY}, ${RUNS} run(s) per row alternating; the worker, the producer and the counting proxy share this process, fauxqs runs in its own, PostgreSQL has fsync on. A 2-core machine shared with other work: figures are indicative.`,
    'Release to next start is measured from the previous handler’s end (before its settle is written), so it includes the settle write and the next claim.',
  );
  return report;
}

export function keysMarkdown(report: KeysReport): string {
  const lines = [
    '## Per-key control (issue 13)',
    '',
    `PostgreSQL ${report.postgres.version} (fsync ${report.postgres.settings.fsync ?? '?'}, synchronous_commit ${report.postgres.settings.synchronous_commit ?? '?'}).`,
    '',
    '| scenario | jobs | jobs/s (median, min–max) | × no key | store round trips / job | claim / settle / renew per job |',
    '|---|---:|---:|---:|---:|---|',
  ];
  for (const r of report.throughput) {
    lines.push(
      `| ${r.name} | ${r.n} | ${fmt(r.jobsPerSec)} | ${r.ratioToNoKey ? fmt(r.ratioToNoKey, 2) : '—'} | ${fmt(r.storeRoundTripsPerJob, 3)} | ${Object.values(
        r.byCall,
      )
        .map((v) => v.toFixed(3))
        .join(' / ')} |`,
    );
  }
  lines.push('', '| release → next start, one key | workers | jobs | p50 ms | p95 ms | max ms |', '|---|---:|---:|---:|---:|---:|');
  for (const r of report.release)
    lines.push(`| ${r.name} | ${r.workers} | ${r.jobs} | ${r.p50Ms.toFixed(1)} | ${r.p95Ms.toFixed(1)} | ${r.maxMs.toFixed(0)} |`);
  lines.push('', ...report.notes.map((n) => `- ${n}`), '');
  return lines.join('\n');
}
