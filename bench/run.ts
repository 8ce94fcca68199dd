/**
 * `npm run bench`: every scenario in one invocation, each drain against a fresh SQS server process
 * (fauxqs, bench/sqs-server.ts) that the clients connect to directly and that counts its own requests,
 * so "SQS requests per settled job" is counted at the server with nothing in between; the ceiling
 * (bare ReceiveMessage(10) + DeleteMessageBatch loops, same SDK) and every consumer are connected the
 * same way. The "+10 ms" rows put a proxy that delays each request in front of the server, for every
 * side; ElasticMQ (when java and mvn are present) runs behind the counting proxy, for every side.
 * Writes bench/results/latest.json and latest.md, prints ONE table (scenario, jobs/s, × ceiling,
 * × sqs-consumer, CPU µs/job, requests/job; the job-store rows from bench/store.ts in it) and the
 * PASS/FAIL goal lines with their figures (information, not assertions).
 *
 * Knobs: BENCH_RUNS (default 3), BENCH_N (messages per throughput run, default 5000),
 * BENCH_ELASTICMQ (`0` skips it, `1` requires it; default: when java and mvn are installed),
 * BENCH_LATENCY_MS (default 10; 0 skips the added-latency matrix), BENCH_MEMORY_N (jobs of the long
 * memory run, default 100000, ten samples per tenth), BENCH_PROFILE_N (jobs of the profiled drain,
 * default 20000), BENCH_QUICK=1 (1 run, 1000 messages, short trickle, a 20,000-job memory run: a smoke
 * test, not a measurement); the job-store section's own knobs are in bench/store.ts, the per-key section's in bench/keys.ts,
 * the console's in bench/console.ts, the schedules section's in bench/schedules.ts.
 *
 * `npm run bench -- --only fauxqs,memory` (any of decode, fauxqs, latency, memory, elasticmq, store, keys, console, schedules)
 * runs only those sections and writes bench/results/latest-<sections>.json and .md instead, so a
 * partial run never replaces the full one.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { TelemetryMode } from './children/protocol.js';
import { DECODE_TARGET_RATIO, decodeRows } from './decode.js';
import { drain, openCounted, openFauxqs, total, type DrainResult, type DrainSpec, type OpenTarget } from './harness.js';
import { startOtlpSink, type OtlpSink } from './otlp-sink.js';
import { BENCH_DIR } from './processes.js';
import { profiledDrain } from './profile.js';
import {
  markdown,
  medianCounts,
  type BenchReport,
  type MemoryRow,
  type PickupRow,
  type RetryRow,
  type ScaleRow,
  type Target as TargetLine,
  type ThroughputRow,
} from './report.js';
import { memory, memoryRun, memoryWindows, pickup, type MemoryResult, type PickupResult } from './scenarios.js';
import { fmt, median, spread } from './stats.js';
import { keyScenarios } from './keys.js';
import { storeScenarios } from './store.js';
import { consoleScenarios } from './console.js';
import { scheduleBench } from './schedules.js';

const SECTIONS = ['decode', 'fauxqs', 'latency', 'memory', 'elasticmq', 'store', 'keys', 'console', 'schedules'] as const;
type Section = (typeof SECTIONS)[number];

/** `--only a,b` / `--only=a,b`: the sections to run; all of them without it. */
function selectedSections(argv: readonly string[]): Set<Section> {
  const at = argv.findIndex((a) => a === '--only' || a.startsWith('--only='));
  if (at < 0) return new Set(SECTIONS);
  const value = argv[at]!.startsWith('--only=') ? argv[at]!.slice('--only='.length) : argv[at + 1];
  const names = (value ?? '').split(',').filter((x) => x !== '');
  const unknown = names.filter((x) => !(SECTIONS as readonly string[]).includes(x));
  if (names.length === 0 || unknown.length > 0) {
    process.stderr.write(`--only takes a comma-separated list of ${SECTIONS.join(', ')}; got ${JSON.stringify(value ?? '')}\n`);
    process.exit(2);
  }
  return new Set(names as Section[]);
}
const sections = selectedSections(process.argv.slice(2));
const partial = sections.size < SECTIONS.length;

const quick = process.env.BENCH_QUICK === '1';
const RUNS = Number(process.env.BENCH_RUNS ?? (quick ? 1 : 3));
const N = Number(process.env.BENCH_N ?? (quick ? 1_000 : 5_000));
const RETRY_N = quick ? 500 : 2_000;
const TRICKLE_SECONDS = quick ? 3 : 10;
const RETRY_TRICKLE_SECONDS = quick ? 2 : 5;
const MEMORY_SIZES = quick ? [1, 1_000] : [1, 1_000, 10_000];
const MEMORY_RUN_N = Number(process.env.BENCH_MEMORY_N ?? (quick ? 20_000 : 100_000));
const PROFILE_N = Number(process.env.BENCH_PROFILE_N ?? (quick ? 5_000 : 20_000));
/** Goals of issue 17. */
const GOALS = {
  cpuDefault: 1.5,
  cpuTraced: 2,
  ceiling: 0.85,
  sqsConsumer: 2,
  tracingCost: 0.1,
  sqsConsumerSlow: 5,
  memoryRssGrowth: 0.05,
  memoryHeapGrowthMiB: 2,
} as const;
const started = Date.now();
const loadStart = loadavg()
  .map((v) => v.toFixed(2))
  .join(' ');
