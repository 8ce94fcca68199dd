/**
 * Jobs as the store knows them, for every edge (`calsync-jobs jobs …`, the HTTP API's `/jobs`, and
 * the console when it comes): one JSON shape of a job ({@link jobView}, ISO-8601 times, `null` for what
 * is not known) and the operations over a {@link JobStore}: list, show, cancel, retry, prune, and what
 * the store knows of dead jobs for `dlq list` / `dlq show`.
 */
import { newEnvelope, type Envelope, type HistoryEntry } from '../queue/envelope.js';
import type { CancelResult, JobErrorInfo, JobFilter, JobRecord, JobState, JobStore } from '../store/job-store.js';
import { systemClock, type Clock } from '../shared/clock.js';

/** A job as `jobs show --json`, `jobs list --json` and `GET /jobs/:id` print it. */
export interface JobView {
  id: string;
  type: string;
  state: JobState;
  /** The latest attempt (1-based). */
  attempt: number;
  idempotencyKey: string | null;
  /** The concurrency key its running attempt holds (docs/keys.md); null when none is held. */
  concurrencyKey: string | null;
  createdAt: string;
  updatedAt: string;
  /** Not before this time (a delayed enqueue, or the next attempt after a backoff). */
  scheduledAt: string | null;
  /** When the latest attempt started. */
  startedAt: string | null;
  settledAt: string | null;
  lastError: JobErrorInfo | null;
  /** One entry per attempt that did not succeed, oldest first (as in the envelope). */
  history: HistoryEntry[];
  traceId: string | null;
  deadLetterReason: string | null;
  /** Present when the payload was stored (redacted). */
  payload?: unknown;
  /** Present when it was not: `disabled` (CALSYNC_STORE_PAYLOADS off) or `too_large`. */
  payloadOmitted?: 'disabled' | 'too_large';
  /** Times `jobs retry` started a new attempt series. */
  retries: number;
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

export function jobView(job: JobRecord): JobView {
  return {
    id: job.id,
    type: job.type,
    state: job.state,
    attempt: job.attempt,
    idempotencyKey: job.idempotencyKey ?? null,
    concurrencyKey: job.concurrencyKey ?? null,
    createdAt: new Date(job.createdAt).toISOString(),
    updatedAt: new Date(job.updatedAt).toISOString(),
    scheduledAt: iso(job.scheduledAt),
    startedAt: iso(job.startedAt),
    settledAt: iso(job.settledAt),
    lastError: job.lastError ?? null,
    history: job.history,
    traceId: job.traceId ?? null,
    deadLetterReason: job.deadLetterReason ?? null,
    ...(job.payloadOmitted === undefined ? { payload: job.payload } : { payloadOmitted: job.payloadOmitted }),
    retries: job.retries,
  };
}

/** One page of jobs, newest first; `nextCursor` is null on the last page. */
export async function listJobs(store: JobStore, filter: JobFilter = {}): Promise<{ jobs: JobView[]; nextCursor: string | null }> {
  const page = await store.listJobs(filter);
  return { jobs: page.jobs.map(jobView), nextCursor: page.nextCursor ?? null };
}

export async function showJob(store: JobStore, id: string): Promise<JobView | undefined> {
  const job = await store.getJob(id);
  return job === undefined ? undefined : jobView(job);
}

/** A pending or backoff job never runs; a running one is aborted by its worker within one lease period. */
export function cancelJob(store: JobStore, id: string): Promise<CancelResult> {
  return store.cancelJob(id);
}

/** Deletes jobs settled more than `olderThanMs` ago; resolves to how many. */
export function pruneJobs(store: JobStore, olderThanMs: number): Promise<number> {
  return store.prune({ olderThanMs });
}

/** What `jobs retry` sends with: the producer's `JobQueue.sendEnvelope`. */
export interface EnvelopeSender {
  sendEnvelope(envelope: Envelope): Promise<void>;
}

export type RetryOutcome =
  | { kind: 'retried'; job: JobView; envelope: Envelope }
  | { kind: 'not_found' }
  | { kind: 'not_retryable'; state: JobState }
  /**
   * The row has no payload to send as it was enqueued: not stored (`disabled`, `too_large`), or stored
   * with fields redacted (`redacted`: the handler would get "[redacted]"). Nothing was changed.
   */
  | { kind: 'payload_not_stored'; state: JobState; why: 'disabled' | 'too_large' | 'redacted' }
  /** The row was reopened but the send failed; it was cancelled again so that a later retry can run. */
  | { kind: 'send_failed'; error: unknown };

const RETRYABLE: readonly JobState[] = ['dead', 'cancelled'];
/** The censor the payload policy writes in place of a redacted field (src/store/payload-policy.ts), as JSON. */
const REDACTED = '"[redacted]"';

/**
 * Runs a dead or cancelled job again as a new attempt series: `store.retryJob` (pending, attempt 1,
 * history kept), then a first-attempt envelope with the job's id, type, stored payload and history is
 * sent. A job whose payload was not stored, or was stored with fields redacted, is refused before
 * anything changes. When the send fails
 * the row is cancelled again (best effort), so it does not wait for a message that never comes.
 */
export async function retryJob(
  store: JobStore,
  sender: EnvelopeSender,
  id: string,
  options: { clock?: Clock } = {},
): Promise<RetryOutcome> {
  const before = await store.getJob(id);
  if (before === undefined) return { kind: 'not_found' };
  if (!RETRYABLE.includes(before.state)) return { kind: 'not_retryable', state: before.state };
  if (before.payloadOmitted !== undefined) return { kind: 'payload_not_stored', state: before.state, why: before.payloadOmitted };
  if (JSON.stringify(before.payload ?? null).includes(REDACTED))
    return { kind: 'payload_not_stored', state: before.state, why: 'redacted' };
  const retried = await store.retryJob(id);
  if (retried.kind !== 'retried') return retried;
  const job = retried.job;
  const envelope: Envelope = {
    ...newEnvelope({
      id: job.id,
      type: job.type,
      payload: job.payload,
      idempotencyKey: job.idempotencyKey,
      now: (options.clock ?? systemClock).now(),
    }),
    ...(job.history.length > 0 ? { history: job.history } : {}),
  };
  try {
    await sender.sendEnvelope(envelope);
  } catch (error) {
    await store.cancelJob(id).catch(() => undefined);
    return { kind: 'send_failed', error };
  }
  return { kind: 'retried', job: jobView(job), envelope };
}

/** What the store knows of a dead job, for `dlq list` / `dlq show`; null when it has no row. */
export interface StoreFacts {
  state: JobState;
  attempt: number;
  retries: number;
  deadLetterReason: string | null;
}

/** The store's facts for each id (at most 16 lookups at once). */
export async function storeFacts(store: JobStore, ids: readonly string[]): Promise<Map<string, StoreFacts | null>> {
  const facts = new Map<string, StoreFacts | null>();
  const queue = [...new Set(ids)];
  const worker = async (): Promise<void> => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      const job = await store.getJob(id);
      facts.set(
        id,
        job === undefined
          ? null
          : { state: job.state, attempt: job.attempt, retries: job.retries, deadLetterReason: job.deadLetterReason ?? null },
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, queue.length) }, worker));
  return facts;
}
