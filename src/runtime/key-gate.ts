/**
 * What a worker does with a job its keys hold back (docs/keys.md, docs/design.md "Held back, not
 * failed"). The store's claim answers `held` (a concurrency key at its limit, a rate key out of
 * starts, a key throttled by a RateLimitedError); the gate then picks one of two ways to wait:
 *
 * - **Park** (in process, the message's lease kept, at most half the worker's slots): when the key is held
 *   by a job running in this very worker, until that job's settle frees it (so the next job of the key
 *   starts within milliseconds of the release); when a rate or throttle frees a start within the park
 *   budget, until then; when another worker holds the key, a few short polls. Each wake re-claims.
 * - **Re-send** (the machine's `HELD` → `holdBack`: the same envelope with an SQS delay, no attempt
 *   counted): past the park budget, when half the slots are parked already, or when the worker stops.
 *   The delay grows with the job's held answers (the store counts them), jittered, capped.
 *
 * No wait is unbounded in memory: a park lasts at most {@link PARK_BUDGET_MS} per message, and a
 * crash while parked loses nothing (no claim was taken; the message comes back, uncharged).
 */
import type { Logger } from 'pino';
import type { JobDefinition } from '../machines/define-job.js';
import { keyOptionsOf } from '../machines/job-keys.js';
import { backoffDelay, type Backoff } from '../shared/backoff.js';
import type { Clock, Random } from '../shared/clock.js';
import type { ClaimResult } from '../store/job-store.js';

type Held = Extract<ClaimResult, { kind: 'held' }>;

/** A message parks at most this long in all before it is re-sent. */
export const PARK_BUDGET_MS = 5_000;
/** Polls of a key another worker holds: 100 ms, doubling, at most 1 s, from the upper half. */
const REMOTE_POLL: Backoff = { baseMs: 100, capMs: 1_000, jitter: 'equal' };
/** A key another worker holds is polled this many times before the job is re-sent. */
const REMOTE_POLLS = 4;
/** Re-send delays while a concurrency key stays busy: 1 s, doubling per held answer, at most 30 s, upper half. */
const RESEND: Backoff = { baseMs: 1_000, capMs: 30_000, jitter: 'equal' };
/** A wait for a start (rate, throttle) is spread over this much more, so parked jobs do not all re-claim at once. */
const START_SPREAD_MS = 25;

export type HoldPlan =
  /** Wait in process `waitMs` at most; `key`: wake as soon as a job of this worker releases it. */
  { kind: 'park'; waitMs: number; key?: string | undefined } | { kind: 'resend'; delayMs: number };

/** How a park ended: woken (re-claim now), or the worker is stopping (re-send). */
export type ParkEnd = 'woken' | 'stopping';

export interface KeyGateOptions {
  clock: Clock;
  random: Random;
  /** The worker's `concurrency`: at most half of it (at least 1) parks at once; more are re-sent. */
  concurrency: number;
}

interface Parked {
  key: string | undefined;
  wake(end: ParkEnd): void;
}

export class KeyGate {
  readonly #options: KeyGateOptions;
  readonly #maxParked: number;
  /** Concurrency key → jobs of this worker holding it. */
  readonly #local = new Map<string, number>();
  readonly #parked = new Set<Parked>();
  #stopping = false;

  constructor(options: KeyGateOptions) {
    this.#options = options;
    this.#maxParked = Math.max(1, Math.floor(options.concurrency / 2));
  }

  /** Distinct concurrency keys this worker's running jobs hold (the `calsync_jobs_keys_held` gauge). */
  get keysHeld(): number {
    return this.#local.size;
  }

  /** A job of this worker claimed `key`. */
  hold(key: string): void {
    this.#local.set(key, (this.#local.get(key) ?? 0) + 1);
  }

