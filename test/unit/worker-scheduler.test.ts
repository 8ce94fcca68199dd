/**
 * The scheduler inside the worker (src/runtime/worker-scheduler.ts): with a store it fires due
 * schedules through the producer path (a job row first, then the message, which the worker runs) and
 * stops with the worker; `scheduler: false` fires nothing; without a store the worker says once that
 * schedules are off. Memory transport and memory store, real time (ticks every second).
 */
import { pino } from 'pino';
import { expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../../src/machines/define-job.js';
import { createSchedules } from '../../src/ops/schedules.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import { createWorker } from '../../src/runtime/worker.js';
import { MemoryJobStore } from '../../src/store/memory-store.js';
import { tickJobId } from '../../src/store/schedule-timing.js';
import { eventually } from '../support/runtime-harness.js';

async function setUp(options: { scheduler?: boolean; store?: boolean } = {}) {
  const transport = new MemoryTransport();
  const queueUrl = await transport.createQueue('main');
  const dlqUrl = await transport.createQueue('dlq');
  const ran: string[] = [];
  const job = defineJob({ type: 't.tick', schema: z.object({ n: z.number() }), handler: async (_p, ctx) => void ran.push(ctx.jobId) });
  const store = options.store === false ? undefined : new MemoryJobStore();
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
  const worker = createWorker({
    transport,
    jobs: [job],
    queueUrl,
    dlqUrl,
    logger,
    ...(store ? { store } : {}),
    ...(options.scheduler === undefined ? {} : { scheduler: options.scheduler }),
  });
  return { worker, store, ran, lines, transport, queueUrl };
}

it('fires a due schedule: the tick has its derived id and a row, the worker runs it, and the scheduler stops with the worker', async () => {
  const { worker, store, ran } = await setUp();
  const startAt = Math.ceil((Date.now() + 300) / 1000) * 1000;
  await createSchedules({ store: store! }).upsert({ id: 'every-second', job: { type: 't.tick', payload: { n: 1 } }, every: '1s', startAt });
  worker.start();
  const first = tickJobId('every-second', startAt);
  await eventually(
    'the first tick to run and settle',
    async () => ran.includes(first) && (await store!.getJob(first))?.state === 'succeeded',
    5_000,
  );
  expect(ran.filter((id) => id === first)).toHaveLength(1);
  await worker.stop();
  const fired = (await createSchedules({ store: store! }).get('every-second'))!.firedTotal;
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  // Stopped: no tick fires after the worker stopped.
  expect((await createSchedules({ store: store! }).get('every-second'))!.firedTotal).toBe(fired);
}, 15_000);

it('scheduler: false fires nothing; a worker without a store says once that schedules are off', async () => {
  const off = await setUp({ scheduler: false });
  await createSchedules({ store: off.store! }).upsert({ id: 'x', job: { type: 't.tick', payload: { n: 1 } }, every: '1s' });
  off.worker.start();
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  await off.worker.stop();
  expect(off.ran).toEqual([]);
  expect((await createSchedules({ store: off.store! }).get('x'))!.firedTotal).toBe(0);
  expect(off.lines.join('')).not.toContain('schedules are off');

  const bare = await setUp({ store: false });
  bare.worker.start();
  await bare.worker.stop();
  const said = bare.lines.filter((line) => line.includes('schedules are off: they need a job store (set CALSYNC_STORE_URL)'));
  expect(said).toHaveLength(1);
}, 15_000);
