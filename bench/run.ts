/**
 * `npm run bench`: every scenario in one invocation against the same SQS server (fauxqs in its own
 * process; ElasticMQ too when java and mvn are present), each behind a counting HTTP proxy, so
 * "SQS requests per settled job" is counted at the server's door. Writes bench/results/latest.json
 * and latest.md, prints the table and PASS/FAIL target lines (information, not assertions).
 *
 * Knobs: BENCH_RUNS (default 3), BENCH_N (messages per throughput run, default 5000),
 * BENCH_ELASTICMQ (`0` skips it, `1` requires it; default: when java and mvn are installed),
 * BENCH_LATENCY_MS (default 10; 0 skips the added-latency matrix),
 * BENCH_QUICK=1 (1 run, 1000 messages, short trickle: a smoke test, not a measurement); the job-store
 * section's own knobs are in bench/store.ts, the console's in bench/console.ts, the schedules
 * section's in bench/schedules.ts.
 *
 * `npm run bench -- --only store` (or `--only decode,fauxqs,latency,elasticmq,store,console,schedules`, any of them)
 * runs only those sections and writes bench/results/latest-<sections>.json and .md instead, so a
 * partial run never replaces the full one.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { SqsTransport } from '../src/queue/sqs/sqs-transport.js';
import { startCountingProxy } from './counting-proxy.js';
import { DECODE_TARGET_RATIO, decodeRows } from './decode.js';
import { drain, total, type DrainResult, type DrainSpec, type Target } from './harness.js';
import { BENCH_DIR, startServerProcess } from './processes.js';
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
import { memory, pickup, type MemoryResult, type PickupResult } from './scenarios.js';
import { fmt, median, spread } from './stats.js';
import { keyScenarios } from './keys.js';
import { storeScenarios } from './store.js';
import { consoleScenarios } from './console.js';
import { scheduleBench } from './schedules.js';

const SECTIONS = ['decode', 'fauxqs', 'latency', 'elasticmq', 'store', 'keys', 'console', 'schedules'] as const;
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
const started = Date.now();
const loadStart = loadavg()
  .map((v) => v.toFixed(2))
  .join(' ');
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(0)}s`;

function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
}

interface NamedSpec {
  name: string;
  spec: DrainSpec;
}

const FAUXQS_MATRIX: NamedSpec[] = [
  { name: 'ceiling: bare Receive(10)+DeleteBatch, 1 loop', spec: { kind: 'ceiling', concurrency: 1 } },
  { name: 'ceiling: bare Receive(10)+DeleteBatch, 8 loops', spec: { kind: 'ceiling', concurrency: 8 } },
  ...[10, 50, 200].flatMap((c) => [
    { name: `calsync-jobs c=${c}, telemetry off`, spec: { kind: 'calsync', concurrency: c, telemetry: false } as DrainSpec },
    { name: `calsync-jobs c=${c}, telemetry on`, spec: { kind: 'calsync', concurrency: c, telemetry: true } as DrainSpec },
  ]),
  { name: 'sqs-consumer handleMessage (batchSize 10)', spec: { kind: 'sqs-consumer-message', concurrency: 10 } },
  { name: 'sqs-consumer handleMessageBatch (batchSize 10)', spec: { kind: 'sqs-consumer-batch', concurrency: 10 } },
];

const ELASTICMQ_MATRIX: NamedSpec[] = [
  { name: 'ceiling: bare Receive(10)+DeleteBatch, 8 loops', spec: { kind: 'ceiling', concurrency: 8 } },
  { name: 'calsync-jobs c=50, telemetry off', spec: { kind: 'calsync', concurrency: 50 } },
  { name: 'sqs-consumer handleMessageBatch (batchSize 10)', spec: { kind: 'sqs-consumer-batch', concurrency: 10 } },
];

/** With this much added before each request (a stand-in for a real endpoint's round trip). */
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 10);
const LATENCY_N = quick ? 500 : 2_000;
const LATENCY_MATRIX: NamedSpec[] = [
  { name: 'ceiling: bare Receive(10)+DeleteBatch, 8 loops', spec: { kind: 'ceiling', concurrency: 8 } },
  { name: 'calsync-jobs c=50, telemetry off', spec: { kind: 'calsync', concurrency: 50 } },
  { name: 'calsync-jobs c=200, telemetry off', spec: { kind: 'calsync', concurrency: 200 } },
  { name: 'sqs-consumer handleMessage (batchSize 10)', spec: { kind: 'sqs-consumer-message', concurrency: 10 } },
  { name: 'sqs-consumer handleMessageBatch (batchSize 10)', spec: { kind: 'sqs-consumer-batch', concurrency: 10 } },
];

