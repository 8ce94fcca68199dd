/**
 * Batches DeleteMessage calls: an entry waits at most `flushMs` (or until 10 are queued) and is sent
 * with DeleteMessageBatch. A transient failure (the request failed, the entry did, or the reply left
 * the entry out) is retried with backoff for as long as the message's lease is held — the runtime
 * keeps extending it while the delete is pending — or, without a lease, until `giveUpAfterMs` has
 * passed. A permanent one (a stale receipt handle) is not retried. Either way `delete()` resolves
 * `false` and the caller must not report the job as settled: the message will come back.
 */
import type { Logger } from 'pino';
import { backoffDelay, type Backoff } from '../shared/backoff.js';
import type { Clock } from '../shared/clock.js';
import { TransportError } from '../shared/errors.js';
import { SQS_LIMITS, type JobTransport } from '../queue/transport.js';

/** What the deleter needs of a message's lease: when it runs out, as extended so far. */
export interface LeaseView {
  readonly expiresAt: number;
}

interface Pending {
  receiptHandle: string;
  tries: number;
  /** Without a lease: give up (resolve false) from this time on. */
  giveUpAt: number;
  /** A success confirmed after the lease ran out counts as a failure: another worker may hold the message. */
  lease: LeaseView | undefined;
  done: (deleted: boolean) => void;
}

export interface DeleteBatcherOptions {
  transport: JobTransport;
  queueUrl: string;
  clock: Clock;
  flushMs: number;
  logger: Logger;
  onError: (error: Error) => void;
  /** Without a lease, stop retrying a transient failure after this long. @defaultValue 30000 */
  giveUpAfterMs?: number;
}

/** After a failed delete: 50 ms, doubling, at most 2 s. */
const RETRY_BACKOFF: Backoff = { baseMs: 50, capMs: 2_000 };
/** How often {@link DeleteBatcher.flush} looks again while only retries wait. */
const FLUSH_POLL_MS = 50;

export class DeleteBatcher {
  readonly #transport: JobTransport;
  readonly #queueUrl: string;
  readonly #clock: Clock;
  readonly #flushMs: number;
  readonly #logger: Logger;
  readonly #onError: (error: Error) => void;
  readonly #giveUpAfterMs: number;
  #queue: Pending[] = [];
  #timer: unknown;
  readonly #inflight = new Set<Promise<void>>();
  readonly #waiting = new Set<Pending>();

  constructor(options: DeleteBatcherOptions) {
    this.#transport = options.transport;
    this.#queueUrl = options.queueUrl;
    this.#clock = options.clock;
    this.#flushMs = options.flushMs;
    this.#logger = options.logger;
    this.#onError = options.onError;
    this.#giveUpAfterMs = options.giveUpAfterMs ?? 30_000;
  }

  /**
   * Queues a delete; resolves `true` once the message is deleted, `false` if that could not be done
   * or was confirmed only after `lease` ran out (by then another worker may have received the message
   * again). The lease's expiry is read at each try and at the confirmation, so extensions count.
   */
  delete(receiptHandle: string, lease?: LeaseView): Promise<boolean> {
    const now = this.#clock.now();
    return new Promise((resolve) => {
      this.#queue.push({ receiptHandle, tries: 0, giveUpAt: now + this.#giveUpAfterMs, lease, done: resolve });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#queue.length >= SQS_LIMITS.maxBatchEntries) {
      this.#flushNow();
    } else if (this.#timer === undefined && this.#queue.length > 0) {
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = undefined;
        this.#flushNow();
      }, this.#flushMs);
    }
  }

  #flushNow(): void {
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, SQS_LIMITS.maxBatchEntries);
      const sending = this.#send(batch).finally(() => this.#inflight.delete(sending));
      this.#inflight.add(sending);
    }
  }

  async #send(batch: Pending[]): Promise<void> {
    const entries = batch.map((p, index) => ({ id: String(index), receiptHandle: p.receiptHandle }));
    let failed: Array<{ pending: Pending; retryable: boolean; code: string; message: string }>;
    try {
      const result = await this.#transport.deleteBatch(this.#queueUrl, entries);
      const answered = new Set<Pending>();
      const entry = (id: string): Pending | undefined => {
        const pending = entries.some((e) => e.id === id) ? batch[Number(id)] : undefined;
        if (pending === undefined || answered.has(pending)) return undefined;
        answered.add(pending);
        return pending;
      };
      failed = [];
      for (const f of result.failed) {
        const pending = entry(f.id);
        if (pending) failed.push({ pending, retryable: !f.senderFault, code: f.code, message: f.message });
      }
      const now = this.#clock.now();
      for (const ok of result.successful) {
        const pending = entry(ok.id);
        if (!pending) continue;
        if (pending.lease === undefined || now <= pending.lease.expiresAt) {
          pending.done(true);
        } else {
          this.#logger.warn(
            { tries: pending.tries + 1 },
            'a settled message was deleted only after its lease ran out; it may have been redelivered, so it is not reported as settled',
          );
          pending.done(false);
        }
      }
      // An entry the reply names neither way is not known to be deleted: try it again.
      for (const pending of batch) {
        if (!answered.has(pending))
          failed.push({ pending, retryable: true, code: 'MissingFromReply', message: 'the DeleteMessageBatch reply left this entry out' });
      }
    } catch (error) {
      const retryable = TransportError.is(error) ? error.retryable : true;
      this.#onError(error as Error);
      failed = batch.map((pending) => ({
        pending,
        retryable,
        code: TransportError.is(error) ? error.code : 'Error',
        message: (error as Error).message,
      }));
    }
    const now = this.#clock.now();
    const again: Pending[] = [];
    for (const f of failed) {
      f.pending.tries += 1;
      const until = f.pending.lease === undefined ? f.pending.giveUpAt : f.pending.lease.expiresAt;
      if (f.retryable && now < until) {
        again.push(f.pending);
      } else {
        this.#logger.warn(
          { code: f.code, tries: f.pending.tries },
          `could not delete a settled message (${f.message}); it will be redelivered and counted as worker_lost`,
        );
        f.pending.done(false);
      }
    }
    if (again.length > 0) this.#retryLater(again);
  }

  #retryLater(entries: Pending[]): void {
    const tries = Math.max(...entries.map((p) => p.tries));
    const delay = backoffDelay(tries, RETRY_BACKOFF);
    for (const p of entries) this.#waiting.add(p);
    this.#clock.setTimeout(() => {
      for (const p of entries) this.#waiting.delete(p);
      this.#queue.push(...entries);
      this.#schedule();
    }, delay);
  }

  /** Sends everything queued and waits for it, retries included (used on stop). */
  async flush(): Promise<void> {
    for (;;) {
      this.#flushNow();
      if (this.#inflight.size === 0 && this.#waiting.size === 0 && this.#queue.length === 0) return;
      if (this.#inflight.size > 0) await Promise.all([...this.#inflight]);
      else await new Promise<void>((resolve) => this.#clock.setTimeout(resolve, FLUSH_POLL_MS));
    }
  }
}
