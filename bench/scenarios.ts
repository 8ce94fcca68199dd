/**
 * The measured scenarios beyond a plain drain: pickup latency at a trickle and worker memory with
 * many jobs in flight. (Throughput, requests per job, the retry path and scale-out are drains: see
 * harness.ts.)
 */
import type { MemorySample } from './children/protocol.js';
import { diffCounts, type RequestCounts } from './counting-proxy.js';
import { consumerConfig, prefill, runQueues, type DrainSpec, type Target } from './harness.js';
import { startConsumer, within } from './processes.js';
import { median, percentile } from './stats.js';

export interface PickupResult {
  samples: number;
  /** With `timeJobs`: enqueue → final success, p50 ms. */
  jobP50?: number;
  p50: number;
  p99: number;
  max: number;
  requests: RequestCounts;
}

/**
 * Starts an idle consumer, waits a second so its long polls are open, then enqueues one job every
 * `1000 / ratePerSec` ms for `seconds` (payload `t` = epoch ms before the SendMessageBatch) and
 * collects enqueue → handler-start latencies.
 */
export async function pickup(target: Target, spec: DrainSpec, ratePerSec = 20, seconds = 10): Promise<PickupResult> {
  const queues = await runQueues(target);
  const consumer = startConsumer(consumerConfig({ mode: 'pickup', ...spec }, queues, target));
  try {
    await consumer.ready;
    consumer.send({ type: 'go' });
    await new Promise((r) => setTimeout(r, 1_000));
    const before = await target.counts();
    const n = ratePerSec * seconds;
    const startAt = Date.now();
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      const due = startAt + (i * 1000) / ratePerSec;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      sends.push(queues.jobs.enqueueJob({ type: 'bench.job', payload: { i, t: Date.now() } }));
    }
    await Promise.all(sends);
    await within(
      'trickle jobs to settle',
      60_000,
      new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (consumer.progress.settled >= n) {
            clearInterval(timer);
            resolve();
          }
        }, 20);
      }),
    );
    const requests = diffCounts(await target.counts(), before);
    const result = await consumer.finish();
    const latencies = result.pickupMs ?? [];
    return {
      ...(result.jobMs ? { jobP50: percentile(result.jobMs, 50) } : {}),
      samples: latencies.length,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      max: Math.max(...latencies),
      requests,
    };
  } finally {
    await consumer.kill();
    await queues.dispose();
  }
}

export interface MemoryResult {
  inFlight: number;
  idle: MemorySample;
  holding: MemorySample;
}

/** A calsync-jobs worker (concurrency = n) holding `n` jobs whose handlers wait to be released. */
export async function memory(target: Target, n: number): Promise<MemoryResult> {
  const queues = await runQueues(target, 300);
  const consumer = startConsumer(
    consumerConfig({ kind: 'calsync', concurrency: n, mode: 'hold', visibilityTimeoutSeconds: 300 }, queues, target),
  );
  try {
    await prefill(queues, n);
    const idle = await consumer.ready;
    consumer.send({ type: 'go' });
    await consumer.waitStarted(n, 120_000);
    await new Promise((r) => setTimeout(r, 300));
    const { memory: holding } = await consumer.measure();
    consumer.send({ type: 'release' });
    await within(
      `${n} held jobs to settle`,
      120_000,
      new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (consumer.progress.settled >= n) {
            clearInterval(timer);
            resolve();
          }
        }, 20);
      }),
    );
    await consumer.finish();
    return { inFlight: n, idle, holding };
  } finally {
    await consumer.kill();
    await queues.dispose();
  }
}

export interface MemoryMark {
  settled: number;
  /** After a full GC in the worker (the sample is taken while it keeps running). */
  rss: number;
  heapUsed: number;
}

export interface MemoryRunResult {
  n: number;
  concurrency: number;
  /** A sample every `every` settled jobs, `window / every` of them per window. */
  every: number;
  /** The windows compared: the first `window` jobs and the last. */
  window: number;
  marks: MemoryMark[];
  msgPerSec: number;
}

/**
 * A long drain: `n` jobs through one calsync-jobs worker (the CLI's defaults, concurrency `c`), a
 * memory sample (after a full GC) `perWindow` times per `window` settled jobs: whatever a job leaves
 * behind shows as growth from the first window to the last (medians: RSS alone jumps by tens of MiB
 * between two samples, as the allocator keeps or returns pages).
 */
export async function memoryRun(target: Target, n: number, window: number, perWindow = 10, concurrency = 200): Promise<MemoryRunResult> {
  const every = Math.max(1, Math.floor(window / perWindow));
  const queues = await runQueues(target);
  const consumer = startConsumer(consumerConfig({ kind: 'calsync', concurrency, expect: n }, queues, target));
  try {
    await prefill(queues, n);
    await consumer.ready;
    const marks: MemoryMark[] = [];
    const goAt = Date.now();
    consumer.send({ type: 'go' });
    let next = every;
    await within(
      `${n} jobs to settle (memory run)`,
      Math.max(120_000, n * 5),
      (async () => {
        while (next <= n) {
          if (consumer.progress.settled >= next) {
            const settled = consumer.progress.settled;
            const { memory: m } = await consumer.measure();
            marks.push({ settled, rss: m.rss, heapUsed: m.heapUsed });
            next += every;
          } else {
            await new Promise((r) => setTimeout(r, 10));
          }
        }
      })(),
    );
    const result = await consumer.finish();
    return { n, concurrency, every, window, marks, msgPerSec: (n / (result.lastSettleAt - (result.firstStartAt || goAt))) * 1000 };
  } finally {
    await consumer.kill();
    await queues.dispose();
  }
}

export interface MemoryWindow {
  /** The window's last job (jobs settled up to it, after the previous window's). */
  upTo: number;
  samples: number;
  /** Medians over the window's samples, bytes; RSS also its min and max. */
  rss: number;
  rssMin: number;
  rssMax: number;
  heap: number;
}

/** The run's samples grouped into windows of `run.window` jobs, with their medians. */
export function memoryWindows(run: MemoryRunResult): MemoryWindow[] {
  const out: MemoryWindow[] = [];
  for (let upTo = run.window; upTo <= run.n; upTo += run.window) {
    const inside = run.marks.filter((m) => m.settled > upTo - run.window && m.settled <= upTo);
    if (inside.length === 0) continue;
    const rss = inside.map((m) => m.rss);
    out.push({
      upTo,
      samples: inside.length,
      rss: median(rss),
      rssMin: Math.min(...rss),
      rssMax: Math.max(...rss),
      heap: median(inside.map((m) => m.heapUsed)),
    });
  }
  return out;
}
