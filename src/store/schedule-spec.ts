/**
 * A schedule as a caller writes it ({@link ScheduleInput}: `every` in ms or as `'5m'`, times as Date,
 * ISO text or epoch ms) made into the stored {@link ScheduleSpec}, defaulted once and checked field by
 * field: a bad field is a `ConfigError` naming it (`every: expected …, got …`). The job's payload is
 * checked against its type's schema by the caller that knows the types (src/ops/schedules.ts).
 */
import { ConfigError, toError } from '../shared/errors.js';
import { DURATION_EXPECTED, durationMs } from '../shared/duration.js';
import { cronOf } from './schedule-timing.js';
import { OVERLAP_POLICIES, type OverlapPolicy, type ScheduleSpec } from './schedule-store.js';

export interface ScheduleInput {
  /** 1–1024 characters: letters, digits and `._:/@%-`. */
  id: string;
  job: { type: string; payload?: unknown };
  /** Interval: ms, or a duration like `'5m'`; at least 1 s. Exactly one of every and cron. */
  every?: number | string | undefined;
  /** A cron expression: 5 fields (minute hour day month weekday) or 6 (seconds first). */
  cron?: string | undefined;
  /** IANA zone of `cron` (`Europe/Berlin`). @defaultValue UTC */
  timezone?: string | undefined;
  /** @defaultValue 0; with `every`, less than the interval */
  jitterMs?: number | undefined;
  /** @defaultValue 'skip' */
  overlap?: OverlapPolicy | undefined;
  /** @defaultValue 60000 (1 minute) */
  catchupWindowMs?: number | undefined;
  startAt?: Date | string | number | undefined;
  endAt?: Date | string | number | undefined;
  /** @defaultValue false */
  paused?: boolean | undefined;
}

export const SCHEDULE_DEFAULTS = { overlap: 'skip', catchupWindowMs: 60_000, jitterMs: 0 } as const;
export const MIN_EVERY_MS = 1_000;
const ID = /^[A-Za-z0-9._:/@%-]{1,1024}$/;
const DAY_MS = 86_400_000;

const bad = (field: string, expected: string, value: unknown): ConfigError =>
  new ConfigError(field, `expected ${expected}, got ${JSON.stringify(value) ?? String(value)}`);

function time(field: string, value: Date | string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : value;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) throw bad(field, 'a Date, an ISO-8601 time or epoch milliseconds', value);
  return ms;
}

function milliseconds(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw bad(field, `an integer number of milliseconds from ${min} to ${max}`, value);
  return value;
}

/** True when `zone` is an IANA time zone this runtime knows. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Defaults applied, every field checked; throws a `ConfigError` naming the first bad field. */
export function resolveSchedule(input: ScheduleInput): ScheduleSpec {
  if (typeof input !== 'object' || input === null) throw bad('schedule', 'an object', input);
  if (typeof input.id !== 'string' || !ID.test(input.id)) throw bad('id', '1 to 200 letters, digits or ._:/@-', input.id);
  if (typeof input.job !== 'object' || input.job === null) throw bad('job', 'an object { type, payload }', input.job);
  if (typeof input.job.type !== 'string' || input.job.type.length === 0 || input.job.type.length > 128)
    throw bad('job.type', 'a job type of 1 to 128 characters', input.job.type);
  if ((input.every === undefined) === (input.cron === undefined)) throw new ConfigError('every', 'expected exactly one of every and cron');
  let every: number | undefined;
  if (input.every !== undefined) {
    every = typeof input.every === 'string' ? durationMs(input.every) : input.every;
    if (every === undefined) throw bad('every', DURATION_EXPECTED, input.every);
    milliseconds('every', every, MIN_EVERY_MS, 366 * DAY_MS);
    if (input.timezone !== undefined) throw new ConfigError('timezone', 'applies to cron only; an every interval has no zone');
  }
  if (input.cron !== undefined) {
    if (typeof input.cron !== 'string') throw bad('cron', 'a cron expression', input.cron);
    if (input.timezone !== undefined && (typeof input.timezone !== 'string' || !isTimeZone(input.timezone)))
      throw bad('timezone', 'an IANA time zone like Europe/Berlin', input.timezone);
    try {
      cronOf(input.cron, input.timezone);
    } catch (error) {
      throw new ConfigError('cron', `${toError(error).message} (got ${JSON.stringify(input.cron)})`);
    }
  }
  const jitterMs = milliseconds('jitterMs', input.jitterMs ?? SCHEDULE_DEFAULTS.jitterMs, 0, 366 * DAY_MS);
  if (every !== undefined && jitterMs >= every)
    throw new ConfigError('jitterMs', `expected less than every (${every} ms), got ${jitterMs}: ticks would fire out of order`);
  const overlap = input.overlap ?? SCHEDULE_DEFAULTS.overlap;
  if (!(OVERLAP_POLICIES as readonly string[]).includes(overlap)) throw bad('overlap', `one of ${OVERLAP_POLICIES.join(', ')}`, overlap);
  const catchupWindowMs = milliseconds('catchupWindowMs', input.catchupWindowMs ?? SCHEDULE_DEFAULTS.catchupWindowMs, 0, 366 * DAY_MS);
  const startAt = time('startAt', input.startAt);
  const endAt = time('endAt', input.endAt);
  if (startAt !== undefined && endAt !== undefined && endAt <= startAt)
    throw new ConfigError('endAt', `expected after startAt (${new Date(startAt).toISOString()})`);
  if (input.paused !== undefined && typeof input.paused !== 'boolean') throw bad('paused', 'true or false', input.paused);
  return {
    id: input.id,
    job: { type: input.job.type, payload: input.job.payload ?? null },
    ...(every === undefined ? { cron: input.cron, ...(input.timezone === undefined ? {} : { timezone: input.timezone }) } : { every }),
    jitterMs,
    overlap,
    catchupWindowMs,
    ...(startAt === undefined ? {} : { startAt }),
    ...(endAt === undefined ? {} : { endAt }),
    paused: input.paused ?? false,
  };
}

/** True when two specs tick at the same times (a replace that keeps them keeps the next tick). */
export function sameTiming(a: ScheduleSpec, b: ScheduleSpec): boolean {
  return (
    a.every === b.every &&
    a.cron === b.cron &&
    a.timezone === b.timezone &&
    a.jitterMs === b.jitterMs &&
    a.startAt === b.startAt &&
    a.endAt === b.endAt
  );
}
