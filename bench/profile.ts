/**
 * `npx tsx bench/profile.ts [kind] [concurrency] [n] [telemetry] [store]`: drains `n` jobs (default 20000)
 * with one consumer (default calsync, concurrency 50; telemetry `default`, `off` or `otlp`) under
 * `node --cpu-prof`, against a fresh fauxqs process the consumer connects to directly, then prints
 * the functions with the most self time. Profiles go to $TMPDIR/calsync-bench-profiles/ (open them
 * in Chrome DevTools). `store` (calsync only): `off` (default), `pglite` (embedded in the worker: its
 * WASM shows in the profile) or `postgres` (a private cluster, bench/postgres-server.ts), each with
 * `producer` rows unless it ends in `:worker` (`pglite:worker`).
 *
 * `npm run bench` runs one such drain too ({@link profiledDrain}) and prints its top ten.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ConsumerKind, TelemetryMode } from './children/protocol.js';
import { drain, openFauxqs, total, type DrainResult, type DrainSpec } from './harness.js';
import { startOtlpSink } from './otlp-sink.js';
import { profileStoreDrain, type RowSource, type StoreKind } from './store.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export interface ProfileSummary {
  file: string;
  /** Busy samples (idle ones left out). */
  samples: number;
  /** Share of samples by area (a package, a src/ folder, node core, program/gc/idle), largest first. */
  byArea: Array<{ area: string; share: number }>;
  /** Functions by self time, largest first. */
  top: Array<{ name: string; share: number }>;
}

const PROFILE_DIR = join(tmpdir(), 'calsync-bench-profiles');

function area(url: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  if (url.includes('/src/')) return `src/${url.split('/src/')[1]!.split('/')[0]}`;
  if (url.startsWith('node:')) return 'node core';
  return url ? 'other' : '(program/gc/idle)';
}

/** Self time by function and by area of a `.cpuprofile`. */
export function summarizeProfile(file: string, limit = 30): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[] };
  const self = new Map<string, number>();
  const byArea = new Map<string, number>();
  let hits = 0;
  for (const node of profile.nodes) {
    // Idle time is not the worker's: shares are of the samples where the process was busy.
    if (node.callFrame.functionName === '(idle)') continue;
    const h = node.hitCount ?? 0;
    hits += h;
    const name = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*\/(node_modules|src)\//, '$1/')}:${node.callFrame.lineNumber + 1}`;
    self.set(name, (self.get(name) ?? 0) + h);
    const a = area(node.callFrame.url);
    byArea.set(a, (byArea.get(a) ?? 0) + h);
  }
  const sorted = (m: Map<string, number>) => [...m].sort((x, y) => y[1] - x[1]);
  return {
    file,
    samples: hits,
    byArea: sorted(byArea)
      .slice(0, 15)
      .map(([a, h]) => ({ area: a, share: h / hits })),
    top: sorted(self)
      .slice(0, limit)
      .map(([name, h]) => ({ name, share: h / hits })),
  };
}

/**
 * Runs `body` with `--cpu-prof` arguments for the consumer (the whole process, start-up included:
 * the store drains), then summarises the profile it wrote.
 */
async function withProfile<T>(body: (execArgv: string[]) => Promise<T>, limit?: number): Promise<{ result: T; profile: ProfileSummary }> {
  mkdirSync(PROFILE_DIR, { recursive: true });
  const before = new Set(readdirSync(PROFILE_DIR));
  const result = await body(['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`]);
  const fresh = readdirSync(PROFILE_DIR).filter((f) => f.endsWith('.cpuprofile') && !before.has(f));
  const file = fresh.sort((a, b) => statSync(join(PROFILE_DIR, b)).mtimeMs - statSync(join(PROFILE_DIR, a)).mtimeMs)[0];
  if (!file) throw new Error('no profile was written');
  return { result, profile: summarizeProfile(join(PROFILE_DIR, file), limit) };
}

/**
 * One drain of `spec` on a fresh fauxqs with the consumer's profiler on for the measured window only
 * (first handler start to last settle; start-up and module loading outside), with an OTLP sink when
 * `spec.telemetry` is `otlp`.
 */
export async function profiledDrain(spec: DrainSpec, n: number, limit?: number): Promise<{ result: DrainResult; profile: ProfileSummary }> {
  const sink = spec.telemetry === 'otlp' ? await startOtlpSink() : undefined;
  const target = await openFauxqs();
  mkdirSync(PROFILE_DIR, { recursive: true });
  const file = join(PROFILE_DIR, `${spec.kind}-c${spec.concurrency}-${spec.telemetry ?? 'default'}-${Date.now()}.cpuprofile`);
  try {
    const result = await drain(target, { ...spec, profileTo: file, ...(sink ? { otlpEndpoint: sink.endpoint } : {}) }, n, 300_000);
    return { result, profile: summarizeProfile(file, limit) };
  } finally {
    await target.close();
    await sink?.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [kind = 'calsync', concurrency = '50', n = '20000', telemetry = 'default', storeArg = 'off', top = '30'] = process.argv.slice(2);
  const [store = 'off', rows = 'producer'] = storeArg.split(':') as [StoreKind, RowSource];
  let profile: ProfileSummary;
  if (store !== 'off') {
    const target = await openFauxqs();
    try {
      const out = await withProfile((execArgv) =>
        profileStoreDrain(target, target.serverPid!, store, rows, Number(concurrency), Number(n), execArgv),
      );
      console.log(out.result);
      profile = out.profile;
    } finally {
      await target.close();
    }
  } else {
    const out = await profiledDrain(
      { kind: kind as ConsumerKind, concurrency: Number(concurrency), telemetry: telemetry as TelemetryMode },
      Number(n),
      Number(top),
    );
    const r = out.result;
    console.log(
      `${kind} c=${concurrency} telemetry ${telemetry}: ${r.msgPerSec.toFixed(0)} msg/s, ${(r.results.reduce((s, x) => s + x.cpuMicros, 0) / r.n).toFixed(0)} µs CPU/job (profiler on), ${(total(r.consumerRequests) / r.n).toFixed(3)} req/job`,
    );
    profile = out.profile;
  }
  const pct = (share: number): string => `${(share * 100).toFixed(1)}%`;
  console.log(`profile ${profile.file}: ${profile.samples} samples`);
  console.log('by area:');
  for (const a of profile.byArea) console.log(`  ${pct(a.share).padStart(6)}  ${a.area}`);
  console.log('top self time:');
  for (const f of profile.top) console.log(`  ${pct(f.share).padStart(6)}  ${f.name}`);
}
