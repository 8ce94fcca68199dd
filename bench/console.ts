/**
 * The console's jobs list against PostgreSQL (`npm run bench -- --only console`; issue 15): 10,000
 * jobs in a private PostgreSQL 15 cluster (bench/postgres-server.ts, fsync on), the console over it in
 * this process (as `calsync-jobs console` builds it), and every page of the list walked by its "Next
 * page" links, newest first, 50 a page, timed from the request to the whole HTML. The baseline in the
 * same run is the store's own `listJobs` for the same pages (what the page adds: HTTP, validation,
 * rendering), and a filtered search (state and type) is timed the same way. The goal: every page
 * under 200 ms (p95 and max reported). A figure, not a test: the 2-core machine is shared.
 *
 * Knobs: BENCH_CONSOLE_JOBS (default 10000), BENCH_CONSOLE_RUNS (walks of the whole list, default 3;
 * BENCH_QUICK 1).
 */
import pino from 'pino';
import { createConsoleServer } from '../src/console/server.js';
import { MemoryTransport } from '../src/queue/memory/memory-transport.js';
import type { NewJob, SettleOutcome } from '../src/store/job-store.js';
import { PostgresJobStore } from '../src/store/postgres-store.js';
import { startBenchPostgres } from './postgres-server.js';
import type { Target } from './report.js';
import { fmt, percentile, spread, type Spread } from './stats.js';

const JOBS = Number(process.env.BENCH_CONSOLE_JOBS ?? 10_000);
const GOAL_MS = 200;

export interface ConsoleRow {
  name: string;
  pages: number;
  /** Per page, ms, over every page of every walk. */
  p50: Spread;
  p95: Spread;
  max: Spread;
  /** The store's listJobs alone for the same pages. */
  storeP50: Spread;
  /** Page p50 over listJobs p50, per walk. */
  ratioToStore: Spread;
}

export interface ConsoleReport {
  jobs: number;
  runs: number;
  postgres: string;
  rows: ConsoleRow[];
  targets: Target[];
}

const TYPES = ['calendar.sync', 'calendar.write', 'demo.flaky', 'demo.hello'];
const STATES: SettleOutcome['kind'][] = ['succeeded', 'succeeded', 'succeeded', 'dead', 'backoff'];

/** 10,000 jobs as workers leave them: created over a day, claimed and settled, some with failures. */
async function seed(store: PostgresJobStore): Promise<void> {
  const start = Date.now() - 86_400_000;
  for (let from = 0; from < JOBS; from += 500) {
    const jobs: NewJob[] = Array.from({ length: Math.min(500, JOBS - from) }, (_, k) => {
      const i = from + k;
      return {
        id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        type: TYPES[i % TYPES.length]!,
        idempotencyKey: `account-${i % 997}-${i}`,
        createdAt: start + Math.floor((i * 86_400_000) / JOBS),
        payload: { accountId: `account-${i % 997}`, calendar: 'work', n: i },
      };
    });
    await store.createJobs(jobs);
    const claims = jobs.map((job) => ({
      jobId: job.id,
      type: job.type,
      attempt: 1,
      messageId: `m-${job.id}`,
      leaseMs: 60_000,
      worker: 'bench:1',
      row: job,
    }));
    await store.claim(claims);
    const error = { name: 'RetryableError', message: 'calendar server busy' };
    const history = [{ attempt: 1, at: new Date().toISOString(), durationMs: 12, kind: 'failed' as const, error }];
    await store.settle(
      claims.map((claim, k) => {
        const kind = STATES[(from + k) % STATES.length]!;
        const outcome: SettleOutcome =
          kind === 'succeeded'
            ? { kind }
            : kind === 'dead'
              ? { kind, reason: 'non_retryable', error, history }
              : { kind: 'backoff', nextAttempt: 2, scheduledAt: Date.now() + 60_000, error, history };
        return { jobId: claim.jobId, attempt: 1, messageId: claim.messageId, outcome };
      }),
    );
  }
}

async function timed<T>(call: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await call();
  return { ms: performance.now() - started, value };
}