async function withTarget<T>(server: string, endpoint: string, body: (target: Target) => Promise<T>, latencyMs = 0): Promise<T> {
  const proxy = await startCountingProxy(endpoint, { latencyMs });
  const transport = new SqsTransport({ endpoint: proxy.endpoint, region: 'us-east-1' });
  try {
    return await body({ server, proxy, transport });
  } finally {
    await transport.close();
    await proxy.close();
  }
}

function throughputRow(server: string, name: string, runs: DrainResult[]): ThroughputRow {
  const n = runs[0]!.n;
  const spans = runs.map((r) => r.results.reduce((s, x) => s + (x.spans ?? 0), 0));
  return {
    name,
    server,
    n,
    msgPerSec: spread(runs.map((r) => r.msgPerSec)),
    consumerReqPerJob: spread(runs.map((r) => total(r.consumerRequests) / r.n)),
    totalReqPerJob: spread(runs.map((r) => (total(r.consumerRequests) + total(r.producerRequests)) / r.n)),
    byAction: medianCounts(
      runs.map((r) => r.consumerRequests),
      n,
    ),
    executionsPerJob: spread(runs.map((r) => r.executions / r.n)),
    cpuPerJobUs: spread(runs.map((r) => r.results.reduce((s, x) => s + x.cpuMicros, 0) / r.n)),
    ...(spans.some((s) => s > 0) ? { spansPerJob: spread(spans.map((s) => s / n)) } : {}),
  };
}

async function matrix(target: Target, specs: NamedSpec[], n: number): Promise<ThroughputRow[]> {
  const runs = new Map<string, DrainResult[]>(specs.map((s) => [s.name, []]));
  for (let rep = 1; rep <= RUNS; rep++) {
    for (const { name, spec } of specs) {
      const result = await drain(target, spec, n);
      runs.get(name)!.push(result);
      log(
        `[${elapsed()}] ${target.server} run ${rep}/${RUNS} ${name}: ${result.msgPerSec.toFixed(0)} msg/s, ${(result.results.reduce((s, x) => s + x.cpuMicros, 0) / n).toFixed(0)} µs CPU/job, ${(total(result.consumerRequests) / n).toFixed(3)} req/job ${JSON.stringify(result.consumerRequests)}${result.errors.length ? ` errors: ${result.errors.slice(0, 2).join(' | ')}` : ''}`,
      );
    }
  }
  return specs.map(({ name }) => throughputRow(target.server, name, runs.get(name)!));
}

