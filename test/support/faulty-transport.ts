/**
 * A {@link JobTransport} that forwards to another and lets a test inject faults per call: a hook runs
 * before the call and may throw (a failed request), wait on the test's clock (a slow or hung server),
 * or let the call through; `afterBatch` may rewrite a batch reply (entries left out, wrong ids).
 */
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
import { TransportError } from '../../src/shared/errors.js';

export type FaultyMethod = 'send' | 'sendBatch' | 'receive' | 'delete' | 'deleteBatch' | 'changeVisibility';

export interface FaultCall {
  method: FaultyMethod;
  queueUrl: string;
  /** 1-based count of calls of this method so far, this one included. */
  n: number;
  /** Bodies (sends) or receipt handles (deletes, visibility changes) the call carries. */
  items: string[];
  /** The call's abort signal, for a hook that waits. */
  signal?: AbortSignal | undefined;
}

/** A throttling error as the SDK mapper gives it: retryable. */
export function throttled(): TransportError {
  return new TransportError('RequestThrottled: slow down', { code: 'RequestThrottled', retryable: true });
}

export class FaultyTransport implements JobTransport {
  readonly kind: string;
  readonly receiveAbortLosesNothing: boolean | undefined;
  readonly calls: FaultCall[] = [];
  /**
   * Runs before each call; throw to fail it, await to delay it. Resolving to `'answer-ok'` answers a
   * visibility change or delete with success without forwarding it (a lenient server that accepts a
   * stale receipt handle, as fauxqs does).
   */
  before: ((call: FaultCall) => unknown) | undefined;
  /** Rewrites the reply of a sendBatch or deleteBatch. */
  afterBatch: ((call: FaultCall, result: BatchResult) => BatchResult) | undefined;
  readonly #counts = new Map<FaultyMethod, number>();

  constructor(readonly inner: JobTransport) {
    this.kind = inner.kind;
    this.receiveAbortLosesNothing = inner.receiveAbortLosesNothing;
  }

  async #gate(method: FaultyMethod, queueUrl: string, items: string[], signal?: AbortSignal): Promise<FaultCall & { answered: boolean }> {
    const n = (this.#counts.get(method) ?? 0) + 1;
    this.#counts.set(method, n);
    const call = { method, queueUrl, n, items, signal };
    this.calls.push(call);
    const verdict = await this.before?.(call);
    return { ...call, answered: verdict === 'answer-ok' };
  }

  count(method: FaultyMethod): number {
    return this.#counts.get(method) ?? 0;
  }

  getQueueUrl(name: string, signal?: AbortSignal): Promise<string> {
    return this.inner.getQueueUrl(name, signal);
  }
  createQueue(name: string, options?: CreateQueueOptions, signal?: AbortSignal): Promise<string> {
    return this.inner.createQueue(name, options, signal);
  }
  getQueueAttributes(queueUrl: string, names?: readonly string[], signal?: AbortSignal): Promise<Record<string, string>> {
    return this.inner.getQueueAttributes(queueUrl, names, signal);
  }
  setQueueAttributes(queueUrl: string, attributes: Readonly<Record<string, string>>, signal?: AbortSignal): Promise<void> {
    return this.inner.setQueueAttributes(queueUrl, attributes, signal);
  }
  async send(queueUrl: string, message: OutgoingMessage, signal?: AbortSignal): Promise<{ messageId: string }> {
    await this.#gate('send', queueUrl, [message.body], signal);
    return await this.inner.send(queueUrl, message, signal);
  }
  async sendBatch(queueUrl: string, entries: readonly OutgoingBatchEntry[], signal?: AbortSignal): Promise<BatchResult> {
    const call = await this.#gate(
      'sendBatch',
      queueUrl,
      entries.map((e) => e.body),
    );
    const result = await this.inner.sendBatch(queueUrl, entries, signal);
    return this.afterBatch ? this.afterBatch(call, result) : result;
  }
  async receive(queueUrl: string, options?: ReceiveOptions): Promise<ReceivedMessage[]> {
    await this.#gate('receive', queueUrl, []);
    return await this.inner.receive(queueUrl, options);
  }
  async delete(queueUrl: string, receiptHandle: string, signal?: AbortSignal): Promise<void> {
    await this.#gate('delete', queueUrl, [receiptHandle]);
    await this.inner.delete(queueUrl, receiptHandle, signal);
  }
  async deleteBatch(queueUrl: string, entries: readonly DeleteEntry[], signal?: AbortSignal): Promise<BatchResult> {
    const call = await this.#gate(
      'deleteBatch',
      queueUrl,
      entries.map((e) => e.receiptHandle),
    );
    const result = await this.inner.deleteBatch(queueUrl, entries, signal);
    return this.afterBatch ? this.afterBatch(call, result) : result;
  }
  async changeVisibility(queueUrl: string, receiptHandle: string, seconds: number, signal?: AbortSignal): Promise<void> {
    if ((await this.#gate('changeVisibility', queueUrl, [receiptHandle], signal)).answered) return;
    await this.inner.changeVisibility(queueUrl, receiptHandle, seconds, signal);
  }
  depth(queueUrl: string, signal?: AbortSignal): Promise<QueueDepth> {
    return this.inner.depth(queueUrl, signal);
  }
  purge(queueUrl: string, signal?: AbortSignal): Promise<void> {
    return this.inner.purge(queueUrl, signal);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
