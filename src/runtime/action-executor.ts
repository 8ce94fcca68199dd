/**
 * Executes the job machine's actions against the queue:
 *
 * | action        | SQS effect                                                                  |
 * |---------------|-----------------------------------------------------------------------------|
 * | `ack`         | DeleteMessage (batched)                                                     |
 * | `retry`       | SendMessage of the next envelope with DelaySeconds, then delete             |
 * | `defer`       | SendMessage of the same envelope for the rest of its wait, then delete      |
 * | `holdBack`    | the same: a job held back by its keys, re-sent after a delay, no attempt    |
 * | `deadLetter`  | SendMessage to the DLQ (envelope + reason + history), then delete           |
 * | `checkpoint`  | SendMessage of the envelope with the checkpoint, attempt reset, then delete |
 * | `extendLease` | ChangeMessageVisibility                                                     |
 * | `release`     | SendMessage of the same envelope (no delay), then delete: visible at once   |
 *
 * Each action comes typed from the stepper ({@link JobAction}: `type` and the params its definition
 * in job-machine.ts declares), so each case gets its params with no cast. Sends go through a
 * {@link SendBatcher} (SendMessageBatch within 5 ms), deletes through a DeleteBatcher.
 *
 * Always send before delete: a crash in between can duplicate a job, never lose one. The message's
 * {@link Lease} is kept until the delete is confirmed; once it is known lost no successor is sent (the
 * redelivered copy carries the job on). Every successor and dead letter is made to fit the size limit
 * (history trimmed, or a minimal `oversize` dead letter), and a send the server refuses for its
 * content dead-letters the job with the real error instead of leaving the message to come back as a
 * lost attempt. Events and metrics are decided once the settle is known.
 */
import type { Logger } from 'pino';
import type { SnapshotFrom } from 'xstate';
import type {
  CheckpointParams,
  DeadLetterParams,
  DeferParams,
  HoldBackParams,
  JobAction,
  JobMachine,
  RetryParams,
} from '../machines/job-machine.js';
import { jobAttributes } from '../queue/attributes.js';
import { deadLetterBody, invalidMessageBody, type DeadLetterRecord } from '../queue/dead-letter.js';
import { delaySecondsFor, notBeforeFor } from '../queue/delay.js';
import { ATTRIBUTE_ROOM_BYTES, bodyBytes, fitEnvelope } from '../queue/envelope-fit.js';
import { encodeEnvelope, type Envelope } from '../queue/envelope.js';
import { TransportError } from '../shared/errors.js';
import type { ProducerOperation } from '../queue/send-tracing.js';
import type { ReceivedMessage } from '../queue/transport.js';
import type { DeleteBatcher } from './delete-batcher.js';
import type { Lease } from './lease.js';
import type { SendBatcher } from '../queue/send-batcher.js';
import type { WorkerEvents } from './events.js';
import type { AttemptTelemetry, WorkerTelemetry } from './attempt-telemetry.js';
import type { ResolvedWorkerOptions } from './worker-options.js';
import type { SettleOutcome } from '../store/job-store.js';
import type { StoreLink } from './store-link.js';

export interface ExecutionScope {
  message: ReceivedMessage;
  envelope: Envelope;
  snapshot: SnapshotFrom<JobMachine>;
  telemetry: AttemptTelemetry;
  durationMs: number;
  /** The message's lease, kept by the runner until the settle is confirmed. */
  lease: Lease;
  /** With a job store: the attempt this message claimed, which every settle is compared against. */
  claim?: ClaimRef | undefined;
  /** The job's fairness key: successors keep its SQS MessageGroupId. */
  groupId?: string | undefined;
  /** Called once the store has the settle (the claim, and so its key's hold, is gone): a parked job of the key may go. */
  onStoreSettled?: (() => void) | undefined;
}

/** The claim a settle's compare-and-set matches: the job, the claimed attempt, the claiming message. */
export interface ClaimRef {
  jobId: string;
  attempt: number;
  messageId: string;
}

