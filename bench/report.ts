/** Turns the collected figures into `latest.json`, the markdown table and the PASS/FAIL target lines. */
import type { ConsumerKind, TelemetryMode } from './children/protocol.js';
import type { RequestCounts } from './counting-proxy.js';
import type { DecodeRow } from './decode.js';
import type { ProfileSummary } from './profile.js';
import { memoryWindows, type MemoryRunResult } from './scenarios.js';
import { fmt, type Spread } from './stats.js';
import { keysMarkdown, type KeysReport } from './keys.js';
import { storeMarkdown, type StoreReport } from './store.js';
import { consoleMarkdown, type ConsoleReport } from './console.js';
import { scheduleMarkdown, type ScheduleBenchReport } from './schedules.js';

export interface ThroughputRow {
  name: string;
  server: string;
  kind: ConsumerKind;
  /** calsync: concurrency; ceiling: loops. */
  concurrency: number;
  /** calsync only. */
  telemetry?: TelemetryMode;
  /** calsync: false when run with CALSYNC_HANDLER_TRACE_CONTEXT=false; absent, the default (on). */
  handlerTraceContext?: false;
  n: number;
  msgPerSec: Spread;
  /** Consuming side: receive + delete + visibility (+ retry sends) per settled job. */
  consumerReqPerJob: Spread;
  /** Consuming side plus the producer's SendMessageBatch. */
  totalReqPerJob: Spread;
  /** Median requests per job by action (consuming side). */
  byAction: Record<string, number>;
  /** Handler executions per job (median); 1.0 with no faults. */
  executionsPerJob: Spread;
  /** CPU time of the consumer process(es) per settled job, µs. */
  cpuPerJobUs: Spread;
  /** The consumer's main-thread event-loop utilisation over the drain, 0–1. */
  eventLoopBusy: Spread;
  /** With traces over OTLP: bytes the sink received per job (a check that spans were exported). */
  otlpBytesPerJob?: Spread;
}

export interface PickupRow {
  name: string;
  samples: number;
  p50: Spread;
  p99: Spread;
  reqPerSecondIdle: Spread;
}

export interface RetryRow {
  n: number;
  plainMsgPerSec: Spread;
  retryMsgPerSec: Spread;
  extraRequestsPerRetry: Spread;
  extraByAction: Record<string, number>;
  wallMsPerRetry: Spread;
  /** In the drain (a backlog of n jobs: the re-sent message queues behind it). */
  plainJobP50Ms: Spread;
  retriedJobP50Ms: Spread;
  trickleSeconds: number;
  /** At a trickle of 20 jobs/s: enqueue → final success. */
  tricklePlainP50Ms: Spread;
  trickleRetriedP50Ms: Spread;
  trickleMsPerRetry: Spread;
}

export interface MemoryRow {
  inFlight: number;
  idleRssMiB: number;
  rssMiB: number;
  heapUsedMiB: number;
}

export interface ScaleRow {
  processes: number;
  concurrencyEach: number;
  msgPerSec: Spread;
  executionsPerJob: Spread;
  distinctPerJob: Spread;
}

export interface Target {
  name: string;
  pass: boolean;
  detail: string;
  /** A figure with no goal: printed INFO, never FAIL. */
  info?: boolean;
}

export interface BenchReport {
  generatedAt: string;
  machine: Record<string, string | number>;
  settings: Record<string, string | number | boolean>;
  servers: string[];
  durationSeconds: number;
  throughput: ThroughputRow[];
  pickup: PickupRow[];
  retry: RetryRow | undefined;
  memory: MemoryRow[];
  memoryGrowthPerJobKiB: { rss: number; heap: number } | undefined;
  /** The long drain with memory samples, ten per tenth of it (bench/scenarios.ts memoryRun). */
  memoryRun: MemoryRunResult | undefined;
  scaleOut: ScaleRow[];
  /** decodeEnvelope against JSON.parse of the same body (bench/decode.ts). */
  decode: DecodeRow[];
  /** The worker's self time in one profiled drain (bench/profile.ts). */
  profile: (ProfileSummary & { scenario: string }) | undefined;
  /** Store off vs PGlite vs PostgreSQL (bench/store.ts). */
  store: StoreReport | undefined;
  /** The console's jobs list over 10,000 jobs in PostgreSQL (bench/console.ts). */
  console: ConsoleReport | undefined;
  /** 100,000 schedules every 5 minutes, 2 workers (bench/schedules.ts). */
  schedules: ScheduleBenchReport | undefined;
  /** Per-key control (bench/keys.ts); absent when the section did not run. */
  keys?: KeysReport | undefined;
  targets: Target[];
  notes: string[];
}

