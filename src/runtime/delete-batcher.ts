/**
 * Batches DeleteMessage calls: an entry waits at most `flushMs` (or until 10 are queued) and is sent
 * with DeleteMessageBatch. A transient per-entry failure is retried (3 tries); a permanent one (a stale
 * receipt handle) is logged: the message will come back and be counted as `worker_lost`.
 */
import type { Logger } from 'pino';
import type { Clock } from '../queue/clock.js';
import { TransportError } from '../queue/errors.js';
import { SQS_LIMITS, type JobTransport } from '../queue/transport.js';

interface Pending {
  receiptHandle: string;
  tries: number;
  done: () => void;
}

const MAX_TRIES = 3;

export class DeleteBatcher {
  readonly #transport: JobTransport;
  readonly #queueUrl: string;
  readonly #clock: Clock;
  readonly #flushMs: number;
  readonly #logger: Logger;
  readonly #onError: (error: Error) => void;
  #queue: Pending[] = [];
  #timer: unknown;
  readonly #inflight = new Set<Promise<void>>();

  constructor(options: { transport: JobTransport; queueUrl: string; clock: Clock; flushMs: number; logger: Logger; onError: (error: Error) => void }) {
    this.#transport = options.transport;
    this.#queueUrl = options.queueUrl;
    this.#clock = options.clock;
    this.#flushMs = options.flushMs;
    this.#logger = options.logger;
    this.#onError = options.onError;
  }

  /** Queues a delete; resolves once it is sent (or given up on, which is logged). */
  delete(receiptHandle: string): Promise<void> {
    return new Promise((resolve) => {
      this.#queue.push({ receiptHandle, tries: 0, done: resolve });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#queue.length >= SQS_LIMITS.maxBatchEntries) {
      this.#flushNow();
    } else if (this.#timer === undefined) {
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
      failed = result.failed.map((f) => ({ pending: batch[Number(f.id)]!, retryable: !f.senderFault, code: f.code, message: f.message }));
      for (const ok of result.successful) batch[Number(ok.id)]?.done();
    } catch (error) {
      const retryable = TransportError.is(error) ? error.retryable : true;
      this.#onError(error as Error);
      failed = batch.map((pending) => ({ pending, retryable, code: TransportError.is(error) ? error.code : 'Error', message: (error as Error).message }));
    }
    for (const f of failed) {
      f.pending.tries += 1;
      if (f.retryable && f.pending.tries < MAX_TRIES) {
        this.#queue.push(f.pending);
      } else {
        this.#logger.warn({ code: f.code, tries: f.pending.tries }, `could not delete a settled message (${f.message}); it will be redelivered and counted as worker_lost`);
        f.pending.done();
      }
    }
    if (this.#queue.length > 0) this.#schedule();
  }

  /** Sends everything queued and waits for it (used on stop). */
  async flush(): Promise<void> {
    this.#flushNow();
    while (this.#inflight.size > 0 || this.#queue.length > 0) {
      this.#flushNow();
      await Promise.all([...this.#inflight]);
    }
  }
}
