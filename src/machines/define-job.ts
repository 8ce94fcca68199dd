import type { Logger } from 'pino';
import type { z } from 'zod';
import { ConfigError } from '../shared/errors.js';
import { DEFAULT_MAXIMUM_THROTTLES, resolveKeys, type JobKeyOptions, type ResolvedJobKeys } from './job-keys.js';
import { resolveRetryPolicy, type ResolvedRetryPolicy, type RetryPolicy } from './retry-policy.js';

/** What a handler gets besides its payload. */
export interface JobContext<Checkpoint = unknown> {
  /** Stable across retries. */
  readonly jobId: string;
  readonly type: string;
  /** 1 on the first attempt. */
  readonly attempt: number;
  /** Aborted on attempt timeout and on forced shutdown: pass it to fetch, pg, tsdav... */
  readonly signal: AbortSignal;
  /** A pino child logger carrying jobId, type, attempt, trace_id, span_id. */
  readonly logger: Logger;
  readonly idempotencyKey: string | undefined;
  /** The last state saved with `saveCheckpoint`, or `undefined` on a fresh job. */
  readonly checkpoint: Checkpoint | undefined;
  /**
   * Saves progress durably: the runtime re-sends the job with this checkpoint (attempt count reset)
   * before the promise resolves, so a crash after it resumes from here.
   */
  saveCheckpoint(state: Checkpoint): Promise<void>;
  /** Extends the message's lease now (the runtime also does so on its own while the handler runs). */
  heartbeat(): Promise<void>;
}

export type JobHandler<Payload, Checkpoint = unknown> = (payload: Payload, ctx: JobContext<Checkpoint>) => Promise<void> | void;

export interface JobOptions<Schema extends z.ZodType, Checkpoint = unknown> extends JobKeyOptions<z.output<Schema>> {
  /** Dotted name, e.g. `calendar.sync`. */
  type: string;
  schema: Schema;
  handler: JobHandler<z.output<Schema>, Checkpoint>;
  retry?: RetryPolicy;
  /** Start-to-close: an attempt running longer is aborted and counts as a retryable failure. @defaultValue 300000 */
  attemptTimeoutMs?: number;
  /** Schedule-to-close from the job's `createdAt`: no retry is scheduled past it. @defaultValue none */
  deadlineMs?: number;
  /**
   * Releases what the handler opened for the process (a database pool, a client): the worker process
   * (`calsync-jobs worker`, `dev`) calls it once after `worker.stop()` has settled the last message. It
   * may run when the job never ran; a job run after it may open its resources again.
   */
  close?: () => Promise<void> | void;
}

/** A resolved job definition: what the worker and `enqueueJob` consume. */
export interface JobDefinition<Payload = unknown, Checkpoint = unknown> {
  readonly kind: 'calsync-jobs.definition';
  readonly type: string;
  readonly schema: z.ZodType<Payload>;
  readonly handler: JobHandler<Payload, Checkpoint>;
  readonly retry: ResolvedRetryPolicy;
  readonly attemptTimeoutMs: number;
  readonly deadlineMs: number | undefined;
  /** See {@link JobOptions.close}; absent when the job holds nothing. */
  readonly close?: () => Promise<void> | void;
  /** The per-key options, checked (docs/keys.md); absent when the job has none. */
  readonly keys?: ResolvedJobKeys<Payload>;
  readonly maximumThrottles: number;
}

export const DEFAULT_ATTEMPT_TIMEOUT_MS = 300_000;
const TYPE_PATTERN = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/i;

/** Declares a job type. Validates the options once, naming any bad field. */
/** SQS keeps a received message invisible for at most 12 hours in all: no attempt can outlive that. */
export const MAX_ATTEMPT_TIMEOUT_MS = 43_200_000;

export function defineJob<Schema extends z.ZodType, Checkpoint = unknown>(
  options: JobOptions<Schema, Checkpoint>,
): JobDefinition<z.output<Schema>, Checkpoint> {
  if (typeof options.type !== 'string' || !TYPE_PATTERN.test(options.type) || options.type.length > 128) {
    throw new ConfigError('type', `expected a dotted name like "calendar.sync", got ${JSON.stringify(options.type)}`);
  }
  if (typeof options.handler !== 'function') throw new ConfigError(`${options.type}.handler`, 'expected a function');
  if (typeof options.schema?.safeParse !== 'function') throw new ConfigError(`${options.type}.schema`, 'expected a zod schema');
  if (options.close !== undefined && typeof options.close !== 'function')
    throw new ConfigError(`${options.type}.close`, 'expected a function');
  const attemptTimeoutMs = options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
  if (!Number.isFinite(attemptTimeoutMs) || attemptTimeoutMs <= 0 || attemptTimeoutMs > MAX_ATTEMPT_TIMEOUT_MS) {
    throw new ConfigError(
      `${options.type}.attemptTimeoutMs`,
      `expected a number > 0 and at most ${MAX_ATTEMPT_TIMEOUT_MS} (12 h: SQS caps a message's visibility there), got ${String(attemptTimeoutMs)}`,
    );
  }
  if (options.deadlineMs !== undefined && (!Number.isFinite(options.deadlineMs) || options.deadlineMs <= 0)) {
    throw new ConfigError(`${options.type}.deadlineMs`, `expected a number > 0, got ${String(options.deadlineMs)}`);
  }
  const keys = resolveKeys(options);
  const maximumThrottles = options.maximumThrottles ?? DEFAULT_MAXIMUM_THROTTLES;
  if (!Number.isInteger(maximumThrottles) || maximumThrottles < 0 || maximumThrottles > 10_000) {
    throw new ConfigError(
      `${options.type}.maximumThrottles`,
      `expected an integer from 0 to 10000, got ${String(options.maximumThrottles)}`,
    );
  }
  let retry: ResolvedRetryPolicy;
  try {
    retry = resolveRetryPolicy(options.retry);
  } catch (error) {
    if (ConfigError.is(error)) throw new ConfigError(`${options.type}.${error.setting}`, error.message.slice(error.setting.length + 2));
    throw error;
  }
  return {
    kind: 'calsync-jobs.definition',
    type: options.type,
    schema: options.schema as z.ZodType<z.output<Schema>>,
    handler: options.handler,
    retry,
    attemptTimeoutMs,
    deadlineMs: options.deadlineMs,
    ...(options.close ? { close: options.close } : {}),
    ...(keys ? { keys } : {}),
    maximumThrottles,
  };
}

export function isJobDefinition(value: unknown): value is JobDefinition {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'calsync-jobs.definition';
}