const actions = (byAction: Record<string, number>): string =>
  Object.entries(byAction)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k.replace('Message', '').replace('Batch', 'B')} ${v.toFixed(3)}`)
    .join(', ');

export function medianCounts(runs: RequestCounts[], n: number): Record<string, number> {
  const keys = new Set(runs.flatMap((r) => Object.keys(r)));
  const out: Record<string, number> = {};
  for (const key of keys) {
    const values = runs.map((r) => (r[key] ?? 0) / n).sort((a, b) => a - b);
    out[key] = values[Math.floor((values.length - 1) / 2)]!;
  }
  return out;
}

const ratio = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)} ×` : '–');

/**
 * THE table: every throughput row (fauxqs direct, fauxqs +10 ms, ElasticMQ) and the job store's rows
 * (bench/store.ts, store off / on), with jobs/s, its ratio to the bare loop and to sqs-consumer's best
 * mode on the same server, CPU µs per job and SQS requests per job.
 */
function mainTable(report: BenchReport): string[] {
  const rows = report.throughput;
  const storeRows = report.store ? [...report.store.throughput, ...report.store.saturation.slice(1)] : [];
  if (rows.length === 0 && storeRows.length === 0) return [];
  /** The best median of the rows picked on `server`; NaN (printed –) when that section did not run. */
  const best = (server: string, pick: (r: ThroughputRow) => boolean): number => {
    const values = rows.filter((r) => r.server === server && pick(r)).map((r) => r.msgPerSec.median);
    return values.length === 0 ? Number.NaN : Math.max(...values);
  };
  const ceilingOf = (server: string): number => best(server, (r) => r.kind === 'ceiling');
  const sqsOf = (server: string): number => best(server, (r) => r.kind.startsWith('sqs-consumer'));
  const lines: string[] = [];
  lines.push('## Results', '');
  lines.push(
    '| server | scenario | jobs/s | × ceiling | × sqs-consumer | CPU µs/job | SQS requests/job (consuming: by action) | main thread busy |',
  );
  lines.push('|---|---|---:|---:|---:|---:|---|---:|');
  for (const r of rows) {
    const extra = r.otlpBytesPerJob ? `; OTLP ${r.otlpBytesPerJob.median.toFixed(0)} B/job` : '';
    lines.push(
      `| ${r.server} | ${r.name} | ${fmt(r.msgPerSec)} | ${ratio(r.msgPerSec.median / ceilingOf(r.server))} | ${ratio(r.msgPerSec.median / sqsOf(r.server))} | ${fmt(r.cpuPerJobUs)} | ${fmt(r.consumerReqPerJob, 3)} (${actions(r.byAction)})${extra} | ${Number.isFinite(r.eventLoopBusy.median) ? `${(r.eventLoopBusy.median * 100).toFixed(0)}%` : '–'} |`,
    );
  }
  for (const r of storeRows) {
    const label = r.kind === 'saturation' ? `job store: PostgreSQL, producer rows, ${r.name}` : `job store: ${r.name}, c=${r.concurrency}`;
    lines.push(
      `| fauxqs | ${label} | ${fmt(r.jobsPerSec)} | ${ratio(r.jobsPerSec.median / ceilingOf('fauxqs'))} | ${ratio(r.jobsPerSec.median / sqsOf('fauxqs'))} | ${fmt(r.workerCpuUsPerJob)} | ${fmt(r.sqsRequestsPerJob, 3)}${r.store === 'off' ? '' : ` (+ ${r.storeRoundTripsPerJob.median.toFixed(3)} store round trips)`} | ${(r.workerEventLoopBusy.median * 100).toFixed(0)}% |`,
    );
  }
  if (storeRows.length > 0)
    lines.push(
      '',
      "The job-store rows come from the store section (its own rotation, telemetry off, the worker on a counting store; details below); their ratios are to this run's fauxqs rows.",
    );
  return lines;
}

