import { z } from 'zod';
import { defineJob, isJobDefinition, type JobDefinition, type JobHandler } from '../machines/define-job.js';
import { createWorker, type Worker } from './worker.js';
import type { WorkerOptions } from './worker-options.js';

/** A map from job type to handler: the quick form, with payloads unchecked (`z.unknown()`). */
export type HandlerMap = Record<string, JobHandler<unknown>>;

/**
 * Starts a worker for a handler map or an array of definitions and returns it, already started (its
 * receive loops run in the background; `await worker.stop()` to end it).
 * `processJobs({ 'email.send': async (payload) => {...} }, { transport, queueUrl, dlqUrl })`.
 */
export function processJobs(jobs: HandlerMap | readonly JobDefinition<any, any>[], options: Omit<WorkerOptions, 'jobs'>): Worker {
  const definitions = Array.isArray(jobs)
    ? (jobs as readonly JobDefinition<any, any>[])
    : Object.entries(jobs as HandlerMap).map(([type, handler]) => defineJob({ type, schema: z.unknown(), handler }));
  for (const [index, definition] of definitions.entries()) {
    if (!isJobDefinition(definition)) throw new TypeError(`processJobs: item ${index} is not a job definition made by defineJob()`);
  }
  return createWorker({ ...options, jobs: definitions }).start();
}
