/**
 * A received message's lease: the time until SQS may hand it to another worker. The lease is kept
 * (visibility extended every half period) from the receive until the attempt's settle is confirmed —
 * the delete after an ack, and the send then delete of a retry, dead letter, checkpoint, hop or
 * release — not only while the handler runs. A failed extension is retried quickly with backoff, well
 * before the lease runs out. Once the lease is known lost (a stale receipt handle, or its time passed
 * with no extension confirmed), the runtime sends no successor: the redelivered copy carries the job on.
 *
 * SQS caps a message's total visibility at 12 hours from its receive; extensions stop at that cap and
 * the runtime times the attempt out before it (see {@link maxAttemptMs}).
 */
import type { Logger } from 'pino';
import { backoffDelay, type Backoff } from '../shared/backoff.js';
import type { Clock } from '../shared/clock.js';
import { TransportError, toError } from '../shared/errors.js';
import { SQS_LIMITS, type JobTransport } from '../queue/transport.js';

/** Codes by which a server says the receipt handle no longer holds the message. */
const STALE_HANDLE_CODES = new Set(['ReceiptHandleIsInvalid', 'MessageNotInflight', 'AWS.SimpleQueueService.MessageNotInflight']);
/** After a failed extension: 200 ms, doubling, at most 12.8 s (and always before the lease runs out). */
const RETRY_BACKOFF: Backoff = { baseMs: 200, capMs: 12_800 };
const TOTAL_LEASE_MS = SQS_LIMITS.maxVisibilityTimeoutSeconds * 1000;

/**
 * The longest an attempt may run when received with `visibilityTimeoutSeconds`: SQS's 12-hour cap on
 * a message's visibility, less one visibility period kept for the settle.
 */
export function maxAttemptMs(visibilityTimeoutSeconds: number): number {
  return TOTAL_LEASE_MS - visibilityTimeoutSeconds * 1000;
}

export interface LeaseOptions {
  transport: JobTransport;
  queueUrl: string;
  receiptHandle: string;
  messageId: string;
  clock: Clock;
  visibilityTimeoutSeconds: number;
  /** When SQS started the visibility timeout (epoch ms, a conservative estimate). */
  receivedAt: number;
  logger: Logger;
  onError(error: Error, during: string): void;
}

export class Lease {
  readonly #options: LeaseOptions;
  #expiresAt: number;
  #lost = false;
  #stopped = false;
  #timer: unknown;
  #failures = 0;

  constructor(options: LeaseOptions) {
    this.#options = options;
    this.#expiresAt = options.receivedAt + options.visibilityTimeoutSeconds * 1000;
  }

  /** When SQS started the message's visibility timeout (epoch ms, a conservative estimate). */
  get receivedAt(): number {
    return this.#options.receivedAt;
  }

  /** When the lease runs out (epoch ms), as far as this worker knows. */
  get expiresAt(): number {
    return this.#expiresAt;
  }

  /** True while no other worker can have the message: not lost, and its time not passed. */
  get held(): boolean {
    return !this.#lost && this.#options.clock.now() < this.#expiresAt;
  }

  /** Starts extending every half visibility period until {@link stop}. */
  start(): void {
    this.#schedule(this.#halfPeriodMs());
  }

  /** The settle is confirmed (or abandoned): stop extending. Idempotent. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#options.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** One ChangeMessageVisibility now; true when it went through. */
  async extend(): Promise<boolean> {
    const { transport, queueUrl, receiptHandle, clock, visibilityTimeoutSeconds, receivedAt } = this.#options;
    if (this.#lost) return false;
    const requestedAt = clock.now();
    // Never ask past SQS's 12-hour cap: it refuses the whole request (InvalidParameterValue).
    const seconds = Math.min(visibilityTimeoutSeconds, Math.floor((receivedAt + TOTAL_LEASE_MS - requestedAt) / 1000));
    if (seconds <= 0) return false;
    // An extension must land while the lease is held: one answered later proves nothing (the message
    // may have been received again meanwhile, and a lenient server such as fauxqs still accepts the
    // old handle), so the request is aborted at the lease's end and a late answer counts as lost.
    const deadline = new AbortController();
    const timer = clock.setTimeout(() => deadline.abort(), Math.max(0, this.#expiresAt - requestedAt));
    try {
      await transport.changeVisibility(queueUrl, receiptHandle, seconds, deadline.signal);
      if (clock.now() >= this.#expiresAt) {
        this.#markLost('an extension was confirmed only after the lease had run out');
        return false;
      }
      // Counted from when the request left: SQS applied it no earlier.
      this.#expiresAt = Math.max(this.#expiresAt, requestedAt + seconds * 1000);
      this.#failures = 0;
      return true;
    } catch (error) {
      if (deadline.signal.aborted || clock.now() >= this.#expiresAt) {
        this.#markLost('no extension was confirmed before the lease ran out');
        return false;
      }
      if (TransportError.is(error) && STALE_HANDLE_CODES.has(error.code)) {
        this.#markLost(`the receipt handle no longer holds the message (${error.code})`);
        return false;
      }
      this.#failures += 1;
      this.#options.onError(toError(error), `ChangeMessageVisibility(${seconds}) of ${this.#options.messageId}`);
      return false;
    } finally {
      clock.clearTimeout(timer);
    }
  }

  #halfPeriodMs(): number {
    return (this.#options.visibilityTimeoutSeconds * 1000) / 2;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped || this.#lost) return;
    this.#timer = this.#options.clock.setTimeout(
      () => {
        this.#timer = undefined;
        void this.#tick();
      },
      Math.max(0, delayMs),
    );
  }

  async #tick(): Promise<void> {
    if (this.#stopped || this.#lost) return;
    const ok = await this.extend();
    if (this.#stopped || this.#lost) return;
    if (ok) return this.#schedule(this.#halfPeriodMs());
    const { clock } = this.#options;
    const left = this.#expiresAt - clock.now();
    if (left <= 0) {
      this.#markLost('no extension was confirmed before the lease ran out');
      return;
    }
    if (this.#expiresAt >= this.#options.receivedAt + TOTAL_LEASE_MS) return; // at SQS's cap: nothing to extend
    // Retry soon, with backoff, and always once more before the lease runs out.
    const backoff = backoffDelay(this.#failures, RETRY_BACKOFF);
    this.#schedule(Math.min(backoff, Math.max(0, left / 2)));
  }

  #markLost(why: string): void {
    if (this.#lost) return;
    this.#lost = true;
    this.stop();
    this.#options.logger.warn(
      { messageId: this.#options.messageId },
      `lease lost: ${why}; this worker sends no successor, the redelivered copy carries the job on`,
    );
  }
}
