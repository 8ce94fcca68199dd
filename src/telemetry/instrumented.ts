/**
 * The library's entry points with OpenTelemetry on by default, as src/index.ts exports them. The
 * runtime and the producer take their telemetry through ports (src/runtime/attempt-telemetry.ts,
 * src/queue/send-tracing.ts) and, since they may not import this layer, default to no-ops there;
 * these plug the OpenTelemetry implementations in unless the caller passes its own. With no SDK
 * registered every span and metric call is a no-op, as before.
 */
import type { JobDefinition } from '../machines/define-job.js';
import { JobQueue as BaseJobQueue, type JobQueueOptions } from '../queue/job-queue.js';
import { type HandlerMap, toJobDefinitions } from '../runtime/process-jobs.js';
import type { WorkerOptions } from '../runtime/worker-options.js';
import { Worker as BaseWorker } from '../runtime/worker.js';
import { withProducerSpan } from './tracing.js';
import { createWorkerTelemetry } from './worker-telemetry.js';

/** The worker's options with the OpenTelemetry default's own. */
export interface InstrumentedWorkerOptions extends WorkerOptions {
  queueDepthIntervalMs?: number;
  /**
   * Run each handler inside its attempt's OpenTelemetry context, so code in the handler that reads
   * the active context (its own spans, instrumented clients, a `JobQueue` enqueueing a follow-up job)
   * sees the attempt's span as its parent. The attempt's spans and the worker's own sends form one
   * trace either way. Ignored when `telemetry` is given. @defaultValue true
   */
  handlerTraceContext?: boolean;
}

/** A worker whose telemetry defaults to {@link createWorkerTelemetry} (spans and metrics). */
export class Worker extends BaseWorker {
  constructor(options: InstrumentedWorkerOptions) {
    super(options, (scope) => createWorkerTelemetry({ ...scope, handlerContext: options.handlerTraceContext ?? true }));
  }
}

/** Creates a worker (not started); `options.telemetry` replaces the OpenTelemetry default. */
export function createWorker(options: InstrumentedWorkerOptions): Worker {
  return new Worker(options);
}

/**
 * Starts a worker for a handler map or an array of definitions and returns it, already started (its
 * receive loops run in the background; `await worker.stop()` to end it).
 * `processJobs({ 'email.send': async (payload) => {...} }, { transport, queueUrl, dlqUrl })`.
 */
export function processJobs(jobs: HandlerMap | readonly JobDefinition<any, any>[], options: Omit<WorkerOptions, 'jobs'>): Worker {
  return createWorker({ ...options, jobs: toJobDefinitions(jobs) }).start();
}

/** A producer whose sends are PRODUCER spans ({@link withProducerSpan}) unless `options.traceSend` says otherwise. */
export class JobQueue extends BaseJobQueue {
  constructor(options: JobQueueOptions) {
    super({ ...options, traceSend: options.traceSend ?? withProducerSpan });
  }
}
