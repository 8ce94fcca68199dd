/**
 * Schedules as operators and the library use them (docs/schedules.md): `createSchedules({ store })`
 * gives `upsert`, `get`, `show`, `list`, `pause`, `resume`, `trigger` and `delete` over the job store's
 * schedules, and one JSON shape of a schedule ({@link ScheduleView}: ISO-8601 times, `null` for what is
 * not set) for `calsync-jobs schedules … --json` and the HTTP API. The scheduler that fires them runs in
 * every worker (src/runtime/scheduler.ts).
 */
import type { JobQueue, JobSchemaEntry } from '../queue/job-queue.js';
import { validateJob } from '../queue/job-queue.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { ConfigError } from '../shared/errors.js';
import type { JobState, JobStore } from '../store/job-store.js';
import { resolveSchedule, sameTiming, type ScheduleInput } from '../store/schedule-spec.js';
import {
  schedulesOf,
  type OverlapPolicy,
  type ScheduleListFilter,
  type ScheduleRecord,
  type ScheduleRunKind,
  type ScheduleStore,
} from '../store/schedule-store.js';
import { fireAt, ticksAfter, timingAfter } from '../store/schedule-timing.js';

/** A schedule as `schedules show --json` and `GET …/schedule` print it. */
export interface ScheduleView {
  id: string;
  job: { type: string; payload: unknown };
  /** Interval in ms, or null for a cron schedule. */
  everyMs: number | null;
  cron: string | null;
  timezone: string | null;
  jitterMs: number;
  overlap: OverlapPolicy;
  catchupWindowMs: number;
  startAt: string | null;
  endAt: string | null;
  paused: boolean;
  createdAt: string;
  updatedAt: string;
  /** When the next tick fires (its time plus jitter); null once the schedule has ended. */
  nextRunAt: string | null;
  /** A bufferOne tick waiting for the running job to end. */
  bufferedTickAt: string | null;
  firedTotal: number;
  skippedTotal: number;
}

/** One recent run, newest first, with its job's state in the store (null when the row is gone). */
export interface ScheduleRunView {
  tickAt: string;
  firedAt: string;
  jobId: string;
  kind: ScheduleRunKind;
  state: JobState | null;
}

