/**
 * What the scheduler does with one claimed due schedule, as a pure function of the row, the state of
 * its latest run's job and the store's clock: which ticks fire now (and as what kind of run), how many
 * are skipped, and where the next tick is. No I/O; the loop (scheduler.ts) executes the plan.
 *
 * - Ticks whose fire time passed more than `catchupWindowMs` ago are missed (skipped). Of the ticks
 *   still within the window, `skip` and `bufferOne` run only the latest (one catch-up run after
 *   downtime); `allowAll` runs each (at most {@link MAX_TICKS_PER_PASS}).
 * - Overlap is judged from the latest run's job: `skip` runs a tick only when that job is over (or
 *   gone); `bufferOne` also keeps one tick while that job runs, fired once it ends (the row is looked
 *   at again every {@link BUFFER_RECHECK_MS} meanwhile), and skips a tick while a run is still waiting
 *   to start; `allowAll` runs every tick.
 */
import type { JobState } from '../store/job-store.js';
import type { DueSchedule, ScheduleRunKind } from '../store/schedule-store.js';
import { fireAt, tickAfter } from '../store/schedule-timing.js';

/** While a bufferOne tick waits, the row is due again this soon. */
export const BUFFER_RECHECK_MS = 250;
/** allowAll catching up runs at most this many ticks in one pass (the rest next pass). */
export const MAX_TICKS_PER_PASS = 100;
/** Missed ticks counted one by one up to this many; further back the walk jumps to the window. */
const MAX_WALK = 1_000;

export interface PlannedRun {
  tickAt: number;
  fireAt: number;
  kind: ScheduleRunKind;
}

export interface SchedulePlan {
  fire: PlannedRun[];
  /** Ticks not run because of the overlap policy (or collapsed into one catch-up run). */
  skippedOverlap: number;
  /** Ticks missed past the catch-up window. */
  skippedMissed: number;
  nextTickAt: number | undefined;
  nextFireAt: number | undefined;
  dueAt: number | undefined;
  bufferedTickAt: number | undefined;
}

type Activity = 'none' | 'waiting' | 'running';

/** pending: enqueued, not started (waiting); running or backoff: started and not over; the rest (or no row) is over. */
function activityOf(state: JobState | undefined): Activity {
  if (state === 'pending') return 'waiting';
  if (state === 'running' || state === 'backoff') return 'running';
  return 'none';
}

export function planSchedule(row: DueSchedule, now: number): SchedulePlan {
  const { spec } = row;
  const fire: PlannedRun[] = [];
  let activity = activityOf(row.lastJobState);
  let buffered = row.bufferedTickAt;
  let skippedOverlap = 0;
  let skippedMissed = 0;

  if (buffered !== undefined && activity === 'none') {
    fire.push({ tickAt: buffered, fireAt: fireAt(spec, buffered), kind: 'buffered' });
    buffered = undefined;
    activity = 'waiting';
  }

  // The due ticks: those past the window are missed, the rest are candidates, oldest first.
  const due: number[] = [];
  let tick = row.nextTickAt;
  let walked = 0;
  while (tick !== undefined && fireAt(spec, tick) <= now) {
    if (now - fireAt(spec, tick) > spec.catchupWindowMs) {
      skippedMissed++;
      if (++walked >= MAX_WALK) {
        // Long downtime: jump to just before the window (the count of what was jumped is an estimate for cron).
        const resume = now - spec.catchupWindowMs - spec.jitterMs - 1;
        const jumped = tickAfter(spec, resume);
        if (spec.every !== undefined && jumped !== undefined) skippedMissed += Math.max(0, Math.round((jumped - tick) / spec.every) - 1);
        tick = jumped;
        walked = 0;
        continue;
      }
    } else {
      due.push(tick);
    }
    tick = tickAfter(spec, tick);
  }
  const caughtUp = skippedMissed > 0 || due.length > 1;
  let candidates = due;
  if (spec.overlap !== 'allowAll' && due.length > 1) {
    skippedOverlap += due.length - 1;
    candidates = due.slice(-1);
  } else if (due.length > MAX_TICKS_PER_PASS) {
    // allowAll: the oldest run now, the rest stay due for the next pass.
    candidates = due.slice(0, MAX_TICKS_PER_PASS);
    tick = due[MAX_TICKS_PER_PASS];
  }

  for (const at of candidates) {
    const run: PlannedRun = { tickAt: at, fireAt: fireAt(spec, at), kind: caughtUp ? 'catchup' : 'tick' };
    if (spec.overlap === 'allowAll' || activity === 'none') {
      fire.push(run);
      activity = 'waiting';
    } else if (spec.overlap === 'bufferOne' && activity === 'running' && buffered === undefined) {
      buffered = at;
    } else {
      skippedOverlap++;
    }
  }

  const nextFireAt = tick === undefined ? undefined : fireAt(spec, tick);
  const recheck = buffered === undefined ? undefined : now + BUFFER_RECHECK_MS;
  const dueAt = recheck === undefined ? nextFireAt : nextFireAt === undefined ? recheck : Math.min(nextFireAt, recheck);
  return { fire, skippedOverlap, skippedMissed, nextTickAt: tick, nextFireAt, dueAt, bufferedTickAt: buffered };
}
