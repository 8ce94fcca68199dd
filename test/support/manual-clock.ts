/**
 * A {@link Clock} that moves only when told: for tests of delays, visibility timeouts and backoff
 * that need no real time.
 */
import type { Clock } from '../../src/shared/clock.js';

interface Timer {
  id: number;
  dueAt: number;
  callback: () => void;
}

/**
 * Time stands still until {@link ManualClock.advance} or {@link ManualClock.setTime}; due timers
 * then fire in order of due time (ties in order of creation), each seeing `now()` at its due time.
 * Timers scheduled by a firing callback fire in the same call when they fall due within it.
 */
export class ManualClock implements Clock {
  private current: number;
  private nextId = 1;
  private timers: Timer[] = [];

  /** @param startMs - the initial `now()`, epoch milliseconds. @defaultValue 1_700_000_000_000 */
  constructor(startMs = 1_700_000_000_000) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const timer: Timer = { id: this.nextId++, dueAt: this.current + Math.max(0, ms), callback };
    this.timers.push(timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }

  /** Number of timers not yet fired. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    if (ms < 0) throw new RangeError(`advance: ms must be >= 0, got ${ms}`);
    this.setTime(this.current + ms);
  }

  /** Moves time to `epochMs` (never backwards), firing due timers on the way. */
  setTime(epochMs: number): void {
    if (epochMs < this.current) throw new RangeError(`setTime: cannot go back from ${this.current} to ${epochMs}`);
    for (;;) {
      const next = this.nextDue(epochMs);
      if (next === undefined) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.current = next.dueAt;
      next.callback();
    }
    this.current = epochMs;
  }

  private nextDue(limit: number): Timer | undefined {
    let best: Timer | undefined;
    for (const timer of this.timers) {
      if (timer.dueAt > limit) continue;
      if (best === undefined || timer.dueAt < best.dueAt || (timer.dueAt === best.dueAt && timer.id < best.id)) best = timer;
    }
    return best;
  }
}
