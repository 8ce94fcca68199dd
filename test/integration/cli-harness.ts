/**
 * Runs the real `calsync-jobs` binary (node bin/calsync-jobs.js, TypeScript through tsx) as a child
 * process against a real SQS-compatible server: ElasticMQ (native java) or fauxqs started in the test
 * process. Each test uses a queue prefix of its own.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { ensureQueues, type EnsuredQueues } from '../../src/ops/ensure-queues.js';
import { deadLetterBody } from '../../src/queue/dead-letter.js';
import { decodeEnvelope, newEnvelope, type Envelope } from '../../src/queue/envelope.js';
import { startEmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { startElasticMq } from '../support/elasticmq.js';
import { REPO_ROOT } from '../support/process.js';

export const BIN = join(REPO_ROOT, 'bin', 'calsync-jobs.js');

export interface CliServer {
  name: 'elasticmq' | 'fauxqs';
  endpoint: string;
  /** The server implements StartMessageMoveTask. */
  nativeMove: boolean;
  /** The server reports the DLQ's MessageRetentionPeriod (ElasticMQ never does). */
  reportsRetention: boolean;
  stop(): Promise<void>;
}

export const SERVERS: Array<{ name: CliServer['name']; start: () => Promise<CliServer> }> = [
  {
    name: 'elasticmq',
    start: async () => {
      const server = await startElasticMq();
      return { name: 'elasticmq', endpoint: server.endpoint, nativeMove: true, reportsRetention: false, stop: () => server.stop() };
    },
  },
  {
    name: 'fauxqs',
    start: async () => {
      const server = await startEmbeddedSqs();
      return { name: 'fauxqs', endpoint: server.endpoint, nativeMove: false, reportsRetention: true, stop: () => server.stop() };
    },
  },
];

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const uniquePrefix = (): string => `c${randomUUID().slice(0, 8)}`;

/** The environment a CLI run gets: the server, the region and the test's queue prefix, nothing else of ours. */
export function cliEnv(endpoint: string | undefined, prefix: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('CALSYNC_') && !key.startsWith('AWS_') && !key.startsWith('OTEL_')) env[key] = value;
  }
  return {
    ...env,
    AWS_REGION: 'us-east-1',
    ...(endpoint ? { AWS_ENDPOINT_URL_SQS: endpoint } : {}),
    ...(prefix ? { CALSYNC_QUEUE_PREFIX: prefix } : {}),
    OTEL_SDK_DISABLED: 'true',
  };
}

/** Runs the binary to completion. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`calsync-jobs ${args.join(' ')} timed out after ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A transport in the test process, to seed and inspect the queues. */
export function testTransport(endpoint: string): SqsTransport {
  return new SqsTransport({ endpoint, region: 'us-east-1' });
}

export async function createQueues(transport: SqsTransport, prefix: string): Promise<EnsuredQueues> {
  return ensureQueues(transport, { prefix });
}

/** Visible + in flight + delayed. */
export async function totalDepth(transport: SqsTransport, url: string): Promise<number> {
  const depth = await transport.depth(url);
  return depth.visible + depth.inFlight + depth.delayed;
}

/** Dead-letter bodies as the runtime writes them, sent in batches of 10. */
export async function seedDeadJobs(
  transport: SqsTransport,
  dlqUrl: string,
  count: number,
  make: (index: number) => { type: string; reason: string } = () => ({ type: 'demo.poison', reason: 'non_retryable' }),
): Promise<Envelope[]> {
  const envelopes: Envelope[] = [];
  const now = Date.now();
  for (let start = 0; start < count; start += 10) {
    const entries = [];
    for (let index = start; index < Math.min(count, start + 10); index++) {
      const { type, reason } = make(index);
      const error = { name: 'NonRetryableError', message: `seeded failure ${index}` };
      const envelope: Envelope = {
        ...newEnvelope({ type, payload: { index }, now }),
        attempt: 1,
        history: [{ attempt: 1, at: new Date(now).toISOString(), durationMs: 5, kind: 'failed', error }],
      };
      envelopes.push(envelope);
      entries.push({
        id: String(index - start),
        body: deadLetterBody(envelope, { reason, error, at: new Date(now).toISOString() }),
        attributes: { 'job-type': type },
      });
    }
    const result = await transport.sendBatch(dlqUrl, entries);
    if (result.failed.length > 0) throw new Error(`seeding failed: ${JSON.stringify(result.failed)}`);
  }
  return envelopes;
}

/** Receives and deletes everything in a queue, returning the bodies (each message once). */
export async function drain(transport: SqsTransport, url: string): Promise<string[]> {
  const bodies = new Map<string, string>();
  for (let empty = 0; empty < 2; ) {
    const batch = await transport.receive(url, { maxMessages: 10, waitTimeSeconds: 1, visibilityTimeoutSeconds: 60 });
    if (batch.length === 0) {
      empty++;
      continue;
    }
    empty = 0;
    for (const message of batch) bodies.set(message.messageId, message.body);
    const result = await transport.deleteBatch(
      url,
      batch.map((message, index) => ({ id: String(index), receiptHandle: message.receiptHandle })),
    );
    if (result.failed.length > 0) throw new Error(`drain: delete failed: ${JSON.stringify(result.failed)}`);
  }
  return [...bodies.values()];
}

/** Job ids of bodies that are envelopes (a `deadLetter` record, if any, is ignored). */
export const jobIds = (bodies: readonly string[]): string[] =>
  bodies.flatMap((body) => {
    const decoded = decodeEnvelope(body);
    return decoded.ok ? [decoded.envelope.id] : [];
  });

/** The first line of stderr for a usage error is the message, the second the command's usage line. */
export function usageLine(stderr: string): string | undefined {
  return stderr.split('\n').find((line) => line.startsWith('Usage: calsync-jobs'));
}
