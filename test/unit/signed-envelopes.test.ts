/**
 * Signed envelopes enforced by the runtime: with a signature required, an unsigned, forged or
 * replayed-and-edited message never reaches a handler and lands in the DLQ with reason bad_signature;
 * a message signed with any configured key (rotation) runs.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../../src/machines/define-job.js';
import { ensureQueues } from '../../src/ops/ensure-queues.js';
import { decodeDeadLetter } from '../../src/queue/dead-letter.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import { signingHooks } from '../../src/queue/signing-hooks.js';
import { parseSigningKeys, SIGNATURE_ATTRIBUTE, signBody } from '../../src/queue/signing.js';
import { createLogger } from '../../src/runtime/logger.js';
import { createWorker } from '../../src/runtime/worker.js';

const NEW = `new:${'n'.repeat(40)}`;
const OLD = `old:${'o'.repeat(40)}`;
const keys = parseSigningKeys(`${NEW},${OLD}`);
const oldOnly = parseSigningKeys(OLD);
const attacker = parseSigningKeys(`new:${'x'.repeat(40)}`);

describe('signed envelopes', () => {
  it('runs only messages that verify and dead-letters the rest with bad_signature', async () => {
    const transport = new MemoryTransport();
    const queues = await ensureQueues(transport);
    const ran: string[] = [];
    const job = defineJob({
      type: 'pay.out',
      schema: z.object({ to: z.string(), cents: z.int() }),
      handler: (p) => void ran.push(`${p.to}:${p.cents}`),
    });
    const hooks = signingHooks(keys, true);
    const producer = new JobQueue({ transport, queueUrl: queues.mainQueueUrl, jobs: [job], attributes: hooks.signMessage! });
    const oldProducer = new JobQueue({
      transport,
      queueUrl: queues.mainQueueUrl,
      jobs: [job],
      attributes: signingHooks(oldOnly, false).signMessage!,
    });
    const attackerProducer = new JobQueue({
      transport,
      queueUrl: queues.mainQueueUrl,
      jobs: [job],
      attributes: signingHooks(attacker, false).signMessage!,
    });
    const unsigned = new JobQueue({ transport, queueUrl: queues.mainQueueUrl, jobs: [job] });

    await producer.enqueueJob({ type: 'pay.out', payload: { to: 'alice', cents: 100 } });
    await oldProducer.enqueueJob({ type: 'pay.out', payload: { to: 'bob', cents: 200 } });
    await unsigned.enqueueJob({ type: 'pay.out', payload: { to: 'mallory', cents: 1 } });
    await attackerProducer.enqueueJob({ type: 'pay.out', payload: { to: 'mallory', cents: 2 } });
    // Replay: a genuine signature copied onto an edited payload.
    const genuine = producer.prepare({ type: 'pay.out', payload: { to: 'carol', cents: 300 } });
    const edited = genuine.body.replace('"cents":300', '"cents":300000');
    await transport.send(queues.mainQueueUrl, { body: edited, attributes: genuine.attributes });
    // The right body under another job type's name.
    await transport.send(queues.mainQueueUrl, { body: genuine.body, attributes: { ...genuine.attributes, 'job-type': 'other.type' } });

    const worker = createWorker({
      transport,
      jobs: [job],
      queueUrl: queues.mainQueueUrl,
      dlqUrl: queues.dlqUrl,
      waitTimeSeconds: 1,
      logger: createLogger({ level: 'silent' }),
      ...hooks,
    });
    const invalid: string[] = [];
    worker.on('message:invalid', (e) => invalid.push(e.message));
    worker.start();
    for (let i = 0; i < 100 && ran.length + invalid.length < 6; i++) await new Promise((r) => setTimeout(r, 20));
    await worker.stop();

    expect(ran.sort()).toEqual(['alice:100', 'bob:200']);
    expect(invalid).toHaveLength(4);
    expect(invalid.sort()).toEqual([
      'signature check failed: mismatch',
      'signature check failed: mismatch',
      'signature check failed: mismatch',
      'signature check failed: unsigned',
    ]);
    const dead = await transport.receive(queues.dlqUrl, { maxMessages: 10, waitTimeSeconds: 0 });
    expect(dead).toHaveLength(4);
    for (const message of dead) expect(decodeDeadLetter(message.body).record?.reason).toBe('bad_signature');
    await transport.close();
  });

  it('signs the retries it sends, so a signed job keeps running after a failure', async () => {
    const transport = new MemoryTransport();
    const queues = await ensureQueues(transport);
    let attempts = 0;
    const job = defineJob({
      type: 'flaky.signed',
      schema: z.object({}),
      retry: { initialIntervalMs: 0, jitter: 'none' },
      handler: () => {
        attempts++;
        if (attempts < 2) throw new Error('once');
      },
    });
    const hooks = signingHooks(keys, true);
    const worker = createWorker({
      transport,
      jobs: [job],
      queueUrl: queues.mainQueueUrl,
      dlqUrl: queues.dlqUrl,
      waitTimeSeconds: 1,
      logger: createLogger({ level: 'silent' }),
      ...hooks,
    });
    let succeeded = false;
    worker.on('job:succeeded', () => (succeeded = true));
    worker.start();
    await new JobQueue({ transport, queueUrl: queues.mainQueueUrl, attributes: hooks.signMessage! }).enqueueJob({
      type: 'flaky.signed',
      payload: {},
    });
    for (let i = 0; i < 100 && !succeeded; i++) await new Promise((r) => setTimeout(r, 20));
    await worker.stop();
    expect(succeeded).toBe(true);
    expect(attempts).toBe(2);
    expect(signBody('x', 't', keys)).toMatch(/^v1:new:/);
    expect(SIGNATURE_ATTRIBUTE).toBe('calsync-signature');
    await transport.close();
  });
});
