/**
 * Helpers for tests that run the real runtime: a transport wrapper that records every request, a
 * silent logger, and a driver that moves a {@link ManualClock} while letting promises settle.
 */
import { pino, type Logger } from 'pino';
import type { ManualClock } from './manual-clock.js';
import type {
  BatchResult,
  CreateQueueOptions,
  DeleteEntry,
  JobTransport,
  OutgoingBatchEntry,
  OutgoingMessage,
  QueueDepth,
  ReceiveOptions,
  ReceivedMessage,
} from '../../src/queue/transport.js';

/** One request as the recording transport saw it. Batches are split into one record per entry. */
export type Recorded =
  | { op: 'send'; queueUrl: string; body: string; delaySeconds: number | undefined; attributes: Record<string, string> }
  | { op: 'receive'; queueUrl: string; messages: ReceivedMessage[] }
  | { op: 'delete'; queueUrl: string; receiptHandle: string }
  | { op: 'changeVisibility'; queueUrl: string; receiptHandle: string; seconds: number };

export type TransportMethod = Exclude<keyof JobTransport, 'kind'>;

/** A {@link JobTransport} that forwards to `inner` and records what was asked of it. */
export class RecordingTransport implements JobTransport {
  readonly kind: string;
  readonly records: Recorded[] = [];
  /** Requests per method (a batch counts once). */
  readonly requests: Partial<Record<TransportMethod, number>> = {};
  /** Entries of each successful SendMessageBatch, in order. */
  readonly batchSizes: number[] = [];

  readonly receiveAbortLosesNothing: boolean | undefined;

  constructor(readonly inner: JobTransport) {
    this.kind = inner.kind;
    this.receiveAbortLosesNothing = inner.receiveAbortLosesNothing;
  }

  /** Total requests of any kind. */
  get requestCount(): number {
    return Object.values(this.requests).reduce((a, b) => a + (b ?? 0), 0);
  }

  #count(method: TransportMethod): void {
    this.requests[method] = (this.requests[method] ?? 0) + 1;
  }

  getQueueUrl(name: string, signal?: AbortSignal): Promise<string> {
    this.#count('getQueueUrl');
    return this.inner.getQueueUrl(name, signal);
  }
  createQueue(name: string, options?: CreateQueueOptions, signal?: AbortSignal): Promise<string> {
    this.#count('createQueue');
    return this.inner.createQueue(name, options, signal);
  }
  getQueueAttributes(queueUrl: string, names?: readonly string[], signal?: AbortSignal): Promise<Record<string, string>> {
    this.#count('getQueueAttributes');
    return this.inner.getQueueAttributes(queueUrl, names, signal);
  }
  setQueueAttributes(queueUrl: string, attributes: Readonly<Record<string, string>>, signal?: AbortSignal): Promise<void> {
    this.#count('setQueueAttributes');
    return this.inner.setQueueAttributes(queueUrl, attributes, signal);
  }
  async send(queueUrl: string, message: OutgoingMessage, signal?: AbortSignal): Promise<{ messageId: string }> {
    this.#count('send');
    const result = await this.inner.send(queueUrl, message, signal);
    this.records.push({
      op: 'send',
      queueUrl,
      body: message.body,
      delaySeconds: message.delaySeconds,
      attributes: { ...message.attributes },
    });
    return result;
  }
  async sendBatch(queueUrl: string, entries: readonly OutgoingBatchEntry[], signal?: AbortSignal): Promise<BatchResult> {
    this.#count('sendBatch');
    const result = await this.inner.sendBatch(queueUrl, entries, signal);
    const ok = new Set(result.successful.map((s) => s.id));
    this.batchSizes.push(ok.size);
    for (const e of entries) {
      if (ok.has(e.id))
        this.records.push({ op: 'send', queueUrl, body: e.body, delaySeconds: e.delaySeconds, attributes: { ...e.attributes } });
    }
    return result;
  }
  async receive(queueUrl: string, options?: ReceiveOptions): Promise<ReceivedMessage[]> {
    this.#count('receive');
    const messages = await this.inner.receive(queueUrl, options);
    if (messages.length > 0) this.records.push({ op: 'receive', queueUrl, messages });
    return messages;
  }
  async delete(queueUrl: string, receiptHandle: string, signal?: AbortSignal): Promise<void> {
    this.#count('delete');
    await this.inner.delete(queueUrl, receiptHandle, signal);
    this.records.push({ op: 'delete', queueUrl, receiptHandle });
  }
  async deleteBatch(queueUrl: string, entries: readonly DeleteEntry[], signal?: AbortSignal): Promise<BatchResult> {
    this.#count('deleteBatch');
    const result = await this.inner.deleteBatch(queueUrl, entries, signal);
    const ok = new Set(result.successful.map((s) => s.id));
    for (const e of entries) if (ok.has(e.id)) this.records.push({ op: 'delete', queueUrl, receiptHandle: e.receiptHandle });
    return result;
  }
  async changeVisibility(queueUrl: string, receiptHandle: string, seconds: number, signal?: AbortSignal): Promise<void> {
    this.#count('changeVisibility');
    await this.inner.changeVisibility(queueUrl, receiptHandle, seconds, signal);
    this.records.push({ op: 'changeVisibility', queueUrl, receiptHandle, seconds });
  }
  depth(queueUrl: string, signal?: AbortSignal): Promise<QueueDepth> {
    this.#count('depth');
    return this.inner.depth(queueUrl, signal);
  }
  purge(queueUrl: string, signal?: AbortSignal): Promise<void> {
    this.#count('purge');
    return this.inner.purge(queueUrl, signal);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A logger that writes nothing. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Lets every pending promise chain run (a few macrotask turns). */
export async function settle(rounds = 4): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Advances `clock` in `stepMs` steps, letting promises settle between steps, until `done()` holds.
 * Throws naming `what` after `maxSteps`.
 */
export async function driveUntil(
  clock: ManualClock,
  what: string,
  done: () => boolean | Promise<boolean>,
  { stepMs = 100, maxSteps = 2_000 }: { stepMs?: number; maxSteps?: number } = {},
): Promise<void> {
  for (let i = 0; i < maxSteps; i++) {
    await settle();
    if (await done()) return;
    clock.advance(stepMs);
  }
  throw new Error(`manual clock: ${what} did not happen within ${maxSteps * stepMs} ms of simulated time`);
}

/** Waits on the real clock until `check()` holds (integration tests). */
export async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