async function pickupRows(target: Target): Promise<PickupRow[]> {
  const specs: NamedSpec[] = [
    { name: 'calsync-jobs c=10 (defaults)', spec: { kind: 'calsync', concurrency: 10 } },
    { name: 'sqs-consumer handleMessage', spec: { kind: 'sqs-consumer-message', concurrency: 10 } },
  ];
  const runs = new Map<string, PickupResult[]>(specs.map((s) => [s.name, []]));
  for (let rep = 1; rep <= RUNS; rep++) {
    for (const { name, spec } of specs) {
      const r = await pickup(target, spec, 20, TRICKLE_SECONDS);
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

async function retryRow(target: Target): Promise<RetryRow> {
  const plain: DrainResult[] = [];
  const retried: DrainResult[] = [];
  const base: DrainSpec = { kind: 'calsync', concurrency: 50, timeJobs: true };
  for (let rep = 1; rep <= RUNS; rep++) {
    plain.push(await drain(target, { ...base, mode: 'noop' }, RETRY_N));
    retried.push(await drain(target, { ...base, mode: 'fail-once' }, RETRY_N));
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
    tricklePlain.push((await pickup(target, { ...spec, mode: 'noop' }, 20, RETRY_TRICKLE_SECONDS)).jobP50 ?? Number.NaN);
    trickleRetried.push((await pickup(target, { ...spec, mode: 'fail-once' }, 20, RETRY_TRICKLE_SECONDS)).jobP50 ?? Number.NaN);
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

async function memoryRows(target: Target): Promise<MemoryResult[]> {
  const out: MemoryResult[] = [];
  for (const n of MEMORY_SIZES) {
    const r = await memory(target, n);
    out.push(r);
    log(
      `[${elapsed()}] memory ${n} in flight: RSS ${(r.holding.rss / 2 ** 20).toFixed(1)} MiB (idle ${(r.idle.rss / 2 ** 20).toFixed(1)}), heap ${(r.holding.heapUsed / 2 ** 20).toFixed(1)} MiB`,
    );
  }
  return out;
}

async function scaleOut(target: Target): Promise<ScaleRow[]> {
  const counts = [1, 2, 4];
  const runs = new Map<number, DrainResult[]>(counts.map((c) => [c, []]));
  for (let rep = 1; rep <= RUNS; rep++) {
    for (const processes of counts) {
      const r = await drain(target, { kind: 'calsync', concurrency: 50, processes, recordIds: true }, N);
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

function fauxqsTargets(fauxqs: ThroughputRow[]): TargetLine[] {
  const find = (prefix: string): ThroughputRow[] => fauxqs.filter((r) => r.name.startsWith(prefix));
  const ceiling = Math.max(...find('ceiling').map((r) => r.msgPerSec.median));
  const calsyncOff = find('calsync-jobs').filter((r) => r.name.endsWith('telemetry off'));
  const best = calsyncOff.reduce((a, b) => (b.msgPerSec.median > a.msgPerSec.median ? b : a));
  const sqsBest = find('sqs-consumer').reduce((a, b) => (b.msgPerSec.median > a.msgPerSec.median ? b : a));
  const out: TargetLine[] = [];
  const ratio = best.msgPerSec.median / ceiling;
  out.push({
    name: 'calsync-jobs ≥ 0.85 × ceiling',
    pass: ratio >= 0.85,
    detail:
      `best calsync-jobs (${best.name}) ${best.msgPerSec.median.toFixed(0)} msg/s = ${ratio.toFixed(2)} × ceiling ${ceiling.toFixed(0)} msg/s` +
      (ratio >= 0.85 ? '' : ` (short by ${((0.85 - ratio) * ceiling).toFixed(0)} msg/s, ${((0.85 / ratio - 1) * 100).toFixed(0)}%)`),
  });
  const vsSqs = best.msgPerSec.median / sqsBest.msgPerSec.median;
  out.push({
    name: "calsync-jobs ≥ 2 × sqs-consumer's best mode",
    pass: vsSqs >= 2,
    detail:
      `${best.msgPerSec.median.toFixed(0)} msg/s = ${vsSqs.toFixed(2)} × ${sqsBest.name} ${sqsBest.msgPerSec.median.toFixed(0)} msg/s` +
      (vsSqs >= 2 ? '' : ` (short by ${(2 * sqsBest.msgPerSec.median - best.msgPerSec.median).toFixed(0)} msg/s)`),
  });
  const worstReq = calsyncOff
    .concat(find('calsync-jobs').filter((r) => r.name.endsWith('telemetry on')))
    .reduce((a, b) => (b.consumerReqPerJob.median > a.consumerReqPerJob.median ? b : a));
  out.push({
    name: '≤ 0.25 SQS requests per successful job, consuming side, at load',
    pass: worstReq.consumerReqPerJob.median <= 0.25,
    detail:
      `worst calsync-jobs configuration (${worstReq.name}) ${worstReq.consumerReqPerJob.median.toFixed(3)} req/job; ` +
      calsyncOff
        .map((r) => `${r.name.replace('calsync-jobs ', '').replace(', telemetry off', '')}: ${r.consumerReqPerJob.median.toFixed(3)}`)
        .join(', '),
  });
  const costs = [10, 50, 200].map((c) => {
    const off = fauxqs.find((r) => r.name === `calsync-jobs c=${c}, telemetry off`)!;
    const on = fauxqs.find((r) => r.name === `calsync-jobs c=${c}, telemetry on`)!;
    return { c, cost: 1 - on.msgPerSec.median / off.msgPerSec.median };
  });
  const worstCost = costs.reduce((a, b) => (b.cost > a.cost ? b : a));
  out.push({
    name: 'telemetry costs < 10% of throughput',
    pass: worstCost.cost < 0.1,
    detail:
      costs.map((x) => `c=${x.c}: ${(x.cost * 100).toFixed(1)}%`).join(', ') +
      (worstCost.cost < 0.1 ? '' : ` (worst over by ${((worstCost.cost - 0.1) * 100).toFixed(1)} points)`),
  });
  return out;
}

function otherTargets(report: BenchReport): TargetLine[] {
  const out: TargetLine[] = [];
  const slow = report.throughput.filter((r) => r.server.startsWith('fauxqs +'));
  if (slow.length > 0) {
    const slowBest = slow
      .filter((r) => r.name.startsWith('calsync-jobs'))
      .reduce((a, b) => (b.msgPerSec.median > a.msgPerSec.median ? b : a));
    const slowSqs = slow
      .filter((r) => r.name.startsWith('sqs-consumer'))
      .reduce((a, b) => (b.msgPerSec.median > a.msgPerSec.median ? b : a));
    const slowCeiling = slow.find((r) => r.name.startsWith('ceiling'))!;
    const x = slowBest.msgPerSec.median / slowSqs.msgPerSec.median;
    out.push({
      name: `(same two targets with ${slow[0]!.server.slice('fauxqs +'.length)} added per request)`,
      pass: x >= 2 && slowBest.msgPerSec.median >= 0.85 * slowCeiling.msgPerSec.median,
      detail: `${slowBest.name} ${slowBest.msgPerSec.median.toFixed(0)} msg/s = ${x.toFixed(2)} × ${slowSqs.name} and ${(slowBest.msgPerSec.median / slowCeiling.msgPerSec.median).toFixed(2)} × the 8-loop ceiling ${slowCeiling.msgPerSec.median.toFixed(0)} msg/s`,
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
    scaleOut: [],
    decode: [],
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

  const needsFauxqs =
    sections.has('fauxqs') || sections.has('latency') || sections.has('store') || sections.has('keys') || sections.has('schedules');
  const server = needsFauxqs ? await startServerProcess() : undefined;
  if (server) report.servers.push(`fauxqs (pid ${server.pid})`);
  try {
    if (server && sections.has('fauxqs'))
      await withTarget('fauxqs', server.endpoint, async (target) => {
        report.throughput.push(...(await matrix(target, FAUXQS_MATRIX, N)));
        report.pickup = await pickupRows(target);
        report.retry = await retryRow(target);
        const mem = await memoryRows(target);
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
        report.scaleOut = await scaleOut(target);
      });
    if (server && sections.has('latency') && LATENCY_MS > 0) {
      await withTarget(
        `fauxqs +${LATENCY_MS} ms`,
        server.endpoint,
        async (target) => {
          report.throughput.push(...(await matrix(target, LATENCY_MATRIX, LATENCY_N)));
        },
        LATENCY_MS,
      );
    }
    if (server && sections.has('store')) {
      await withTarget('fauxqs', server.endpoint, async (target) => {
        report.store = await storeScenarios(target, server.pid);
      });
      report.servers.push(`PostgreSQL ${report.store?.postgres?.version ?? ''} (private cluster, fsync on)`);
    }
    if (server && sections.has('schedules')) {
      report.schedules = await scheduleBench(server.endpoint, (line) => log(`[${elapsed()}] ${line}`));
      report.servers.push(`PostgreSQL ${report.schedules.postgres.version} for the schedules (private cluster, fsync on)`);
    }
    if (server && sections.has('keys')) {
      await withTarget('fauxqs', server.endpoint, async (target) => {
        report.keys = await keyScenarios(target);
      });
      if (!sections.has('store')) report.servers.push(`PostgreSQL ${report.keys?.postgres.version ?? ''} (private cluster, fsync on)`);
    }
  } finally {
    await server?.stop();
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
      report.servers.push(`elasticmq (pid ${elastic.pid})`);
      try {
        await withTarget('elasticmq', elastic.endpoint, async (target) => {
          report.throughput.push(...(await matrix(target, ELASTICMQ_MATRIX, Math.min(N, 3_000))));
        });
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

  if (!sections.has('fauxqs') && !sections.has('latency') && !sections.has('elasticmq')) {
    // Only decode, store and/or console ran: the SQS matrices' settings would only mislead (the store section prints its own).
    report.settings = { runs: RUNS, quick, sections: [...sections].join(',') };
  }
  report.machine.loadEnd = loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');
  report.durationSeconds = (Date.now() - started) / 1000;
  if (sections.has('fauxqs') || sections.has('latency') || sections.has('elasticmq'))
    report.notes.push(
      'Consuming-side requests are counted from `go` until the last job settled, at the proxy: receives (including empty long polls), deletes, visibility changes and, on the retry path, the re-sends.',
      'calsync-jobs runs with its defaults (pollers = ceil(concurrency/10) up to 8, waitTimeSeconds 20, receiveBatchWindowMs 10, deleteFlushMs 5), a zod-validated payload, and a pino logger at level warn; telemetry "on" is a NodeSDK with a BatchSpanProcessor into an in-memory exporter and a periodic metric reader.',
      'sqs-consumer 15 runs one batch of 10 at a time (batchSize 10, waitTimeSeconds 20); its handlers return the message so it is deleted.',
      "Consumer CPU µs/job is the consumer process's user + system CPU time from `go` to `stop` divided by the jobs: unlike msg/s it hardly depends on what else the 2 cores are doing.",
      'The "+10 ms" rows add 10 ms before each request at the proxy (a stand-in for a real endpoint\'s round trip; a loopback fauxqs answers in well under a millisecond).',
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
