/**
 * One send path: the producer (`JobQueue.enqueueJobs`) and the runtime's settles both send through
 * `SendBatcher` (src/queue/send-batcher.ts), batched within SQS's entry and byte limits, with
 * transient entry failures retried.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../../src/machines/define-job.js';
import { RetryableError } from '../../src/machines/errors.js';
import { ensureQueues } from '../../src/ops/ensure-queues.js';
import { decodeEnvelope } from '../../src/queue/envelope.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { MAX_BATCH_BYTES, messageBytes } from '../../src/queue/limits.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import { SendBatcher } from '../../src/queue/send-batcher.js';
import type { BatchResult, JobTransport, OutgoingBatchEntry } from '../../src/queue/transport.js';
import { createWorker } from '../../src/runtime/worker.js';
import { ManualClock } from '../support/manual-clock.js';
import { driveUntil, silentLogger } from '../support/runtime-harness.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('one send path', () => {
  it('the producer batches through SendBatcher: ≤ 10 entries within the byte limit, a throttled entry retried', async () => {
    const send = vi.spyOn(SendBatcher.prototype, 'send');
    const calls: Array<{ bodies: string[]; bytes: number }> = [];
    const delivered = new Map<string, string>();
    let throttled: string | undefined;
    const transport = {
      kind: 'fake',
      send: () => {
        throw new Error('the producer sends with SendMessageBatch only');
      },
      sendBatch: async (_queueUrl: string, entries: readonly OutgoingBatchEntry[]): Promise<BatchResult> => {
        calls.push({ bodies: entries.map((e) => e.body), bytes: entries.reduce((sum, e) => sum + messageBytes(e), 0) });
        const result: BatchResult = { successful: [], failed: [] };
        for (const [index, entry] of entries.entries()) {
          if (calls.length === 1 && index === 3) {
            throttled = entry.body;
            result.failed.push({ id: entry.id, code: 'RequestThrottled', message: 'slow down', senderFault: false });
          } else {
            delivered.set(entry.body, `m-${delivered.size}`);
            result.successful.push({ id: entry.id, messageId: delivered.get(entry.body)! });
          }
        }
        return result;
      },
    } as unknown as JobTransport;
    const queue = new JobQueue({ transport, queueUrl: 'memory://jobs', clock: new ManualClock() });
    const blob = 'x'.repeat(150_000);
    const jobs = Array.from({ length: 25 }, (_, i) => ({ type: 'demo.big', payload: { i, blob: i % 2 === 0 ? blob : '' } }));

    const ids = await queue.enqueueJobs(jobs);

    expect(send).toHaveBeenCalledTimes(25);
    expect(calls.length).toBeGreaterThan(3);
    for (const call of calls) {
      expect(call.bodies.length).toBeLessThanOrEqual(10);
      expect(call.bytes).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    }
    expect(calls.slice(1).some((call) => call.bodies.includes(throttled!))).toBe(true);
    expect(delivered.size).toBe(25);
    const sentIds = [...delivered.keys()].map((body) => {
      const decoded = decodeEnvelope(body);
      return decoded.ok ? decoded.envelope.id : '';
    });
    expect(new Set(sentIds)).toEqual(new Set(ids));
  });

  it("the runtime's retry goes through the same SendBatcher as the producer's enqueue", async () => {
    const send = vi.spyOn(SendBatcher.prototype, 'send');
    const clock = new ManualClock();
    const transport = new MemoryTransport({ clock });
    const queues = await ensureQueues(transport, { visibilityTimeoutSeconds: 10 });
    let runs = 0;
    const job = defineJob({
      type: 'flaky.once',
      schema: z.object({}),
      handler: async () => {
        runs += 1;
        if (runs === 1) throw new RetryableError('once');
      },
    });
    const worker = createWorker({
      transport,
      jobs: [job],
      queueUrl: queues.mainQueueUrl,
      dlqUrl: queues.dlqUrl,
      clock,
      random: () => 0.5,
      logger: silentLogger(),
      waitTimeSeconds: 1,
      visibilityTimeoutSeconds: 10,
    });
    const succeeded: number[] = [];
    worker.on('job:succeeded', (e) => succeeded.push(e.attempt));
    worker.start();
    await new JobQueue({ transport, queueUrl: queues.mainQueueUrl, clock }).enqueueJob({ type: 'flaky.once', payload: {} });
    await driveUntil(clock, 'the retry succeeds', () => succeeded.length === 1);
    await worker.stop();

    expect(succeeded).toEqual([2]);
    // One call from the producer, one from the runtime's retry: both SendBatcher.send, both to the main queue.
    expect(send.mock.calls.map(([queueUrl, message]) => [queueUrl, message.attributes?.['job-type']])).toEqual([
      [queues.mainQueueUrl, 'flaky.once'],
      [queues.mainQueueUrl, 'flaky.once'],
    ]);
    const attempts = send.mock.calls.map(([, message]) => {
      const decoded = decodeEnvelope(message.body);
      return decoded.ok ? decoded.envelope.attempt : 0;
    });
    expect(attempts).toEqual([1, 2]);
    await transport.close();
  });
});
