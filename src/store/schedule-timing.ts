/**
 * When a schedule's ticks are, all pure: the tick after a time (`every`: multiples of the interval
 * from `startAt`, or from the epoch; `cron`: croner in the schedule's IANA zone, which owns the DST
 * rules), each tick's jitter (a fixed offset per (schedule, tick) from a hash, so every worker computes
 * the same one and a restart does not move it), and each tick's job id (a UUID v5 of (schedule, tick),
 * so a tick sent twice is one job to the job store).
 */
import { createHash } from 'node:crypto';
import { Cron } from 'croner';
import type { ScheduleSpec, ScheduleTiming } from './schedule-store.js';

type TimingSpec = Pick<ScheduleSpec, 'id' | 'every' | 'cron' | 'timezone' | 'jitterMs' | 'startAt' | 'endAt'>;

/** The RFC 4122 namespace of tick ids (a random UUID, fixed forever: changing it changes every tick's id). */
const TICK_NAMESPACE = Buffer.from('6f1c2a3e5b7d4e09a1c3b5d7e9f10a2b', 'hex');

const crons = new Map<string, Cron>();

/** One paused croner instance per (expression, zone): parsing is the costly part, and a paused Cron runs nothing. */
export function cronOf(expression: string, timezone: string | undefined): Cron {
  const key = `${timezone ?? ''}\u0000${expression}`;
  let cron = crons.get(key);
  if (cron === undefined) {
    cron = new Cron(expression, { paused: true, ...(timezone === undefined ? {} : { timezone }) });
    if (crons.size > 10_000) crons.clear();
    crons.set(key, cron);
  }
  return cron;
}

/** The first tick strictly after `afterMs` (and not before `startAt`), or undefined past `endAt` (or a cron that never fires again). */
export function tickAfter(spec: TimingSpec, afterMs: number): number | undefined {
  const from = spec.startAt === undefined ? afterMs : Math.max(afterMs, spec.startAt - 1);
  let tick: number | undefined;
  if (spec.every !== undefined) {
    const anchor = spec.startAt ?? 0;
    tick = anchor + (Math.floor((from - anchor) / spec.every) + 1) * spec.every;
  } else if (spec.cron !== undefined) {
    tick = cronOf(spec.cron, spec.timezone).nextRun(new Date(from))?.getTime();
  }
  if (tick === undefined || (spec.endAt !== undefined && tick > spec.endAt)) return undefined;
  return tick;
}

/** The next `count` ticks after `afterMs`. */
export function ticksAfter(spec: TimingSpec, afterMs: number, count: number): number[] {
  const ticks: number[] = [];
  for (let tick = tickAfter(spec, afterMs); tick !== undefined && ticks.length < count; tick = tickAfter(spec, tick)) ticks.push(tick);
  return ticks;
}

/** The tick's offset in [0, jitterMs): the first 48 bits of SHA-256(schedule id, tick time) as a fraction. */
export function jitterFor(scheduleId: string, tickAt: number, jitterMs: number): number {
  if (jitterMs <= 0) return 0;
  const digest = createHash('sha256').update(`${scheduleId}\n${tickAt}`).digest();
  return Math.floor((digest.readUIntBE(0, 6) / 2 ** 48) * jitterMs);
}

/** When the tick fires: its time plus its jitter. */
export const fireAt = (spec: Pick<ScheduleSpec, 'id' | 'jitterMs'>, tickAt: number): number =>
  tickAt + jitterFor(spec.id, tickAt, spec.jitterMs);

/** The timing of the first tick after `now`. */
export function timingAfter(spec: TimingSpec, now: number): ScheduleTiming {
  const nextTickAt = tickAfter(spec, now);
  return { nextTickAt, nextFireAt: nextTickAt === undefined ? undefined : fireAt(spec, nextTickAt) };
}

/** The job id of one tick: a name-based UUID (version 5, SHA-1) of the schedule id and the tick's time. */
export function tickJobId(scheduleId: string, tickAt: number): string {
  const hash = createHash('sha1')
    .update(TICK_NAMESPACE)
    .update(`${scheduleId}\n${new Date(tickAt).toISOString()}`)
    .digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
