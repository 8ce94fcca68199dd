/**
 * `npx tsx bench/profile.ts [kind] [concurrency] [n] [telemetry] [store]`: drains `n` jobs (default 20000)
 * with one consumer (default calsync, concurrency 50) under `node --cpu-prof`, against fauxqs in its own
 * process behind the counting proxy, then prints the functions with the most self time. Profiles go to
 * $TMPDIR/calsync-bench-profiles/ (open them in Chrome DevTools). `store` (calsync only): `off` (default),
 * `pglite` (embedded in the worker: its WASM shows in the profile) or `postgres` (a private cluster,
 * bench/postgres-server.ts), each with `producer` rows unless it ends in `:worker` (`pglite:worker`).
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqsTransport } from '../src/queue/sqs/sqs-transport.js';
import type { ConsumerKind } from './children/protocol.js';
import { startCountingProxy } from './counting-proxy.js';
import { drain, total } from './harness.js';
import { startServerProcess } from './processes.js';
import { profileStoreDrain, type RowSource, type StoreKind } from './store.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

const [kind = 'calsync', concurrency = '50', n = '20000', telemetry = 'off', storeArg = 'off'] = process.argv.slice(2);
const [store = 'off', rows = 'producer'] = storeArg.split(':') as [StoreKind, RowSource];
const dir = join(tmpdir(), 'calsync-bench-profiles');
mkdirSync(dir, { recursive: true });
const before = new Set(readdirSync(dir));

const server = await startServerProcess();
const proxy = await startCountingProxy(server.endpoint);
const transport = new SqsTransport({ endpoint: proxy.endpoint, region: 'us-east-1' });
try {
  if (store !== 'off') {
    const line = await profileStoreDrain({ server: 'fauxqs', proxy, transport }, server.pid, store, rows, Number(concurrency), Number(n), [
      '--cpu-prof',
      `--cpu-prof-dir=${dir}`,
    ]);
    console.log(line);
  } else {
    const result = await drain(
      { server: 'fauxqs', proxy, transport },
      { kind: kind as ConsumerKind, concurrency: Number(concurrency), telemetry: telemetry === 'on' },
      Number(n),
      300_000,
      ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    );
    console.log(
      `${kind} c=${concurrency} telemetry ${telemetry}: ${result.msgPerSec.toFixed(0)} msg/s, ${(total(result.consumerRequests) / result.n).toFixed(3)} req/job`,
    );
  }
} finally {
  await transport.close();
  await proxy.close();
  await server.stop();
}

const fresh = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && !before.has(f));
const file = fresh.sort((a, b) => statSync(join(dir, b)).mtimeMs - statSync(join(dir, a)).mtimeMs)[0];
if (!file) throw new Error('no profile was written');
const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nodes: ProfileNode[]; startTime: number; endTime: number };
const self = new Map<string, number>();
const byArea = new Map<string, number>();
let hits = 0;
const area = (url: string): string => {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  if (url.includes('/src/')) return `src/${url.split('/src/')[1]!.split('/')[0]}`;
  if (url.startsWith('node:')) return 'node core';
  return url ? 'other' : '(program/gc/idle)';
};
for (const node of profile.nodes) {
  const h = node.hitCount ?? 0;
  hits += h;
  const name = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*\/(node_modules|src)\//, '$1/')}:${node.callFrame.lineNumber + 1}`;
  self.set(name, (self.get(name) ?? 0) + h);
  const a = node.callFrame.functionName === '(idle)' ? '(idle)' : area(node.callFrame.url);
  byArea.set(a, (byArea.get(a) ?? 0) + h);
}
const pct = (h: number): string => `${((h / hits) * 100).toFixed(1)}%`;
console.log(`profile ${file}: ${hits} samples`);
console.log('by area:');
for (const [a, h] of [...byArea].sort((x, y) => y[1] - x[1]).slice(0, 15)) console.log(`  ${pct(h).padStart(6)}  ${a}`);
console.log('top self time:');
for (const [name, h] of [...self].sort((x, y) => y[1] - x[1]).slice(0, 30)) console.log(`  ${pct(h).padStart(6)}  ${name}`);
