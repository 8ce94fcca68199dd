/**
 * Demo jobs for `npm start`: a plain success, a flaky job that fails a given number of times before it
 * succeeds, a poison job that can never succeed, and a slow one that shows lease extension.
 */
import { z } from 'zod';
import { defineJob } from '../machines/define-job.js';
import { NonRetryableError, RetryableError } from '../machines/errors.js';

export const helloJob = defineJob({
  type: 'demo.hello',
  schema: z.object({ name: z.string().min(1).max(200) }),
  handler: (payload, ctx) => {
    ctx.logger.info(`hello, ${payload.name}`);
  },
});

export const flakyJob = defineJob({
  type: 'demo.flaky',
  schema: z.object({ failTimes: z.int().min(0).max(100) }),
  retry: { initialIntervalMs: 1000, backoffCoefficient: 2, jitter: 'none', maximumAttempts: 5 },
  handler: (payload, ctx) => {
    if (ctx.attempt <= payload.failTimes) {
      throw new RetryableError(`demo.flaky: failing on purpose (attempt ${ctx.attempt} of ${payload.failTimes} planned failures)`);
    }
    ctx.logger.info(`demo.flaky succeeded on attempt ${ctx.attempt}`);
  },
});

export const poisonJob = defineJob({
  type: 'demo.poison',
  schema: z.object({ why: z.string().default('this job can never succeed') }),
  handler: (payload) => {
    throw new NonRetryableError(payload.why, { reason: 'poison' });
  },
});

export const slowJob = defineJob({
  type: 'demo.slow',
  schema: z.object({ ms: z.int().min(0).max(3_600_000) }),
  attemptTimeoutMs: 3_600_000,
  handler: async (payload, ctx) => {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, payload.ms);
      ctx.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          reject(ctx.signal.reason);
        },
        { once: true },
      );
    });
  },
});

export const demoJobs = [helloJob, flakyJob, poisonJob, slowJob] as const;
