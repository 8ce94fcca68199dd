/**
 * Issue 10, defects 5 and 6, on real SQS servers (embedded fauxqs and native ElasticMQ):
 * - a message sent while `stop()` is under way is never swallowed by an aborted long poll and charged
 *   an attempt it did not start (`maximumAttempts: 1` still runs it once);
 * - every SQS call has a deadline: a server that accepts and never answers fails the call with
 *   `RequestTimeout`, and `stop()` returns within the grace period plus its hard limit.
 * Both failed on 61473f5.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../../src/machines/define-job.js';
import { ensureQueues } from '../../src/ops/ensure-queues.js';
import { startEmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { encodeEnvelope, newEnvelope } from '../../src/queue/envelope.js';
import { TransportError } from '../../src/shared/errors.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { createWorker } from '../../src/runtime/worker.js';
import { STOP_HARD_LIMIT_MS } from '../../src/runtime/worker.js';
import { startElasticMq } from '../support/elasticmq.js';
import { startMoto } from '../support/moto.js';
import { eventually, silentLogger } from '../support/runtime-harness.js';

interface Peer {
  endpoint: string;
  stop(): Promise<void>;
}

const SERVERS: Array<{ name: string; start: () => Promise<Peer> }> = [
  { name: 'fauxqs (embedded)', start: async () => await startEmbeddedSqs() },
  { name: 'ElasticMQ (native)', start: async () => await startElasticMq() },
  { name: 'moto (native)', start: async () => await startMoto() },
];

describe.each(SERVERS)('stop() on $name', ({ name, start }) => {
  let peer: Peer;
  let transport: SqsTransport;

  beforeAll(async () => {
    peer = await start();
    transport = new SqsTransport({ endpoint: peer.endpoint, region: 'us-east-1' });
  });

  afterAll(async () => {
    await transport?.close();
    await peer?.stop();
  });

  it('defect 5: a job enqueued while a worker stops is run once, not charged a lost attempt', async () => {
    const prefix = `stop-${name.split(' ')[0]}-${Date.now().toString(36)}`;
    const queues = await ensureQueues(transport, { prefix, visibilityTimeoutSeconds: 2 });
    const runs: number[] = [];
    const job = defineJob({
      type: 'deploy.job',
      schema: z.object({ n: z.number() }),
      retry: { maximumAttempts: 1 },
      handler: async (payload) => {
        runs.push(payload.n);
      },
    });
    const options = {
      transport,
      jobs: [job],
      queueUrl: queues.mainQueueUrl,
      dlqUrl: queues.dlqUrl,
      logger: silentLogger(),
      waitTimeSeconds: 2,
      visibilityTimeoutSeconds: 2,
      shutdownGraceMs: 5_000,
    };
    const first = createWorker(options).start();
    await new Promise((r) => setTimeout(r, 300)); // its long poll is open on the server
    const stopping = first.stop();
    await transport.send(queues.mainQueueUrl, {
      body: encodeEnvelope(newEnvelope({ type: 'deploy.job', payload: { n: 1 }, now: Date.now() })),
      attributes: { 'job-type': 'deploy.job' },
    });
    await stopping;
    expect(runs).toEqual([]);

    const second = createWorker(options).start();
    const dead: string[] = [];
    second.on('job:dead', (e) => dead.push(e.reason));
    try {
      await eventually('the job to run', () => runs.length > 0, 20_000);
      // Anything swallowed by a dead poll would come back after the 2 s visibility timeout.
      await new Promise((r) => setTimeout(r, 4_500));
    } finally {
      await second.stop({ graceMs: 0 });
    }
    expect(runs).toEqual([1]);
    expect(dead).toEqual([]);
  });
});

describe('every SQS call has a deadline', () => {
  let server: Server;
  let port: number;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    // Accepts connections, reads requests, never answers.
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on('data', () => undefined);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('defect 6: a SendMessage to a server that never answers fails with RequestTimeout', async () => {
    const transport = new SqsTransport({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      requestTimeoutMs: 500,
      maxAttempts: 1,
    });
    const startedAt = Date.now();
    const error = await transport.send(`http://127.0.0.1:${port}/000000000000/q`, { body: '{}' }).catch((e: unknown) => e);
    await transport.close();
    expect(TransportError.is(error) && error.code).toBe('RequestTimeout');
    expect((error as TransportError).retryable).toBe(true);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
  });

  it('defect 6: stop() returns within the grace period plus its hard limit while the server hangs', async () => {
    const fauxqs = await startEmbeddedSqs();
    const direct = new SqsTransport({ endpoint: fauxqs.endpoint, region: 'us-east-1' });
    // The worker talks to fauxqs until the hang starts, then to the black hole.
    let hang = false;
    const hanging = new SqsTransport({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      requestTimeoutMs: 60_000,
      maxAttempts: 1,
    });
    const transport = new Proxy(direct, {
      get(target, prop, receiver) {
        const value = Reflect.get(hang ? hanging : target, prop, receiver);
        return typeof value === 'function' ? value.bind(hang ? hanging : target) : value;
      },
    });
    try {
      const queues = await ensureQueues(direct, { prefix: `hang-${Date.now().toString(36)}` });
      let started = false;
      const job = defineJob({
        type: 'hang.job',
        schema: z.object({}),
        handler: async (_p, ctx) => {
          started = true;
          await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
        },
      });
      const worker = createWorker({
        transport,
        jobs: [job],
        queueUrl: queues.mainQueueUrl,
        dlqUrl: queues.dlqUrl,
        logger: silentLogger(),
        waitTimeSeconds: 1,
        visibilityTimeoutSeconds: 4,
      }).start();
      await direct.send(queues.mainQueueUrl, {
        body: encodeEnvelope(newEnvelope({ type: 'hang.job', payload: {}, now: Date.now() })),
        attributes: { 'job-type': 'hang.job' },
      });
      await eventually('the job to start', () => started, 15_000);
      hang = true; // lease extensions, the release and the deletes now hang
      const stopAt = Date.now();
      await worker.stop({ graceMs: 300 });
      expect(worker.state).toBe('stopped');
      expect(Date.now() - stopAt).toBeLessThan(300 + STOP_HARD_LIMIT_MS + 2_000);
    } finally {
      await hanging.close();
      await direct.close();
      await fauxqs.stop();
    }
  });
});
