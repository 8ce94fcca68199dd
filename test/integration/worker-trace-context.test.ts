/**
 * `CALSYNC_HANDLER_TRACE_CONTEXT=false` means no AsyncLocalStorage in the worker's process, exporters
 * included (src/telemetry/sync-context.ts): a real worker process (test/fixtures/context-probe-worker.ts,
 * startWorkerProcess on the embedded SQS server, traces over OTLP to a sink of its own) runs a job
 * after its spans have been exported, and the job's handler reports whether Node's promise hooks are
 * on (Node 20: `executionAsyncId()` in a promise reaction is 0 only without them; Node 24 runs
 * AsyncLocalStorage without promise hooks, so there only the second case tells) and whether the
 * attempt's span is still active after an await.
 *
 * Regression: before the fix the exporter's `context.with(suppressTracing(...))` entered the
 * AsyncLocalStorage manager's store on its first export, so the hooks were on with the setting off.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Peer, REPO_ROOT, spawnPeer } from '../support/process.js';

const FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'context-probe-worker.ts');
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

let child: Peer | undefined;

afterEach(async () => {
  await child?.stop(1_000);
  child = undefined;
});

async function probe(handlerTraceContext: boolean): Promise<{ asyncId: number; activeSpan: boolean }> {
  child = spawnPeer('context-probe-worker', process.execPath, ['--import', 'tsx', FIXTURE], {
    cwd: REPO_ROOT,
    env: { ...process.env, CALSYNC_HANDLER_TRACE_CONTEXT: String(handlerTraceContext), OTEL_SDK_DISABLED: 'false' },
  });
  const peer = child;
  const code = await new Promise<number | null>((resolve) => peer.child.once('exit', (exitCode) => resolve(exitCode)));
  const line = /^PROBE (.*)$/m.exec(peer.output());
  if (code !== 0 || !line) throw new Error(`the probe worker exited with ${code}:\n${peer.output()}`);
  return JSON.parse(line[1]!) as { asyncId: number; activeSpan: boolean };
}

describe('the worker process and AsyncLocalStorage', () => {
  it('with CALSYNC_HANDLER_TRACE_CONTEXT=false turns on no promise hooks, even once spans were exported', async () => {
    const seen = await probe(false);
    expect(seen.activeSpan).toBe(false);
    if (NODE_MAJOR < 24) expect(seen.asyncId).toBe(0);
  });

  it('by default runs the handler in its attempt context, across awaits', async () => {
    const seen = await probe(true);
    expect(seen.activeSpan).toBe(true);
  });
});
