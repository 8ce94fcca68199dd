/**
 * The one send-batching path every sender uses: the producer (`JobQueue.enqueueJobs`) and the
 * runtime's settles (retries, hops, checkpoints, releases, dead letters). Messages are queued per
 * queue and go out with SendMessageBatch, at most 10 entries and at most {@link MAX_BATCH_BYTES} (or
 * the server's message limit, when lower) per request; a lone message goes with SendMessage unless
 * `alwaysBatch`. A batch leaves when 10 are queued, `flushMs` after its first message, or on
 * {@link SendBatcher.flush}. Each message resolves to its MessageId or rejects with its own error.
 * A transient failure of an entry or of the whole request is retried after a backoff, up to
 * `retry.tries` tries in all (the caller then decides: the runtime leaves its message undeleted, so
 * nothing is lost); a permanent one (a sender fault, anything but a retryable `TransportError`, or an
 * aborted `signal`) rejects at once.
 *
 * A message may carry a `deadline` (read at each try, so it can move later): it is never sent, or
 * tried again, once the deadline has passed, and a request still under way then is aborted. The
 * runtime sets it from the message's lease: a successor that lands after the lease ran out would race
 * the redelivered copy, which carries the job on by itself.
 */
import { backoffDelay, type Backoff } from '../shared/backoff.js';
import type { Clock } from '../shared/clock.js';
import { TransportError, toError } from '../shared/errors.js';
import { MAX_BATCH_BYTES, messageBytes } from './limits.js';
import { SQS_LIMITS, type JobTransport, type OutgoingMessage } from './transport.js';

/** How a failed send is tried again. */
export interface SendRetry {
  /** Tries per message, the first one included. */
  tries: number;
  /** The wait before each retry (the `n`-th retry waits `backoffDelay(n, backoff)`). */
  backoff: Backoff;
}

/** The runtime's settles: 4 tries, waiting 200, 400 and 800 ms. */
export const SETTLE_SEND_RETRY: SendRetry = { tries: 4, backoff: { baseMs: 200 } };

export interface SendBatcherOptions {
  transport: JobTransport;
  clock: Clock;
  /** The longest a message waits for others to share its request. Without it: until 10 are queued or {@link SendBatcher.flush}. */
  flushMs?: number;
  /** The server's limit on one message; a batch holds at most the lower of it and {@link MAX_BATCH_BYTES}. */
  maxMessageBytes: number;
  /** @defaultValue {@link SETTLE_SEND_RETRY} */
  retry?: SendRetry;
  /** Send a lone message with SendMessageBatch too, not SendMessage. @defaultValue false */
  alwaysBatch?: boolean;
  /** Requests under way at once; further batches wait their turn, in order. @defaultValue no limit */
  maxInFlight?: number;
  /** Passed to every request; once aborted, nothing is retried. */
  signal?: AbortSignal;
}

/** Per-message options of {@link SendBatcher.send}. */
export interface SendOptions {
  /** Epoch ms on the batcher's clock after which the message must not be sent; read at each try. */
  deadline?: () => number;
}

interface Pending {
  message: OutgoingMessage;
  tries: number;
  deadline: (() => number) | undefined;
  resolve: (messageId: string) => void;
  reject: (error: Error) => void;
}

export class SendBatcher {
  readonly #transport: JobTransport;
  readonly #clock: Clock;
  readonly #flushMs: number | undefined;
  readonly #maxBatchBytes: number;
  readonly #retry: SendRetry;
  readonly #alwaysBatch: boolean;
  readonly #signal: AbortSignal | undefined;
  readonly #maxInFlight: number;
  readonly #queues = new Map<string, { pending: Pending[]; timer: unknown }>();
  /** Batches formed and waiting for a free request. */
  readonly #ready: Array<{ queueUrl: string; batch: Pending[] }> = [];
  #inFlight = 0;