/**
 * What the job store said to a settle: write the queue side (`go`), or the job was cancelled or taken
 * over meanwhile (delete this message, nothing else), or the write could not be made while the lease
 * was held (`failed`: leave the message to come back).
 */
type StoreVerdict = 'go' | 'cancelled' | 'superseded' | 'failed';

/** Codes by which a server refuses a message for what it holds: retrying the same body cannot help. */
const CONTENT_REFUSED = new Set(['InvalidMessageContents', 'MessageTooLong', 'InvalidParameterValue', 'BatchRequestTooLong']);

/** How a replacing settle ended. */
type Settled = 'settled' | 'undeleted' | 'abandoned' | 'dead_instead';

export class ActionExecutor {
  readonly #options: ResolvedWorkerOptions;
  readonly #deleter: DeleteBatcher;
  readonly #sender: SendBatcher;
  readonly #events: WorkerEvents;
  readonly #telemetry: WorkerTelemetry;
  readonly #logger: Logger;
  readonly #store: StoreLink | undefined;

  constructor(
    options: ResolvedWorkerOptions,
    deps: {
      deleter: DeleteBatcher;
      sender: SendBatcher;
      events: WorkerEvents;
      telemetry: WorkerTelemetry;
      logger: Logger;
      store?: StoreLink | undefined;
    },
  ) {
    this.#options = options;
    this.#store = deps.store;
    this.#deleter = deps.deleter;
    this.#sender = deps.sender;
    this.#events = deps.events;
    this.#telemetry = deps.telemetry;
    this.#logger = deps.logger;
  }

  /** Executes the actions in order; resolves to what they did (`checkpoint` true when one was sent). */
  async execute(actions: readonly JobAction[], scope: ExecutionScope): Promise<{ checkpointed: boolean }> {
    let checkpointed = false;
    for (const action of actions) {
      switch (action.type) {
        case 'ack':
          await this.#ack(scope);
          break;
        case 'retry':
          await this.#retry(scope, action.params);
          break;
        case 'defer':
          await this.#defer(scope, action.params);
          break;
        case 'holdBack':
          await this.#holdBack(scope, action.params);
          break;
        case 'deadLetter':
          await this.#deadLetter(scope, action.params);
          break;
        case 'checkpoint':
          checkpointed = await this.#checkpoint(scope, action.params);
          break;
        case 'extendLease':
          await scope.lease.extend();
          break;
        case 'release':
          await this.#release(scope);
          break;
        default:
          // Every action the machine declares has a case above: a new one fails to compile here.
          action satisfies never;
      }
    }
    return { checkpointed };
  }

