/**
 * The Python producer in docs/producers.md, pasted as it is, enqueues a signed job through boto3 to
 * the embedded fauxqs, and a worker that requires signatures runs it (issue 10: a foreign producer
 * could not sign from the docs).
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../../src/machines/define-job.js';
import { ensureQueues } from '../../src/ops/ensure-queues.js';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { signingHooks } from '../../src/queue/signing-hooks.js';
import { parseSigningKeys } from '../../src/queue/signing.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { createLogger } from '../../src/runtime/logger.js';
import { createWorker } from '../../src/runtime/worker.js';
import { PEERS_DIR, REPO_ROOT, waitFor } from '../support/process.js';

const DOC = readFileSync(join(REPO_ROOT, 'docs', 'producers.md'), 'utf8');
const SNIPPET = DOC.match(/```python\n([\s\S]*?)```/)?.[1] ?? '';
const KEY = DOC.match(/^key:\s+(\S+)\s*$/m)?.[1] ?? '';

/** A Python that can import boto3: $PYTHON_BOTO3, the moto venv (moto depends on boto3; installed here if missing), or python3. */
function pythonWithBoto3(): string {
  if (process.env.PYTHON_BOTO3 === undefined && !existsSync(join(PEERS_DIR, 'moto', 'bin', 'python'))) {
    spawnSync('bash', [join(REPO_ROOT, 'scripts', 'peers', 'moto.sh'), 'install'], { stdio: 'ignore' });
  }
  const candidates = [process.env.PYTHON_BOTO3, join(PEERS_DIR, 'moto', 'bin', 'python'), 'python3'].filter(
    (candidate): candidate is string => candidate !== undefined && (!candidate.includes('/') || existsSync(candidate)),
  );
  for (const python of candidates) {
    if (spawnSync(python, ['-c', 'import boto3'], { stdio: 'ignore' }).status === 0) return python;
  }
  throw new Error(
    `no Python with boto3 (tried ${candidates.join(', ')}): pip install boto3 into a venv and set PYTHON_BOTO3=<venv>/bin/python`,
  );
}

describe('the Python producer of docs/producers.md', () => {
  let server: EmbeddedSqs;
  let transport: SqsTransport;
  let dir: string;

  beforeAll(async () => {
    server = await startEmbeddedSqs();
    transport = new SqsTransport({ endpoint: server.endpoint, region: 'us-east-1' });
    dir = mkdtempSync(join(tmpdir(), 'calsync-producer-'));
  });
  afterAll(async () => {
    await transport?.close();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('enqueues a signed job that a worker requiring signatures runs', async () => {
    expect(SNIPPET).toContain('boto3');
    expect(KEY).toMatch(/^k2026a:/);
    const python = pythonWithBoto3();
    const queues = await ensureQueues(transport);
    const script = join(dir, 'enqueue_job.py');
    writeFileSync(script, SNIPPET);

    // Asynchronously: the embedded server answers from this process's event loop.
    const { stdout } = await promisify(execFile)(python, [script], {
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? dir,
        CALSYNC_QUEUE_URL: queues.mainQueueUrl,
        CALSYNC_SIGNING_KEYS: KEY,
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL_SQS: server.endpoint,
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_CONFIG_FILE: join(dir, 'none'),
        AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'),
      },
    });
    const jobId = stdout.trim();
    expect(jobId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    const ran: Array<{ jobId: string; attempt: number; idempotencyKey: string | undefined; name: string }> = [];
    const hello = defineJob({
      type: 'demo.hello',
      schema: z.object({ name: z.string().min(1).max(200) }),
      handler: (payload, ctx) =>
        void ran.push({ jobId: ctx.jobId, attempt: ctx.attempt, idempotencyKey: ctx.idempotencyKey, name: payload.name }),
    });
    const worker = createWorker({
      transport,
      jobs: [hello],
      queueUrl: queues.mainQueueUrl,
      dlqUrl: queues.dlqUrl,
      waitTimeSeconds: 1,
      logger: createLogger({ level: 'silent' }),
      ...signingHooks(parseSigningKeys(KEY), true),
    });
    const invalid: string[] = [];
    worker.on('message:invalid', (event) => invalid.push(`${event.reason}: ${event.message}`));
    worker.start();
    try {
      await waitFor('the Python job to run', () => ran.length > 0 || invalid.length > 0, { timeoutMs: 20_000, intervalMs: 20 });
    } finally {
      await worker.stop();
    }
    expect(invalid).toEqual([]);
    expect(ran).toEqual([{ jobId, attempt: 1, idempotencyKey: 'python-example-1', name: 'Zoë from Python 🐍' }]);
  });
});