/** The machine's CPU ticks from /proc/stat: stolen (given by the hypervisor to other guests) and all; undefined off Linux. */
function cpuTicks(): { steal: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    return { steal: fields[7] ?? 0, total: fields.reduce((a, b) => a + b, 0) };
  } catch {
    return undefined;
  }
}
const ticksStart = cpuTicks();
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(0)}s`;

function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

interface NamedSpec {
  name: string;
  spec: DrainSpec;
}

const TELEMETRY_LABEL: Record<TelemetryMode, string> = {
  off: 'telemetry off (OTEL_SDK_DISABLED)',
  default: 'defaults (metrics on, traces exported nowhere)',
  otlp: 'traces over OTLP to a local sink',
};
const calsyncSpec = (c: number, telemetry: TelemetryMode): NamedSpec => ({
  name: `calsync-jobs worker c=${c}, ${TELEMETRY_LABEL[telemetry]}`,
  spec: { kind: 'calsync', concurrency: c, telemetry },
});
/** Traces over OTLP with no handler run in its attempt's context: no AsyncLocalStorage in the worker. */
const plainOtlpSpec = (c: number): NamedSpec => ({
  name: `calsync-jobs worker c=${c}, traces over OTLP, CALSYNC_HANDLER_TRACE_CONTEXT=false`,
  spec: { kind: 'calsync', concurrency: c, telemetry: 'otlp', handlerTraceContext: false },
});
const CEILING_8: NamedSpec = { name: 'ceiling: bare Receive(10)+DeleteBatch, 8 loops', spec: { kind: 'ceiling', concurrency: 8 } };
const SQS_MESSAGE: NamedSpec = {
  name: 'sqs-consumer handleMessage (batchSize 10)',
  spec: { kind: 'sqs-consumer-message', concurrency: 10 },
};
const SQS_BATCH: NamedSpec = {
  name: 'sqs-consumer handleMessageBatch (batchSize 10)',
  spec: { kind: 'sqs-consumer-batch', concurrency: 10 },
};

const FAUXQS_MATRIX: NamedSpec[] = [
  { name: 'ceiling: bare Receive(10)+DeleteBatch, 1 loop', spec: { kind: 'ceiling', concurrency: 1 } },
  CEILING_8,
  calsyncSpec(10, 'default'),
  ...(['off', 'default', 'otlp'] as const).map((t) => calsyncSpec(50, t)),
  plainOtlpSpec(50),
  calsyncSpec(100, 'default'),
  ...(['off', 'default', 'otlp'] as const).map((t) => calsyncSpec(200, t)),
  plainOtlpSpec(200),
  SQS_MESSAGE,
  SQS_BATCH,
];

const ELASTICMQ_MATRIX: NamedSpec[] = [CEILING_8, calsyncSpec(50, 'default'), SQS_BATCH];

/** With this much added before each request (a stand-in for a real endpoint's round trip). */
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 10);
const LATENCY_N = quick ? 500 : 2_000;
const LATENCY_MATRIX: NamedSpec[] = [CEILING_8, calsyncSpec(50, 'default'), calsyncSpec(200, 'default'), SQS_MESSAGE, SQS_BATCH];

/** A fresh fauxqs process per call (each drain gets its own server). */
const freshFauxqs =
  (latencyMs = 0) =>
  (): Promise<OpenTarget> =>
    openFauxqs(latencyMs);

async function withFresh<T>(open: () => Promise<OpenTarget>, body: (target: OpenTarget) => Promise<T>): Promise<T> {
  const target = await open();
  try {
    return await body(target);
  } finally {
    await target.close();
  }
}

interface TracedDrain extends DrainResult {
  otlpBytes: number;
}

function throughputRow(server: string, named: NamedSpec, runs: TracedDrain[]): ThroughputRow {
  const n = runs[0]!.n;
  const cpu = (r: DrainResult): number => r.results.reduce((s, x) => s + x.cpuMicros, 0) / r.n;
  return {
    name: named.name,
    server,
    kind: named.spec.kind,
    concurrency: named.spec.concurrency,
    ...(named.spec.kind === 'calsync' ? { telemetry: named.spec.telemetry ?? 'default' } : {}),
    ...(named.spec.handlerTraceContext === false ? { handlerTraceContext: false as const } : {}),
    n,
    msgPerSec: spread(runs.map((r) => r.msgPerSec)),
    consumerReqPerJob: spread(runs.map((r) => total(r.consumerRequests) / r.n)),
    totalReqPerJob: spread(runs.map((r) => (total(r.consumerRequests) + total(r.producerRequests)) / r.n)),
    byAction: medianCounts(
      runs.map((r) => r.consumerRequests),
      n,
    ),
    executionsPerJob: spread(runs.map((r) => r.executions / r.n)),
    cpuPerJobUs: spread(runs.map(cpu)),
    eventLoopBusy: spread(runs.map((r) => r.results.reduce((s, x) => s + (x.eventLoopBusy ?? Number.NaN), 0) / r.results.length)),
    ...(named.spec.telemetry === 'otlp' ? { otlpBytesPerJob: spread(runs.map((r) => r.otlpBytes / r.n)) } : {}),
  };
}

/** Every spec `RUNS` times, the order rotated each run, each drain on a server of its own from `open`. */
async function matrix(
  server: string,
  open: () => Promise<OpenTarget>,
  specs: NamedSpec[],
  n: number,
  sink: OtlpSink | undefined,
): Promise<ThroughputRow[]> {
  const runs = new Map<string, TracedDrain[]>(specs.map((s) => [s.name, []]));
  for (let rep = 0; rep < RUNS; rep++) {
    const order = specs.map((_, i) => specs[(i + rep) % specs.length]!);
    for (const named of order) {
      const spec: DrainSpec = named.spec.telemetry === 'otlp' && sink ? { ...named.spec, otlpEndpoint: sink.endpoint } : named.spec;
      const sinkBefore = sink?.snapshot()['/v1/traces']?.bytes ?? 0;
      const result = await withFresh(open, (target) => drain(target, spec, n));
      // The exporter flushes on shutdown, inside finish(): every span of the drain has arrived by now.
      const otlpBytes = (sink?.snapshot()['/v1/traces']?.bytes ?? 0) - sinkBefore;
      runs.get(named.name)!.push({ ...result, otlpBytes });
      log(
        `[${elapsed()}] ${server} run ${rep + 1}/${RUNS} ${named.name}: ${result.msgPerSec.toFixed(0)} msg/s, ${(result.results.reduce((s, x) => s + x.cpuMicros, 0) / n).toFixed(0)} µs CPU/job, ${(total(result.consumerRequests) / n).toFixed(3)} req/job ${JSON.stringify(result.consumerRequests)}${spec.telemetry === 'otlp' ? `, OTLP ${(otlpBytes / n).toFixed(0)} B/job` : ''}${result.errors.length ? ` errors: ${result.errors.slice(0, 2).join(' | ')}` : ''}`,
      );
    }
  }
  return specs.map((named) => throughputRow(server, named, runs.get(named.name)!));
}

async function pickupRows(open: () => Promise<OpenTarget>): Promise<PickupRow[]> {
  const specs: NamedSpec[] = [
    { name: 'calsync-jobs worker c=10 (defaults)', spec: { kind: 'calsync', concurrency: 10 } },
    { name: 'sqs-consumer handleMessage', spec: { kind: 'sqs-consumer-message', concurrency: 10 } },
  ];
  const runs = new Map<string, PickupResult[]>(specs.map((s) => [s.name, []]));
  for (let rep = 1; rep <= RUNS; rep++) {
    for (const { name, spec } of specs) {
      const r = await withFresh(open, (target) => pickup(target, spec, 20, TRICKLE_SECONDS));
      runs.get(name)!.push(r);
      log(
        `[${elapsed()}] pickup run ${rep}/${RUNS} ${name}: p50 ${r.p50} ms, p99 ${r.p99} ms, ${r.samples} samples, ${JSON.stringify(r.requests)}`,
      );
    }
  }
  return specs.map(({ name }) => {
    const rs = runs.get(name)!;
    return {
      name,
      samples: rs[0]!.samples,
      p50: spread(rs.map((r) => r.p50)),
      p99: spread(rs.map((r) => r.p99)),
      reqPerSecondIdle: spread(rs.map((r) => total(r.requests) / TRICKLE_SECONDS)),
    };
  });
}

async function retryRow(open: () => Promise<OpenTarget>): Promise<RetryRow> {
  const plain: DrainResult[] = [];
  const retried: DrainResult[] = [];
  const base: DrainSpec = { kind: 'calsync', concurrency: 50, timeJobs: true };
  for (let rep = 1; rep <= RUNS; rep++) {
    plain.push(await withFresh(open, (target) => drain(target, { ...base, mode: 'noop' }, RETRY_N)));
    retried.push(await withFresh(open, (target) => drain(target, { ...base, mode: 'fail-once' }, RETRY_N)));
    log(
      `[${elapsed()}] retry run ${rep}/${RUNS}: plain ${JSON.stringify(plain.at(-1)!.consumerRequests)} fail-once ${JSON.stringify(retried.at(-1)!.consumerRequests)}`,
    );
  }
  const extra = retried.map((r, i) => (total(r.consumerRequests) - total(plain[i]!.consumerRequests)) / RETRY_N);
  const extraByAction: Record<string, number> = {};
  const pm = medianCounts(
    plain.map((r) => r.consumerRequests),
    RETRY_N,
  );
  const rm = medianCounts(
    retried.map((r) => r.consumerRequests),
    RETRY_N,
  );
  for (const key of new Set([...Object.keys(pm), ...Object.keys(rm)])) extraByAction[key] = (rm[key] ?? 0) - (pm[key] ?? 0);
  const jobP50 = (r: DrainResult): number => median(r.results.flatMap((x) => x.jobMs ?? []));
  // Latency without a backlog: a trickle of 20 jobs/s, enqueue → final success.
  const tricklePlain: number[] = [];
  const trickleRetried: number[] = [];
  for (let rep = 1; rep <= RUNS; rep++) {
    const spec: DrainSpec = { kind: 'calsync', concurrency: 10, timeJobs: true };
    tricklePlain.push((await withFresh(open, (t) => pickup(t, { ...spec, mode: 'noop' }, 20, RETRY_TRICKLE_SECONDS))).jobP50 ?? Number.NaN);
    trickleRetried.push(
      (await withFresh(open, (t) => pickup(t, { ...spec, mode: 'fail-once' }, 20, RETRY_TRICKLE_SECONDS))).jobP50 ?? Number.NaN,
    );
    log(
      `[${elapsed()}] retry trickle run ${rep}/${RUNS}: enqueue → success p50 plain ${tricklePlain.at(-1)} ms, fail-once ${trickleRetried.at(-1)} ms`,
    );
  }
  return {
    trickleSeconds: RETRY_TRICKLE_SECONDS,
    tricklePlainP50Ms: spread(tricklePlain),
    trickleRetriedP50Ms: spread(trickleRetried),
    trickleMsPerRetry: spread(trickleRetried.map((r, i) => r - tricklePlain[i]!)),
    n: RETRY_N,
    plainMsgPerSec: spread(plain.map((r) => r.msgPerSec)),
    retryMsgPerSec: spread(retried.map((r) => r.msgPerSec)),
    extraRequestsPerRetry: spread(extra),
    extraByAction,
    wallMsPerRetry: spread(retried.map((r, i) => (r.elapsedMs - plain[i]!.elapsedMs) / RETRY_N)),
    plainJobP50Ms: spread(plain.map(jobP50)),
    retriedJobP50Ms: spread(retried.map(jobP50)),
  };
}

async function memoryRows(open: () => Promise<OpenTarget>): Promise<MemoryResult[]> {
  const out: MemoryResult[] = [];
  for (const n of MEMORY_SIZES) {
    const r = await withFresh(open, (target) => memory(target, n));
    out.push(r);
    log(
      `[${elapsed()}] memory ${n} in flight: RSS ${(r.holding.rss / 2 ** 20).toFixed(1)} MiB (idle ${(r.idle.rss / 2 ** 20).toFixed(1)}), heap ${(r.holding.heapUsed / 2 ** 20).toFixed(1)} MiB`,
    );
  }
  return out;
}

async function scaleOut(open: () => Promise<OpenTarget>): Promise<ScaleRow[]> {
  const counts = [1, 2, 4];
  const runs = new Map<number, DrainResult[]>(counts.map((c) => [c, []]));
  for (let rep = 1; rep <= RUNS; rep++) {
    for (const processes of counts) {
      const r = await withFresh(open, (target) => drain(target, { kind: 'calsync', concurrency: 50, processes, recordIds: true }, N));
      runs.get(processes)!.push(r);
      log(
        `[${elapsed()}] scale-out run ${rep}/${RUNS} ${processes} process(es): ${r.msgPerSec.toFixed(0)} msg/s, executions ${r.executions}, distinct ${r.distinctIds}`,
      );
    }
  }
  return counts.map((processes) => {
    const rs = runs.get(processes)!;
    return {
      processes,
      concurrencyEach: 50,
      msgPerSec: spread(rs.map((r) => r.msgPerSec)),
      executionsPerJob: spread(rs.map((r) => r.executions / r.n)),
      distinctPerJob: spread(rs.map((r) => (r.distinctIds ?? 0) / r.n)),
    };
  });
}

function targets(report: BenchReport): TargetLine[] {
  const fauxqs = report.throughput.filter((r) => r.server === 'fauxqs');
  const out: TargetLine[] = [];
  if (fauxqs.length > 0) out.push(...fauxqsTargets(fauxqs));
  return [...out, ...otherTargets(report)];
}

const short = (detail: string, pass: boolean, missedBy: string): string => (pass ? detail : `${detail} (missed by ${missedBy})`);
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

function fauxqsTargets(fauxqs: ThroughputRow[]): TargetLine[] {
  const out: TargetLine[] = [];
  const ceilingRows = fauxqs.filter((r) => r.kind === 'ceiling');
  const ceiling8 = fauxqs.find((r) => r.name === CEILING_8.name)!;
  const ceiling = Math.max(...ceilingRows.map((r) => r.msgPerSec.median));
  const calsync = fauxqs.filter((r) => r.kind === 'calsync');
  const at = (c: number, t: TelemetryMode): ThroughputRow | undefined =>
    calsync.find((r) => r.concurrency === c && r.telemetry === t && r.handlerTraceContext === undefined);
  const plainOtlpAt = (c: number): ThroughputRow | undefined =>
    calsync.find((r) => r.concurrency === c && r.telemetry === 'otlp' && r.handlerTraceContext === false);
  const sqsBest = fauxqs
    .filter((r) => r.kind.startsWith('sqs-consumer'))
    .reduce((a, b) => (b.msgPerSec.median > a.msgPerSec.median ? b : a));

  // 1. CPU per job against the bare loop's CPU per message.
  const ceilingCpu = ceiling8.cpuPerJobUs.median;
  for (const [mode, goal] of [
    ['default', GOALS.cpuDefault],
    ['otlp', GOALS.cpuTraced],
  ] as const) {
    const rows = [50, 200].map((c) => at(c, mode)).filter((r) => r !== undefined);
    if (rows.length === 0) continue;
    const ratios = rows.map((r) => ({ r, x: r.cpuPerJobUs.median / ceilingCpu }));
    const worst = ratios.reduce((a, b) => (b.x > a.x ? b : a));
    const pass = worst.x <= goal;
    out.push({
      name: `worker CPU per settled job ≤ ${goal} × the bare loop's CPU per message, ${mode === 'default' ? 'default settings' : 'traces over OTLP'}`,
      pass,
      detail: short(
        `${ratios.map(({ r, x }) => `c=${r.concurrency}: ${r.cpuPerJobUs.median.toFixed(0)} µs/job = ${x.toFixed(2)} ×`).join(', ')} the 8-loop ceiling's ${ceilingCpu.toFixed(0)} µs/message`,
        pass,
        `${(worst.x - goal).toFixed(2)} ×, ${((worst.x - goal) * ceilingCpu).toFixed(0)} µs/job at c=${worst.r.concurrency}`,
      ),
    });
  }

  // 2. Throughput against the direct ceiling and sqs-consumer's best mode.
  const defaults = calsync.filter((r) => r.telemetry === 'default');
  if (defaults.length > 0) {
    const best = defaults.reduce((a, b) => (b.msgPerSec.median > a.msgPerSec.median ? b : a));
    const ratio = best.msgPerSec.median / ceiling;
    out.push({
      name: `calsync-jobs worker (defaults) ≥ ${GOALS.ceiling} × the bare loop, direct connection`,
      pass: ratio >= GOALS.ceiling,
      detail: short(
        `best ${best.name} ${best.msgPerSec.median.toFixed(0)} jobs/s = ${ratio.toFixed(2)} × ceiling ${ceiling.toFixed(0)} msg/s`,
        ratio >= GOALS.ceiling,
        `${((GOALS.ceiling - ratio) * ceiling).toFixed(0)} jobs/s, ${((GOALS.ceiling / ratio - 1) * 100).toFixed(0)}%`,
      ),
    });
    const vsSqs = best.msgPerSec.median / sqsBest.msgPerSec.median;
    out.push({
      name: `calsync-jobs worker (defaults) ≥ ${GOALS.sqsConsumer} × sqs-consumer's best mode`,
      pass: vsSqs >= GOALS.sqsConsumer,
      detail: short(
        `${best.msgPerSec.median.toFixed(0)} jobs/s = ${vsSqs.toFixed(2)} × ${sqsBest.name} ${sqsBest.msgPerSec.median.toFixed(0)} msg/s`,
        vsSqs >= GOALS.sqsConsumer,
        `${(GOALS.sqsConsumer * sqsBest.msgPerSec.median - best.msgPerSec.median).toFixed(0)} jobs/s`,
      ),
    });
  }

  // 3. What tracing over OTLP costs, against telemetry off and against the defaults.
  const costs = [50, 200].flatMap((c) => {
    const off = at(c, 'off');
    const def = at(c, 'default');
    const on = at(c, 'otlp');
    const plain = plainOtlpAt(c);
    if (!off || !on) return [];
    return [
      {
        c,
        cost: 1 - on.msgPerSec.median / off.msgPerSec.median,
        plain: plain
          ? { cost: 1 - plain.msgPerSec.median / off.msgPerSec.median, cpu: plain.cpuPerJobUs.median / off.cpuPerJobUs.median - 1 }
          : undefined,
        vsDefault: def ? 1 - on.msgPerSec.median / def.msgPerSec.median : Number.NaN,
        cpu: on.cpuPerJobUs.median / off.cpuPerJobUs.median - 1,
      },
    ];
  });
  if (costs.length > 0) {
    const worst = costs.reduce((a, b) => (b.cost > a.cost ? b : a));
    const pass = worst.cost < GOALS.tracingCost;
    out.push({
      name: `telemetry with traces over OTLP costs < ${GOALS.tracingCost * 100}% of throughput (against telemetry off)`,
      pass,
      detail: short(
        costs
          .map((x) => `c=${x.c}: ${pct(x.cost)} (against the defaults ${pct(x.vsDefault)}; CPU per job +${pct(x.cpu)} against off)`)
          .join(', '),
        pass,
        `${((worst.cost - GOALS.tracingCost) * 100).toFixed(1)} points at c=${worst.c}`,
      ),
    });
    const plain = costs.flatMap((x) => (x.plain ? [{ c: x.c, ...x.plain }] : []));
    if (plain.length > 0) {
      out.push({
        name: 'traces over OTLP with CALSYNC_HANDLER_TRACE_CONTEXT=false (no AsyncLocalStorage, so no promise hooks on Node 20)',
        pass: true,
        info: true,
        detail: plain.map((x) => `c=${x.c}: costs ${pct(x.cost)} of throughput, CPU per job +${pct(x.cpu)} against off`).join(', '),
      });
    }
  }

  const worstReq = calsync.reduce((a, b) => (b.consumerReqPerJob.median > a.consumerReqPerJob.median ? b : a));
  out.push({
    name: '≤ 0.25 SQS requests per successful job, consuming side, at load (counted in the server)',
    pass: worstReq.consumerReqPerJob.median <= 0.25,
    detail: `worst calsync-jobs configuration (${worstReq.name}) ${worstReq.consumerReqPerJob.median.toFixed(3)} req/job; the ceiling ${ceiling8.consumerReqPerJob.median.toFixed(3)}`,
  });
  return out;
}