  constructor(options: SendBatcherOptions) {
    this.#transport = options.transport;
    this.#clock = options.clock;
    this.#flushMs = options.flushMs;
    this.#maxBatchBytes = Math.min(MAX_BATCH_BYTES, options.maxMessageBytes);
    this.#retry = options.retry ?? SETTLE_SEND_RETRY;
    this.#alwaysBatch = options.alwaysBatch ?? false;
    this.#signal = options.signal;
    this.#maxInFlight = options.maxInFlight ?? Number.POSITIVE_INFINITY;
  }

  /** Queues a send; resolves to the MessageId once SQS has the message. */
  send(queueUrl: string, message: OutgoingMessage, options: SendOptions = {}): Promise<{ messageId: string }> {
    return new Promise((resolve, reject) => {
      this.#enqueue(queueUrl, { message, tries: 0, deadline: options.deadline, resolve: (messageId) => resolve({ messageId }), reject });
    });
  }

  #expired(pending: Pending): boolean {
    return pending.deadline !== undefined && this.#clock.now() >= pending.deadline();
  }

  #rejectExpired(pending: Pending): void {
    pending.reject(
      new TransportError('the message was not sent before its deadline (its lease ran out)', { code: 'DeadlinePassed', retryable: false }),
    );
  }

  /**
   * The signal for one request: the batcher's own, and aborted at the earliest deadline among the
   * batch's messages (re-read when it comes, since a lease may have been extended meanwhile).
   */
  #requestSignal(batch: readonly Pending[]): { signal: AbortSignal | undefined; done(): void } {
    const deadlines = batch.filter((p) => p.deadline !== undefined);
    if (deadlines.length === 0) return { signal: this.#signal, done: () => undefined };
    const controller = new AbortController();
    let timer: unknown;
    const arm = (): void => {
      const at = Math.min(...deadlines.map((p) => p.deadline!()));
      const wait = at - this.#clock.now();
      if (wait <= 0) {
        controller.abort(new TransportError('the request outlived a message deadline', { code: 'DeadlinePassed', retryable: false }));
        return;
      }
      timer = this.#clock.setTimeout(arm, wait);
    };
    arm();
    const signal = this.#signal === undefined ? controller.signal : AbortSignal.any([this.#signal, controller.signal]);
    return { signal, done: () => this.#clock.clearTimeout(timer) };
  }

  /** Sends what is queued for `queueUrl` now, without waiting for `flushMs`. */
  flush(queueUrl: string): void {
    this.#flush(queueUrl);
  }

  #enqueue(queueUrl: string, pending: Pending): void {
    let queue = this.#queues.get(queueUrl);
    if (!queue) {
      queue = { pending: [], timer: undefined };
      this.#queues.set(queueUrl, queue);
    }
    queue.pending.push(pending);
    if (queue.pending.length >= SQS_LIMITS.maxBatchEntries) this.#flush(queueUrl, false);
    else if (this.#flushMs !== undefined) queue.timer ??= this.#clock.setTimeout(() => this.#flush(queueUrl), this.#flushMs);
  }

  /**
   * Forms batches from the queue, in order. With `all` false (10 are queued) only full batches leave
   * (10 entries, or as many as fit the byte limit); the rest waits for more, or for its timer.
   */
  #flush(queueUrl: string, all = true): void {
    const queue = this.#queues.get(queueUrl);
    if (!queue) return;
    while (queue.pending.length > 0) {
      let count = 0;
      let bytes = 0;
      while (count < queue.pending.length && count < SQS_LIMITS.maxBatchEntries) {
        const size = messageBytes(queue.pending[count]!.message);
        if (count > 0 && bytes + size > this.#maxBatchBytes) break;
        count += 1;
        bytes += size;
      }
      const full = count === SQS_LIMITS.maxBatchEntries || count < queue.pending.length;
      if (!all && !full) break;
      this.#ready.push({ queueUrl, batch: queue.pending.splice(0, count) });
    }
    if (queue.pending.length === 0 && queue.timer !== undefined) {
      this.#clock.clearTimeout(queue.timer);
      queue.timer = undefined;
    }
    this.#startReady();
  }

  #startReady(): void {
    while (this.#inFlight < this.#maxInFlight && this.#ready.length > 0) {
      const { queueUrl, batch } = this.#ready.shift()!;
      this.#inFlight += 1;
      void this.#send(queueUrl, batch).finally(() => {
        this.#inFlight -= 1;
        this.#startReady();
      });
    }
  }

  async #send(queueUrl: string, queued: Pending[]): Promise<void> {
    const again: Pending[] = [];
    const batch: Pending[] = [];
    for (const pending of queued) {
      if (this.#expired(pending)) this.#rejectExpired(pending);
      else batch.push(pending);
    }
    if (batch.length === 0) return;
    const request = this.#requestSignal(batch);
    try {
      await this.#request(queueUrl, batch, again, request.signal);
    } finally {
      request.done();
    }
    this.#retryLater(queueUrl, again);
  }

  async #request(queueUrl: string, batch: Pending[], again: Pending[], signal: AbortSignal | undefined): Promise<void> {
    if (batch.length === 1 && !this.#alwaysBatch) {
      const [only] = batch as [Pending];
      try {
        only.resolve((await this.#transport.send(queueUrl, only.message, signal)).messageId);
      } catch (error) {
        this.#failed(only, error, again);
      }
      return;
    }
    try {
      const result = await this.#transport.sendBatch(
        queueUrl,
        batch.map((p, index) => ({ id: String(index), ...p.message })),
        signal,
      );
      // Entries are matched by their exact id; one the reply names twice, wrongly or not at all is
      // not known to be sent, and is tried again (a reply without an Id must not settle entry 0).
      const answered = new Set<Pending>();
      const entry = (id: string): Pending | undefined => {
        const pending = /^\d+$/.test(id) ? batch[Number(id)] : undefined;
        if (pending === undefined || answered.has(pending)) return undefined;
        answered.add(pending);
        return pending;
      };
      for (const ok of result.successful) {
        entry(ok.id)?.resolve(ok.messageId ?? '');
      }
      for (const failure of result.failed) {
        const pending = entry(failure.id);
        if (!pending) continue;
        const error = new TransportError(`${failure.code}: ${failure.message}`, { code: failure.code, retryable: !failure.senderFault });
        this.#failed(pending, error, again);
      }
      for (const pending of batch) {
        if (!answered.has(pending)) {
          const error = new TransportError('the SendMessageBatch reply left this entry out', { code: 'MissingFromReply', retryable: true });
          this.#failed(pending, error, again);
        }
      }
    } catch (error) {
      for (const pending of batch) this.#failed(pending, error, again);
    }
  }

  /** Rejects `pending`, or adds it to `again` when the failure is transient and tries remain. */
  #failed(pending: Pending, error: unknown, again: Pending[]): void {
    pending.tries += 1;
    const retryable = TransportError.is(error) ? error.retryable : false;
    if (this.#expired(pending)) this.#rejectExpired(pending);
    else if (!retryable || pending.tries >= this.#retry.tries || this.#signal?.aborted) pending.reject(toError(error));
    else again.push(pending);
  }

  /** Queues each message again after its backoff; with no wait, at once. */
  #retryLater(queueUrl: string, again: Pending[]): void {
    const byDelay = new Map<number, Pending[]>();
    for (const pending of again) {
      const delay = backoffDelay(pending.tries, this.#retry.backoff);
      byDelay.set(delay, [...(byDelay.get(delay) ?? []), pending]);
    }
    for (const [delay, group] of byDelay) {
      if (delay > 0) this.#clock.setTimeout(() => this.#requeue(queueUrl, group), delay);
      else this.#requeue(queueUrl, group);
    }
  }

  #requeue(queueUrl: string, group: Pending[]): void {
    for (const pending of group) this.#enqueue(queueUrl, pending);
    if (this.#flushMs === undefined) this.#flush(queueUrl);
  }
}
