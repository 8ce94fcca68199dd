/**
 * {@link JobTransport} in process, with SQS semantics: delays, visibility timeouts, receive counts,
 * long polls, RedrivePolicy to a dead-letter queue, and the same limits and error codes as
 * {@link SqsTransport}. Time comes from an injected {@link Clock} (use {@link ManualClock} in tests).
 * It has no move-task capability (`startMessageMove` / `messageMoveStatus`): a DLQ redrive over it
 * moves by receive → send → delete, as it does on servers without StartMessageMoveTask.
 */
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../shared/clock.js';
import { TransportError } from '../../shared/errors.js';
import { checkBatch, checkOutgoing, checkOutgoingBatch, checkReceive, checkVisibility } from '../limits.js';
import { MemoryQueue, type StoredMessage } from './memory-queue.js';
import {
  SQS_LIMITS,
  type BatchResult,
  type CreateQueueOptions,
  type DeleteEntry,
  type JobTransport,
  type OutgoingBatchEntry,
  type OutgoingMessage,
  type QueueDepth,
  type ReceiveOptions,
  type ReceivedMessage,
} from '../transport.js';

/** Options of {@link MemoryTransport}. */
export interface MemoryTransportOptions {
  /** @defaultValue `systemClock` */
  clock?: Clock;
  /** Largest message (body plus attributes) accepted. @defaultValue `SQS_LIMITS.maxMessageBytes` */
  maxMessageBytes?: number;
}

const HANDLE = /^memory:[0-9a-f-]{36}$/;
const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;

function fail(code: string, message: string, retryable = false): TransportError {
  return new TransportError(message, { code, retryable });
}

/** Queues live in this object; URLs are `memory://<name>`. Nothing happens in the constructor. */
export class MemoryTransport implements JobTransport {
  readonly kind = 'memory';
  /** An aborted receive here takes nothing: it resolves at once and no message is handed to it. */
  readonly receiveAbortLosesNothing = true;
  readonly maxMessageBytes: number;
  private readonly clock: Clock;
  private readonly queues = new Map<string, MemoryQueue>();
  private closed = false;

  constructor(options: MemoryTransportOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.maxMessageBytes = options.maxMessageBytes ?? SQS_LIMITS.maxMessageBytes;
  }

  private queue(queueUrl: string, operation: string): MemoryQueue {
    if (this.closed) throw fail('TransportClosed', `${operation}: the memory transport is closed`);
    const name = queueUrl.startsWith('memory://') ? queueUrl.slice('memory://'.length) : undefined;
    const queue = name === undefined ? undefined : this.queues.get(name);
    if (!queue) throw fail('QueueDoesNotExist', `${operation}: queue ${queueUrl} does not exist`);
    queue.expire(this.clock.now());
    return queue;
  }

  async getQueueUrl(name: string): Promise<string> {
    const queue = this.queues.get(name);
    if (!queue) throw fail('QueueDoesNotExist', `GetQueueUrl: queue ${name} does not exist`);
    return queue.url;
  }

  async createQueue(name: string, options: CreateQueueOptions = {}): Promise<string> {
    if (!QUEUE_NAME.test(name)) throw fail('InvalidParameterValue', `CreateQueue: invalid queue name ${JSON.stringify(name)}`);
    const attributes = options.attributes ?? {};
    validateAttributes(attributes);
    const existing = this.queues.get(name);
    if (existing) {
      const differs = Object.entries(attributes).find(([k, v]) => existing.attributes[k] !== v);
      if (differs) throw fail('QueueNameExists', `CreateQueue: queue ${name} exists with a different ${differs[0]}`);
      return existing.url;
    }
    const queue = new MemoryQueue(name, attributes, this.clock.now());
    this.queues.set(name, queue);
    return queue.url;
  }

  async getQueueAttributes(queueUrl: string, names: readonly string[] = ['All']): Promise<Record<string, string>> {
    const queue = this.queue(queueUrl, 'GetQueueAttributes');
    const depth = queue.depth(this.clock.now());
    const all: Record<string, string> = {
      ...queue.attributes,
      QueueArn: queue.arn,
      CreatedTimestamp: String(Math.floor(queue.createdAt / 1000)),
      LastModifiedTimestamp: String(Math.floor(queue.lastModifiedAt / 1000)),
      ApproximateNumberOfMessages: String(depth.visible),
      ApproximateNumberOfMessagesNotVisible: String(depth.inFlight),
      ApproximateNumberOfMessagesDelayed: String(depth.delayed),
    };
    if (names.includes('All')) return all;
    return Object.fromEntries(names.flatMap((n) => (all[n] === undefined ? [] : [[n, all[n]]])));
  }

