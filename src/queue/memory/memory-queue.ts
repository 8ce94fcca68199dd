/**
 * One in-memory queue: messages with their due times, receipt handles and long-poll waiters.
 * Internal to {@link MemoryTransport}; time is always passed in, never read here.
 */
import { randomUUID } from 'node:crypto';
import type { QueueDepth } from '../transport.js';

/** A message as the memory queue keeps it. */
export interface StoredMessage {
  messageId: string;
  body: string;
  attributes: Record<string, string>;
  sentAt: number;
  /** When it may be received (again): after its delay, or when its visibility timeout ends. */
  visibleAt: number;
  receiveCount: number;
  /** When it was first received (epoch ms). */
  firstReceivedAt?: number;
  /** The handle of the latest receive; older ones are stale. */
  receiptHandle: string | undefined;
}

/** The ARN form the memory transport gives its queues (`QueueArn`). */
export function memoryQueueArn(name: string): string {
  return `arn:aws:sqs:memory:000000000000:${name}`;
}

/** Attributes every new memory queue starts with, as AWS defaults them. */
export const MEMORY_QUEUE_DEFAULTS: Readonly<Record<string, string>> = {
  VisibilityTimeout: '30',
  DelaySeconds: '0',
  MessageRetentionPeriod: '345600',
  MaximumMessageSize: '1048576',
  ReceiveMessageWaitTimeSeconds: '0',
};

export class MemoryQueue {
  readonly url: string;
  readonly arn: string;
  readonly createdAt: number;
  lastModifiedAt: number;
  attributes: Record<string, string>;
  messages: StoredMessage[] = [];
  readonly waiters = new Set<() => void>();

  constructor(
    readonly name: string,
    attributes: Readonly<Record<string, string>>,
    now: number,
  ) {
    this.url = `memory://${name}`;
    this.arn = memoryQueueArn(name);
    this.attributes = { ...MEMORY_QUEUE_DEFAULTS, ...attributes };
    this.createdAt = now;
    this.lastModifiedAt = now;
  }

  get visibilityTimeoutSeconds(): number {
    return Number(this.attributes.VisibilityTimeout ?? 30);
  }

  /** The parsed RedrivePolicy, if any. */
  get redrivePolicy(): { deadLetterTargetArn: string; maxReceiveCount: number } | undefined {
    const raw = this.attributes.RedrivePolicy;
    if (raw === undefined || raw === '') return undefined;
    const parsed = JSON.parse(raw) as { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown };
    return { deadLetterTargetArn: String(parsed.deadLetterTargetArn), maxReceiveCount: Number(parsed.maxReceiveCount) };
  }

  add(message: Omit<StoredMessage, 'messageId' | 'receiptHandle'> & { messageId?: string }): StoredMessage {
    const stored: StoredMessage = { ...message, messageId: message.messageId ?? randomUUID(), receiptHandle: undefined };
    this.messages.push(stored);
    return stored;
  }

  /** Drops messages older than MessageRetentionPeriod. */
  expire(now: number): void {
    const retentionMs = Number(this.attributes.MessageRetentionPeriod ?? 345_600) * 1000;
    this.messages = this.messages.filter((m) => m.sentAt + retentionMs > now);
  }

  findByHandle(receiptHandle: string): StoredMessage | undefined {
    return this.messages.find((m) => m.receiptHandle === receiptHandle);
  }

  remove(message: StoredMessage): void {
    this.messages = this.messages.filter((m) => m !== message);
  }

  /**
   * The earliest time, from `now` on, when a message is or becomes visible: `now` itself when one is
   * visible already. (Checking only hidden messages raced the clock: a message seen hidden a
   * millisecond earlier could be visible by now, and a long poll then slept to its deadline.)
   */
  nextChangeAt(now: number): number | undefined {
    let next: number | undefined;
    for (const m of this.messages) {
      const at = Math.max(m.visibleAt, now);
      if (next === undefined || at < next) next = at;
    }
    return next;
  }

  depth(now: number): QueueDepth {
    const depth: QueueDepth = { visible: 0, inFlight: 0, delayed: 0 };
    for (const m of this.messages) {
      if (m.visibleAt <= now) depth.visible += 1;
      else if (m.receiveCount === 0) depth.delayed += 1;
      else depth.inFlight += 1;
    }
    return depth;
  }

  /** Wakes every long poll waiting on this queue. */
  notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
