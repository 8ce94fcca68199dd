/**
 * Shared pieces of the chaos suite: the SQS server (fauxqs in the test process), worker processes
 * (test/fixtures/chaos-worker.ts) stopped by PID, their JSONL logs, and reading the queues' final state.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { ensureQueues } from '../../../src/ops/ensure-queues.js';
import type { SqsTransport } from '../../../src/queue/sqs/sqs-transport.js';
import { REPO_ROOT, spawnPeer, waitFor, type Peer } from '../../support/process.js';

export const FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'chaos-worker.ts');

export interface LogLine {
  e:
    | 'ready'
    | 'exec'
    | 'end'
    | 'succeeded'
    | 'retrying'
    | 'deferred'
    | 'dead'
    | 'released'
    | 'invalid'
    | 'mem'
    | 'stopped'
    // With a job store (CHAOS_STORE_URL): a message dropped unrun (`reason`), an attempt ended by a
    // cancel, a store call that failed (`op`, `reason` its error) and the store connecting at start-up.
    | 'duplicate'
    | 'cancelled'
    | 'store_error'
    | 'store_connect';
  pid: number;
  t: number;
  id?: string;
  a?: number;
  /** The SQS message id (execution, end and settle lines). */
  m?: string;
  r?: 'ok' | 'fail' | 'nonretryable' | 'aborted';
  reason?: string;
  kind?: string;
  /** store_error: the JobStore method that failed. */
  op?: string;
  /** store_connect: failed tries before the store answered. */
  tries?: number;
  rss?: number;
  heapUsed?: number;
  external?: number;
  heapTotal?: number;
  arrayBuffers?: number;
}

export function scratchDir(name: string): { dir: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), `calsync-chaos-${name}-`));
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function chaosQueues(transport: SqsTransport, prefix: string, visibilityTimeoutSeconds: number) {
  return await ensureQueues(transport, { prefix, visibilityTimeoutSeconds, maxReceiveCount: 10 });
}

export interface WorkerSpec {
  endpoint: string;
  queueUrl: string;
  dlqUrl: string;
  log: string;
  seed?: string;
  mode?: 'chaos' | 'slow';
  concurrency?: number;
  visibilitySeconds?: number;
  waitSeconds?: number;
  extraEnv?: Record<string, string>;
}

/** Spawns the chaos worker; resolves once it has logged `ready`. */
export async function startWorker(spec: WorkerSpec): Promise<Peer> {
  const peer = spawnPeer('chaos-worker', process.execPath, ['--import', 'tsx', '--expose-gc', FIXTURE], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      CHAOS_ENDPOINT: spec.endpoint,
      CHAOS_QUEUE_URL: spec.queueUrl,
      CHAOS_DLQ_URL: spec.dlqUrl,
      CHAOS_LOG: spec.log,
      CHAOS_SEED: spec.seed ?? 'seed',
      CHAOS_MODE: spec.mode ?? 'chaos',
      CHAOS_CONCURRENCY: String(spec.concurrency ?? 10),
      CHAOS_VISIBILITY_SECONDS: String(spec.visibilitySeconds ?? 5),
      CHAOS_WAIT_SECONDS: String(spec.waitSeconds ?? 1),
      ...spec.extraEnv,
    },
  });
  try {
    await waitFor(
      `chaos worker ${peer.pid} to be ready`,
      () => {
        if (peer.child.exitCode !== null) throw new Error(`exited with ${peer.child.exitCode}: ${peer.output().slice(-2_000)}`);
        return readLog(spec.log).some((l) => l.e === 'ready' && l.pid === peer.pid);
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
  } catch (error) {
    await peer.stop(1_000);
    throw error;
  }
  return peer;
}

/** Every complete line of a JSONL log (a torn last line after SIGKILL is skipped). */
export function readLog(file: string): LogLine[] {
  if (!existsSync(file)) return [];
  const out: LogLine[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      /* torn */
    }
  }
  return out;
}

/** Main queue depth: visible + in flight + delayed. */
export async function pending(transport: SqsTransport, queueUrl: string): Promise<number> {
  const d = await transport.depth(queueUrl);
  return d.visible + d.inFlight + d.delayed;
}

/** Waits until the queue reports nothing pending `times` checks in a row. */
export async function waitQueueEmpty(transport: SqsTransport, queueUrl: string, timeoutMs: number, times = 3): Promise<void> {
  let zeros = 0;
  await waitFor(
    'the main queue to be empty with nothing in flight',
    async () => {
      zeros = (await pending(transport, queueUrl)) === 0 ? zeros + 1 : 0;
      return zeros >= times;
    },
    { timeoutMs, intervalMs: 500 },
  );
}

/** Receives everything in a queue (each message once, by MessageId) and returns the bodies. */
export async function readAll(transport: SqsTransport, queueUrl: string, expectAtLeast = 0): Promise<string[]> {
  return (await readAllMessages(transport, queueUrl, expectAtLeast)).map((m) => m.body);
}

/** Like {@link readAll}, with each message's MessageId. */
export async function readAllMessages(
  transport: SqsTransport,
  queueUrl: string,
  expectAtLeast = 0,
): Promise<Array<{ messageId: string; body: string }>> {
  const bodies = new Map<string, string>();
  let empties = 0;
  for (let i = 0; i < 5_000 && empties < 3; i++) {
    const out = await transport.client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 300,
        WaitTimeSeconds: bodies.size >= expectAtLeast ? 0 : 1,
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) empties++;
    else empties = 0;
    for (const m of messages) bodies.set(m.MessageId ?? '', m.Body ?? '');
  }
  return [...bodies].map(([messageId, body]) => ({ messageId, body }));
}