  async setQueueAttributes(queueUrl: string, attributes: Readonly<Record<string, string>>): Promise<void> {
    const queue = this.queue(queueUrl, 'SetQueueAttributes');
    validateAttributes(attributes);
    queue.attributes = { ...queue.attributes, ...attributes };
    queue.lastModifiedAt = this.clock.now();
  }

  async send(queueUrl: string, message: OutgoingMessage): Promise<{ messageId: string }> {
    checkOutgoing(message, this.maxMessageBytes);
    const queue = this.queue(queueUrl, 'SendMessage');
    const stored = this.enqueue(queue, message);
    queue.notify();
    return { messageId: stored.messageId };
  }

  async sendBatch(queueUrl: string, entries: readonly OutgoingBatchEntry[]): Promise<BatchResult> {
    checkOutgoingBatch(entries, this.maxMessageBytes);
    const queue = this.queue(queueUrl, 'SendMessageBatch');
    const successful = entries.map((e) => ({ id: e.id, messageId: this.enqueue(queue, e).messageId }));
    queue.notify();
    return { successful, failed: [] };
  }

  private enqueue(queue: MemoryQueue, message: OutgoingMessage): StoredMessage {
    const now = this.clock.now();
    const delaySeconds = message.delaySeconds ?? Number(queue.attributes.DelaySeconds ?? 0);
    return queue.add({
      body: message.body,
      attributes: { ...message.attributes },
      sentAt: now,
      visibleAt: now + delaySeconds * 1000,
      receiveCount: 0,
    });
  }

  /** Long poll: returns as soon as a message is visible, at the wait's end, or with `[]` on abort. */
  receive(queueUrl: string, options: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    let queue: MemoryQueue;
    let limits: { maxMessages: number; waitTimeSeconds: number };
    try {
      limits = checkReceive(options);
      queue = this.queue(queueUrl, 'ReceiveMessage');
    } catch (error) {
      return Promise.reject(error);
    }
    const { signal } = options;
    const visibility = options.visibilityTimeoutSeconds ?? queue.visibilityTimeoutSeconds;
    if (signal?.aborted) return Promise.resolve([]);
    const first = this.dequeue(queue, limits.maxMessages, visibility);
    if (first.length > 0 || limits.waitTimeSeconds === 0) return Promise.resolve(first);
    const deadline = this.clock.now() + limits.waitTimeSeconds * 1000;
    return new Promise((resolve) => {
      let timer: unknown;
      const finish = (messages: ReceivedMessage[]): void => {
        queue.waiters.delete(attempt);
        signal?.removeEventListener('abort', onAbort);
        if (timer !== undefined) this.clock.clearTimeout(timer);
        resolve(messages);
      };
      const onAbort = (): void => finish([]);
      const arm = (): void => {
        if (timer !== undefined) this.clock.clearTimeout(timer);
        const now = this.clock.now();
        const at = Math.min(deadline, queue.nextChangeAt(now) ?? deadline);
        timer = this.clock.setTimeout(attempt, at - now);
      };
      const attempt = (): void => {
        if (this.closed) {
          finish([]);
          return;
        }
        const got = this.dequeue(queue, limits.maxMessages, visibility);
        if (got.length > 0 || this.clock.now() >= deadline) {
          finish(got);
          return;
        }
        arm();
      };
      queue.waiters.add(attempt);
      signal?.addEventListener('abort', onAbort, { once: true });
      arm();
    });
  }

  /** Takes up to `max` visible messages, moving those past maxReceiveCount to the DLQ first. */
  private dequeue(queue: MemoryQueue, max: number, visibilitySeconds: number): ReceivedMessage[] {
    const now = this.clock.now();
    const policy = queue.redrivePolicy;
    const dlq = policy === undefined ? undefined : [...this.queues.values()].find((q) => q.arn === policy.deadLetterTargetArn);
    const out: ReceivedMessage[] = [];
    const moved: StoredMessage[] = [];
    for (const m of queue.messages) {
      if (out.length >= max) break;
      if (m.visibleAt > now) continue;
      if (policy && dlq && m.receiveCount >= policy.maxReceiveCount) {
        moved.push(m);
        continue;
      }
      m.receiveCount += 1;
      m.firstReceivedAt ??= now;
      m.visibleAt = now + visibilitySeconds * 1000;
      m.receiptHandle = `memory:${randomUUID()}`;
      out.push({
        messageId: m.messageId,
        receiptHandle: m.receiptHandle,
        body: m.body,
        attributes: { ...m.attributes },
        receiveCount: m.receiveCount,
        sentTimestamp: m.sentAt,
        firstReceivedAt: m.firstReceivedAt,
      });
    }
    if (dlq && moved.length > 0) {
      for (const m of moved) {
        queue.remove(m);
        dlq.add({
          messageId: m.messageId,
          body: m.body,
          attributes: m.attributes,
          sentAt: m.sentAt,
          visibleAt: now,
          receiveCount: m.receiveCount,
        });
      }
      dlq.notify();
    }
    return out;
  }

