/**
 * `createJobQueueFromEnv` (what `enqueueJob()` uses) opens its queue the way the CLI does
 * (src/ops/open-queues.ts): CALSYNC_EMBEDDED starts a server in the process, and queues it creates get
 * the configured visibility timeout, not ensureQueues' default. Against fauxqs in the test process.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../../src/machines/define-job.js';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { createJobQueueFromEnv } from '../../src/ops/default-queue.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { uniquePrefix } from './cli-harness.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedStore } from '../../src/store/embedded.js';

const job = defineJob({ type: 'default-queue.ping', schema: z.object({ n: z.number() }), handler: () => {} });

describe('createJobQueueFromEnv', () => {
  let server: EmbeddedSqs;
  let transport: SqsTransport;
  beforeAll(async () => {
    server = await startEmbeddedSqs();
    transport = new SqsTransport({ endpoint: server.endpoint, region: 'us-east-1' });
  });
  afterAll(async () => {
    await transport?.close();
    await server?.stop();
  });

  test('creates the queues with CALSYNC_VISIBILITY_TIMEOUT_SECONDS, as the worker does', async () => {
    const prefix = uniquePrefix();
    const queue = await createJobQueueFromEnv({
      env: {
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL_SQS: server.endpoint,
        CALSYNC_QUEUE_PREFIX: prefix,
        CALSYNC_CREATE_QUEUES: 'true',
        CALSYNC_VISIBILITY_TIMEOUT_SECONDS: '45',
        CALSYNC_MAX_RECEIVE_COUNT: '7',
      },
      jobs: [job],
    });
    try {
      await queue.enqueueJob({ type: 'default-queue.ping', payload: { n: 1 } });
    } finally {
      await queue.close();
    }
    const attributes = await transport.getQueueAttributes(await transport.getQueueUrl(prefix));
    expect(attributes.VisibilityTimeout).toBe('45');
    expect(Number(JSON.parse(attributes.RedrivePolicy ?? '{}').maxReceiveCount)).toBe(7);
    expect((await transport.depth(await transport.getQueueUrl(prefix))).visible).toBe(1);
  });

  test('with CALSYNC_QUEUE_URL it looks nothing up, the DLQ included (a producer may not see it)', async () => {
    const prefix = uniquePrefix();
    const queueUrl = await transport.createQueue(prefix);
    const queue = await createJobQueueFromEnv({
      env: { AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_SQS: server.endpoint, CALSYNC_QUEUE_URL: queueUrl },
    });
    try {
      await queue.enqueueJob({ type: 'anything', payload: {} });
    } finally {
      await queue.close();
    }
    expect((await transport.depth(queueUrl)).visible).toBe(1);
  });

  test('with CALSYNC_EMBEDDED runs its own server (queues created), and close() stops it', async () => {
    const queue = await createJobQueueFromEnv({ env: { AWS_REGION: 'us-east-1', CALSYNC_EMBEDDED: 'true' } });
    let closed = false;
    try {
      expect(queue.queueName).toBe('calsync-jobs');
      expect(await queue.enqueueJob({ type: 'anything', payload: {} })).toMatch(/^[0-9a-f-]{36}$/);
      await queue.close();
      closed = true;
      await expect(queue.enqueueJob({ type: 'anything', payload: {} })).rejects.toThrow();
    } finally {
      if (!closed) await queue.close();
    }
  });

  test('with CALSYNC_STORE_URL each job is recorded before it is sent, and an idempotency key dedups', async () => {
    const prefix = uniquePrefix();
    const dir = await mkdtemp(join(tmpdir(), 'calsync-default-queue-store-'));
    try {
      const queue = await createJobQueueFromEnv({
        env: {
          AWS_REGION: 'us-east-1',
          AWS_ENDPOINT_URL_SQS: server.endpoint,
          CALSYNC_QUEUE_PREFIX: prefix,
          CALSYNC_CREATE_QUEUES: 'true',
          CALSYNC_STORE_URL: 'embedded',
          CALSYNC_STORE_DIR: dir,
        },
        jobs: [job],
      });
      let first: { id: string; deduplicated: boolean };
      let second: { id: string; deduplicated: boolean };
      try {
        first = await queue.enqueue({ type: 'default-queue.ping', payload: { n: 1 }, idempotencyKey: 'once' });
        second = await queue.enqueue({ type: 'default-queue.ping', payload: { n: 2 }, idempotencyKey: 'once' });
      } finally {
        await queue.close();
      }
      expect(first.deduplicated).toBe(false);
      expect(second).toEqual({ id: first.id, deduplicated: true });
      expect((await transport.depth(await transport.getQueueUrl(prefix))).visible).toBe(1);
      // The store (persisted in the dir) has the row, payload and key as enqueued.
      const embedded = await startEmbeddedStore({ dir });
      try {
        expect(await embedded.store.getJob(first.id)).toMatchObject({ state: 'pending', idempotencyKey: 'once', payload: { n: 1 } });
      } finally {
        await embedded.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