function otherTargets(report: BenchReport): TargetLine[] {
  const out: TargetLine[] = [];
  const slow = report.throughput.filter((r) => r.server.startsWith('fauxqs +'));
  if (slow.length > 0) {
    const slowBest = slow.filter((r) => r.kind === 'calsync').reduce((a, b) => (b.msgPerSec.median > a.msgPerSec.median ? b : a));
    const slowSqs = slow
      .filter((r) => r.kind.startsWith('sqs-consumer'))
      .reduce((a, b) => (b.msgPerSec.median > a.msgPerSec.median ? b : a));
    const slowCeiling = slow.find((r) => r.kind === 'ceiling')!;
    const x = slowBest.msgPerSec.median / slowSqs.msgPerSec.median;
    out.push({
      name: `with ${slow[0]!.server.slice('fauxqs +'.length)} added per request: calsync-jobs ≥ ${GOALS.sqsConsumerSlow} × sqs-consumer's best mode`,
      pass: x >= GOALS.sqsConsumerSlow,
      detail: short(
        `${slowBest.name} ${slowBest.msgPerSec.median.toFixed(0)} jobs/s = ${x.toFixed(2)} × ${slowSqs.name} ${slowSqs.msgPerSec.median.toFixed(0)} msg/s; ${(slowBest.msgPerSec.median / slowCeiling.msgPerSec.median).toFixed(2)} × the 8-loop ceiling ${slowCeiling.msgPerSec.median.toFixed(0)} msg/s`,
        x >= GOALS.sqsConsumerSlow,
        `${(GOALS.sqsConsumerSlow * slowSqs.msgPerSec.median - slowBest.msgPerSec.median).toFixed(0)} jobs/s`,
      ),
    });
  }
  const p = report.pickup.find((r) => r.name.startsWith('calsync-jobs'));
  if (p) {
    out.push({
      name: 'pickup p50 < 50 ms',
      pass: p.p50.median < 50,
      detail: `calsync-jobs p50 ${fmt(p.p50, 1)} ms, p99 ${fmt(p.p99, 1)} ms`,
    });
  }
  const run = report.memoryRun;
  const windows = run ? memoryWindows(run) : [];
  if (run && windows.length >= 2) {
    const first = { rss: windows[0]!.rss, heapUsed: windows[0]!.heap };
    const last = { rss: windows.at(-1)!.rss, heapUsed: windows.at(-1)!.heap };
    const rssGrowth = last.rss / first.rss - 1;
    const heapGrowthMiB = (last.heapUsed - first.heapUsed) / 2 ** 20;
    const pass = rssGrowth <= GOALS.memoryRssGrowth && heapGrowthMiB <= GOALS.memoryHeapGrowthMiB;
    out.push({
      name: `memory flat across ${run.n.toLocaleString('en-US')} jobs: from the first ${run.window.toLocaleString('en-US')} to the last (medians of ${Math.round(run.window / run.every)} samples after a full GC each), RSS grows ≤ ${GOALS.memoryRssGrowth * 100}% and the heap ≤ ${GOALS.memoryHeapGrowthMiB} MiB`,
      pass,
      detail: short(
        `RSS ${(first.rss / 2 ** 20).toFixed(1)} → ${(last.rss / 2 ** 20).toFixed(1)} MiB (${rssGrowth >= 0 ? '+' : ''}${pct(rssGrowth)}), heap ${(first.heapUsed / 2 ** 20).toFixed(1)} → ${(last.heapUsed / 2 ** 20).toFixed(1)} MiB (${heapGrowthMiB >= 0 ? '+' : ''}${heapGrowthMiB.toFixed(2)} MiB), c=${run.concurrency}, ${run.msgPerSec.toFixed(0)} jobs/s`,
        pass,
        rssGrowth > GOALS.memoryRssGrowth
          ? `${pct(rssGrowth - GOALS.memoryRssGrowth)} of RSS`
          : `${(heapGrowthMiB - GOALS.memoryHeapGrowthMiB).toFixed(2)} MiB of heap`,
      ),
    });
  }
  if (report.memoryGrowthPerJobKiB) {
    out.push({
      name: 'RSS per job in flight',
      pass: true,
      info: true,
      detail: `${report.memoryGrowthPerJobKiB.rss.toFixed(2)} KiB RSS, ${report.memoryGrowthPerJobKiB.heap.toFixed(2)} KiB heap per job held in flight (${report.memory.map((r) => r.inFlight).join(' → ')})`,
    });
  }
  if (report.decode.length > 0) {
    const worst = report.decode.reduce((a, b) => (b.ratio.median > a.ratio.median ? b : a));
    out.push({
      name: `decodeEnvelope ≤ ${DECODE_TARGET_RATIO} × JSON.parse of the same body`,
      pass: worst.ratio.median <= DECODE_TARGET_RATIO,
      detail: report.decode
        .map((r) => `${r.name}: ${r.decodeUsPerKiB.median.toFixed(2)} µs/KiB = ${r.ratio.median.toFixed(2)} ×`)
        .join(', '),
    });
  }
  const scale = report.scaleOut;
  if (scale.length > 0) {
    const exact = scale.every((r) => r.executionsPerJob.max === 1 && r.distinctPerJob.min === 1);
    out.push({
      name: 'scale-out: handler executions per job = 1.0 with no faults',
      pass: exact,
      detail: scale.map((r) => `${r.processes}p: ${fmt(r.executionsPerJob, 4)}`).join(', '),
    });
  }
  if (report.profile) {
    out.push({
      name: 'top self time of the worker',
      pass: true,
      info: true,
      detail: report.profile.top
        .slice(0, 10)
        .map((f) => `${pct(f.share)} ${f.name}`)
        .join('; '),
    });
  }
  for (const t of report.store?.targets ?? []) out.push({ ...t, name: `job store: ${t.name}` });
  for (const t of report.console?.targets ?? []) out.push(t);
  for (const t of report.schedules?.targets ?? []) out.push({ ...t, name: `schedules: ${t.name}` });
  const keyed = report.keys?.throughput.find((r) => r.ratioToNoKey !== undefined);
  if (keyed?.ratioToNoKey)
    out.push({
      name: 'per-key: jobs/s with a concurrency key over 1,000 keys ≥ 0.7 × no key',
      pass: keyed.ratioToNoKey.median >= 0.7,
      detail: `${fmt(keyed.ratioToNoKey, 2)} × (${fmt(keyed.jobsPerSec)} jobs/s), ${fmt(keyed.storeRoundTripsPerJob, 3)} store round trips per job`,
    });
  const release = report.keys?.release.find((r) => r.workers === 1);
  if (release)
    out.push({
      name: "per-key: a key's release to its next job's start p50 < 100 ms",
      pass: release.p50Ms < 100,
      detail: report
        .keys!.release.map((r) => `${r.workers} worker(s): p50 ${r.p50Ms.toFixed(1)} ms, p95 ${r.p95Ms.toFixed(1)} ms`)
        .join('; '),
    });
  return out;
}

