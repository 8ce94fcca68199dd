import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../../src/machines/define-job.js';
import { ensureQueues } from '../../src/ops/ensure-queues.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import { createLogger } from '../../src/runtime/logger.js';
import { createWorker } from '../../src/runtime/worker.js';

function capture(): { lines: Array<Record<string, unknown>>; destination: Writable } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { lines, destination };
}

describe('logging', () => {
  it('redacts credentials by default and configured paths on request', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ destination, redact: ['payload.event.description'] });
    logger.info({ password: 'hunter2', credentials: { token: 't' }, payload: { event: { description: 'private', summary: 'ok' } } }, 'x');
    expect(lines[0]).toMatchObject({
      password: '[redacted]',
      credentials: '[redacted]',
      payload: { event: { description: '[redacted]', summary: 'ok' } },
    });
    expect(JSON.stringify(lines)).not.toMatch(/hunter2|private/);
  });

  it('logs no payload unless asked, and the payload with its secrets redacted when asked', async () => {
    for (const logPayloads of [false, true]) {
      const { lines, destination } = capture();
      const transport = new MemoryTransport();
      const queues = await ensureQueues(transport);
      const job = defineJob({
        type: 'log.me',
        schema: z.object({ email: z.string(), password: z.string() }),
        handler: (_p, ctx) => ctx.logger.info('handled'),
      });
      const worker = createWorker({
        transport,
        jobs: [job],
        queueUrl: queues.mainQueueUrl,
        dlqUrl: queues.dlqUrl,
        waitTimeSeconds: 1,
        logPayloads,
        logger: createLogger({ destination }),
      });
      let done = false;
      worker.on('job:succeeded', () => (done = true));
      worker.start();
      await new JobQueue({ transport, queueUrl: queues.mainQueueUrl }).enqueueJob({
        type: 'log.me',
        payload: { email: 'a@example.com', password: 'hunter2' },
      });
      for (let i = 0; i < 100 && !done; i++) await new Promise((r) => setTimeout(r, 10));
      await worker.stop();
      const handled = lines.find((l) => l.msg === 'handled');
      expect(handled).toMatchObject({ type: 'log.me', attempt: 1 });
      if (logPayloads) expect(handled?.payload).toEqual({ email: 'a@example.com', password: '[redacted]' });
      else expect(handled).not.toHaveProperty('payload');
      expect(JSON.stringify(lines)).not.toContain('hunter2');
      await transport.close();
    }
  });
});
