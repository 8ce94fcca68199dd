/**
 * The job store in process memory, for unit tests and the runtime's own tests: the rules of
 * job-store.ts applied to a Map, held to the same conformance suite as PostgreSQL
 * (test/store/conformance.cases.ts). JSON values are copied in and out as the database would
 * (through JSON), so a caller never shares objects with a row.
 */
import { systemClock } from '../shared/clock.js';
import type { HistoryEntry } from '../queue/envelope.js';
import { decodeCursor, isAfter, newestFirst, pageSize, toPage } from './job-page.js';
import { TERMINAL_STATES } from './job-store.js';
import { activityOf, type ActivityCount } from './job-activity.js';
import { MemoryScheduleStore } from './memory-schedules.js';
import type {
  ActivityQuery,
  JobActivity,
  WorkerSeen,
  HoldReason,
  CancelResult,
  ClaimRequest,
  ClaimResult,
  CreateResult,
  JobFilter,
  JobPage,
  JobRecord,
  JobStore,
  NewJob,
  RenewRequest,
  RenewResult,
  RetryResult,
  SettleRequest,
  SettleResult,
} from './job-store.js';

interface Claim {
  messageId: string;
  attempt: number;
  worker: string;
  expiresAt: number;
}

interface Row {
  job: JobRecord;
  claim: Claim | undefined;
  /** The last worker to claim the job (kept after the claim ends). */
  lastWorker?: string | undefined;
  /** While pending: its coalescing key. */
  coalesceKey: string | undefined;
  holds: number;
  throttles: number;
}

/** A key's row (the PostgreSQL store's job_keys). */
interface KeyState {
  /** Job id → when its hold ends. */
  holders: Map<string, number>;
  /** Starts still inside the window, oldest first. */
  starts: number[];
  throttledUntil: number | undefined;
}

/** Candidates seen per key in one claim batch, as the PostgreSQL statement ranks them. */
interface BatchRanks {
  concurrency: Map<string, number>;
  rate: Map<string, number>;
  /** Admitted in this batch, applied once the batch is decided (every gate reads the state before it). */
  admitted: ClaimRequest[];
}

const json = <T>(value: T): T => (value === undefined ? value : JSON.parse(JSON.stringify(value)));

export interface MemoryJobStoreOptions {
  /** The store's clock (PostgreSQL's `now()` in the real one). @defaultValue the system clock */
  now?: () => number;
}

export class MemoryJobStore implements JobStore {
  readonly #now: () => number;
  readonly #rows = new Map<string, Row>();
  /** `type` NUL `idempotencyKey` → job id: the partial unique index. */
  readonly #keys = new Map<string, string>();
  readonly #keyStates = new Map<string, KeyState>();
  #closed = false;
  /** The schedules beside these jobs (memory-schedules.ts). */
  readonly schedules: MemoryScheduleStore;

  constructor(options: MemoryJobStoreOptions = {}) {
    this.#now = options.now ?? systemClock.now;
    this.schedules = new MemoryScheduleStore({
      now: () => this.#now(),
      jobState: (id) => this.#rows.get(id)?.job.state,
      checkOpen: () => this.#open(),
    });
  }

