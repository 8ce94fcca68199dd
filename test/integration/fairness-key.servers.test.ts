/**
 * A job's `fairnessKey` is sent as the SQS MessageGroupId on a standard queue (SQS fair queues). Which
 * local servers accept it, checked against each real server (docs/sqs-servers.md): fauxqs, moto and
 * ElasticMQ all accept it on a standard queue; moto and ElasticMQ hand it back on receive, fauxqs drops
 * it. A server that refuses it (AWS itself did before fair queues) is played by a small HTTP server
 * speaking the SQS JSON protocol: the transport sends the message without it and says so once.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../../src/machines/define-job.js';
import { startEmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { ensureQueues } from '../../src/ops/ensure-queues.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { startElasticMq } from '../support/elasticmq.js';
import { startMoto } from '../support/moto.js';

const tenantJob = defineJob({
  type: 'fair.job',
  schema: z.object({ tenant: z.string(), n: z.int() }),
  fairnessKey: (p) => `tenant-${p.tenant}`,
  handler: async () => undefined,
});

const SERVERS = [
  { name: 'fauxqs', start: async () => await startEmbeddedSqs(), returnsGroupId: false },
  { name: 'moto', start: async () => await startMoto(), returnsGroupId: true },
  { name: 'ElasticMQ', start: async () => await startElasticMq(), returnsGroupId: true },
];

describe.each(SERVERS)('$name: MessageGroupId on a standard queue', ({ start, returnsGroupId }) => {
  it(`accepts it on SendMessage and SendMessageBatch${returnsGroupId ? ' and returns it' : ', and drops it'}`, async () => {
    const server = await start();
    const notices: string[] = [];
    const transport = new SqsTransport({ endpoint: server.endpoint, region: 'us-east-1', onNotice: (m) => notices.push(m) });
    try {
      const queues = await ensureQueues(transport, { prefix: 'fair', visibilityTimeoutSeconds: 30, maxReceiveCount: 5 });
      const queue = new JobQueue({ transport, queueUrl: queues.mainQueueUrl, jobs: [tenantJob] });
      await queue.enqueue({ type: 'fair.job', payload: { tenant: 'a', n: 0 } });
      await queue.enqueueMany([
        { type: 'fair.job', payload: { tenant: 'b', n: 1 } },
        { type: 'fair.job', payload: { tenant: 'a', n: 2 } },
      ]);
      // A single SendMessage too (the runtime's lone settles use it).
      await transport.send(queues.mainQueueUrl, { body: '{"raw":true}', groupId: 'tenant-c' });
      const groups = new Map<string, string | undefined>();
      for (let i = 0; i < 10 && groups.size < 4; i++) {
        const out = await transport.client.send(
          new ReceiveMessageCommand({
            QueueUrl: queues.mainQueueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
            MessageSystemAttributeNames: ['All'],
          }),
        );
        for (const m of out.Messages ?? []) groups.set(m.Body ?? '', m.Attributes?.MessageGroupId);
      }
      expect(groups.size).toBe(4);
      const seen = [...groups.values()].sort();
      if (returnsGroupId) expect(seen).toEqual(['tenant-a', 'tenant-a', 'tenant-b', 'tenant-c']);
      else expect(seen).toEqual([undefined, undefined, undefined, undefined]);
      expect(notices).toEqual([]);
    } finally {
      await transport.close();
      await server.stop();
    }
  }, 120_000);
});

const md5 = (text: unknown): string => createHash('md5').update(String(text)).digest('hex');

describe('a server that refuses MessageGroupId on a standard queue', () => {
  let http: Server | undefined;
  afterAll(() => http?.close());

  it('gets the messages without it, and the transport says so once', async () => {
    const bodies: Array<Record<string, unknown>> = [];
    http = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      req.on('end', () => {
        const target = String(req.headers['x-amz-target'] ?? '');
        const body = JSON.parse(text || '{}') as { Entries?: Array<Record<string, unknown>>; MessageGroupId?: string };
        bodies.push({ target, ...body });
        const refuse = () => {
          res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
          res.end(
            JSON.stringify({
              __type: 'com.amazonaws.sqs#InvalidParameterValue',
              message: 'The request include parameter MessageGroupId that is not valid for this queue type',
            }),
          );
        };
        res.setHeader('content-type', 'application/x-amz-json-1.0');
        if (target.endsWith('.SendMessageBatch')) {
          const entries = body.Entries ?? [];
          if (entries.some((e) => e.MessageGroupId !== undefined)) return refuse();
          return res.end(
            JSON.stringify({
              Successful: entries.map((e) => ({ Id: e.Id, MessageId: `m-${String(e.Id)}`, MD5OfMessageBody: md5(e.MessageBody) })),
            }),
          );
        }
        if (target.endsWith('.SendMessage')) {
          if (body.MessageGroupId !== undefined) return refuse();
          return res.end(JSON.stringify({ MessageId: 'm-1', MD5OfMessageBody: md5((body as { MessageBody?: unknown }).MessageBody) }));
        }
        res.writeHead(400);
        res.end(JSON.stringify({ __type: 'com.amazonaws.sqs#UnsupportedOperation', message: target }));
      });
    });
    await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
    const port = (http.address() as { port: number }).port;
    const notices: string[] = [];
    const transport = new SqsTransport({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      onNotice: (m) => notices.push(m),
    });
    try {
      const queueUrl = `http://127.0.0.1:${port}/000000000000/q`;
      const queue = new JobQueue({ transport, queueUrl, jobs: [tenantJob] });
      await queue.enqueueMany([
        { type: 'fair.job', payload: { tenant: 'a', n: 0 } },
        { type: 'fair.job', payload: { tenant: 'b', n: 1 } },
      ]);
      await queue.enqueue({ type: 'fair.job', payload: { tenant: 'c', n: 2 } });
      await transport.send(queueUrl, { body: 'x', groupId: 'g' });
      // The first batch was refused once and sent again without it; every later send leaves it out.
      const withGroup = bodies.filter(
        (b) =>
          b.MessageGroupId !== undefined ||
          (b.Entries as Array<Record<string, unknown>> | undefined)?.some((e) => e.MessageGroupId !== undefined),
      );
      expect(withGroup).toHaveLength(1);
      expect(bodies.length).toBe(4);
      expect(notices).toHaveLength(1);
      expect(notices[0]).toMatch(/refuses MessageGroupId on a standard queue/);
    } finally {
      await transport.close();
    }
  });
});