  /** That job's settle is done (the store dropped its hold): wakes one job parked on the key. */
  release(key: string): void {
    const left = (this.#local.get(key) ?? 0) - 1;
    if (left > 0) this.#local.set(key, left);
    else this.#local.delete(key);
    for (const parked of this.#parked) {
      if (parked.key === key) {
        parked.wake('woken');
        return;
      }
    }
  }

  /**
   * The plan for a held answer. `parkedMs`: how long this message has parked so far; `polls`: how
   * many times it re-claimed a key held elsewhere.
   */
  plan(held: Held, state: { concurrencyKey: string | undefined; parkedMs: number; polls: number }): HoldPlan {
    const budget = PARK_BUDGET_MS - state.parkedMs;
    if (this.#stopping || budget <= 0 || this.#parked.size >= this.#maxParked) return this.#resend(held);
    if (held.reason === 'concurrency') {
      const key = state.concurrencyKey;
      if (key !== undefined && this.#local.has(key)) return { kind: 'park', waitMs: budget, key };
      if (state.polls >= REMOTE_POLLS) return this.#resend(held);
      return { kind: 'park', waitMs: Math.min(budget, backoffDelay(state.polls + 1, REMOTE_POLL, this.#options.random)) };
    }
    const wait = (held.retryAfterMs ?? 0) + this.#options.random() * START_SPREAD_MS;
    return wait <= budget ? { kind: 'park', waitMs: wait } : this.#resend(held);
  }

  /** The re-send delay for a held answer (also when stopping). */
  resendDelay(held: Held): number {
    return this.#resend(held).delayMs;
  }

  #resend(held: Held): { kind: 'resend'; delayMs: number } {
    const { random } = this.#options;
    if (held.reason !== 'concurrency' && held.retryAfterMs !== undefined) {
      // A start frees at a known time: then, spread by up to a fifth so the held jobs do not return at once.
      return { kind: 'resend', delayMs: Math.round(held.retryAfterMs * (1 + random() * 0.2)) };
    }
    const grown = backoffDelay(Math.max(1, held.holds), RESEND, random);
    // The busy key is free at the latest when its earliest hold ends.
    const bound = held.retryAfterMs === undefined ? grown : Math.min(grown, held.retryAfterMs + RESEND.baseMs);
    return { kind: 'resend', delayMs: Math.round(bound) };
  }

  /**
   * Waits as planned; resolves to how the wait ended. A parked job keeps its worker slot (the slot
   * accounting stays the worker's alone); at most half the slots park, so other keys always have the
   * other half, and a job parked on a key this worker holds waits for a job that holds a slot itself.
   */
  async park(plan: Extract<HoldPlan, { kind: 'park' }>): Promise<ParkEnd> {
    if (this.#stopping) return 'stopping';
    const { clock } = this.#options;
    let timer: unknown;
    let parked: Parked | undefined;
    const end = await new Promise<ParkEnd>((resolve) => {
      parked = { key: plan.key, wake: resolve };
      this.#parked.add(parked);
      timer = clock.setTimeout(() => resolve('woken'), Math.max(0, plan.waitMs));
    });
    clock.clearTimeout(timer);
    this.#parked.delete(parked!);
    return end;
  }

  /** The worker stops: every parked job wakes to be re-sent, and no job parks from now on. */
  stop(): void {
    this.#stopping = true;
    for (const parked of this.#parked) parked.wake('stopping');
  }
}

/**
 * One line per job type and key option that needs a job store when none is configured: the option
 * is not applied (the jobs run as if it were not set). `fairnessKey` needs none: it is a send parameter.
 */
export function warnKeysWithoutStore(jobs: readonly JobDefinition<any, any>[], logger: Logger): void {
  for (const job of jobs) {
    for (const option of keyOptionsOf(job)) {
      if (option === 'fairnessKey') continue;
      logger.warn(
        { jobType: job.type, option },
        `${job.type}: ${option} needs a job store (CALSYNC_STORE_URL); none is configured, so it is not applied`,
      );
    }
  }
}