  async createJobs(jobs: readonly NewJob[]): Promise<CreateResult[]> {
    this.#open();
    const now = this.#now();
    return jobs.map((job) => {
      for (const key of job.keys ?? []) this.#keyState(key);
      const existing = this.#rows.has(job.id)
        ? job.id
        : (this.#keyOwner(job.type, job.idempotencyKey) ?? this.#coalesceOwner(job.type, job.coalesceKey));
      if (existing !== undefined) return { id: existing, created: false };
      const row = this.#insert(job, { state: 'pending', attempt: 1, updatedAt: now });
      row.coalesceKey = job.coalesceKey;
      return { id: job.id, created: true };
    });
  }

  async forgetJobs(ids: readonly string[]): Promise<void> {
    this.#open();
    for (const id of ids) {
      const row = this.#rows.get(id);
      if (row && row.job.state === 'pending' && row.job.startedAt === undefined && row.claim === undefined) this.#delete(row);
    }
  }

  async claim(requests: readonly ClaimRequest[]): Promise<ClaimResult[]> {
    this.#open();
    const now = this.#now();
    const results: ClaimResult[] = new Array(requests.length);
    // Copies of one job in one batch: the highest attempt goes first (ties in batch order), the rest
    // see its claim, as the PostgreSQL store resolves them in its one statement.
    const byJob = new Map<string, number[]>();
    requests.forEach((request, index) => {
      const indices = byJob.get(request.jobId) ?? [];
      indices.push(index);
      byJob.set(request.jobId, indices);
    });
    const groups = [...byJob.values()];
    for (const indices of groups) indices.sort((a, b) => requests[b]!.attempt - requests[a]!.attempt || a - b);
    // Winners in batch order: the per-key ranks count candidates by their place in the batch.
    groups.sort((a, b) => a[0]! - b[0]!);
    const ranks: BatchRanks = { concurrency: new Map(), rate: new Map(), admitted: [] };
    for (const indices of groups) {
      let claimedNow = false;
      let heldNow = false;
      for (const index of indices) {
        const result = heldNow
          ? this.#afterHeld(requests[index]!, requests[indices[0]!]!)
          : this.#claimOne(requests[index]!, now, claimedNow, ranks);
        if (result.kind === 'claimed') claimedNow = true;
        if (result.kind === 'held') heldNow = true;
        results[index] = result;
      }
    }
    for (const request of ranks.admitted) this.#admit(request, now);
    return results;
  }

  /** A copy of a job whose winner was held back: the winner carries the job on. */
  #afterHeld(request: ClaimRequest, winner: ClaimRequest): ClaimResult {
    const state = this.#rows.get(request.jobId)?.job.state ?? 'pending';
    return { kind: 'drop', reason: request.attempt < winner.attempt ? 'older_attempt' : 'claim_held', state, sameMessage: false };
  }

