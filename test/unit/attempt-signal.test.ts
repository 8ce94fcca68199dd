/** ctx.signal is created lazily; it must still abort on timeout whether it was read before or after. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../../src/machines/define-job.js';
import { ensureQueues } from '../../src/ops/ensure-queues.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import { createLogger } from '../../src/runtime/logger.js';
import { createWorker } from '../../src/runtime/worker.js';

describe('ctx.signal', () => {
  it('aborts on attempt timeout, read early or late', async () => {
    const transport = new MemoryTransport();
    const queues = await ensureQueues(transport);
    const seen: Array<{ mode: string; aborted: boolean; reason: string }> = [];
    const job = defineJob({
      type: 'signal.test',
      schema: z.object({ mode: z.enum(['early', 'late']) }),
      attemptTimeoutMs: 50,
      retry: { maximumAttempts: 1 },
      handler: async (payload, ctx) => {
        const early = payload.mode === 'early' ? ctx.signal : undefined;
        await new Promise((r) => setTimeout(r, 120));
        const signal = early ?? ctx.signal;
        seen.push({ mode: payload.mode, aborted: signal.aborted, reason: (signal.reason as Error | undefined)?.name ?? '' });
      },
    });
    const worker = createWorker({
      transport,
      jobs: [job],
      queueUrl: queues.mainQueueUrl,
      dlqUrl: queues.dlqUrl,
      waitTimeSeconds: 1,
      logger: createLogger({ level: 'silent' }),
    });
    const dead: string[] = [];
    worker.on('job:dead', (e) => dead.push(e.reason));
    worker.start();
    await new JobQueue({ transport, queueUrl: queues.mainQueueUrl }).enqueueJobs([
      { type: 'signal.test', payload: { mode: 'early' } },
      { type: 'signal.test', payload: { mode: 'late' } },
    ]);
    for (let i = 0; i < 100 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    await worker.stop();
    expect(seen.sort((a, b) => a.mode.localeCompare(b.mode))).toEqual([
      { mode: 'early', aborted: true, reason: 'AttemptTimeout' },
      { mode: 'late', aborted: true, reason: 'AttemptTimeout' },
    ]);
    expect(dead).toEqual(['attempts_exhausted', 'attempts_exhausted']);
    await transport.close();
  });
});
