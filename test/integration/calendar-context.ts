/**
 * A `JobContext` for calling calendar handlers directly: silent pino logger, real AbortSignal, recorded
 * checkpoints. Like the runtime, `saveCheckpoint` is continue-as-new: it aborts the signal
 * (`CheckpointSavedError`), and `runToCompletion` plays the queue's part by re-invoking the handler with
 * the saved state until a run completes.
 */
import { pino } from 'pino';
import type { JobContext } from '../../src/machines/define-job.js';
import { CheckpointSavedError } from '../../src/runtime/job-error.js';
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
      // Continue-as-new, as in the runtime: the continuation is queued, this run must stop.
      if (!controller.signal.aborted) controller.abort(new CheckpointSavedError());
    },
    async heartbeat() {},
  };
  return { ctx, controller, checkpoints };
}

/** What `runToCompletion` saw: each run's result and every checkpoint saved, in order. */
export interface Completion<C, S> {
  runs: S[];
  checkpoints: C[];
}

/**
 * Runs a checkpointing job the way the queue does: `step` gets a fresh context whose `checkpoint` is the
 * state the previous run saved (or `options.checkpoint` first), until a run reports `completed`. A run
 * that neither completes nor saves exactly one checkpoint fails the test.
 */
export async function runToCompletion<C, S extends { completed: boolean }>(
  step: (ctx: JobContext<C>) => Promise<S>,
  options: { checkpoint?: C; maxRuns?: number } = {},
): Promise<Completion<C, S>> {
  const runs: S[] = [];
  const checkpoints: C[] = [];
  let checkpoint = options.checkpoint;
  const maxRuns = options.maxRuns ?? 1_000;
  for (;;) {
    if (runs.length >= maxRuns) throw new Error(`runToCompletion: not completed after ${maxRuns} runs`);
    const run = testContext<C>(checkpoint === undefined ? {} : { checkpoint });
    const stats = await step(run.ctx);
    runs.push(stats);
    checkpoints.push(...run.checkpoints);
    if (stats.completed) {
      if (run.checkpoints.length > 0) throw new Error('runToCompletion: a run both completed and saved a checkpoint');
      return { runs, checkpoints };
    }
    if (run.checkpoints.length !== 1)
      throw new Error(`runToCompletion: run ${runs.length} neither completed nor saved one checkpoint (saved ${run.checkpoints.length})`);
    checkpoint = run.checkpoints[0];
  }
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
