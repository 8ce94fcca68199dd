/**
 * Batches the worker's own sends (retries, hops, checkpoints, releases, dead letters) per queue: a
 * message waits at most `flushMs` (or until 10 are queued) and goes out with SendMessageBatch, or
 * SendMessage when it is alone. Each message resolves to its MessageId or rejects with its own error;
 * a transient failure of an entry or of the whole request is retried with backoff (a few tries: the
 * caller then leaves its message undeleted, so nothing is lost).
 */
import type { Clock } from '../shared/clock.js';
import { TransportError } from '../shared/errors.js';
import { messageBytes } from '../queue/limits.js';
import { SQS_LIMITS, type JobTransport, type OutgoingMessage } from '../queue/transport.js';

interface Pending {
  message: OutgoingMessage;
  tries: number;
  resolve: (messageId: string) => void;
  reject: (error: Error) => void;
}

const MAX_TRIES = 4;
const BACKOFF_BASE_MS = 100;
/** SendMessageBatch's total payload limit. */
const BATCH_BYTES = 1_048_576;

export class SendBatcher {
  readonly #transport: JobTransport;
  readonly #clock: Clock;
  readonly #flushMs: number;
  readonly #maxBatchBytes: number;
  readonly #queues = new Map<string, { pending: Pending[]; timer: unknown }>();

  constructor(options: { transport: JobTransport; clock: Clock; flushMs: number; maxMessageBytes: number }) {
    this.#transport = options.transport;
    this.#clock = options.clock;
    this.#flushMs = options.flushMs;
    this.#maxBatchBytes = Math.min(BATCH_BYTES, options.maxMessageBytes);
  }

  /** Queues a send; resolves to the MessageId once SQS has the message. */
  send(queueUrl: string, message: OutgoingMessage): Promise<{ messageId: string }> {
    return new Promise((resolve, reject) => {
      this.#enqueue(queueUrl, { message, tries: 0, resolve: (messageId) => resolve({ messageId }), reject });
    });
  }

  #enqueue(queueUrl: string, pending: Pending): void {
    let queue = this.#queues.get(queueUrl);
    if (!queue) {
      queue = { pending: [], timer: undefined };
      this.#queues.set(queueUrl, queue);
    }
    queue.pending.push(pending);
    if (queue.pending.length >= SQS_LIMITS.maxBatchEntries) this.#flush(queueUrl);
    else queue.timer ??= this.#clock.setTimeout(() => this.#flush(queueUrl), this.#flushMs);
  }

  #flush(queueUrl: string): void {
    const queue = this.#queues.get(queueUrl);
    if (!queue) return;
    if (queue.timer !== undefined) this.#clock.clearTimeout(queue.timer);
    queue.timer = undefined;
    while (queue.pending.length > 0) {
      const batch: Pending[] = [];
      let bytes = 0;
      while (queue.pending.length > 0 && batch.length < SQS_LIMITS.maxBatchEntries) {
        const next = queue.pending[0]!;
        const size = messageBytes(next.message);
        if (batch.length > 0 && bytes + size > this.#maxBatchBytes) break;
        batch.push(queue.pending.shift()!);
        bytes += size;
      }
      void this.#send(queueUrl, batch);
    }
  }

  async #send(queueUrl: string, batch: Pending[]): Promise<void> {
    if (batch.length === 1) {
      const [only] = batch as [Pending];
      try {
        only.resolve((await this.#transport.send(queueUrl, only.message)).messageId);
      } catch (error) {
        this.#failed(queueUrl, only, error);
      }
      return;
    }
    try {
      const result = await this.#transport.sendBatch(
        queueUrl,
        batch.map((p, index) => ({ id: String(index), ...p.message })),
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
        this.#failed(queueUrl, pending, error);
      }
      for (const pending of batch) {
        if (!answered.has(pending)) {
          this.#failed(
            queueUrl,
            pending,
            new TransportError('the SendMessageBatch reply left this entry out', { code: 'MissingFromReply', retryable: true }),
          );
        }
      }
    } catch (error) {
      for (const pending of batch) this.#failed(queueUrl, pending, error);
    }
  }

  #failed(queueUrl: string, pending: Pending, error: unknown): void {
    pending.tries += 1;
    const retryable = TransportError.is(error) ? error.retryable : false;
    if (!retryable || pending.tries >= MAX_TRIES) {
      pending.reject(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.#clock.setTimeout(() => this.#enqueue(queueUrl, pending), BACKOFF_BASE_MS * 2 ** pending.tries);
  }
}
