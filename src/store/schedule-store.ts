/**
 * The schedule store's contract (../../docs/schedules.md): periodic jobs kept beside the jobs, fired by
 * the scheduler every worker runs, with no leader. A worker claims due rows (`claimDue`: `FOR UPDATE
 * SKIP LOCKED` in PostgreSQL, so two workers never take the same row) under a lease, enqueues their
 * ticks, and writes the next tick back (`advance`) only while its lease still holds. A worker that dies
 * holding rows leaves them to the next claim once the lease runs out; the ticks it may already have sent
 * have ids derived from (schedule, tick time), so the job store dedups them.
 *
 * Reached from a job store as `store.schedules` ({@link schedulesOf}), so job-store.ts stays as it is. Implementations: `PostgresScheduleStore`
 * (postgres-schedules.ts) and `MemoryScheduleStore` (memory-schedules.ts), held to the same rules by
 * test/store/schedule.cases.ts. Times are epoch milliseconds; the ones compared (due, lease) are the
 * store's clock.
 */
import type { JobState, JobStore } from './job-store.js';

export const OVERLAP_POLICIES = ['skip', 'bufferOne', 'allowAll'] as const;
/**
 * `skip`: no new run while the previous run's job is pending or running; `bufferOne`: while it runs,
 * keep at most one tick waiting, fired when it ends; `allowAll`: every tick runs.
 */
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/** A schedule as stored: checked and defaulted (schedule-spec.ts, `resolveSchedule`). */
export interface ScheduleSpec {
  id: string;
  job: { type: string; payload: unknown };
  /** Interval in ms (ticks at `startAt` + k × every, or at multiples of it since the epoch). Exactly one of every and cron. */
  every?: number | undefined;
  /** A cron expression (5 or 6 fields), read by croner in `timezone`. */
  cron?: string | undefined;
  /** IANA zone of the cron expression. @defaultValue UTC */
  timezone?: string | undefined;
  /** Each tick fires within [0, jitterMs) after its time, by a fixed offset per (schedule, tick). */
  jitterMs: number;
  overlap: OverlapPolicy;
  /** Ticks missed by more than this (workers down) are skipped; of the rest, skip and bufferOne run one. */
  catchupWindowMs: number;
  startAt?: number | undefined;
  endAt?: number | undefined;
  paused: boolean;
}

/** How a run came about: its tick's time, a catch-up after missed ticks, a tick buffered by bufferOne, or `trigger`. */
export type ScheduleRunKind = 'tick' | 'catchup' | 'buffered' | 'trigger';

export interface ScheduleRun {
  /** The tick's nominal time (a trigger: when it was asked for). */
  tickAt: number;
  jobId: string;
  /** When its job was enqueued (the store's clock, as the scheduler saw it). */
  firedAt: number;
  kind: ScheduleRunKind;
}

/** What the store knows of one schedule. */
export interface ScheduleRecord {
  spec: ScheduleSpec;
  createdAt: number;
  updatedAt: number;
  /** The next tick's nominal time; undefined once the schedule has ended (past `endAt`). */
  nextTickAt: number | undefined;
  /** When that tick fires: its time plus its jitter. */
  nextFireAt: number | undefined;
  /** A bufferOne tick waiting for the running job to end. */
  bufferedTickAt: number | undefined;
  /** The latest runs, oldest first, at most {@link MAX_RECENT_RUNS}. */
  runs: ScheduleRun[];
  firedTotal: number;
  skippedTotal: number;
}

export const MAX_RECENT_RUNS = 10;

/** Where a schedule's next tick is, as the caller computed it (schedule-timing.ts). */
export interface ScheduleTiming {
  nextTickAt: number | undefined;
  nextFireAt: number | undefined;
}

/** A claimed due schedule: the row, the lease it is held by, and the state of its latest run's job. */
export interface DueSchedule extends ScheduleRecord {
  token: string;
  /** The latest run's job as the job store has it now; undefined when there is none (or it was pruned). */
  lastJobState: JobState | undefined;
}

export interface ClaimDueRequest {
  /** At most this many rows. */
  limit: number;
  /** The lease: the rows are this worker's for this long. */
  leaseMs: number;
  /** Names the lease; `advance` must show it. One per claim. */
  token: string;
}

export interface ClaimDueResult {
  /** The store's clock when it claimed. */
  now: number;
  /** Schedules due at that moment (claimed here, leased by others, or left over the limit). */
  dueCount: number;
  schedules: DueSchedule[];
}

/** The outcome of one claimed row, written only while the claim's lease still holds. */
export interface ScheduleAdvance {
  id: string;
  token: string;
  nextTickAt: number | undefined;
  nextFireAt: number | undefined;
  /** When to look at the row again: the fire time, or sooner while a tick is buffered. */
  dueAt: number | undefined;
  bufferedTickAt: number | undefined;
  /** Runs fired now, oldest first (appended to the recent runs). */
  runs: ScheduleRun[];
  /** Ticks not run (overlap, or missed past the catch-up window). */
  skipped: number;
}

export interface ScheduleListFilter {
  /** @defaultValue 100; brought into 1–1000 */
  limit?: number | undefined;
  /** Ids after this one (the last id of the previous page). */
  after?: string | undefined;
}

export interface ScheduleStore {
  /**
   * Creates or replaces a schedule; `timing` is where its next tick is. Any lease on the row is dropped
   * (a worker holding it then writes nothing back). Resolves to whether it was created.
   */
  upsert(spec: ScheduleSpec, timing: ScheduleTiming): Promise<{ created: boolean }>;
  get(id: string): Promise<ScheduleRecord | undefined>;
  /** Ordered by id. */
  list(filter?: ScheduleListFilter): Promise<ScheduleRecord[]>;
  /** Resolves to false when there is no such schedule. */
  setPaused(id: string, paused: boolean): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  /** Records a run fired outside the scheduler (`trigger`); false when there is no such schedule. */
  recordRun(id: string, run: ScheduleRun): Promise<boolean>;
  /** Leases due, unpaused rows no one else holds, oldest due first; one round trip. */
  claimDue(request: ClaimDueRequest): Promise<ClaimDueResult>;
  /** One result per request, in order: written (true) or the lease was no longer this claim's (false). One round trip. */
  advance(requests: readonly ScheduleAdvance[]): Promise<boolean[]>;
}

/** `limit` as a list's page size. */
export function schedulePageSize(limit: number | undefined): number {
  return Math.min(1000, Math.max(1, Math.floor(limit ?? 100)));
}

/** The recent runs after appending `added`: the newest {@link MAX_RECENT_RUNS}, oldest first. */
export function appendRuns(runs: readonly ScheduleRun[], added: readonly ScheduleRun[]): ScheduleRun[] {
  return [...runs, ...added].slice(-MAX_RECENT_RUNS);
}

/** A job store that keeps schedules beside its jobs (both of ours do). */
export interface JobStoreWithSchedules extends JobStore {
  readonly schedules: ScheduleStore;
}

/** The schedules of `store`, or undefined when it holds none (a store of another make). */
export function schedulesOf(store: JobStore): ScheduleStore | undefined {
  const schedules = (store as Partial<JobStoreWithSchedules>).schedules;
  return schedules !== undefined && typeof schedules.claimDue === 'function' ? schedules : undefined;
}