/** What `schedules show` prints: the schedule, its next 5 fire times, its last 10 runs. */
export interface ScheduleDetail extends ScheduleView {
  upcoming: string[];
  runs: ScheduleRunView[];
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

export function scheduleView(record: ScheduleRecord): ScheduleView {
  const { spec } = record;
  return {
    id: spec.id,
    job: spec.job,
    everyMs: spec.every ?? null,
    cron: spec.cron ?? null,
    timezone: spec.timezone ?? null,
    jitterMs: spec.jitterMs,
    overlap: spec.overlap,
    catchupWindowMs: spec.catchupWindowMs,
    startAt: iso(spec.startAt),
    endAt: iso(spec.endAt),
    paused: spec.paused,
    createdAt: new Date(record.createdAt).toISOString(),
    updatedAt: new Date(record.updatedAt).toISOString(),
    nextRunAt: iso(record.nextFireAt),
    bufferedTickAt: iso(record.bufferedTickAt),
    firedTotal: record.firedTotal,
    skippedTotal: record.skippedTotal,
  };
}

export interface SchedulesOptions {
  store: JobStore;
  /** Job types to validate payloads against at upsert (an unknown type is refused). @defaultValue none: not validated */
  jobs?: Iterable<JobSchemaEntry> | undefined;
  /** The producer `trigger` sends with (with the store's recorder, so the run has a row). */
  queue?: Pick<JobQueue, 'enqueue'> | undefined;
  clock?: Clock;
}

export interface Schedules {
  /** Creates or replaces a schedule; a replace that keeps the timing keeps the next tick. Bad input throws naming the field. */
  upsert(input: ScheduleInput): Promise<{ created: boolean; schedule: ScheduleView }>;
  get(id: string): Promise<ScheduleView | undefined>;
  /** The schedule with its next 5 fire times and its last 10 runs (newest first) with their jobs' states. */
  show(id: string): Promise<ScheduleDetail | undefined>;
  list(filter?: ScheduleListFilter): Promise<ScheduleView[]>;
  /** False when there is no such schedule. */
  pause(id: string): Promise<boolean>;
  /** Ticks from now on: ticks missed while paused are not caught up. False when there is no such schedule. */
  resume(id: string): Promise<boolean>;
  /** Runs the job now, whatever the overlap policy says; undefined when there is no such schedule. */
  trigger(id: string): Promise<{ jobId: string } | undefined>;
  delete(id: string): Promise<boolean>;
}

/** The schedules of `options.store`; a store without schedules is a `ConfigError` on `store`. */
export function createSchedules(options: SchedulesOptions): Schedules {
  const store: ScheduleStore | undefined = schedulesOf(options.store);
  if (store === undefined) throw new ConfigError('store', 'this job store does not hold schedules');
  const clock = options.clock ?? systemClock;
  const schemas = options.jobs === undefined ? undefined : new Map([...options.jobs].map((job) => [job.type, job.schema]));
  const jobs = options.store;

  return {
    async upsert(input) {
      const spec = resolveSchedule(input);
      if (schemas) validateJob(schemas, { type: spec.job.type, payload: spec.job.payload }, 'job.');
      const existing = await store.get(spec.id);
      const keep = existing !== undefined && sameTiming(existing.spec, spec) && existing.nextTickAt !== undefined;
      const timing = keep ? { nextTickAt: existing.nextTickAt, nextFireAt: existing.nextFireAt } : timingAfter(spec, clock.now());
      const { created } = await store.upsert(spec, timing);
      const stored = await store.get(spec.id);
      if (stored === undefined) throw new Error(`schedule ${spec.id} was deleted while it was written`);
      return { created, schedule: scheduleView(stored) };
    },
    async get(id) {
      const record = await store.get(id);
      return record === undefined ? undefined : scheduleView(record);
    },
    async show(id) {
      const record = await store.get(id);
      if (record === undefined) return undefined;
      const { spec } = record;
      const upcoming =
        record.nextTickAt === undefined
          ? []
          : [record.nextTickAt, ...ticksAfter(spec, record.nextTickAt, 4)].map((tick) => fireAt(spec, tick));
      const runs = await Promise.all(
        [...record.runs].reverse().map(async (run): Promise<ScheduleRunView> => {
          const job = await jobs.getJob(run.jobId);
          return {
            tickAt: new Date(run.tickAt).toISOString(),
            firedAt: new Date(run.firedAt).toISOString(),
            jobId: run.jobId,
            kind: run.kind,
            state: job?.state ?? null,
          };
        }),
      );
      return { ...scheduleView(record), upcoming: upcoming.map((ms) => new Date(ms).toISOString()), runs };
    },
    async list(filter) {
      return (await store.list(filter)).map(scheduleView);
    },
    pause: (id) => store.setPaused(id, true),
    async resume(id) {
      const record = await store.get(id);
      if (record === undefined) return false;
      if (!record.spec.paused) return true;
      const spec = { ...record.spec, paused: false };
      await store.upsert(spec, timingAfter(spec, clock.now()));
      return true;
    },
    async trigger(id) {
      if (options.queue === undefined)
        throw new ConfigError('queue', 'trigger needs a producer (a JobQueue with the store as its recorder)');
      const record = await store.get(id);
      if (record === undefined) return undefined;
      const now = clock.now();
      const { id: jobId } = await options.queue.enqueue({ type: record.spec.job.type, payload: record.spec.job.payload });
      await store.recordRun(id, { tickAt: now, jobId, firedAt: now, kind: 'trigger' });
      return { jobId };
    },
    delete: (id) => store.delete(id),
  };
}