  /** The per-key gates of one candidate (see postgres-claim.ts): undefined to go, or why not. */
  #gate(request: ClaimRequest, now: number, ranks: BatchRanks): Extract<ClaimResult, { kind: 'held' }> | undefined {
    const { concurrency, rate } = request;
    if (!concurrency && !rate) return undefined;
    const crank = concurrency ? (ranks.concurrency.get(concurrency.key) ?? 0) + 1 : 0;
    const rrank = rate ? (ranks.rate.get(rate.key) ?? 0) + 1 : 0;
    if (concurrency) ranks.concurrency.set(concurrency.key, crank);
    if (rate) ranks.rate.set(rate.key, rrank);
    const ck = concurrency ? this.#keyState(concurrency.key) : undefined;
    const rk = rate ? this.#keyState(rate.key) : undefined;
    const held = (reason: HoldReason, retryAfterMs: number | undefined) => ({
      kind: 'held' as const,
      reason,
      retryAfterMs: retryAfterMs === undefined ? undefined : Math.max(0, Math.ceil(retryAfterMs)),
      holds: 0,
    });
    const until = Math.max(ck?.throttledUntil ?? -Infinity, rk?.throttledUntil ?? -Infinity);
    if (until > now) return held('throttled', until - now);
    if (concurrency && ck) {
      const live = [...ck.holders].filter(([job, end]) => end > now && job !== request.jobId).map(([, end]) => end);
      if (crank > concurrency.limit - live.length) return held('concurrency', live.length === 0 ? undefined : Math.min(...live) - now);
    }
    if (rate && rk) {
      const window = rk.starts.filter((at) => at > now - rate.perMs);
      if (rrank > rate.max - window.length) {
        const at = window[window.length + rrank - rate.max - 1];
        return held('rate', at === undefined ? rate.perMs : at + rate.perMs - now);
      }
    }
    return undefined;
  }

  /** Takes the gates' places: a hold on the concurrency key (ending with the claim), a start in the rate window. */
  #admit(request: ClaimRequest, now: number): void {
    if (request.concurrency) {
      const key = this.#keyState(request.concurrency.key);
      for (const [job, end] of key.holders) if (end <= now) key.holders.delete(job);
      key.holders.set(request.jobId, now + request.leaseMs);
    }
    if (request.rate) {
      const { perMs } = request.rate;
      const key = this.#keyState(request.rate.key);
      key.starts = [...key.starts.filter((at) => at > now - perMs), now];
    }
  }

  #claimOne(request: ClaimRequest, now: number, claimedNow: boolean, ranks: BatchRanks): ClaimResult {
    const claim: Claim = {
      messageId: request.messageId,
      attempt: request.attempt,
      worker: request.worker,
      expiresAt: now + request.leaseMs,
    };
    const row = this.#rows.get(request.jobId);
    if (row === undefined) {
      // A key another job holds is not this job's to take: the row is kept without it.
      const key = this.#keyOwner(request.type, request.row.idempotencyKey) === undefined ? request.row.idempotencyKey : undefined;
      const gated = this.#gate(request, now, ranks);
      const inserted = this.#insert(
        { ...request.row, id: request.jobId, type: request.type, idempotencyKey: key },
        gated
          ? { state: 'pending', attempt: request.attempt, updatedAt: now }
          : { state: 'running', attempt: request.attempt, updatedAt: now, startedAt: now },
      );
      if (gated) {
        inserted.holds = 1;
        return { ...gated, holds: 1 };
      }
      ranks.admitted.push(request);
      inserted.claim = claim;
      inserted.lastWorker = claim.worker;
      inserted.job.concurrencyKey = request.concurrency?.key;
      return { kind: 'claimed', lost: false, created: true };
    }
    const { job } = row;
    const drop = (reason: 'terminal' | 'cancelled' | 'older_attempt' | 'claim_held', sameMessage = false): ClaimResult => ({
      kind: 'drop',
      reason,
      state: job.state,
      sameMessage,
      ...(job.state === 'dead' ? { deadLetterReason: job.deadLetterReason } : {}),
    });
    if (job.state === 'succeeded' || job.state === 'dead') return drop('terminal');
    if (job.state === 'cancelled') return drop('cancelled');
    if (request.attempt < job.attempt) return drop('older_attempt');
    let lost = false;
    if (request.attempt === job.attempt && row.claim !== undefined && row.claim.attempt === job.attempt) {
      if (claimedNow || row.claim.expiresAt > now) return drop('claim_held', row.claim.messageId === request.messageId);
      lost = true;
    }
    const gated = this.#gate(request, now, ranks);
    if (gated) {
      row.holds++;
      return { ...gated, holds: row.holds };
    }
    ranks.admitted.push(request);
    row.job.concurrencyKey = request.concurrency?.key;
    row.coalesceKey = undefined;
    row.holds = 0;
    job.state = 'running';
    job.attempt = request.attempt;
    job.startedAt = now;
    job.updatedAt = now;
    // A producer's row has no trace id (it is made at send time); the first claim brings it.
    job.traceId ??= request.row.traceId;
    row.claim = claim;
    row.lastWorker = claim.worker;
    return { kind: 'claimed', lost, created: false, ...(row.throttles > 0 ? { throttles: row.throttles } : {}) };
  }

  async settle(requests: readonly SettleRequest[]): Promise<SettleResult[]> {
    this.#open();
    const now = this.#now();
    return requests.map((request): SettleResult => {
      const row = this.#rows.get(request.jobId);
      // The row is gone only when it was pruned, long after it settled: nothing is left to write.
      if (row === undefined) return { kind: 'superseded', state: 'succeeded' };
      const { job, claim } = row;
      const holds =
        job.state === 'running' &&
        job.attempt === request.attempt &&
        claim?.attempt === request.attempt &&
        claim.messageId === request.messageId;
      if (!holds) return job.state === 'cancelled' ? { kind: 'cancelled' } : { kind: 'superseded', state: job.state };
      const { outcome } = request;
      switch (outcome.kind) {
        case 'succeeded':
          job.state = 'succeeded';
          job.settledAt = now;
          break;
        case 'dead':
          job.state = 'dead';
          job.settledAt = now;
          job.deadLetterReason = outcome.reason;
          if (outcome.error !== undefined) job.lastError = json(outcome.error);
          job.history = json(outcome.history);
          break;
        case 'backoff':
          job.state = 'backoff';
          job.attempt = outcome.nextAttempt;
          job.scheduledAt = outcome.scheduledAt;
          job.lastError = json(outcome.error);
          job.history = json(outcome.history);
          break;
        case 'pending':
          job.state = 'pending';
          job.attempt = outcome.attempt;
          if (outcome.scheduledAt !== undefined) job.scheduledAt = outcome.scheduledAt;
          if (outcome.history !== undefined) job.history = json(outcome.history);
          if (outcome.throttle) {
            row.throttles++;
            if (outcome.throttle.key !== undefined) {
              const key = this.#keyState(outcome.throttle.key);
              key.throttledUntil = Math.max(key.throttledUntil ?? -Infinity, now + outcome.throttle.retryAfterMs);
            }
          }
          break;
        default:
          outcome satisfies never;
      }
      job.updatedAt = now;
      row.claim = undefined;
      this.#releaseKey(row);
      return { kind: 'settled' };
    });
  }

  async renew(requests: readonly RenewRequest[]): Promise<RenewResult[]> {
    this.#open();
    const now = this.#now();
    return requests.map((request): RenewResult => {
      const row = this.#rows.get(request.jobId);
      if (row === undefined) return 'lost';
      if (row.job.state === 'cancelled') return 'cancelled';
      const { job, claim } = row;
      if (
        job.state !== 'running' ||
        job.attempt !== request.attempt ||
        claim?.attempt !== request.attempt ||
        claim.messageId !== request.messageId
      )
        return 'lost';
      claim.expiresAt = now + request.leaseMs;
      // The key's hold ends with the claim; never brought back once gone (another job may hold the key).
      const key = row.job.concurrencyKey === undefined ? undefined : this.#keyStates.get(row.job.concurrencyKey);
      if (key?.holders.has(job.id)) key.holders.set(job.id, claim.expiresAt);
      return 'held';
    });
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    this.#open();
    const row = this.#rows.get(id);
    return row === undefined ? undefined : copy(row.job);
  }

  async listJobs(filter: JobFilter = {}): Promise<JobPage> {
    this.#open();
    const size = pageSize(filter.limit);
    const after = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
    const rows = [...this.#rows.values()]
      .map((row) => row.job)
      .filter(
        (job) =>
          (filter.state === undefined || job.state === filter.state) &&
          (filter.type === undefined || job.type === filter.type) &&
          (filter.key === undefined || job.idempotencyKey === filter.key || job.concurrencyKey === filter.key || job.id === filter.key) &&
          (filter.since === undefined || job.createdAt >= filter.since) &&
          (filter.until === undefined || job.createdAt < filter.until) &&
          (after === undefined || isAfter(job, after)),
      )
      .sort(newestFirst)
      .slice(0, size + 1)
      .map(copy);
    return toPage(rows, size);
  }

  async cancelJob(id: string): Promise<CancelResult> {
    this.#open();
    const row = this.#rows.get(id);
    if (row === undefined) return { kind: 'not_found' };
    const { job } = row;
    if (job.state !== 'pending' && job.state !== 'backoff' && job.state !== 'running') return { kind: 'settled', state: job.state };
    const wasRunning = job.state === 'running';
    const now = this.#now();
    // The claim stays: the running worker's next renewal or settle finds the job cancelled.
    job.state = 'cancelled';
    job.settledAt = now;
    job.updatedAt = now;
    row.coalesceKey = undefined;
    // A cancelled job's key is free at once (its worker writes no settle for it).
    this.#releaseKey(row);
    return { kind: 'cancelled', wasRunning };
  }

  async retryJob(id: string): Promise<RetryResult> {
    this.#open();
    const row = this.#rows.get(id);
    if (row === undefined) return { kind: 'not_found' };
    if (row.job.state !== 'dead' && row.job.state !== 'cancelled') return { kind: 'not_retryable', state: row.job.state };
    this.#reopen(row, 1);
    row.job.retries += 1;
    row.throttles = 0;
    row.holds = 0;
    return { kind: 'retried', job: copy(row.job) };
  }

  async reopenJobs(requests: readonly { jobId: string; attempt: number }[]): Promise<number> {
    this.#open();
    let changed = 0;
    for (const { jobId, attempt } of requests) {
      const row = this.#rows.get(jobId);
      if (row === undefined || (row.job.state !== 'dead' && row.job.state !== 'cancelled')) continue;
      this.#reopen(row, attempt);
      changed++;
    }
    return changed;
  }

  /** One pass: batches keep a database's statements short, a Map has no such need. */
  async prune(options: { olderThanMs: number; batchSize?: number }): Promise<number> {
    this.#open();
    const before = this.#now() - options.olderThanMs;
    let deleted = 0;
    for (const row of [...this.#rows.values()]) {
      const { job } = row;
      if (job.settledAt === undefined || job.settledAt >= before) continue;
      if (!TERMINAL_STATES.includes(job.state)) continue;
      this.#delete(row);
      deleted++;
    }
    return deleted;
  }

  async ping(): Promise<void> {
    this.#open();
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  async activity(query: ActivityQuery): Promise<JobActivity> {
    this.#open();
    const now = this.#now();
    const since = now - query.windowMs;
    const bucket = (at: number) => Math.floor((at - since) / query.bucketMs);
    const counts: ActivityCount[] = [];
    const workers = new Map<string, WorkerSeen>();
    for (const { job, lastWorker } of this.#rows.values()) {
      if ((job.state === 'succeeded' || job.state === 'dead') && job.settledAt !== undefined && job.settledAt >= since)
        counts.push({ kind: job.state, bucket: bucket(job.settledAt), n: 1 });
      for (const entry of job.history) {
        const at = Date.parse(entry.at);
        if (at >= since) counts.push({ kind: 'failed', bucket: bucket(at), n: 1 });
      }
      if (lastWorker === undefined || (job.state !== 'running' && job.updatedAt < now - query.workersWindowMs)) continue;
      const seen = workers.get(lastWorker) ?? { worker: lastWorker, lastSeenAt: job.updatedAt, running: 0 };
      seen.lastSeenAt = Math.max(seen.lastSeenAt, job.updatedAt);
      if (job.state === 'running') seen.running++;
      workers.set(lastWorker, seen);
    }
    return activityOf(now, query, Math.max(1, Math.ceil(query.windowMs / query.bucketMs)), counts, [...workers.values()]);
  }

  #open(): void {
    if (this.#closed) throw new Error('the job store is closed');
  }

  #keyOwner(type: string, key: string | undefined): string | undefined {
    return key === undefined ? undefined : this.#keys.get(`${type}\u0000${key}`);
  }

  #insert(job: NewJob, fields: Pick<JobRecord, 'state' | 'attempt' | 'updatedAt'> & { startedAt?: number }): Row {
    const row: Row = {
      job: {
        id: job.id,
        type: job.type,
        state: fields.state,
        attempt: fields.attempt,
        idempotencyKey: job.idempotencyKey,
        createdAt: job.createdAt,
        scheduledAt: job.scheduledAt,
        startedAt: fields.startedAt,
        settledAt: undefined,
        updatedAt: fields.updatedAt,
        lastError: undefined,
        history: [] as HistoryEntry[],
        traceId: job.traceId,
        deadLetterReason: undefined,
        payload: json(job.payload),
        payloadOmitted: job.payloadOmitted,
        retries: 0,
        concurrencyKey: undefined,
      },
      claim: undefined,
      coalesceKey: undefined,
      holds: 0,
      throttles: 0,
    };
    this.#rows.set(job.id, row);
    if (job.idempotencyKey !== undefined) this.#keys.set(`${job.type}\u0000${job.idempotencyKey}`, job.id);
    return row;
  }

  #delete(row: Row): void {
    this.#rows.delete(row.job.id);
    const { type, idempotencyKey } = row.job;
    if (idempotencyKey !== undefined && this.#keyOwner(type, idempotencyKey) === row.job.id)
      this.#keys.delete(`${type}\u0000${idempotencyKey}`);
  }

  /** Dead or cancelled back to `pending` at `attempt`: the claim and the settle are undone, the history kept. */
  #reopen(row: Row, attempt: number): void {
    const { job } = row;
    job.state = 'pending';
    job.attempt = attempt;
    job.settledAt = undefined;
    job.deadLetterReason = undefined;
    job.updatedAt = this.#now();
    row.claim = undefined;
    row.coalesceKey = undefined;
    this.#releaseKey(row);
  }

  #releaseKey(row: Row): void {
    if (row.job.concurrencyKey !== undefined) this.#keyStates.get(row.job.concurrencyKey)?.holders.delete(row.job.id);
    row.job.concurrencyKey = undefined;
  }

  #keyState(key: string): KeyState {
    let state = this.#keyStates.get(key);
    if (!state) {
      state = { holders: new Map(), starts: [], throttledUntil: undefined };
      this.#keyStates.set(key, state);
    }
    return state;
  }

  /** The pending job of `type` that holds coalescing key `key`, if any. */
  #coalesceOwner(type: string, key: string | undefined): string | undefined {
    if (key === undefined) return undefined;
    for (const row of this.#rows.values())
      if (row.coalesceKey === key && row.job.type === type && row.job.state === 'pending') return row.job.id;
    return undefined;
  }
}

function copy(job: JobRecord): JobRecord {
  return { ...job, lastError: json(job.lastError), history: json(job.history), payload: json(job.payload) };
}
