import { z } from 'zod';
import { defineJob, isJobDefinition, type JobDefinition, type JobHandler } from '../machines/define-job.js';

/** A map from job type to handler: the quick form, with payloads unchecked (`z.unknown()`). */
export type HandlerMap = Record<string, JobHandler<unknown>>;

/**
 * The job definitions `processJobs` (src/telemetry/instrumented.ts) runs: a handler map becomes one
 * definition per type with payloads unchecked; an array must hold `defineJob()` results.
 */
export function toJobDefinitions(jobs: HandlerMap | readonly JobDefinition<any, any>[]): readonly JobDefinition<any, any>[] {
  const definitions = Array.isArray(jobs)
    ? (jobs as readonly JobDefinition<any, any>[])
    : Object.entries(jobs as HandlerMap).map(([type, handler]) => defineJob({ type, schema: z.unknown(), handler }));
  for (const [index, definition] of definitions.entries()) {
    if (!isJobDefinition(definition)) throw new TypeError(`processJobs: item ${index} is not a job definition made by defineJob()`);
  }
  return definitions;
}
