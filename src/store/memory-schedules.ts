/**
 * The schedule store in process memory, beside `MemoryJobStore` (its `schedules`): the rules of
 * schedule-store.ts applied to a Map, held to the same conformance cases as PostgreSQL
 * (test/store/schedule.cases.ts). Values are copied through JSON in and out, as the database would.
 */
import {
  appendRuns,
  schedulePageSize,
  type ClaimDueRequest,
  type ClaimDueResult,
  type ScheduleAdvance,
  type ScheduleListFilter,
  type ScheduleRecord,
  type ScheduleRun,
  type ScheduleSpec,
  type ScheduleStore,
  type ScheduleTiming,
} from './schedule-store.js';
import type { JobState } from './job-store.js';

interface Row {
  record: ScheduleRecord;
  dueAt: number | undefined;
  lastJobId: string | undefined;
  lease: { token: string; until: number } | undefined;
}

const json = <T>(value: T): T => (value === undefined ? value : JSON.parse(JSON.stringify(value)));

export interface MemoryScheduleStoreOptions {
  now: () => number;
  /** The state of a job in the job store beside this one (overlap is judged from it). */
  jobState: (id: string) => JobState | undefined;
  /** Throws when the job store is closed. */
  checkOpen: () => void;
}

export class MemoryScheduleStore implements ScheduleStore {
  readonly #rows = new Map<string, Row>();
  readonly #options: MemoryScheduleStoreOptions;

  constructor(options: MemoryScheduleStoreOptions) {
    this.#options = options;
  }

  async upsert(spec: ScheduleSpec, timing: ScheduleTiming): Promise<{ created: boolean }> {
    this.#options.checkOpen();
    const now = this.#options.now();
    const existing = this.#rows.get(spec.id);
    const record: ScheduleRecord = {
      spec: json(spec),
      createdAt: existing?.record.createdAt ?? now,
      updatedAt: now,
      nextTickAt: timing.nextTickAt,
      nextFireAt: timing.nextFireAt,
      bufferedTickAt: existing?.record.bufferedTickAt,
      runs: existing?.record.runs ?? [],
      firedTotal: existing?.record.firedTotal ?? 0,
      skippedTotal: existing?.record.skippedTotal ?? 0,
    };
    this.#rows.set(spec.id, { record, dueAt: timing.nextFireAt, lastJobId: existing?.lastJobId, lease: undefined });
    return { created: existing === undefined };
  }

  async get(id: string): Promise<ScheduleRecord | undefined> {
    this.#options.checkOpen();
    const row = this.#rows.get(id);
    return row === undefined ? undefined : json(row.record);
  }

  async list(filter: ScheduleListFilter = {}): Promise<ScheduleRecord[]> {
    this.#options.checkOpen();
    const after = filter.after;
    return [...this.#rows.keys()]
      .filter((id) => after === undefined || id > after)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, schedulePageSize(filter.limit))
      .map((id) => json(this.#rows.get(id)!.record));
  }

  async setPaused(id: string, paused: boolean): Promise<boolean> {
    this.#options.checkOpen();
    const row = this.#rows.get(id);
    if (row === undefined) return false;
    row.record.spec.paused = paused;
    row.record.updatedAt = this.#options.now();
    return true;
  }

  async delete(id: string): Promise<boolean> {
    this.#options.checkOpen();
    return this.#rows.delete(id);
  }

  async recordRun(id: string, run: ScheduleRun): Promise<boolean> {
    this.#options.checkOpen();
    const row = this.#rows.get(id);
    if (row === undefined) return false;
    row.record.runs = appendRuns(row.record.runs, [json(run)]);
    row.record.firedTotal += 1;
    row.record.updatedAt = this.#options.now();
    row.lastJobId = run.jobId;
    return true;
  }

  async claimDue(request: ClaimDueRequest): Promise<ClaimDueResult> {
    this.#options.checkOpen();
    const now = this.#options.now();
    const due = [...this.#rows.values()].filter((row) => !row.record.spec.paused && row.dueAt !== undefined && row.dueAt <= now);
    const free = due
      .filter((row) => row.lease === undefined || row.lease.until <= now)
      .sort((a, b) => a.dueAt! - b.dueAt!)
      .slice(0, Math.max(0, request.limit));
    for (const row of free) row.lease = { token: request.token, until: now + request.leaseMs };
    return {
      now,
      dueCount: due.length,
      schedules: free.map((row) => ({
        ...json(row.record),
        token: request.token,
        lastJobState: row.lastJobId === undefined ? undefined : this.#options.jobState(row.lastJobId),
      })),
    };
  }

  async advance(requests: readonly ScheduleAdvance[]): Promise<boolean[]> {
    this.#options.checkOpen();
    const now = this.#options.now();
    return requests.map((request) => {
      const row = this.#rows.get(request.id);
      if (row === undefined || row.lease?.token !== request.token) return false;
      const { record } = row;
      record.nextTickAt = request.nextTickAt;
      record.nextFireAt = request.nextFireAt;
      record.bufferedTickAt = request.bufferedTickAt;
      record.runs = appendRuns(record.runs, json(request.runs));
      record.firedTotal += request.runs.length;
      record.skippedTotal += request.skipped;
      record.updatedAt = now;
      row.dueAt = request.dueAt;
      row.lastJobId = request.runs.at(-1)?.jobId ?? row.lastJobId;
      row.lease = undefined;
      return true;
    });
  }
}
