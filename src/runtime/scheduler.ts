/**
 * The scheduler every worker runs beside its receive loops when it has a job store (docs/schedules.md):
 * no leader. Each pass claims a batch of due schedules (`claimDue`: `FOR UPDATE SKIP LOCKED` under a
 * lease, so workers share the due rows and never take the same one), plans each (schedule-plan.ts),
 * enqueues the ticks through the producer path with the store's recorder (each row created before its
 * send, so `jobs show <id>` finds it), and writes the next ticks back (`advance`, only while the lease
 * holds). One pass is three store round trips for the whole batch, whatever its size; two passes run
 * at once, each on rows of its own.
 *
 * Crash safety: a tick's job id is derived from (schedule, tick time). A worker that dies after sending
 * but before `advance` leaves its rows to the next claim once the lease expires; that claim derives the
 * same ids, the store answers "already recorded", and nothing is sent again unless the row never
 * started (then the send may have been lost and is repeated: a second copy of a job is dropped by the
 * store's claim, so the tick still runs once).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { newEnvelope, type Envelope } from '../queue/envelope.js';
import type { EnqueueResult, JobRequest } from '../queue/job-queue.js';
import { backoffDelay } from '../shared/backoff.js';
import { type Clock, type Random, sleep, systemRandom } from '../shared/clock.js';
import { toError } from '../shared/errors.js';
import type { JobStore } from '../store/job-store.js';
import type { DueSchedule, ScheduleAdvance, ScheduleRun, ScheduleStore } from '../store/schedule-store.js';
import { tickJobId } from '../store/schedule-timing.js';
import type { SchedulerTelemetry } from './attempt-telemetry.js';
import { planSchedule, type PlannedRun } from './schedule-plan.js';

/** The producer the scheduler sends through: `JobQueue` with the store's recorder fits. */
export interface TickQueue {
  enqueueMany(jobs: readonly JobRequest[], signal?: AbortSignal): Promise<EnqueueResult[]>;
  sendEnvelope(envelope: Envelope, signal?: AbortSignal): Promise<void>;
}

export interface SchedulerOptions {
  /** How often an idle scheduler looks for due ticks, on average (each wait is drawn from 0.5–1.5 × this). @defaultValue 250 */
  pollMs?: number;
  /** Schedules claimed per pass. @defaultValue 200 */
  batchSize?: number;
  /** How long a claimed schedule is this worker's; a worker that dies is taken over after it. @defaultValue 10000 */
  leaseMs?: number;
  /**
   * Passes under way at once: each claims its own rows (SKIP LOCKED), so while one waits on its sends
   * another claims; with many ticks due this hides the round trips' latency. @defaultValue 2
   */
  passes?: number;
}

export const SCHEDULER_DEFAULTS = { pollMs: 250, batchSize: 100, leaseMs: 10_000, passes: 2 } as const;

export interface SchedulerDeps {
  store: JobStore;
  schedules: ScheduleStore;
  queue: TickQueue;
  clock: Clock;
  logger: Logger;
  telemetry: SchedulerTelemetry;
  random?: Random;
  onError: (error: Error, during: string) => void;
}

const FAILURE_BACKOFF = { baseMs: 500, capMs: 10_000, jitter: 'equal' } as const;

interface Fired {
  schedule: DueSchedule;
  run: PlannedRun;
  request: JobRequest;
}