  #base(scope: ExecutionScope) {
    return {
      jobId: scope.envelope.id,
      type: scope.envelope.type,
      attempt: scope.snapshot.context.attempt,
      messageId: scope.message.messageId,
    };
  }

  /** Body bytes a message may have, attributes aside. */
  get #maxBodyBytes(): number {
    return this.#options.maxMessageBytes - ATTRIBUTE_ROOM_BYTES;
  }

  async #ack(scope: ExecutionScope): Promise<void> {
    // Deleted while the lease was held, or not at all: a delete confirmed after the lease ran out may
    // have raced a redelivery that another worker is already running, so the job is not reported as
    // succeeded, and telemetry says the same.
    // With a store the outcome is written first (once, compare-and-set): a crash before the delete
    // leaves a message whose job is already over, which the next claim drops.
    const verdict = await this.#settleInStore(scope, { kind: 'succeeded' });
    if (verdict !== 'go') return await this.#notOurs(scope, verdict, 'success');
    const deleted = await this.#deleter.delete(scope.message.receiptHandle, scope.lease);
    if (deleted) {
      scope.telemetry.end({ outcome: 'succeeded' });
      this.#events.emit('job:succeeded', { ...this.#base(scope), durationMs: scope.durationMs });
    } else {
      this.#abandon(
        scope,
        'DeleteMessage after success',
        `job ${scope.envelope.id} succeeded but its message could not be deleted while its lease was held; it will run again`,
      );
    }
  }

  async #retry(scope: ExecutionScope, params: RetryParams): Promise<void> {
    const now = this.#options.clock.now();
    const notBefore = notBeforeFor(params.delayMs, now);
    const { notBefore: _old, ...rest } = scope.envelope;
    const next: Envelope = {
      ...rest,
      attempt: params.nextAttempt,
      history: params.history,
      ...(params.checkpoint === undefined ? {} : { checkpoint: params.checkpoint }),
      ...(notBefore ? { notBefore: notBefore.toISOString() } : {}),
    };
    const error = scope.snapshot.context.lastError ?? { name: 'Error', message: 'unknown' };
    // The store's attempt advances only once the successor is confirmed sent: a message of an older
    // attempt is dropped, and it must never be the only copy.
    const afterSend = (): Promise<StoreVerdict> =>
      this.#settleInStore(scope, {
        kind: 'backoff',
        nextAttempt: params.nextAttempt,
        scheduledAt: now + params.delayMs,
        error,
        history: params.history,
      });
    const settled = await this.#sendThenDelete(
      scope,
      'retry',
      next,
      delaySecondsFor(params.delayMs),
      { 'job.retry_delay_ms': params.delayMs },
      afterSend,
    );
    if (settled !== 'settled' && settled !== 'undeleted') return;
    scope.telemetry.end({ outcome: 'retrying', error: asError(error), retryDelayMs: params.delayMs });
    this.#events.emit('job:retrying', { ...this.#base(scope), durationMs: scope.durationMs, delayMs: params.delayMs, error });
  }

  async #defer(scope: ExecutionScope, { delayMs }: DeferParams): Promise<void> {
    const now = this.#options.clock.now();
    const verdict = await this.#settleInStore(scope, { kind: 'pending', attempt: scope.envelope.attempt, scheduledAt: now + delayMs });
    if (verdict !== 'go') return void (await this.#notOurs(scope, verdict, 'defer'));
    const settled = await this.#sendThenDelete(scope, 'defer', scope.envelope, delaySecondsFor(delayMs), {});
    if (settled === 'abandoned' || settled === 'dead_instead') return;
    scope.telemetry.end({ outcome: 'deferred' });
    this.#events.emit('job:deferred', { ...this.#base(scope), delayMs });
  }

  /**
   * Held back by its keys (docs/keys.md): the same envelope re-sent after the delay, no attempt
   * counted (a fresh message, so the queue's receive count and redrive limit are not spent). A claim
   * held (a handler's RateLimitedError) is given back first with the throttle, as a hop's is.
   */
  async #holdBack(scope: ExecutionScope, { delayMs, reason, throttle }: HoldBackParams): Promise<void> {
    const now = this.#options.clock.now();
    const verdict = await this.#settleInStore(scope, {
      kind: 'pending',
      attempt: scope.envelope.attempt,
      scheduledAt: now + delayMs,
      ...(throttle ? { throttle } : {}),
    });
    if (verdict !== 'go') return void (await this.#notOurs(scope, verdict, 'hold-back'));
    const settled = await this.#sendThenDelete(scope, 'defer', scope.envelope, delaySecondsFor(delayMs), { 'job.held_delay_ms': delayMs });
    if (settled === 'abandoned' || settled === 'dead_instead') return;
    scope.telemetry.end({ outcome: 'held' });
    this.#events.emit('job:held', { ...this.#base(scope), reason, delayMs });
  }

  async #checkpoint(scope: ExecutionScope, params: CheckpointParams): Promise<boolean> {
    const { notBefore: _old, ...rest } = scope.envelope;
    const next: Envelope = { ...rest, attempt: 1, history: params.history, checkpoint: params.state };
    const verdict = await this.#settleInStore(scope, { kind: 'pending', attempt: 1, history: params.history });
    if (verdict !== 'go') {
      await this.#notOurs(scope, verdict, 'checkpoint');
      return false;
    }
    const settled = await this.#sendThenDelete(scope, 'checkpoint', next, 0, {});
    if (settled === 'abandoned' || settled === 'dead_instead') return false;
    scope.telemetry.end({ outcome: 'checkpointed' });
    return true;
  }

  async #deadLetter(scope: ExecutionScope, params: DeadLetterParams): Promise<void> {
    if (!scope.lease.held)
      return this.#abandon(
        scope,
        'dead-lettering',
        `the lease on job ${scope.envelope.id} was lost before its dead letter was sent; the redelivered copy carries the job on`,
      );
    const record: DeadLetterRecord = {
      reason: params.reason,
      ...(params.error ? { error: clipError(params.error) } : {}),
      at: new Date(this.#options.clock.now()).toISOString(),
      sourceMessageId: scope.message.messageId,
      receiveCount: scope.message.receiveCount,
    };
    const envelope: Envelope = { ...scope.envelope, attempt: scope.snapshot.context.attempt, history: params.history };
    // Written before the dead letter is sent: a crash in between leaves a message whose job is dead in
    // the store, and the claim of that copy completes the dead letter (deadLetterFromStore) instead of
    // running the job again — so it can never end both dead and succeeded.
    const verdict = await this.#settleInStore(scope, {
      kind: 'dead',
      reason: params.reason,
      error: params.error ? clipError(params.error) : undefined,
      history: params.history,
    });
    if (verdict !== 'go') return void (await this.#notOurs(scope, verdict, 'dead letter'));
    await this.#sendDeadLetter(scope.message, scope.lease, envelope, record, scope.telemetry, params.reason);
    const deleted = await this.#deleter.delete(scope.message.receiptHandle, scope.lease);
    if (!deleted) this.#undeleted(scope, 'dead-lettered');
    scope.telemetry.end({ outcome: 'dead', reason: params.reason, ...(params.error ? { error: asError(params.error) } : {}) });
    this.#events.emit('job:dead', { ...this.#base(scope), reason: params.reason, error: params.error });
  }

  /**
   * Gives the job back on a forced stop. ChangeMessageVisibility(0) would also make it visible at once,
   * but the next receive would see ApproximateReceiveCount 2 and count a lost attempt, so every
   * deploy would burn attempts; a fresh copy of the same envelope starts at receive count 1.
   */
  async #release(scope: ExecutionScope): Promise<void> {
    // The claim is given back before the copy is sent: the copy carries the same attempt, and a claim
    // still held would make the next worker drop it as a second copy.
    const verdict = await this.#settleInStore(scope, { kind: 'pending', attempt: scope.envelope.attempt });
    if (verdict !== 'go') return void (await this.#notOurs(scope, verdict, 'release'));
    const settled = await this.#sendThenDelete(scope, 'release', scope.envelope, 0, {});
    if (settled === 'abandoned' || settled === 'dead_instead') return;
    scope.telemetry.end({ outcome: 'released' });
    this.#events.emit('job:released', this.#base(scope));
  }

  /**
   * Gives back a message received while the worker was stopping, before any job ran: a fresh copy
   * (receive count 1, so no attempt is charged) then a delete. A message already received before
   * (count > 1) only has its visibility reset, so the next worker still sees that it was lost once.
   */
  async giveBack(message: ReceivedMessage, lease: Lease): Promise<void> {
    if (message.receiveCount > 1) {
      await this.#options.transport.changeVisibility(this.#options.queueUrl, message.receiptHandle, 0).catch((error: unknown) => {
        this.#logger.warn(
          { err: error, messageId: message.messageId },
          'could not give back a message received while stopping; it comes back after its visibility timeout',
        );
      });
      return;
    }
    if (!lease.held) return;
    await this.#sender.send(
      this.#options.queueUrl,
      { body: message.body, delaySeconds: 0, attributes: message.attributes },
      { deadline: sendDeadline(lease) },
    );
    await this.#deleter.delete(message.receiptHandle, lease);
  }

  /** A message that never became a job: to the DLQ with its raw body and the reason, then delete. */
  async deadLetterInvalid(message: ReceivedMessage, lease: Lease, reason: string, text: string, envelope?: Envelope): Promise<void> {
    if (!lease.held) {
      this.#logger.warn(
        { messageId: message.messageId, reason },
        `lease lost before an invalid message was dead-lettered; it comes back: ${text}`,
      );
      return;
    }
    const record: DeadLetterRecord = {
      reason,
      error: { name: 'InvalidMessage', message: text.slice(0, 2000), reason },
      at: new Date(this.#options.clock.now()).toISOString(),
      sourceMessageId: message.messageId,
      receiveCount: message.receiveCount,
    };
    await this.#sendDeadLetter(message, lease, envelope, record, undefined, reason);
    const deleted = await this.#deleter.delete(message.receiptHandle, lease);
    if (!deleted)
      this.#logger.warn(
        { messageId: message.messageId, reason },
        'an invalid message was dead-lettered but could not be deleted; it comes back and is dead-lettered again',
      );
    this.#telemetry.recordInvalid(reason, envelope?.type);
    this.#logger.warn({ messageId: message.messageId, reason }, `message dead-lettered: ${text}`);
    this.#events.emit('message:invalid', { messageId: message.messageId, reason, message: text });
  }

  /**
   * Sends a dead letter that always fits: the envelope with its record (history trimmed if needed),
   * else a minimal record (reason `oversize`, the sizes, the raw body cut to fit). A body the server
   * refuses for its content is replaced by the minimal record too.
   */
  async #sendDeadLetter(
    message: ReceivedMessage,
    lease: Lease,
    envelope: Envelope | undefined,
    record: DeadLetterRecord,
    telemetry: AttemptTelemetry | undefined,
    reason: string,
  ): Promise<void> {
    const maxBody = this.#maxBodyBytes;
    const fitted = envelope === undefined ? undefined : fitEnvelope(envelope, maxBody, (e) => deadLetterBody(e, record));
    let body: string;
    if (fitted) {
      body = fitted.body;
    } else if (envelope === undefined) {
      body = invalidMessageBody(message.body, record, maxBody);
    } else {
      body = this.#oversizeBody(message, envelope, record);
    }
    const send = (text: string): Promise<void> =>
      this.#sendWithRetry(
        this.#options.dlqUrl,
        this.#options.dlqName,
        text,
        0,
        envelope,
        'dead_letter',
        { 'job.dead_reason': reason },
        lease,
        telemetry,
      );
    try {
      await send(body);
    } catch (error) {
      if (!isContentRefusal(error)) throw error;
      this.#logger.error(
        { err: error, messageId: message.messageId },
        'the DLQ refused a dead letter for its content; sending a minimal record instead',
      );
      const minimal: DeadLetterRecord = {
        ...record,
        error: {
          name: 'Unsendable',
          message: `the dead letter was refused (${(error as TransportError).code}); original reason ${reason}`.slice(0, 2000),
          reason,
        },
      };
      await send(invalidMessageBody('', minimal, maxBody));
    }
  }

  /** The minimal dead letter of a job whose envelope cannot fit even without its history. */
  #oversizeBody(message: ReceivedMessage, envelope: Envelope, record: DeadLetterRecord): string {
    const envelopeBytes = bodyBytes(encodeEnvelope(envelope));
    const payloadBytes = bodyBytes(JSON.stringify(envelope.payload) ?? '');
    const oversize: DeadLetterRecord = {
      ...record,
      reason: 'oversize',
      error: {
        name: 'Oversize',
        message:
          `job ${envelope.id} (${envelope.type}, attempt ${envelope.attempt}) was to be ${record.reason === 'oversize' ? 'sent on' : `dead-lettered (${record.reason})`}, but its envelope is ${envelopeBytes} bytes (payload ${payloadBytes}) and the limit is ${this.#options.maxMessageBytes} bytes with attributes; message ${message.messageId}; ${record.error ? `last error ${record.error.name}: ${record.error.message}` : ''}`.slice(
            0,
            2000,
          ),
        reason: 'oversize',
      },
    };
    return invalidMessageBody(message.body, oversize, this.#maxBodyBytes);
  }

  /**
   * Sends the successor (the lease must still be held), then deletes the message. A successor that
   * cannot fit, or that the server refuses for its content, dead-letters the job instead.
   */
  async #sendThenDelete(
    scope: ExecutionScope,
    operation: ProducerOperation,
    next: Envelope,
    delaySeconds: number,
    attributes: Record<string, number>,
    /** Runs between the confirmed send and the delete (the store's write of a retry). */
    afterSend?: () => Promise<StoreVerdict>,
  ): Promise<Settled> {
    if (!scope.lease.held) {
      this.#abandon(
        scope,
        operation,
        `the lease on job ${scope.envelope.id} was lost before its ${operation} was sent; the redelivered copy carries the job on`,
      );
      return 'abandoned';
    }
    const fitted = fitEnvelope(next, this.#maxBodyBytes);
    if (!fitted)
      return await this.#deadInstead(
        scope,
        next,
        'oversize',
        `the ${operation} of job ${next.id} cannot fit the size limit even without its history`,
      );
    try {
      await this.#sendWithRetry(
        this.#options.queueUrl,
        this.#options.queueName,
        fitted.body,
        delaySeconds,
        fitted.envelope,
        operation,
        attributes,
        scope.lease,
        scope.telemetry,
        scope.groupId,
      );
    } catch (error) {
      if (!isContentRefusal(error)) throw error;
      return await this.#deadInstead(
        scope,
        next,
        'unsendable',
        `the ${operation} of job ${next.id} was refused: ${(error as Error).message}`,
      );
    }
    const verdict = afterSend ? await afterSend() : 'go';
    if (verdict !== 'go') {
      // Cancelled or taken over meanwhile: the successor just sent is dropped by its claim.
      await this.#notOurs(scope, verdict, operation);
      return 'abandoned';
    }
    const deleted = await this.#deleter.delete(scope.message.receiptHandle, scope.lease);
    if (!deleted) {
      this.#undeleted(scope, operation);
      return 'undeleted';
    }
    return 'settled';
  }

  /** The successor cannot be sent: dead-letter the job with why (the real error kept in the record). */
  async #deadInstead(scope: ExecutionScope, next: Envelope, reason: string, why: string): Promise<Settled> {
    this.#logger.error({ jobId: next.id, type: next.type, reason }, why);
    const error = { name: reason === 'oversize' ? 'Oversize' : 'Unsendable', message: why.slice(0, 2000), reason };
    const lastError = scope.snapshot.context.lastError;
    const record: DeadLetterRecord = {
      reason,
      error: lastError ? clipError({ ...lastError, message: `${lastError.message} (then: ${why})` }) : error,
      at: new Date(this.#options.clock.now()).toISOString(),
      sourceMessageId: scope.message.messageId,
      receiveCount: scope.message.receiveCount,
    };
    const verdict = await this.#settleInStore(scope, {
      kind: 'dead',
      reason,
      error: record.error,
      history: next.history ?? [],
    });
    if (verdict !== 'go') {
      await this.#notOurs(scope, verdict, 'dead letter');
      return 'dead_instead';
    }
    await this.#sendDeadLetter(scope.message, scope.lease, next, record, scope.telemetry, reason);
    const deleted = await this.#deleter.delete(scope.message.receiptHandle, scope.lease);
    if (!deleted) this.#undeleted(scope, 'dead-lettered');
    scope.telemetry.end({ outcome: 'dead', reason, error: asError(record.error ?? error) });
    this.#events.emit('job:dead', { ...this.#base(scope), reason, error: record.error ?? error });
    return 'dead_instead';
  }

  /** Writes the attempt's outcome to the job store (batched; nothing to do without one). */
  async #settleInStore(scope: ExecutionScope, outcome: SettleOutcome): Promise<StoreVerdict> {
    if (!this.#store || !scope.claim) return 'go';
    const { jobId, attempt, messageId } = scope.claim;
    const result = await this.#store.settle({ jobId, attempt, messageId, outcome }, scope.lease);
    if (result === undefined) return 'failed';
    scope.onStoreSettled?.();
    return result.kind === 'settled' ? 'go' : result.kind;
  }

  /**
   * The store says the job is no longer this attempt's: cancelled meanwhile, or taken over by another
   * copy after this claim expired. Nothing more is sent; this message is deleted. A write that could
   * not be made (`failed`) leaves the message to come back.
   */
  async #notOurs(scope: ExecutionScope, verdict: Exclude<StoreVerdict, 'go'>, what: string): Promise<void> {
    if (verdict === 'failed') {
      return this.#abandon(scope, what, `job ${scope.envelope.id}: the job store could not record its ${what} while the lease was held`);
    }
    if (verdict === 'cancelled') return await this.settleCancelled(scope);
    this.#logger.warn(
      { jobId: scope.envelope.id, attempt: scope.claim?.attempt, messageId: scope.message.messageId },
      `the job store gave this attempt to another copy before its ${what} was recorded; this copy is deleted`,
    );
    await this.#deleter.delete(scope.message.receiptHandle, scope.lease);
    scope.telemetry.end({ outcome: 'abandoned' });
  }

  /** The job was cancelled in the store while this attempt held it: delete the message, nothing else. */
  async settleCancelled(scope: ExecutionScope): Promise<void> {
    const deleted = await this.#deleter.delete(scope.message.receiptHandle, scope.lease);
    if (!deleted) this.#undeleted(scope, 'cancel');
    scope.telemetry.end({ outcome: 'cancelled' });
    this.#logger.info({ jobId: scope.envelope.id, type: scope.envelope.type, attempt: scope.claim?.attempt }, 'job cancelled');
    this.#events.emit('job:cancelled', this.#base(scope));
  }

  /** A message the store said must not run: delete it unrun, and count it. */
  async dropDuplicate(message: ReceivedMessage, lease: Lease, envelope: Envelope, reason: string): Promise<void> {
    const deleted = await this.#deleter.delete(message.receiptHandle, lease);
    this.#telemetry.recordDuplicate(reason, envelope.type);
    this.#logger.info(
      { jobId: envelope.id, type: envelope.type, attempt: envelope.attempt, messageId: message.messageId, reason, deleted },
      `duplicate dropped (${reason}): the job store says this message must not run`,
    );
    this.#events.emit('job:duplicate', {
      jobId: envelope.id,
      type: envelope.type,
      attempt: envelope.attempt,
      messageId: message.messageId,
      reason,
    });
  }

  /**
   * A copy of a job the store already has dead: its dead letter may not have been sent (the store is
   * written first), so send it now, then delete. At worst the DLQ holds two records of one dead job.
   */
  async deadLetterFromStore(message: ReceivedMessage, lease: Lease, envelope: Envelope, reason: string): Promise<void> {
    if (!lease.held) return;
    const record: DeadLetterRecord = {
      reason,
      at: new Date(this.#options.clock.now()).toISOString(),
      sourceMessageId: message.messageId,
      receiveCount: message.receiveCount,
    };
    await this.#sendDeadLetter(message, lease, envelope, record, undefined, reason);
    const deleted = await this.#deleter.delete(message.receiptHandle, lease);
    this.#telemetry.recordDuplicate('terminal', envelope.type);
    this.#events.emit('job:duplicate', {
      jobId: envelope.id,
      type: envelope.type,
      attempt: envelope.attempt,
      messageId: message.messageId,
      reason: 'terminal',
    });
    this.#logger.warn(
      { jobId: envelope.id, type: envelope.type, messageId: message.messageId, reason, deleted },
      'a copy of a job already dead in the job store came back: its dead letter is sent (again), it does not run',
    );
  }

  /** The successor exists but the message could not be deleted while leased: it comes back. */
  #undeleted(scope: ExecutionScope, operation: string): void {
    this.#events.emit('worker:error', {
      error: new Error(
        `job ${scope.envelope.id}: its message could not be deleted after the ${operation} was sent; it comes back and may duplicate the job`,
      ),
      during: `DeleteMessage after ${operation}`,
    });
  }

  /** Nothing was settled: the message comes back and the job goes on from there. */
  #abandon(scope: ExecutionScope, during: string, text: string): void {
    scope.telemetry.end({ outcome: 'abandoned' });
    this.#events.emit('worker:error', { error: new Error(text), during });
  }

  /**
   * Sends (batched) inside the telemetry's send hook (a PRODUCER span, the child of `attempt`'s span:
   * its `traceSend` takes the parent explicitly, so no trace context is entered here); a failure that
   * outlasts the retries throws, and the caller's message is redelivered.
   */
  async #sendWithRetry(
    queueUrl: string,
    queueName: string,
    body: string,
    delaySeconds: number,
    envelope: Envelope | undefined,
    operation: ProducerOperation,
    attributes: Record<string, string | number>,
    lease: Lease,
    /** The attempt that causes the send, if any (an invalid message has none). */
    attempt: AttemptTelemetry | undefined,
    groupId?: string,
  ): Promise<void> {
    const jobType = envelope?.type ?? 'unknown';
    const info = {
      destination: queueName,
      jobId: envelope?.id ?? 'unknown',
      jobType,
      attempt: envelope?.attempt ?? 0,
      operation,
      attributes,
    };
    const send = async (carrier: Record<string, string>): Promise<{ messageId?: string }> => {
      const messageAttributes = jobAttributes(body, jobType, this.#options.signMessage, carrier);
      return await this.#sender.send(
        queueUrl,
        { body, delaySeconds, attributes: messageAttributes, ...(groupId === undefined ? {} : { groupId }) },
        { deadline: sendDeadline(lease) },
      );
    };
    if (attempt?.traceSend) await attempt.traceSend(info, send);
    // An AttemptTelemetry of its own making without `traceSend`: the worker's hook inside the attempt's context, as before.
    else if (attempt) await attempt.run(() => this.#telemetry.traceSend(info, send));
    else await this.#telemetry.traceSend(info, send);
  }
}

/** A dead-letter record's error within the envelope schema's limits (name 200, message 2,000 characters). */
function clipError<E extends { name: string; message: string; reason?: string | undefined }>(error: E): E {
  return {
    ...error,
    name: error.name.slice(0, 200),
    message: error.message.slice(0, 2000),
    ...(error.reason === undefined ? {} : { reason: error.reason.slice(0, 200) }),
  };
}

/**
 * How long before its lease runs out a successor must have been sent. A send still under way then is
 * aborted and not tried again: landing later, it would race the redelivered copy (seen in the chaos
 * suite: a retry sent 0.7 s after the lease ran out, during a network cut, doubled the job).
 */
const SEND_LEASE_MARGIN_MS = 1_000;

/** The send deadline for a message's successor: its lease's end (as extended so far) less the margin. */
function sendDeadline(lease: Lease): () => number {
  return () => (lease.held ? lease.expiresAt - SEND_LEASE_MARGIN_MS : Number.NEGATIVE_INFINITY);
}

function isContentRefusal(error: unknown): boolean {
  return TransportError.is(error) && !error.retryable && CONTENT_REFUSED.has(error.code);
}

function asError(error: { name: string; message: string }): Error {
  const result = new Error(error.message);
  result.name = error.name;
  return result;
}
