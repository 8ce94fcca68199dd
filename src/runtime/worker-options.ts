import type { Logger } from 'pino';
import type { JobDefinition } from '../machines/define-job.js';
import { checkOption, integerFrom } from '../shared/check-option.js';
import { systemClock, systemRandom, type Clock, type Random } from '../shared/clock.js';
import { ConfigError } from '../shared/errors.js';
import { SQS_LIMITS, type JobTransport } from '../queue/transport.js';
import type { JobStore } from '../store/job-store.js';
import type { PayloadPolicy } from '../store/payload-policy.js';
import type { WorkerTelemetry } from './attempt-telemetry.js';
import type { SchedulerOptions } from './scheduler.js';

/** Options of {@link createWorker}. Everything but the transport, the queues and the jobs is optional. */
export interface WorkerOptions {
  transport: JobTransport;
  /** The job types this worker runs. */
  jobs: readonly JobDefinition<any, any>[];
  queueUrl: string;
  dlqUrl: string;
  /** @defaultValue the last path segment of `queueUrl` */
  queueName?: string;
  /** @defaultValue the last path segment of `dlqUrl` */
  dlqName?: string;
  /**
   * Handlers running at once. A job counts from its receive until its handler returns; its settle (the
   * store's write, the delete or re-send) runs outside the count, with at most as many again settling
   * at once, so the worker holds at most 2 × concurrency messages. @defaultValue 10
   */
  concurrency?: number;
  /** Receive loops running at once. @defaultValue ceil(concurrency / 10), at most 8 */
  pollers?: number;
  /** Long-poll wait. @defaultValue 20 */
  waitTimeSeconds?: number;
  /** Visibility given to each received message; the lease is extended every half of it. @defaultValue 30 */
  visibilityTimeoutSeconds?: number;
  /** How long a receive waits for more free slots so it can ask for a fuller batch. @defaultValue 10 */
  receiveBatchWindowMs?: number;
  /** Deletes wait at most this long to be batched. @defaultValue 5 */
  deleteFlushMs?: number;
  /** `stop()` lets running handlers finish for this long, then aborts and releases them. @defaultValue 25000 */
  shutdownGraceMs?: number;
  /** Bodies over this are dead-lettered unread; retries larger than this fail. @defaultValue 1 MiB */
  maxMessageBytes?: number;
  /** Checks a message before decoding: a returned failure (e.g. `mismatch`) dead-letters it with reason `bad_signature`. */
  verifyMessage?: (body: string, attributes: Record<string, string>) => string | undefined;
  /** Adds attributes (e.g. a signature) to messages the worker sends (retries, checkpoints). */
  signMessage?: (body: string, jobType: string) => Record<string, string>;
  logger?: Logger;
  /** Log job payloads in the per-attempt logger (off by default: payloads may hold personal data). */
  logPayloads?: boolean;
  telemetry?: WorkerTelemetry;
  /**
   * The job store (docs/store.md): each attempt is claimed before it runs and its settle written once,
   * so a duplicated message never runs twice at once nor ends a job twice. Without it the worker runs
   * on SQS alone (at least once).
   */
  store?: JobStore;
  /** What of a payload the worker records when it creates a job's row (a producer without the store). @defaultValue stored, default redaction */
  storePayloads?: PayloadPolicy;
  /**
   * The scheduler (docs/schedules.md): fires the store's due schedules from this worker, beside every
   * other worker's. Needs a `store` that holds schedules; `false` turns it off here.
   * @defaultValue true
   */
  scheduler?: boolean | SchedulerOptions;
  clock?: Clock;
  random?: Random;
}

export const WORKER_DEFAULTS = {
  concurrency: 10,
  maxPollers: 8,
  waitTimeSeconds: 20,
  visibilityTimeoutSeconds: 30,
  receiveBatchWindowMs: 10,
  deleteFlushMs: 5,
  shutdownGraceMs: 25_000,
} as const;

