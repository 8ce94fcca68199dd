/**
 * A job type's per-key options (docs/keys.md): their types, their check at `defineJob` (each bad field
 * a `ConfigError` naming it), and the keys of one payload, computed and checked the same way by the
 * producer and the worker.
 */
import { ConfigError } from '../shared/errors.js';

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

export interface ResolvedJobKeys<Payload = unknown> {
  readonly concurrency?: { readonly key: KeyOf<Payload>; readonly limit: number };
  readonly rateLimit?: { readonly key: KeyOf<Payload>; readonly max: number; readonly perMs: number };
  readonly coalesce?: { readonly key: KeyOf<Payload> };
  readonly fairnessKey?: KeyOf<Payload>;
}

export const DEFAULT_MAXIMUM_THROTTLES = 20;
/** The longest key a job may have (SQS's MessageGroupId allows 128 characters; so do all keys). */
export const MAX_KEY_LENGTH = 128;

export function resolveKeys<Payload>(options: JobKeyOptions<Payload> & { type: string }): ResolvedJobKeys<Payload> | undefined {
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
export function keyOptionsOf(definition: { keys?: ResolvedJobKeys<any> | undefined }): string[] {
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

/** The keys of one payload (docs/keys.md), each checked by {@link keyValue}. */
export interface PayloadKeys {
  concurrency?: { key: string; limit: number };
  rate?: { key: string; max: number; perMs: number };
  coalesce?: string;
  fairness?: string;
}

/** Computes a payload's keys; a key function that throws or returns a bad key throws a TypeError naming it. */
export function payloadKeys<Payload>(
  definition: { type: string; keys?: ResolvedJobKeys<Payload> | undefined },
  payload: Payload,
): PayloadKeys | undefined {
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
