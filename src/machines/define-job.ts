import type { Logger } from 'pino';
import type { z } from 'zod';
import { ConfigError } from '../shared/errors.js';
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

/** A key of a job's payload (docs/keys.md): a non-empty string, at most {@link MAX_KEY_LENGTH} characters. */
export type KeyOf<Payload> = (payload: Payload) => string;

/** Per-key options of a job type (docs/keys.md). Each needs a job store. */
export interface JobKeyOptions<Payload> {
  /** At most `limit` jobs with the same key run at once, across all workers. */
  concurrency?: { key: KeyOf<Payload>; limit: number };
  /** At most `max` jobs with the same key start per `perMs` (a sliding window), across all workers. */
  rateLimit?: { key: KeyOf<Payload>; max: number; perMs: number };
  /** At most one pending job per key: an enqueue while one is pending answers that job's id as a duplicate. */
  coalesce?: { key: KeyOf<Payload> };
  /** Sent as the SQS MessageGroupId: on a standard queue, SQS fair queues (tenant fairness, not a lock). */
  fairnessKey?: KeyOf<Payload>;
  /** RateLimitedErrors a job may throw before the next one counts as a failed attempt. @defaultValue 20 */
  maximumThrottles?: number;
}

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

export interface ResolvedJobKeys<Payload = unknown> {
  readonly concurrency?: { readonly key: KeyOf<Payload>; readonly limit: number };
  readonly rateLimit?: { readonly key: KeyOf<Payload>; readonly max: number; readonly perMs: number };
  readonly coalesce?: { readonly key: KeyOf<Payload> };
  readonly fairnessKey?: KeyOf<Payload>;
}

export const DEFAULT_MAXIMUM_THROTTLES = 20;
/** The longest key a job may have (SQS's MessageGroupId allows 128 characters; so do all keys). */
export const MAX_KEY_LENGTH = 128;

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

function resolveKeys<Payload>(options: JobKeyOptions<Payload> & { type: string }): ResolvedJobKeys<Payload> | undefined {
  const field = (name: string) => `${options.type}.${name}`;
  const keyFn = (name: string, value: unknown): KeyOf<Payload> => {
    if (typeof value !== 'function') throw new ConfigError(field(name), 'expected a function (payload) => string');
    return value as KeyOf<Payload>;
  };
  const count = (name: string, value: unknown, max: number): number => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
      throw new ConfigError(field(name), `expected an integer from 1 to ${max}, got ${String(value)}`);
    }
    return value;
  };
  const object = (name: string, value: unknown): Record<string, unknown> => {
    if (typeof value !== 'object' || value === null) throw new ConfigError(field(name), 'expected an object');
    return value as Record<string, unknown>;
  };
  const resolved: {
    concurrency?: { key: KeyOf<Payload>; limit: number };
    rateLimit?: { key: KeyOf<Payload>; max: number; perMs: number };
    coalesce?: { key: KeyOf<Payload> };
    fairnessKey?: KeyOf<Payload>;
  } = {};
  if (options.concurrency !== undefined) {
    const c = object('concurrency', options.concurrency);
    resolved.concurrency = { key: keyFn('concurrency.key', c.key), limit: count('concurrency.limit', c.limit, 10_000) };
  }
  if (options.rateLimit !== undefined) {
    const r = object('rateLimit', options.rateLimit);
    resolved.rateLimit = {
      key: keyFn('rateLimit.key', r.key),
      max: count('rateLimit.max', r.max, 10_000),
      perMs: count('rateLimit.perMs', r.perMs, 86_400_000),
    };
  }
  if (options.coalesce !== undefined) resolved.coalesce = { key: keyFn('coalesce.key', object('coalesce', options.coalesce).key) };
  if (options.fairnessKey !== undefined) resolved.fairnessKey = keyFn('fairnessKey', options.fairnessKey);
  return Object.keys(resolved).length === 0 ? undefined : resolved;
}

/** The key options a job type has, by name: what start-up says needs a store. */
export function keyOptionsOf(definition: JobDefinition<any, any>): string[] {
  const keys = definition.keys;
  if (!keys) return [];
  return (['concurrency', 'rateLimit', 'coalesce', 'fairnessKey'] as const).filter((name) => keys[name] !== undefined);
}

/** One key of a payload, checked: a non-empty string of at most {@link MAX_KEY_LENGTH} characters. */
export function keyValue<Payload>(fn: KeyOf<Payload>, payload: Payload, name: string): string {
  const value = fn(payload);
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_KEY_LENGTH) {
    throw new TypeError(`${name}: expected a non-empty string of at most ${MAX_KEY_LENGTH} characters, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function isJobDefinition(value: unknown): value is JobDefinition {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'calsync-jobs.definition';
}

/** The keys of one payload (docs/keys.md), each checked by {@link keyValue}. */
export interface PayloadKeys {
  concurrency?: { key: string; limit: number };
  rate?: { key: string; max: number; perMs: number };
  coalesce?: string;
  fairness?: string;
}

/** Computes a payload's keys; a key function that throws or returns a bad key throws a TypeError naming it. */
export function payloadKeys<Payload>(definition: JobDefinition<Payload, any>, payload: Payload): PayloadKeys | undefined {
  const keys = definition.keys;
  if (!keys) return undefined;
  const name = (field: string) => `${definition.type}.${field}`;
  const value = (fn: KeyOf<Payload>, field: string): string => {
    try {
      return keyValue(fn, payload, name(field));
    } catch (error) {
      if (error instanceof TypeError && error.message.startsWith(name(field))) throw error;
      throw new TypeError(`${name(field)}: the key function threw: ${(error as Error)?.message ?? String(error)}`);
    }
  };
  return {
    ...(keys.concurrency ? { concurrency: { key: value(keys.concurrency.key, 'concurrency.key'), limit: keys.concurrency.limit } } : {}),
    ...(keys.rateLimit
      ? { rate: { key: value(keys.rateLimit.key, 'rateLimit.key'), max: keys.rateLimit.max, perMs: keys.rateLimit.perMs } }
      : {}),
    ...(keys.coalesce ? { coalesce: value(keys.coalesce.key, 'coalesce.key') } : {}),
    ...(keys.fairnessKey ? { fairness: value(keys.fairnessKey, 'fairnessKey') } : {}),
  };
}