/** The allowed range of each numeric option (`pollers` is also capped by `concurrency`); the settings schema uses the same. */
export const WORKER_LIMITS = {
  concurrency: { min: 1, max: 10_000 },
  pollers: { min: 1, max: 10_000 },
  waitTimeSeconds: { min: 0, max: SQS_LIMITS.maxWaitTimeSeconds },
  visibilityTimeoutSeconds: { min: 2, max: SQS_LIMITS.maxVisibilityTimeoutSeconds },
  receiveBatchWindowMs: { min: 0, max: 10_000 },
  deleteFlushMs: { min: 0, max: 10_000 },
  shutdownGraceMs: { min: 0, max: 3_600_000 },
  maxMessageBytes: { min: 1_024, max: SQS_LIMITS.maxMessageBytes },
} as const;

type OptionalOption = 'verifyMessage' | 'signMessage' | 'logger' | 'telemetry' | 'store' | 'storePayloads';
export type ResolvedWorkerOptions = Required<Omit<WorkerOptions, OptionalOption>> & Pick<WorkerOptions, OptionalOption>;

/** The option `field` (or its default), checked against its range in {@link WORKER_LIMITS}. */
function integer(field: keyof typeof WORKER_LIMITS, value: number, max: number = WORKER_LIMITS[field].max): number {
  return checkOption(field, value, integerFrom(WORKER_LIMITS[field].min, max));
}

const lastSegment = (url: string): string => url.split('/').filter(Boolean).pop() ?? url;

/** Applies defaults once and checks every field, naming the bad one and its allowed range. */
export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  if (!options.transport) throw new ConfigError('transport', 'expected a JobTransport');
  if (!options.queueUrl) throw new ConfigError('queueUrl', 'expected the main queue URL');
  if (!options.dlqUrl) throw new ConfigError('dlqUrl', 'expected the dead-letter queue URL');
  if (!Array.isArray(options.jobs) || options.jobs.length === 0) throw new ConfigError('jobs', 'expected at least one job definition');
  const seen = new Set<string>();
  for (const job of options.jobs) {
    if (seen.has(job.type)) throw new ConfigError('jobs', `job type "${job.type}" is defined twice`);
    seen.add(job.type);
  }
  const concurrency = integer('concurrency', options.concurrency ?? WORKER_DEFAULTS.concurrency);
  const visibilityTimeoutSeconds = integer(
    'visibilityTimeoutSeconds',
    options.visibilityTimeoutSeconds ?? WORKER_DEFAULTS.visibilityTimeoutSeconds,
  );
  const defaultPollers = Math.min(WORKER_DEFAULTS.maxPollers, Math.ceil(concurrency / SQS_LIMITS.maxBatchEntries));
  return {
    ...options,
    queueName: options.queueName ?? lastSegment(options.queueUrl),
    dlqName: options.dlqName ?? lastSegment(options.dlqUrl),
    concurrency,
    pollers: integer('pollers', options.pollers ?? defaultPollers, Math.max(1, concurrency)),
    waitTimeSeconds: integer('waitTimeSeconds', options.waitTimeSeconds ?? WORKER_DEFAULTS.waitTimeSeconds),
    visibilityTimeoutSeconds,
    receiveBatchWindowMs: integer('receiveBatchWindowMs', options.receiveBatchWindowMs ?? WORKER_DEFAULTS.receiveBatchWindowMs),
    deleteFlushMs: integer('deleteFlushMs', options.deleteFlushMs ?? WORKER_DEFAULTS.deleteFlushMs),
    shutdownGraceMs: integer('shutdownGraceMs', options.shutdownGraceMs ?? WORKER_DEFAULTS.shutdownGraceMs),
    maxMessageBytes: integer('maxMessageBytes', options.maxMessageBytes ?? SQS_LIMITS.maxMessageBytes),
    logPayloads: options.logPayloads ?? false,
    scheduler: options.scheduler ?? true,
    clock: options.clock ?? systemClock,
    random: options.random ?? systemRandom,
  };
}
