/** A `JobContext` for calling calendar handlers directly: silent pino logger, real AbortSignal, recorded checkpoints. */
import { pino } from 'pino';
import type { JobContext } from '../../src/machines/define-job.js';
import type { CalendarEvent } from '../../src/jobs/calendar/schemas.js';

export interface TestContext<C> {
  ctx: JobContext<C>;
  controller: AbortController;
  /** Every state passed to `saveCheckpoint`, in order. */
  checkpoints: C[];
}

export function testContext<C = unknown>(
  options: { checkpoint?: C; attempt?: number; onCheckpoint?: (state: C, count: number, controller: AbortController) => void } = {},
): TestContext<C> {
  const controller = new AbortController();
  const checkpoints: C[] = [];
  const ctx: JobContext<C> = {
    jobId: 'job-test',
    type: 'test',
    attempt: options.attempt ?? 1,
    signal: controller.signal,
    logger: pino({ level: 'silent' }),
    idempotencyKey: undefined,
    checkpoint: options.checkpoint,
    async saveCheckpoint(state) {
      checkpoints.push(structuredClone(state));
      options.onCheckpoint?.(state, checkpoints.length, controller);
    },
    async heartbeat() {},
  };
  return { ctx, controller, checkpoints };
}

/** `count` distinct events `${prefix}-0001`… one hour each, a day apart. */
export function makeEvents(prefix: string, count: number): CalendarEvent[] {
  return Array.from({ length: count }, (_, i) => {
    const start = new Date(Date.UTC(2027, 0, 1, 9) + i * 86_400_000);
    return {
      uid: `${prefix}-${String(i).padStart(4, '0')}`,
      summary: `${prefix} event ${i}`,
      start: start.toISOString(),
      end: new Date(start.getTime() + 3_600_000).toISOString(),
      description: `number ${i}`,
    };
  });
}