async function main(): Promise<void> {
  const report: BenchReport = {
    generatedAt: new Date().toISOString(),
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
      node: process.version,
      platform: `${platform()} ${release()}`,
      loadStart,
      loadEnd: '',
    },
    settings: {
      runs: RUNS,
      messagesPerThroughputRun: N,
      addedLatencyMs: LATENCY_MS,
      messagesPerLatencyRun: LATENCY_N,
      retryJobs: RETRY_N,
      trickleSeconds: TRICKLE_SECONDS,
      retryTrickleSeconds: RETRY_TRICKLE_SECONDS,
      memoryRunJobs: MEMORY_RUN_N,
      profiledJobs: PROFILE_N,
      quick,
      sections: [...sections].join(','),
    },
    servers: [],
    durationSeconds: 0,
    throughput: [],
    pickup: [],
    retry: undefined,
    memory: [],
    memoryGrowthPerJobKiB: undefined,
    memoryRun: undefined,
    scaleOut: [],
    decode: [],
    profile: undefined,
    store: undefined,
    console: undefined,
    schedules: undefined,
    targets: [],
    notes: [],
  };
  log(
    `calsync-jobs bench: ${report.machine.cpu}, ${report.machine.cores} cores, Node ${process.version}, load ${loadStart}; runs=${RUNS}, N=${N}`,
  );

  // CPU only, before any server or consumer process starts.
  if (sections.has('decode')) {
    report.decode = decodeRows(RUNS, quick);
    for (const r of report.decode)
      log(`[${elapsed()}] decode ${r.name}: ${r.decodeUsPerKiB.median.toFixed(2)} µs/KiB, ${r.ratio.median.toFixed(2)} × JSON.parse`);
  }

  const fauxqs = freshFauxqs();
  if (
    sections.has('fauxqs') ||
    sections.has('latency') ||
    sections.has('memory') ||
    sections.has('store') ||
    sections.has('keys') ||
    sections.has('schedules')
  )
    report.servers.push('fauxqs (a fresh process per drain; requests counted in it)');
  if (sections.has('fauxqs')) {
    const sink = await startOtlpSink();
    try {
      report.throughput.push(...(await matrix('fauxqs', fauxqs, FAUXQS_MATRIX, N, sink)));
      const profiled = await profiledDrain({ kind: 'calsync', concurrency: 200, telemetry: 'default' }, PROFILE_N, 10);
      report.profile = {
        scenario: `calsync-jobs worker c=200, defaults, ${PROFILE_N} jobs, the inspector's sampling profiler over the measured window`,
        ...profiled.profile,
      };
      log(`[${elapsed()}] profiled drain: ${profiled.result.msgPerSec.toFixed(0)} msg/s; top: ${profiled.profile.top[0]?.name}`);
    } finally {
      await sink.close();
    }
    report.pickup = await pickupRows(fauxqs);
    report.retry = await retryRow(fauxqs);
    report.scaleOut = await scaleOut(fauxqs);
  }
  if (sections.has('memory')) {
    const mem = await memoryRows(fauxqs);
    report.memory = mem.map<MemoryRow>((r) => ({
      inFlight: r.inFlight,
      idleRssMiB: r.idle.rss / 2 ** 20,
      rssMiB: r.holding.rss / 2 ** 20,
      heapUsedMiB: r.holding.heapUsed / 2 ** 20,
    }));
    const first = mem[0]!;
    const last = mem.at(-1)!;
    if (last.inFlight > first.inFlight) {
      report.memoryGrowthPerJobKiB = {
        rss: (last.holding.rss - first.holding.rss) / (last.inFlight - first.inFlight) / 1024,
        heap: (last.holding.heapUsed - first.holding.heapUsed) / (last.inFlight - first.inFlight) / 1024,
      };
    }
    const window = Math.max(1, Math.floor(MEMORY_RUN_N / 10));
    report.memoryRun = await withFresh(fauxqs, (target) => memoryRun(target, MEMORY_RUN_N, window));
    log(
      `[${elapsed()}] memory run ${MEMORY_RUN_N}: ${memoryWindows(report.memoryRun)
        .map((w) => `≤${w.upTo}: ${(w.rss / 2 ** 20).toFixed(1)}/${(w.heap / 2 ** 20).toFixed(1)} MiB`)
        .join(', ')}`,
    );
  }
  if (sections.has('latency') && LATENCY_MS > 0)
    report.throughput.push(...(await matrix(`fauxqs +${LATENCY_MS} ms`, freshFauxqs(LATENCY_MS), LATENCY_MATRIX, LATENCY_N, undefined)));
  if (sections.has('store')) {
    // One fauxqs for the section (its CPU is sampled by PID), connected to directly, counted inside it.
    report.store = await withFresh(fauxqs, (target) => storeScenarios(target, target.serverPid!));
    report.servers.push(`PostgreSQL ${report.store?.postgres?.version ?? ''} (private cluster, fsync on)`);
  }
  if (sections.has('keys')) {
    report.keys = await withFresh(fauxqs, (target) => keyScenarios(target));
    if (!sections.has('store')) report.servers.push(`PostgreSQL ${report.keys?.postgres.version ?? ''} (private cluster, fsync on)`);
  }
  if (sections.has('schedules')) {
    report.schedules = await withFresh(fauxqs, (target) => scheduleBench(target.endpoint, (line) => log(`[${elapsed()}] ${line}`)));
    report.servers.push(`PostgreSQL ${report.schedules.postgres.version} for the schedules (private cluster, fsync on)`);
  }

  if (sections.has('console')) {
    report.console = await consoleScenarios(Number(process.env.BENCH_CONSOLE_RUNS ?? (quick ? 1 : 3)), (line) =>
      log(`[${elapsed()}] ${line}`),
    );
    report.servers.push(`PostgreSQL ${report.console.postgres} (private cluster, fsync on) for the console`);
  }

  const wantElastic = sections.has('elasticmq') ? (process.env.BENCH_ELASTICMQ ?? 'auto') : '0';
  if (wantElastic !== '0' && (wantElastic === '1' || (hasCommand('java') && hasCommand('mvn')))) {
    try {
      const { startElasticMq } = await import('../test/support/elasticmq.js');
      const elastic = await startElasticMq();
      report.servers.push(`elasticmq (pid ${elastic.pid}; behind the counting proxy, for every side)`);
      try {
        const open = (): Promise<OpenTarget> => openCounted('elasticmq', elastic.endpoint, elastic.pid);
        report.throughput.push(...(await matrix('elasticmq', open, ELASTICMQ_MATRIX, Math.min(N, 3_000), undefined)));
      } finally {
        await elastic.stop();
      }
    } catch (error) {
      if (wantElastic === '1') throw error;
      report.notes.push(`ElasticMQ skipped: ${(error as Error).message.split('\n')[0]}`);
    }
  } else if (sections.has('elasticmq')) {
    report.notes.push('ElasticMQ not run (java and mvn not both installed, or BENCH_ELASTICMQ=0).');
  }

  if (!sections.has('fauxqs') && !sections.has('latency') && !sections.has('elasticmq') && !sections.has('memory')) {
    // Only decode, store, keys, console and/or schedules ran: the SQS matrices' settings would only mislead (the store section prints its own).
    report.settings = { runs: RUNS, quick, sections: [...sections].join(',') };
  }
  report.machine.loadEnd = loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');
  const ticksEnd = cpuTicks();
  if (ticksStart && ticksEnd && ticksEnd.total > ticksStart.total)
    report.machine.stealShare = (ticksEnd.steal - ticksStart.steal) / (ticksEnd.total - ticksStart.total);
  report.durationSeconds = (Date.now() - started) / 1000;
  if (sections.has('fauxqs') || sections.has('latency') || sections.has('elasticmq'))
    report.notes.push(
      'Every drain runs against a fresh fauxqs process that every client (the ceiling, the worker, sqs-consumer, the producer) connects to directly; its requests are counted inside the server (a Fastify onRequest hook, bench/sqs-server.ts), consuming side from `go` until the last job settled: receives (including empty long polls), deletes, visibility changes and, on the retry path, the re-sends.',
      'The calsync-jobs worker runs as `calsync-jobs worker --concurrency N --metrics-port 0` runs it (startWorkerProcess: configuration from the environment, startOtel, the connection), with a no-op job (a zod-validated payload), log level warn. "defaults": the SDK registered, metrics recorded for the Prometheus reader, traces exported nowhere (OTEL_TRACES_EXPORTER unset); "traces over OTLP": OTEL_TRACES_EXPORTER=otlp to a local sink (bench/otlp-sink.ts, http/protobuf, the SDK\'s BatchSpanProcessor); "telemetry off": OTEL_SDK_DISABLED=true.',
      'sqs-consumer 15 runs one batch of 10 at a time (batchSize 10, waitTimeSeconds 20); its handlers return the message so it is deleted. The ceiling is 1 or 8 loops of ReceiveMessage(10, wait 1 s) + DeleteMessageBatch on one SQSClient (the same SDK, keep-alive agent).',
      'jobs/s and CPU µs/job run from the first handler start to the last settle (start-up outside, for every kind alike); CPU is the consumer process\'s user + system time (process.cpuUsage), which unlike jobs/s hardly depends on what else the 2 cores are doing. "× ceiling" is against the best ceiling row of the same server, "× sqs-consumer" against its best mode there.',
      'The "+10 ms" rows put a proxy in front of the server that waits 10 ms before forwarding each request, for every side (a stand-in for a real endpoint\'s round trip; a loopback fauxqs answers in well under a millisecond).',
    );
  report.targets = targets(report);

  mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
  const base = partial ? `latest-${[...sections].join('+')}` : 'latest';
  writeFileSync(join(BENCH_DIR, 'results', `${base}.json`), `${JSON.stringify(report, null, 2)}\n`);
  const md = markdown(report);
  writeFileSync(join(BENCH_DIR, 'results', `${base}.md`), md);
  log(`[${elapsed()}] wrote bench/results/${base}.json and ${base}.md`);
  process.stdout.write(md);
}

await main();
