/**
 * `calsync-jobs dlq redrive --all` with 1,000 dead jobs, as the real binary against ElasticMQ (which
 * has StartMessageMoveTask) and fauxqs (which answers InvalidAction, so the CLI falls back to
 * receive → send → delete). Every job is counted by id on the main queue afterwards: none lost, none
 * doubled. Then moto, whose StartMessageMoveTask fails with HTTP 500 and an HTML page: `--all` falls
 * back to receive → send → delete on any failure that is not an authorisation error, and says so.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { decodeEnvelope } from '../../src/queue/envelope.js';
import { invalidMessageBody } from '../../src/queue/dead-letter.js';
import { startMoto, type Moto } from '../support/moto.js';
import {
  SERVERS,
  cliEnv,
  createQueues,
  drain,
  jobIds,
  runCli,
  seedDeadJobs,
  testTransport,
  totalDepth,
  uniquePrefix,
  type CliServer,
} from './cli-harness.js';

const JOBS = 1_000;
const NOT_JOBS = 3;

describe.each(SERVERS)('CLI dlq redrive of 1,000 jobs on $name', ({ start }) => {
  let server: CliServer;
  let transport: SqsTransport;
  beforeAll(async () => {
    server = await start();
    transport = testTransport(server.endpoint);
  });
  afterAll(async () => {
    await transport?.close();
    await server?.stop();
  });

  async function seed(prefix: string) {
    const queues = await createQueues(transport, prefix);
    const envelopes = await seedDeadJobs(transport, queues.dlqUrl, JOBS, (index) => ({
      type: index % 2 ? 'x.even' : 'x.odd',
      reason: 'attempts_exhausted',
    }));
    for (let i = 0; i < NOT_JOBS; i++) {
      await transport.send(queues.dlqUrl, {
        body: invalidMessageBody(`garbage ${i}`, { reason: 'not_json', at: new Date().toISOString() }, 1 << 20),
      });
    }
    expect(await totalDepth(transport, queues.dlqUrl)).toBe(JOBS + NOT_JOBS);
    return { queues, ids: envelopes.map((e) => e.id).sort() };
  }

  test('--all loses no job: every id arrives on the main queue exactly once', async () => {
    const prefix = uniquePrefix();
    const { queues, ids } = await seed(prefix);
    const result = await runCli(['dlq', 'redrive', '--all'], cliEnv(server.endpoint, prefix));
    expect(result.code, result.stderr).toBe(0);

    const bodies = await drain(transport, queues.mainQueueUrl);
    const arrived = jobIds(bodies).sort();
    expect(arrived).toHaveLength(JOBS);
    expect(new Set(arrived).size).toBe(JOBS);
    expect(arrived).toEqual(ids);
    if (server.nativeMove) {
      // The server moved every message as it was: the records ride along, the non-jobs too.
      expect(result.stdout).toContain('moving with StartMessageMoveTask');
      expect(result.stdout).toContain(`redrove ${JOBS + NOT_JOBS} job(s) (skipped 0) via StartMessageMoveTask`);
      expect(bodies).toHaveLength(JOBS + NOT_JOBS);
      expect(await totalDepth(transport, queues.dlqUrl)).toBe(0);
    } else {
      expect(result.stdout).toContain(
        'StartMessageMoveTask is not available on this server (InvalidAction): moving by receive → send → delete',
      );
      expect(result.stdout).toContain(`redrove ${JOBS} job(s) (skipped ${NOT_JOBS}) via receive → send → delete`);
      expect(bodies).toHaveLength(JOBS);
      expect(bodies.every((body) => (JSON.parse(body) as { deadLetter?: unknown }).deadLetter === undefined)).toBe(true);
      expect(await totalDepth(transport, queues.dlqUrl)).toBe(NOT_JOBS);
    }
  });

  test('--all --reset-attempts always moves by hand: every id once, attempt 1, history cleared, non-jobs left', async () => {
    const prefix = uniquePrefix();
    const { queues, ids } = await seed(prefix);
    const result = await runCli(['dlq', 'redrive', '--all', '--reset-attempts'], cliEnv(server.endpoint, prefix));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toContain('moving with StartMessageMoveTask');
    expect(result.stdout).toContain(`redrove ${JOBS} job(s) (skipped ${NOT_JOBS}) via receive → send → delete`);
    expect(result.stderr).toBe('');

    const bodies = await drain(transport, queues.mainQueueUrl);
    expect(bodies).toHaveLength(JOBS);
    expect(jobIds(bodies).sort()).toEqual(ids);
    for (const body of bodies) {
      const decoded = decodeEnvelope(body);
      expect(decoded.ok && decoded.envelope.attempt === 1 && decoded.envelope.history === undefined).toBe(true);
    }
    expect(await totalDepth(transport, queues.dlqUrl)).toBe(NOT_JOBS);
  });
});

/**
 * moto 5.2.5 has no StartMessageMoveTask: it answers HTTP 500 with an HTML page, which is not an SQS
 * error code. `--all` must still move every job, by receive → send → delete, and say so.
 */
