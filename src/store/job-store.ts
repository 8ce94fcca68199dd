/**
 * The job store's contract (../../docs/store.md): SQS carries messages, the store knows jobs. One row
 * per job; the runtime claims an attempt before running it and writes each settle with a
 * compare-and-set, so two copies of one message can never give one job two outcomes.
 *
 * Every method takes a batch where the hot path calls it (claims per receive batch, settles per flush,
 * renewals per interval): one round trip each. Times the store compares (claim expiry) are the store's
 * own clock (`now()` in PostgreSQL), given as durations from the caller so no host clock is trusted.
 *
 * Implementations: `PostgresJobStore` (pg; PostgreSQL 15+, or PGlite embedded through one connection)
 * and `MemoryJobStore` (unit tests). test/store/conformance.cases.ts holds both to the same rules.
 */
import type { HistoryEntry } from '../queue/envelope.js';

export const JOB_STATES = ['pending', 'running', 'backoff', 'succeeded', 'dead', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const TERMINAL_STATES: readonly JobState[] = ['succeeded', 'dead', 'cancelled'];

export interface JobErrorInfo {
  name: string;
  message: string;
  reason?: string;
}

/** What the store knows of one job. Times are epoch milliseconds. */
export interface JobRecord {
  id: string;
  type: string;
  state: JobState;
  /** The latest attempt (1-based): the one running, or the next to run, or the last one run. */
  attempt: number;
  idempotencyKey: string | undefined;
  createdAt: number;
  /** Not before this time (a delayed enqueue, or the next attempt after a backoff). */
  scheduledAt: number | undefined;
  /** When the latest attempt started. */
  startedAt: number | undefined;
  settledAt: number | undefined;
  updatedAt: number;
  lastError: JobErrorInfo | undefined;
  /** One entry per attempt that did not succeed, oldest first (as in the envelope). */
  history: HistoryEntry[];
  traceId: string | undefined;
  deadLetterReason: string | undefined;
  /** The payload as stored (redacted), when `CALSYNC_STORE_PAYLOADS` allowed it. */
  payload: unknown;
  /** Why the payload is absent: `disabled` (not stored by setting), `too_large` (over the cap), or undefined when stored. */
  payloadOmitted: 'disabled' | 'too_large' | undefined;
  /** A retry (`jobs retry`) started a new attempt series: how many times. */
  retries: number;
  /** The concurrency key (docs/keys.md) its running attempt holds; set by the claim, cleared when the attempt settles. */
  concurrencyKey: string | undefined;
}

/** A job as the producer (or the first worker to see it) records it. */
export interface NewJob {
  id: string;
  type: string;
  idempotencyKey?: string | undefined;
  /** Epoch ms. */
  createdAt: number;
  scheduledAt?: number | undefined;
  /** Already redacted and capped by the caller (see payload-policy.ts); undefined with `payloadOmitted`. */
  payload?: unknown;
  payloadOmitted?: 'disabled' | 'too_large' | undefined;
  traceId?: string | undefined;
  /**
   * Coalescing (docs/keys.md): while a pending job of this type holds this key, this job is not
   * created and that job's id comes back (`created: false`). The key is dropped once the job starts.
   */
  coalesceKey?: string | undefined;
  /** The job's concurrency and rate keys: their rows are made ready here, so its claims find them. */
  keys?: readonly string[] | undefined;
}

/** `created: false` means a job of that type with that idempotency key (or that id) already existed: `id` is that job's. */
export interface CreateResult {
  id: string;
  created: boolean;
}

/** The runtime's claim of attempt `attempt` of a job, carried by message `messageId`. */
export interface ClaimRequest {
  jobId: string;
  type: string;
  /** The envelope's attempt. */
  attempt: number;
  messageId: string;
  /** How long the claim holds from now: the message's lease left. */
  leaseMs: number;
  /** Who claims (host:pid), for operators. */
  worker: string;
  /**
   * The row to create when there is none (a producer without store access). Its idempotency key is
   * kept only when no other job of the type holds it (that producer could not dedup).
   */
  row: NewJob;
  /** At most `limit` claims of jobs with this key live at once (their holds end with their claims). */
  concurrency?: { key: string; limit: number } | undefined;
  /** At most `max` claims of jobs with this key start per `perMs` (a sliding window). */
  rate?: { key: string; max: number; perMs: number } | undefined;
}

/** Why a claim was held back: its concurrency key is full, its rate key out of starts, or a key throttled by a RateLimitedError. */
export type HoldReason = 'concurrency' | 'rate' | 'throttled';

export type DropReason = 'terminal' | 'cancelled' | 'older_attempt' | 'claim_held';

export type ClaimResult =
  /**
   * Run it. `lost`: a claim for this same attempt existed and expired unsettled — its worker died
   * (charge one `worker_lost`). A message merely swallowed by an aborted long poll had no claim.
   */
  | {
      kind: 'claimed';
      lost: boolean;
      created: boolean;
      /** RateLimitedErrors the job has thrown so far; absent when none. */
      throttles?: number;
    }
  /**
   * Not now: a key is busy, out of starts or throttled. Nothing was claimed and no attempt is charged;
   * the message is to be tried again later. `retryAfterMs`: when a start frees (rate, throttle) or the
   * busy key's earliest hold ends at the latest (concurrency). `holds`: held answers so far, this one
   * included (reset by a claim), to grow the wait while the job stays blocked.
   */
  | { kind: 'held'; reason: HoldReason; retryAfterMs: number | undefined; holds: number }
  /**
   * Do not run it. `terminal`/`cancelled`: the job is over (`state` says how); `older_attempt`: a newer
   * attempt exists; `claim_held`: another message holds this attempt now (`sameMessage` when it is
   * this very message, received again while its earlier claim still holds — do not delete that one).
   */
  | { kind: 'drop'; reason: DropReason; state: JobState; sameMessage: boolean; deadLetterReason?: string | undefined };

/** The outcome of a claimed attempt, written once. */
export type SettleOutcome =
  | { kind: 'succeeded' }
  | { kind: 'dead'; reason: string; error?: JobErrorInfo | undefined; history: HistoryEntry[] }
  /** A successor was sent (confirmed): attempt `nextAttempt` waits until `scheduledAt`. */
  | { kind: 'backoff'; nextAttempt: number; scheduledAt: number; error: JobErrorInfo; history: HistoryEntry[] }
  /**
   * The attempt gave its claim back without an outcome (release on stop, a hop's defer, a checkpoint):
   * `attempt` is the attempt the next message carries (a checkpoint resets it to 1).
   */
  | {
      kind: 'pending';
      attempt: number;
      scheduledAt?: number | undefined;
      history?: HistoryEntry[] | undefined;
      /**
       * A handler's RateLimitedError: the job's throttle count goes up by one and, with `key`, no job of
       * that key is claimed for `retryAfterMs` (on every worker).
       */
      throttle?: { key?: string | undefined; retryAfterMs: number } | undefined;
    };

export interface SettleRequest {
  jobId: string;
  /** The claimed attempt and message: the compare-and-set matches both. */
  attempt: number;
  messageId: string;
  outcome: SettleOutcome;
}

export type SettleResult =
  | { kind: 'settled' }
  /** Cancelled meanwhile (`jobs cancel`): nothing written; the message is to be deleted. */
  | { kind: 'cancelled' }
  /**
   * The claim is no longer this message's (expired and taken over, or already settled): nothing written.
   * `state` is the row's; a row already pruned reads as `succeeded`.
   */
  | { kind: 'superseded'; state: JobState };

export interface RenewRequest {
  jobId: string;
  attempt: number;
  messageId: string;
  leaseMs: number;
}

/**
 * Per renewed claim: still held (also when it had expired but no other message took it over), or the
 * job was cancelled (abort the handler), or the claim is gone.
 */
export type RenewResult = 'held' | 'cancelled' | 'lost';

export interface JobFilter {
  state?: JobState | undefined;
  type?: string | undefined;
  /** Matches the idempotency key, the concurrency key (a running job's, docs/keys.md) or the job id exactly. */
  key?: string | undefined;
  /** Created at or after (epoch ms). */
  since?: number | undefined;
  /** Created before (epoch ms). */
  until?: number | undefined;
  /** @defaultValue 50; brought into 1–1000 */
  limit?: number | undefined;
  /** From a previous page's `nextCursor`; anything else is a `ConfigError` on `cursor`. */
  cursor?: string | undefined;
}

export interface JobPage {
  /** Newest first. */
  jobs: JobRecord[];
  nextCursor: string | undefined;
}

export type CancelResult =
  | { kind: 'cancelled'; wasRunning: boolean }
  | { kind: 'not_found' }
  /** Already over: `state` says how. */
  | { kind: 'settled'; state: JobState };

export type RetryResult =
  /** The row is `pending` again at attempt 1 of a new series (history kept); send `envelope` fields from it. */
  | { kind: 'retried'; job: JobRecord }
  | { kind: 'not_found' }
  /** Neither dead nor cancelled: `state` says what it is. */
  | { kind: 'not_retryable'; state: JobState };

/** What `activity` counts: the window, its buckets, and how far back a worker counts as seen. */
export interface ActivityQuery {
  /** How far back from the store's now. */
  windowMs: number;
  /** The width of one bucket; the window holds `ceil(windowMs / bucketMs)` of them. */
  bucketMs: number;
  /** A worker that claimed, settled or still runs a job this recently is listed. */
  workersWindowMs: number;
}

export interface ActivityBucket {
  /** Epoch ms; the bucket is [start, start + bucketMs). */
  start: number;
  /** Jobs that settled succeeded / dead in it. */
  succeeded: number;
  dead: number;
  /** Attempts that ended failed, timed out or lost in it (from the jobs' histories). */
  failed: number;
}

export interface WorkerSeen {
  /** host:pid, as the worker claims. */
  worker: string;
  /** Epoch ms: the latest claim or settle of a job it was the last to claim. */
  lastSeenAt: number;
  /** Jobs it runs now. */
  running: number;
}

export interface JobActivity {
  /** The store's now (epoch ms) the window ends at. */
  now: number;
  /** Oldest first. */
  buckets: ActivityBucket[];
  /** Most recently seen first. */
  workers: WorkerSeen[];
}

export interface JobStore {
  /** Records new jobs (state `pending`); one round trip. Dedups by (type, idempotency key) and by id. */
  createJobs(jobs: readonly NewJob[]): Promise<CreateResult[]>;
  /** Removes rows a producer recorded but could not send (`pending`, never claimed). */
  forgetJobs(ids: readonly string[]): Promise<void>;
  /**
   * One result per request, in order; one round trip. Requests for one job in one batch resolve as if
   * the highest attempt came first (ties in batch order): a copy of the claimed attempt then answers
   * `claim_held` (`sameMessage` for the very message), a lower attempt `older_attempt`.
   */
  claim(requests: readonly ClaimRequest[]): Promise<ClaimResult[]>;
  /** One result per request, in order, as if written one after another; one round trip. */
  settle(requests: readonly SettleRequest[]): Promise<SettleResult[]>;
  /** Extends held claims (and reports cancellations); one round trip. */
  renew(requests: readonly RenewRequest[]): Promise<RenewResult[]>;
  getJob(id: string): Promise<JobRecord | undefined>;
  listJobs(filter?: JobFilter): Promise<JobPage>;
  /** A pending or backoff job never runs; a running one is marked so its worker aborts it at the next renewal. */
  cancelJob(id: string): Promise<CancelResult>;
  /**
   * A dead or cancelled job starts a new attempt series (attempt 1, history and last error kept,
   * `retries` + 1; settledAt, deadLetterReason and the claim cleared).
   */
  retryJob(id: string): Promise<RetryResult>;
  /**
   * Makes dead or cancelled jobs runnable again at the given attempt (state `pending`; claim, settledAt
   * and deadLetterReason cleared; history kept),
   * before their dead letters are sent back to the main queue by a redrive; resolves to how many rows changed.
   */
  reopenJobs(requests: readonly { jobId: string; attempt: number }[]): Promise<number>;
  /** Deletes settled rows settled before `olderThanMs` ago, `batchSize` at a time; resolves to how many. */
  prune(options: { olderThanMs: number; batchSize?: number }): Promise<number>;
  /**
   * Jobs settled and attempts failed per bucket over the last `windowMs`, and the workers seen lately
   * (the last worker to claim a job is kept on its row after the claim ends); for the console's overview.
   */
  activity(query: ActivityQuery): Promise<JobActivity>;
  /** Reachable and migrated: a cheap query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