export class Scheduler {
  readonly #deps: SchedulerDeps;
  readonly #pollMs: number;
  readonly #batchSize: number;
  readonly #leaseMs: number;
  readonly #passes: number;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(deps: SchedulerDeps, options: SchedulerOptions = {}) {
    this.#deps = deps;
    this.#pollMs = options.pollMs ?? SCHEDULER_DEFAULTS.pollMs;
    this.#batchSize = options.batchSize ?? SCHEDULER_DEFAULTS.batchSize;
    this.#leaseMs = options.leaseMs ?? SCHEDULER_DEFAULTS.leaseMs;
    this.#passes = options.passes ?? SCHEDULER_DEFAULTS.passes;
  }

  start(): void {
    if (this.#loop !== undefined) throw new Error('scheduler.start(): already started');
    this.#loop = Promise.all(Array.from({ length: this.#passes }, () => this.#run())).then(() => undefined);
  }

  /** Stops claiming; resolves once the pass under way (its sends and advance) is done. Idempotent. */
  stop(): Promise<void> {
    this.#abort.abort(new Error('scheduler stopped'));
    return this.#loop ?? Promise.resolve();
  }

  async #run(): Promise<void> {
    const { clock } = this.#deps;
    const signal = this.#abort.signal;
    let failures = 0;
    while (!signal.aborted) {
      let full = false;
      try {
        full = (await this.pass()) >= this.#batchSize;
        failures = 0;
      } catch (error) {
        failures++;
        const delayMs = backoffDelay(failures, FAILURE_BACKOFF, this.#deps.random ?? systemRandom);
        this.#deps.onError(toError(error), 'scheduler');
        this.#deps.logger.warn({ err: error, failures, retryInMs: Math.round(delayMs) }, 'scheduler pass failed; backing off');
        await sleep(delayMs, clock, signal).catch(() => undefined);
        continue;
      }
      // A full batch means more is due: go again at once. Otherwise wait pollMs on average, drawn from
      // [0.5, 1.5) × pollMs, so the workers' passes do not fall into step and one always win.
      const random = this.#deps.random ?? systemRandom;
      if (!full) await sleep(this.#pollMs * (0.5 + random()), clock, signal).catch(() => undefined);
    }
  }

  /** One pass: claim, plan, enqueue, advance. Resolves to how many schedules it claimed. */
  async pass(): Promise<number> {
    const { schedules, clock, telemetry } = this.#deps;
    const startedAt = clock.now();
    const claimed = await schedules.claimDue({ limit: this.#batchSize, leaseMs: this.#leaseMs, token: randomUUID() });
    telemetry.recordSchedulesDue(claimed.dueCount);
    if (claimed.schedules.length === 0) return 0;
    // The store's clock, moved on by the time this process has spent since the claim.
    const storeNow = (): number => claimed.now + (clock.now() - startedAt);
    const fired: Fired[] = [];
    const advances: ScheduleAdvance[] = [];
    const plans = claimed.schedules.map((schedule) => {
      const plan = planSchedule(schedule, claimed.now);
      for (const run of plan.fire) {
        const id = tickJobId(schedule.spec.id, run.tickAt);
        fired.push({ schedule, run, request: { id, type: schedule.spec.job.type, payload: schedule.spec.job.payload } });
      }
      const { type } = schedule.spec.job;
      if (plan.skippedOverlap > 0) telemetry.recordTicksSkipped(type, 'overlap', plan.skippedOverlap);
      if (plan.skippedMissed > 0) telemetry.recordTicksSkipped(type, 'missed', plan.skippedMissed);
      return { schedule, plan };
    });
    if (fired.length > 0) await this.#enqueue(fired);
    const firedAt = storeNow();
    for (const { schedule, run } of fired) {
      telemetry.recordTicksFired(schedule.spec.job.type, run.kind, 1);
      telemetry.recordTickLag(schedule.spec.job.type, Math.max(0, firedAt - run.fireAt));
    }
    for (const { schedule, plan } of plans) {
      const runs: ScheduleRun[] = plan.fire.map((run) => ({
        tickAt: run.tickAt,
        jobId: tickJobId(schedule.spec.id, run.tickAt),
        firedAt,
        kind: run.kind,
      }));
      advances.push({
        id: schedule.spec.id,
        token: schedule.token,
        nextTickAt: plan.nextTickAt,
        nextFireAt: plan.nextFireAt,
        dueAt: plan.dueAt,
        bufferedTickAt: plan.bufferedTickAt,
        runs,
        skipped: plan.skippedOverlap + plan.skippedMissed,
      });
    }
    const written = await schedules.advance(advances);
    const lost = written.filter((ok) => !ok).length;
    if (lost > 0) this.#deps.logger.info({ lost }, 'schedules changed or taken over while their ticks were sent; the newer write stands');
    return claimed.schedules.length;
  }

  /**
   * Records and sends the ticks (one createJobs, SendMessageBatch of 10). A tick already recorded (a
   * claim taken over from a worker that died) is sent again only when its row never started.
   */
  async #enqueue(fired: readonly Fired[]): Promise<void> {
    const { queue, store, clock } = this.#deps;
    // No abort signal: a pass under way when the worker stops finishes its sends and its advance (the
    // worker's stop waits for it, bounded by its hard limit), rather than leaving leased rows behind.
    const results = await queue.enqueueMany(fired.map((f) => f.request));
    const again = fired.filter((_, index) => results[index]!.deduplicated);
    for (const { request } of again) {
      const row = await store.getJob(request.id!);
      if (row === undefined || row.state !== 'pending' || row.startedAt !== undefined) continue;
      this.#deps.logger.info(
        { jobId: request.id, type: request.type },
        'a tick recorded but perhaps never sent (its worker died): sending it again',
      );
      await queue.sendEnvelope(newEnvelope({ id: request.id, type: request.type, payload: request.payload, now: clock.now() }));
    }
  }
}
