/**
 * ensureQueues against fauxqs (embedded), ElasticMQ (native) and the memory transport: both queues
 * with the redrive policy and DLQ retention, idempotent re-runs, drift repaired in place.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ensureQueues } from '../../src/ops/ensure-queues.js';
import { queueNames } from '../../src/queue/queue-names.js';
import { startEmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import type { JobTransport } from '../../src/queue/transport.js';
import { startElasticMq } from '../support/elasticmq.js';

interface Server {
  transport: JobTransport;
  /** ElasticMQ never reports MessageRetentionPeriod (docs/sqs-servers.md). */
  reportsRetention: boolean;
  stop(): Promise<void>;
}

const prefix = (): string => `t${randomUUID().slice(0, 8)}`;

test('queueNames names the queues <prefix> and <prefix>-dlq, as infra/cloudformation.yaml does', () => {
  expect(queueNames()).toEqual({ mainQueueName: 'calsync-jobs', dlqName: 'calsync-jobs-dlq' });
  expect(queueNames({ prefix: 'calsync-jobs-staging' })).toEqual({
    mainQueueName: 'calsync-jobs-staging',
    dlqName: 'calsync-jobs-staging-dlq',
  });
  expect(queueNames({ mainQueueName: 'jobs', dlqName: 'dead', prefix: 'p' })).toEqual({ mainQueueName: 'jobs', dlqName: 'dead' });
});

function bootstrapSuite(name: string, start: () => Promise<Server>): void {
  describe(name, () => {
    let server: Server;
    beforeAll(async () => {
      server = await start();
    });
    afterAll(async () => {
      await server?.stop();
    });

    test('creates the DLQ with 14-day retention and the main queue with a redrive policy to it', async () => {
      const p = prefix();
      const result = await ensureQueues(server.transport, { prefix: p });
      expect(result).toMatchObject({ mainQueueName: `${p}`, dlqName: `${p}-dlq` });
      expect(result.changes).toEqual([`created ${p}-dlq`, `created ${p}`]);
      expect(await server.transport.getQueueUrl(result.dlqName)).toBe(result.dlqUrl);
      const dlq = await server.transport.getQueueAttributes(result.dlqUrl);
      const main = await server.transport.getQueueAttributes(result.mainQueueUrl);
      expect(dlq.MessageRetentionPeriod).toBe(server.reportsRetention ? '1209600' : undefined);
      expect(main.VisibilityTimeout).toBe('30');
      const redrive = JSON.parse(main.RedrivePolicy ?? '{}') as Record<string, unknown>;
      expect(redrive.deadLetterTargetArn).toBe(dlq.QueueArn);
      expect(Number(redrive.maxReceiveCount)).toBe(5);
    });

    test('a second run changes nothing', async () => {
      const p = prefix();
      const first = await ensureQueues(server.transport, { prefix: p, maxReceiveCount: 3, visibilityTimeoutSeconds: 45 });
      const before = await server.transport.getQueueAttributes(first.mainQueueUrl);
      const second = await ensureQueues(server.transport, { prefix: p, maxReceiveCount: 3, visibilityTimeoutSeconds: 45 });
      expect(second.changes).toEqual([]);
      expect({ ...second, changes: [] }).toEqual({ ...first, changes: [] });
      expect(await server.transport.getQueueAttributes(first.mainQueueUrl)).toEqual(before);
      expect(before.VisibilityTimeout).toBe('45');
    });

    test('an existing queue with other attributes is updated in place, not failed', async () => {
      const p = prefix();
      const first = await ensureQueues(server.transport, { prefix: p });
      const { QueueArn: dlqArn } = await server.transport.getQueueAttributes(first.dlqUrl, ['QueueArn']);
      await server.transport.setQueueAttributes(first.mainQueueUrl, {
        VisibilityTimeout: '99',
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 9 }),
      });
      const again = await ensureQueues(server.transport, { prefix: p });
      expect(again.changes.sort()).toEqual([`set RedrivePolicy on ${p}`, `set VisibilityTimeout on ${p}`]);
      const main = await server.transport.getQueueAttributes(first.mainQueueUrl);
      expect(main.VisibilityTimeout).toBe('30');
      expect(Number((JSON.parse(main.RedrivePolicy ?? '{}') as { maxReceiveCount?: unknown }).maxReceiveCount)).toBe(5);
    });
  });
}

bootstrapSuite('memory transport', async () => {
  const transport = new MemoryTransport();
  return { transport, reportsRetention: true, stop: () => transport.close() };
});

bootstrapSuite('fauxqs (embedded)', async () => {
  const embedded = await startEmbeddedSqs();
  const transport = new SqsTransport({ endpoint: embedded.endpoint });
  return {
    transport,
    reportsRetention: true,
    async stop() {
      await transport.close();
      await embedded.stop();
    },
  };
});

describe('ElasticMQ (native)', () => {
  bootstrapSuite('with fresh queues', async () => {
    const elastic = await startElasticMq();
    const transport = new SqsTransport({ endpoint: elastic.endpoint });
    return {
      transport,
      reportsRetention: false,
      async stop() {
        await transport.close();
        await elastic.stop();
      },
    };
  });

  test('the queues of scripts/peers/elasticmq.sh already match ensureQueues defaults', async () => {
    const elastic = await startElasticMq();
    const transport = new SqsTransport({ endpoint: elastic.endpoint });
    try {
      const result = await ensureQueues(transport);
      expect(result.changes).toEqual([]);
      expect(result.mainQueueUrl).toBe(`${elastic.endpoint}/000000000000/calsync-jobs`);
    } finally {
      await transport.close();
      await elastic.stop();
    }
  });

  test('queues declared in an ElasticMQ config with other attributes are brought in line', async () => {
    const elastic = await startElasticMq({
      queues: {
        'calsync-jobs': 'defaultVisibilityTimeout = 10 seconds\n    deadLettersQueue { name = "calsync-jobs-dlq", maxReceiveCount = 3 }',
        'calsync-jobs-dlq': '',
      },
    });
    const transport = new SqsTransport({ endpoint: elastic.endpoint });
    try {
      const first = await ensureQueues(transport);
      expect(first.changes.sort()).toEqual(['set RedrivePolicy on calsync-jobs', 'set VisibilityTimeout on calsync-jobs']);
      const main = await transport.getQueueAttributes(first.mainQueueUrl);
      expect(main.VisibilityTimeout).toBe('30');
      expect(Number((JSON.parse(main.RedrivePolicy ?? '{}') as { maxReceiveCount?: unknown }).maxReceiveCount)).toBe(5);
      expect((await ensureQueues(transport)).changes).toEqual([]);
    } finally {
      await transport.close();
      await elastic.stop();
    }
  });
});