/** Walks every page of `path` by its Next links; per page, the console's time and listJobs' time. */
async function walk(url: string, store: PostgresJobStore, query: Record<string, string>): Promise<{ pages: number[]; store: number[] }> {
  const pages: number[] = [];
  const storeMs: number[] = [];
  let cursor: string | undefined;
  for (;;) {
    const params = new URLSearchParams({ ...query, ...(cursor ? { cursor } : {}) });
    const { ms, value: html } = await timed(async () => {
      const response = await fetch(`${url}/jobs?${params}`);
      if (response.status !== 200) throw new Error(`GET /jobs?${params}: ${response.status}`);
      return await response.text();
    });
    pages.push(ms);
    const filter = { ...(query.state ? { state: query.state as 'dead' } : {}), ...(query.type ? { type: query.type } : {}), limit: 50 };
    storeMs.push((await timed(() => store.listJobs({ ...filter, ...(cursor ? { cursor } : {}) }))).ms);
    const next = /href="\/jobs\?([^"]*)" rel="next"/.exec(html)?.[1];
    if (next === undefined) break;
    cursor = new URLSearchParams(next.replaceAll('&amp;', '&')).get('cursor') ?? undefined;
  }
  return { pages, store: storeMs };
}

export async function consoleScenarios(runs: number, log: (line: string) => void): Promise<ConsoleReport> {
  const postgres = await startBenchPostgres();
  const database = await postgres.createDatabase();
  const store = await PostgresJobStore.connect(database.url);
  const transport = new MemoryTransport();
  const server = createConsoleServer({
    store,
    storeUrl: 'postgres (bench)',
    queues: {
      transport,
      queueUrl: await transport.createQueue('bench'),
      queueName: 'bench',
      dlqUrl: await transport.createQueue('bench-dlq'),
      dlqName: 'bench-dlq',
    },
    sender: { sendEnvelope: async () => undefined },
    jobs: [],
    logger: pino({ level: 'silent' }),
  });
  try {
    const seeded = await timed(() => seed(store));
    log(`console: seeded ${JOBS} jobs in ${(seeded.ms / 1000).toFixed(1)} s`);
    const { url } = await server.listen();
    const scenarios: Array<{ name: string; query: Record<string, string> }> = [
      { name: `all ${JOBS} jobs, newest first`, query: {} },
      { name: 'state dead, type calendar.sync', query: { state: 'dead', type: 'calendar.sync' } },
    ];
    const rows: ConsoleRow[] = [];
    for (const scenario of scenarios) {
      const walks: Array<{ pages: number[]; store: number[] }> = [];
      // One walk first to warm the connection pool and the page cache; not counted.
      await walk(url, store, scenario.query);
      for (let run = 1; run <= runs; run++) {
        walks.push(await walk(url, store, scenario.query));
        const last = walks.at(-1)!;
        log(
          `console: ${scenario.name} walk ${run}/${runs}: ${last.pages.length} pages, p50 ${percentile(last.pages, 50).toFixed(1)} ms, p95 ${percentile(last.pages, 95).toFixed(1)} ms, max ${Math.max(...last.pages).toFixed(1)} ms (listJobs p50 ${percentile(last.store, 50).toFixed(1)} ms)`,
        );
      }
      rows.push({
        name: scenario.name,
        pages: walks[0]!.pages.length,
        p50: spread(walks.map((w) => percentile(w.pages, 50))),
        p95: spread(walks.map((w) => percentile(w.pages, 95))),
        max: spread(walks.map((w) => Math.max(...w.pages))),
        storeP50: spread(walks.map((w) => percentile(w.store, 50))),
        ratioToStore: spread(walks.map((w) => percentile(w.pages, 50) / percentile(w.store, 50))),
      });
    }
    const all = rows[0]!;
    return {
      jobs: JOBS,
      runs,
      postgres: postgres.version,
      rows,
      targets: [
        {
          name: `console: a ${JOBS}-job list pages in under ${GOAL_MS} ms against PostgreSQL`,
          pass: all.max.median < GOAL_MS,
          detail: `${all.pages} pages of 50: p50 ${fmt(all.p50, 1)} ms, p95 ${fmt(all.p95, 1)} ms, slowest ${fmt(all.max, 1)} ms (${fmt(all.ratioToStore, 1)} × listJobs alone)`,
        },
      ],
    };
  } finally {
    await server.close();
    await store.close();
    await database.drop();
    await postgres.stop();
  }
}

export function consoleMarkdown(report: ConsoleReport): string {
  const lines = [
    `## Console: the jobs list, ${report.jobs} jobs in PostgreSQL ${report.postgres} (fsync on), every page walked by its Next link (${report.runs} walk(s))`,
    '',
    '| list | pages | page p50 ms | page p95 ms | slowest page ms | listJobs alone p50 ms | page / listJobs |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...report.rows.map(
      (r) =>
        `| ${r.name} | ${r.pages} | ${fmt(r.p50, 1)} | ${fmt(r.p95, 1)} | ${fmt(r.max, 1)} | ${fmt(r.storeP50, 1)} | ${fmt(r.ratioToStore, 1)} |`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}
