/**
 * The worker's hook for the scheduler (scheduler.ts): started with the worker when its job store
 * holds schedules and `scheduler` is not false, stopped when the worker drains. Ticks go out through a
 * `JobQueue` with the store's recorder (the producer path every enqueue takes), with the worker's
 * signing hook and send tracing. Without a store the worker says once that schedules are off.
 */
import type { Logger } from 'pino';
import { JobQueue } from '../queue/job-queue.js';
import { DEFAULT_REDACT_PATHS } from './logger.js';
import { storeRecorder } from '../store/store-recorder.js';
import { schedulesOf } from '../store/schedule-store.js';
import type { WorkerTelemetry } from './attempt-telemetry.js';
import { Scheduler } from './scheduler.js';
import type { ResolvedWorkerOptions } from './worker-options.js';

export function startWorkerScheduler(
  options: ResolvedWorkerOptions,
  deps: { logger: Logger; telemetry: WorkerTelemetry; onError: (error: Error, during: string) => void },
): { stop(): Promise<void> } | undefined {
  if (options.scheduler === false) return undefined;
  const schedules = options.store === undefined ? undefined : schedulesOf(options.store);
  if (options.store === undefined || schedules === undefined) {
    deps.logger.info('schedules are off: they need a job store (set CALSYNC_STORE_URL)');
    return undefined;
  }
  const queue = new JobQueue({
    transport: options.transport,
    queueUrl: options.queueUrl,
    queueName: options.queueName,
    jobs: options.jobs,
    maxMessageBytes: options.maxMessageBytes,
    clock: options.clock,
    traceSend: deps.telemetry.traceSend,
    // A pass sends up to a batch of ticks (100 by default: 10 SendMessageBatch requests) at once.
    maxSendsInFlight: 4,
    recorder: storeRecorder(options.store, options.storePayloads ?? { enabled: true, redactPaths: DEFAULT_REDACT_PATHS }),
    ...(options.signMessage ? { attributes: options.signMessage } : {}),
  });
  const scheduler = new Scheduler(
    {
      store: options.store,
      schedules,
      queue,
      clock: options.clock,
      random: options.random,
      logger: deps.logger.child({ component: 'scheduler' }),
      telemetry: deps.telemetry,
      onError: deps.onError,
    },
    options.scheduler === true ? {} : options.scheduler,
  );
  scheduler.start();
  return scheduler;
}