export function markdown(report: BenchReport): string {
  const lines: string[] = [];
  const m = report.machine;
  lines.push(`# calsync-jobs benchmark — ${report.generatedAt}`, '');
  lines.push(
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}; load average at start ${m.loadStart}, at end ${m.loadEnd}${typeof m.stealShare === 'number' ? `; CPU time stolen by the host over the run (given to other guests on the same hardware, /proc/stat): ${(m.stealShare * 100).toFixed(0)} %` : ''}.`,
  );
  lines.push(
    `Servers: ${report.servers.join(', ')}. ` +
      `Settings: ${Object.entries(report.settings)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}. Total ${report.durationSeconds.toFixed(0)} s.`,
  );
  lines.push(
    '',
    'Figures are median (min–max) over the runs; every run is a fresh process and a fresh queue, configurations interleaved.',
    '',
  );
  const table = mainTable(report);
  if (table.length > 0) lines.push(...table);
  if (report.profile) {
    const p = report.profile;
    lines.push('', `## Where the worker's CPU goes: ${p.scenario} (${p.samples} busy samples; idle left out)`, '');
    lines.push('| self time | function |', '|---:|---|');
    for (const f of p.top.slice(0, 10)) lines.push(`| ${(f.share * 100).toFixed(1)}% | \`${f.name}\` |`);
    lines.push('', `By area: ${p.byArea.map((a) => `${a.area} ${(a.share * 100).toFixed(1)}%`).join(', ')}.`);
  }
  if (report.pickup.length > 0) {
    lines.push('', `## Pickup latency (enqueue → handler start) at 20 jobs/s for ${report.settings.trickleSeconds} s`, '');
    lines.push('| consumer | samples/run | p50 ms | p99 ms | requests/s while trickling |');
    lines.push('|---|---:|---:|---:|---:|');
    for (const p of report.pickup)
      lines.push(`| ${p.name} | ${p.samples} | ${fmt(p.p50, 1)} | ${fmt(p.p99, 1)} | ${fmt(p.reqPerSecondIdle, 1)} |`);
  }
  if (report.retry) {
    const r = report.retry;
    lines.push('', `## Retry path (calsync-jobs, concurrency 50, ${r.n} jobs that fail once then succeed; retry delay 0)`, '');
    lines.push('| figure | value |', '|---|---:|');
    lines.push(`| plain success msg/s | ${fmt(r.plainMsgPerSec)} |`);
    lines.push(`| fail-once jobs/s (final successes) | ${fmt(r.retryMsgPerSec)} |`);
    lines.push(`| extra SQS requests per retry | ${fmt(r.extraRequestsPerRetry, 3)} (${actions(r.extraByAction)}) |`);
    lines.push(`| extra wall ms per retry (drain time difference / retries, at concurrency 50) | ${fmt(r.wallMsPerRetry, 3)} |`);
    lines.push(
      `| in the drain, first handler start → success, p50 ms: plain / retried once (the re-sent message queues behind the backlog) | ${fmt(r.plainJobP50Ms, 1)} / ${fmt(r.retriedJobP50Ms, 1)} |`,
    );
    lines.push(
      `| at a trickle (20 jobs/s for ${r.trickleSeconds} s, c=10), enqueue → success, p50 ms: plain / retried once | ${fmt(r.tricklePlainP50Ms, 1)} / ${fmt(r.trickleRetriedP50Ms, 1)} |`,
    );
    lines.push(`| **ms added by one retry** (trickle p50 difference) | ${fmt(r.trickleMsPerRetry, 1)} |`);
  }
  if (report.memory.length > 0) {
    lines.push(
      '',
      '## Worker memory with slow jobs in flight (concurrency = in-flight, handlers wait to be released; after a forced GC)',
      '',
    );
    lines.push('| in flight | idle RSS MiB | RSS MiB | heap used MiB |', '|---:|---:|---:|---:|');
    for (const r of report.memory)
      lines.push(`| ${r.inFlight} | ${r.idleRssMiB.toFixed(1)} | ${r.rssMiB.toFixed(1)} | ${r.heapUsedMiB.toFixed(1)} |`);
    if (report.memoryGrowthPerJobKiB) {
      const sizes = report.memory.map((r) => r.inFlight);
      lines.push(
        '',
        `Growth per in-flight job (${sizes[0]} → ${sizes.at(-1)}): RSS ${report.memoryGrowthPerJobKiB.rss.toFixed(2)} KiB, heap ${report.memoryGrowthPerJobKiB.heap.toFixed(2)} KiB.`,
      );
    }
  }
  if (report.memoryRun) {
    const run = report.memoryRun;
    lines.push(
      '',
      `## Memory across a long run: ${run.n} jobs, c=${run.concurrency}, a sample (after a full GC) every ${run.every} settled (${run.msgPerSec.toFixed(0)} jobs/s)`,
      '',
    );
    const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
    lines.push('| jobs settled | samples | RSS MiB, median (min–max) | heap used MiB, median |', '|---:|---:|---:|---:|');
    for (const w of memoryWindows(run))
      lines.push(
        `| ${w.upTo - run.window + 1}–${w.upTo} | ${w.samples} | ${mib(w.rss)} (${mib(w.rssMin)}–${mib(w.rssMax)}) | ${mib(w.heap)} |`,
      );
  }
  if (report.scaleOut.length > 0) {
    lines.push('', '## Scale-out: worker processes on one queue (calsync-jobs)', '');
    lines.push(
      '| processes | concurrency each | msg/s | handler executions/job | distinct jobs run / jobs |',
      '|---:|---:|---:|---:|---:|',
    );
    for (const r of report.scaleOut)
      lines.push(
        `| ${r.processes} | ${r.concurrencyEach} | ${fmt(r.msgPerSec)} | ${fmt(r.executionsPerJob, 4)} | ${fmt(r.distinctPerJob, 4)} |`,
      );
  }
  if (report.decode.length > 0) {
    lines.push('', '## Decode cost: decodeEnvelope against JSON.parse of the same body (one process, timed alternately)', '');
    lines.push('| body | KiB | JSON.parse µs/KiB | decodeEnvelope µs/KiB | decode / JSON.parse |', '|---|---:|---:|---:|---:|');
    for (const r of report.decode)
      lines.push(`| ${r.name} | ${r.kib.toFixed(0)} | ${fmt(r.parseUsPerKiB, 2)} | ${fmt(r.decodeUsPerKiB, 2)} | ${fmt(r.ratio, 2)} |`);
  }
  if (report.store) lines.push('', storeMarkdown(report.store).trimEnd());
  if (report.console) lines.push('', consoleMarkdown(report.console).trimEnd());
  if (report.schedules) lines.push('', scheduleMarkdown(report.schedules).trimEnd());
  if (report.keys) lines.push('', keysMarkdown(report.keys).trimEnd());
  lines.push('', '## Targets', '');
  for (const t of report.targets) lines.push(`- ${t.info ? 'INFO' : t.pass ? 'PASS' : 'FAIL'} ${t.name}: ${t.detail}`);
  if (report.notes.length > 0) {
    lines.push('', '## Notes', '');
    for (const n of report.notes) lines.push(`- ${n}`);
  }
  return `${lines.join('\n')}\n`;
}
