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
      const existing = this.#rows.has(job.id) ? job.id : this.#keyOwner(job.type, job.idempotencyKey);
      if (existing !== undefined) return { id: existing, created: false };
      this.#insert(job, { state: 'pending', attempt: 1, updatedAt: now });
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
    for (const indices of byJob.values()) {
      indices.sort((a, b) => requests[b]!.attempt - requests[a]!.attempt || a - b);
      let claimedNow = false;
      for (const index of indices) {
        const result = this.#claimOne(requests[index]!, now, claimedNow);
        if (result.kind === 'claimed') claimedNow = true;
        results[index] = result;
      }
    }
    return results;
  }

  #claimOne(request: ClaimRequest, now: number, claimedNow: boolean): ClaimResult {
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
      const inserted = this.#insert(
        { ...request.row, id: request.jobId, type: request.type, idempotencyKey: key },
        { state: 'running', attempt: request.attempt, updatedAt: now, startedAt: now },
      );
      inserted.claim = claim;
      inserted.lastWorker = claim.worker;
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
    job.state = 'running';
    job.attempt = request.attempt;
    job.startedAt = now;
    job.updatedAt = now;
    // A producer's row has no trace id (it is made at send time); the first claim brings it.
    job.traceId ??= request.row.traceId;
    row.claim = claim;
    row.lastWorker = claim.worker;
    return { kind: 'claimed', lost, created: false };
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
          break;
        default:
          outcome satisfies never;
      }
      job.updatedAt = now;
      row.claim = undefined;
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
          (filter.key === undefined || job.idempotencyKey === filter.key || job.id === filter.key) &&
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
    return { kind: 'cancelled', wasRunning };
  }

  async retryJob(id: string): Promise<RetryResult> {
    this.#open();
    const row = this.#rows.get(id);
    if (row === undefined) return { kind: 'not_found' };
    if (row.job.state !== 'dead' && row.job.state !== 'cancelled') return { kind: 'not_retryable', state: row.job.state };
    this.#reopen(row, 1);
    row.job.retries += 1;
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
      },
      claim: undefined,
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
  }
}

function copy(job: JobRecord): JobRecord {
  return { ...job, lastError: json(job.lastError), history: json(job.history), payload: json(job.payload) };
}