describe('CLI dlq redrive --all on moto (StartMessageMoveTask answers HTTP 500 with HTML)', () => {
  // moto is slow (a ReceiveMessage takes ~100 ms with 100 messages queued): 200 jobs take ~10 s here.
  const MOTO_JOBS = 200;
  let server: Moto;
  let transport: SqsTransport;
  beforeAll(async () => {
    server = await startMoto();
    transport = testTransport(server.endpoint);
  });
  afterAll(async () => {
    await transport?.close();
    await server?.stop();
  });

  async function seedJobs(prefix: string, count: number) {
    const queues = await createQueues(transport, prefix);
    const envelopes = await seedDeadJobs(transport, queues.dlqUrl, count, () => ({ type: 'x.dead', reason: 'non_retryable' }));
    expect(await totalDepth(transport, queues.dlqUrl)).toBe(count);
    return { queues, ids: envelopes.map((e) => e.id).sort() };
  }

  test(`--all falls back to receive → send → delete: exit 0, all ${MOTO_JOBS} jobs moved once, DLQ empty`, async () => {
    const prefix = uniquePrefix();
    const { queues, ids } = await seedJobs(prefix, MOTO_JOBS);
    const result = await runCli(['dlq', 'redrive', '--all'], cliEnv(server.endpoint, prefix));
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/StartMessageMoveTask failed \(.*HTTP 500.*\): moving by receive → send → delete instead/);
    expect(result.stdout).toContain(`redrove ${MOTO_JOBS} job(s) (skipped 0) via receive → send → delete`);
    expect(result.stdout).not.toContain('moving with StartMessageMoveTask');

    const bodies = await drain(transport, queues.mainQueueUrl);
    expect(bodies).toHaveLength(MOTO_JOBS);
    expect(jobIds(bodies).sort()).toEqual(ids);
    expect(await totalDepth(transport, queues.dlqUrl)).toBe(0);
  }, 120_000);

  test('--all --json prints one JSON object naming the path taken and why', async () => {
    const prefix = uniquePrefix();
    const { queues, ids } = await seedJobs(prefix, 25);
    const result = await runCli(['dlq', 'redrive', '--all', '--json'], cliEnv(server.endpoint, prefix));
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    const report = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({ method: 'receive → send → delete', redrove: 25, skipped: 0, failed: 0 });
    expect(report.fallback).toMatchObject({ from: 'StartMessageMoveTask', httpStatus: 500 });
    expect(typeof (report.fallback as { message?: unknown }).message).toBe('string');
    // The note about the path goes to stderr, so stdout stays one JSON object.
    expect(result.stderr).toMatch(/StartMessageMoveTask failed \(.*\): moving by receive → send → delete instead/);
    expect(jobIds(await drain(transport, queues.mainQueueUrl)).sort()).toEqual(ids);
    expect(await totalDepth(transport, queues.dlqUrl)).toBe(0);
  });

  test('an authorisation error from StartMessageMoveTask is not a reason to fall back: exit 1, nothing moved', async () => {
    const prefix = uniquePrefix();
    const { queues } = await seedJobs(prefix, 5);
    const proxy = await denyingProxy(server.endpoint);
    try {
      const result = await runCli(['dlq', 'redrive', '--all'], cliEnv(proxy.endpoint, prefix));
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(1);
      expect(proxy.denied()).toBeGreaterThanOrEqual(1);
      expect(result.stderr).toMatch(/StartMessageMoveTask was refused \(AccessDenied/);
      expect(result.stderr).toContain('grant sqs:StartMessageMoveTask');
      expect(result.stderr).toContain('Nothing was moved');
      expect(result.stdout).not.toContain('receive → send → delete');
      expect(await totalDepth(transport, queues.dlqUrl)).toBe(5);
      expect(await totalDepth(transport, queues.mainQueueUrl)).toBe(0);
    } finally {
      await proxy.close();
    }
  });
});

/** Forwards every SQS call to `target` but refuses StartMessageMoveTask as AWS does for a missing permission. */
async function denyingProxy(target: string): Promise<{ endpoint: string; denied(): number; close(): Promise<void> }> {
  let denied = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.headers['x-amz-target'] === 'AmazonSQS.StartMessageMoveTask') {
        denied++;
        res.writeHead(403, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-query-error': 'AccessDenied;Sender' });
        res.end(
          JSON.stringify({
            __type: 'com.amazon.coral.service#AccessDeniedException',
            message: 'User: arn:aws:iam::123456789012:user/ops is not authorized to perform: sqs:startmessagemovetask',
          }),
        );
        return;
      }
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([key]) => key !== 'host' && key !== 'connection')) as Record<
        string,
        string
      >;
      fetch(new URL(req.url ?? '/', target), { method: req.method ?? 'POST', headers, ...(body.length > 0 ? { body } : {}) })
        .then(async (answer) => {
          const payload = Buffer.from(await answer.arrayBuffer());
          const out: Record<string, string> = {};
          answer.headers.forEach((value, key) => {
            if (key !== 'content-length' && key !== 'transfer-encoding' && key !== 'connection' && key !== 'content-encoding')
              out[key] = value;
          });
          res.writeHead(answer.status, { ...out, 'content-length': String(payload.length) });
          res.end(payload);
        })
        .catch((error: unknown) => {
          res.writeHead(502);
          res.end(String(error));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    denied: () => denied,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