  async delete(queueUrl: string, receiptHandle: string): Promise<void> {
    const queue = this.queue(queueUrl, 'DeleteMessage');
    if (!HANDLE.test(receiptHandle)) throw fail('ReceiptHandleIsInvalid', `DeleteMessage: receipt handle ${receiptHandle} is invalid`);
    const message = queue.findByHandle(receiptHandle);
    if (message) queue.remove(message);
  }

  async deleteBatch(queueUrl: string, entries: readonly DeleteEntry[]): Promise<BatchResult> {
    checkBatch(entries);
    const result: BatchResult = { successful: [], failed: [] };
    for (const entry of entries) {
      try {
        await this.delete(queueUrl, entry.receiptHandle);
        result.successful.push({ id: entry.id });
      } catch (error) {
        if (!TransportError.is(error) || error.code !== 'ReceiptHandleIsInvalid') throw error;
        result.failed.push({ id: entry.id, code: error.code, message: error.message, senderFault: true });
      }
    }
    return result;
  }

  async changeVisibility(queueUrl: string, receiptHandle: string, visibilityTimeoutSeconds: number): Promise<void> {
    checkVisibility(visibilityTimeoutSeconds);
    const queue = this.queue(queueUrl, 'ChangeMessageVisibility');
    const message = HANDLE.test(receiptHandle) ? queue.findByHandle(receiptHandle) : undefined;
    if (!message) throw fail('ReceiptHandleIsInvalid', `ChangeMessageVisibility: receipt handle ${receiptHandle} is invalid or stale`);
    const now = this.clock.now();
    if (message.visibleAt <= now) throw fail('MessageNotInflight', 'ChangeMessageVisibility: the message is not in flight');
    message.visibleAt = now + visibilityTimeoutSeconds * 1000;
    if (visibilityTimeoutSeconds === 0) queue.notify();
  }

  async depth(queueUrl: string): Promise<QueueDepth> {
    return this.queue(queueUrl, 'GetQueueAttributes').depth(this.clock.now());
  }

  async purge(queueUrl: string): Promise<void> {
    this.queue(queueUrl, 'PurgeQueue').messages = [];
  }

  /** Ends every pending long poll with `[]`; later calls fail with `TransportClosed`. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const queue of this.queues.values()) queue.notify();
  }
}

function validateAttributes(attributes: Readonly<Record<string, string>>): void {
  const range = (name: string, min: number, max: number): void => {
    const raw = attributes[name];
    if (raw === undefined) return;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw fail('InvalidAttributeValue', `${name} must be an integer from ${min} to ${max}, got ${raw}`);
    }
  };
  range('VisibilityTimeout', 0, SQS_LIMITS.maxVisibilityTimeoutSeconds);
  range('DelaySeconds', 0, SQS_LIMITS.maxDelaySeconds);
  range('MessageRetentionPeriod', 60, 1_209_600);
  range('ReceiveMessageWaitTimeSeconds', 0, SQS_LIMITS.maxWaitTimeSeconds);
  const redrive = attributes.RedrivePolicy;
  if (redrive !== undefined && redrive !== '') {
    let parsed: { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown };
    try {
      parsed = JSON.parse(redrive) as typeof parsed;
    } catch {
      throw fail('InvalidAttributeValue', `RedrivePolicy is not JSON: ${redrive}`);
    }
    const count = Number(parsed.maxReceiveCount);
    if (typeof parsed.deadLetterTargetArn !== 'string' || !Number.isInteger(count) || count < 1 || count > 1000) {
      throw fail('InvalidAttributeValue', 'RedrivePolicy needs deadLetterTargetArn and maxReceiveCount 1–1000');
    }
  }
}
