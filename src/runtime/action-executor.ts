/**
 * Executes the job machine's actions against the queue:
 *
 * | action        | SQS effect                                                                  |
 * |---------------|-----------------------------------------------------------------------------|
 * | `ack`         | DeleteMessage (batched)                                                     |
 * | `retry`       | SendMessage of the next envelope with DelaySeconds, then delete             |
 * | `defer`       | SendMessage of the same envelope for the rest of its wait, then delete      |
 * | `deadLetter`  | SendMessage to the DLQ (envelope + reason + history), then delete           |
 * | `checkpoint`  | SendMessage of the envelope with the checkpoint, attempt reset, then delete |
 * | `extendLease` | ChangeMessageVisibility                                                     |
 * | `release`     | SendMessage of the same envelope (no delay), then delete: visible at once   |
 *
 * Sends go through a {@link SendBatcher} (SendMessageBatch within 5 ms), deletes through a DeleteBatcher.
 *
 * Always send before delete: a crash in between can duplicate a job, never lose one.
 */
import { context as otelContext } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { SnapshotFrom, transition } from 'xstate';
import type { DeadLetterParams, JobMachine, RetryParams } from '../machines/job-machine.js';
import { deadLetterBody, invalidMessageBody, type DeadLetterRecord } from '../queue/dead-letter.js';
import { delaySecondsFor, notBeforeFor } from '../queue/delay.js';
import { encodeEnvelope, type Envelope, type HistoryEntry } from '../queue/envelope.js';
import { TransportError, toError } from '../queue/errors.js';
import { withProducerSpan, type ProducerOperation } from '../queue/tracing.js';
import type { ReceivedMessage } from '../queue/transport.js';
import type { DeleteBatcher } from './delete-batcher.js';
import type { SendBatcher } from './send-batcher.js';
import type { WorkerEvents } from './events.js';
import type { AttemptTelemetry, WorkerTelemetry } from './telemetry/index.js';
import type { ResolvedWorkerOptions } from './worker-options.js';

type Actions = ReturnType<typeof transition<JobMachine>>[1];

export interface ExecutionScope {
  message: ReceivedMessage;
  envelope: Envelope;
  snapshot: SnapshotFrom<JobMachine>;
  telemetry: AttemptTelemetry;
  durationMs: number;
  /** When the message's lease runs out (epoch ms): after it another worker may hold the message. */
  leaseExpiresAt: number;
  /** Records a successful lease extension. */
  leaseExtended(expiresAt: number): void;
}

/** Retries carry at most this many history entries (the oldest are dropped) to stay far below 1 MiB. */
const MAX_HISTORY = 100;
const STALE_HANDLE_CODES = new Set(['ReceiptHandleIsInvalid', 'MessageNotInflight', 'InvalidParameterValue', 'AWS.SimpleQueueService.MessageNotInflight']);

export class ActionExecutor {
  readonly #options: ResolvedWorkerOptions;
  readonly #deleter: DeleteBatcher;
  readonly #sender: SendBatcher;
  readonly #events: WorkerEvents;
  readonly #telemetry: WorkerTelemetry;
  readonly #logger: Logger;

  constructor(options: ResolvedWorkerOptions, deps: { deleter: DeleteBatcher; sender: SendBatcher; events: WorkerEvents; telemetry: WorkerTelemetry; logger: Logger }) {
    this.#options = options;
    this.#deleter = deps.deleter;
    this.#sender = deps.sender;
    this.#events = deps.events;
    this.#telemetry = deps.telemetry;
    this.#logger = deps.logger;
  }

  async execute(actions: Actions, scope: ExecutionScope): Promise<void> {
    for (const action of actions) {
      switch (action.type) {
        case 'ack':
          await this.#ack(scope);
          break;
        case 'retry':
          await this.#retry(scope, action.params as RetryParams);
          break;
        case 'defer':
          await this.#defer(scope, (action.params as { delayMs: number }).delayMs);
          break;
        case 'deadLetter':
          await this.#deadLetter(scope, action.params as DeadLetterParams);
          break;
        case 'checkpoint':
          await this.#checkpoint(scope, action.params as { state: unknown; history: HistoryEntry[] });
          break;
        case 'extendLease':
          {
            const requestedAt = this.#options.clock.now();
            if (await this.#changeVisibility(scope.message, this.#options.visibilityTimeoutSeconds)) {
              scope.leaseExtended(requestedAt + this.#options.visibilityTimeoutSeconds * 1000);
            }
          }
          break;
        case 'release':
          await this.#release(scope);
          break;
        default:
          break; // assign and other built-ins are already applied by transition()
      }
    }
  }

  #base(scope: ExecutionScope) {
    return { jobId: scope.envelope.id, type: scope.envelope.type, attempt: scope.snapshot.context.attempt, messageId: scope.message.messageId };
  }

  async #ack(scope: ExecutionScope): Promise<void> {
    // Deleted in time, or not at all: a delete that lands after the lease ran out may race a
    // redelivery that another worker is already running, so the job is not reported as succeeded.
    const deleted = await this.#deleter.delete(scope.message.receiptHandle, scope.leaseExpiresAt);
    scope.telemetry.end({ outcome: 'succeeded' });
    if (deleted) {
      this.#events.emit('job:succeeded', { ...this.#base(scope), durationMs: scope.durationMs });
    } else {
      // The attempt succeeded but its message stays: it will come back, be counted as lost and run
      // again. Reporting the job as succeeded now could contradict how it finally ends.
      this.#events.emit('worker:error', {
        error: new Error(`job ${scope.envelope.id} succeeded but its message could not be deleted; it will run again`),
        during: 'DeleteMessage after success',
      });
    }
  }

  async #retry(scope: ExecutionScope, params: RetryParams): Promise<void> {
    const now = this.#options.clock.now();
    const notBefore = notBeforeFor(params.delayMs, now);
    const { notBefore: _old, ...rest } = scope.envelope;
    const next: Envelope = {
      ...rest,
      attempt: params.nextAttempt,
      history: params.history.slice(-MAX_HISTORY),
      ...(params.checkpoint === undefined ? {} : { checkpoint: params.checkpoint }),
      ...(notBefore ? { notBefore: notBefore.toISOString() } : {}),
    };
    await this.#sendThenDelete(scope, 'retry', next, delaySecondsFor(params.delayMs), { 'job.retry_delay_ms': params.delayMs });
    const error = scope.snapshot.context.lastError ?? { name: 'Error', message: 'unknown' };
    scope.telemetry.end({ outcome: 'retrying', error: asError(error), retryDelayMs: params.delayMs });
    this.#events.emit('job:retrying', { ...this.#base(scope), durationMs: scope.durationMs, delayMs: params.delayMs, error });
  }

  async #defer(scope: ExecutionScope, delayMs: number): Promise<void> {
    await this.#sendThenDelete(scope, 'defer', scope.envelope, delaySecondsFor(delayMs), {});
    scope.telemetry.end({ outcome: 'deferred' });
    this.#events.emit('job:deferred', { ...this.#base(scope), delayMs });
  }

  async #checkpoint(scope: ExecutionScope, params: { state: unknown; history: HistoryEntry[] }): Promise<void> {
    const { notBefore: _old, ...rest } = scope.envelope;
    const next: Envelope = { ...rest, attempt: 1, history: params.history.slice(-MAX_HISTORY), checkpoint: params.state };
    await this.#sendThenDelete(scope, 'checkpoint', next, 0, {});
    scope.telemetry.end({ outcome: 'checkpointed' });
  }

  async #deadLetter(scope: ExecutionScope, params: DeadLetterParams): Promise<void> {
    const record: DeadLetterRecord = {
      reason: params.reason,
      ...(params.error ? { error: params.error } : {}),
      at: new Date(this.#options.clock.now()).toISOString(),
      sourceMessageId: scope.message.messageId,
      receiveCount: scope.message.receiveCount,
    };
    const envelope: Envelope = { ...scope.envelope, attempt: scope.snapshot.context.attempt, history: params.history.slice(-MAX_HISTORY) };
    const body = deadLetterBody(envelope, record);
    await otelContext.with(scope.telemetry.context, () =>
      this.#sendWithRetry(this.#options.dlqUrl, this.#options.dlqName, body, 0, envelope, 'dead_letter', { 'job.dead_reason': params.reason }),
    );
    await this.#deleter.delete(scope.message.receiptHandle);
    scope.telemetry.end({ outcome: 'dead', reason: params.reason, ...(params.error ? { error: asError(params.error) } : {}) });
    this.#events.emit('job:dead', { ...this.#base(scope), reason: params.reason, error: params.error });
  }

  /**
   * Gives the job back on a forced stop. ChangeMessageVisibility(0) would also make it visible at once,
   * but the next receive would see ApproximateReceiveCount 2 and count a lost attempt, so every
   * deploy would burn attempts; a fresh copy of the same envelope starts at receive count 1.
   */
  async #release(scope: ExecutionScope): Promise<void> {
    await this.#sendThenDelete(scope, 'release', scope.envelope, 0, {});
    scope.telemetry.end({ outcome: 'released' });
    this.#events.emit('job:released', this.#base(scope));
  }

  /** A message that never became a job: to the DLQ with its raw body and the reason, then delete. */
  async deadLetterInvalid(message: ReceivedMessage, reason: string, text: string, envelope?: Envelope): Promise<void> {
    const record: DeadLetterRecord = {
      reason,
      error: { name: 'InvalidMessage', message: text.slice(0, 2000), reason },
      at: new Date(this.#options.clock.now()).toISOString(),
      sourceMessageId: message.messageId,
      receiveCount: message.receiveCount,
    };
    const body = envelope ? deadLetterBody(envelope, record) : invalidMessageBody(message.body, record, this.#options.maxMessageBytes);
    await this.#sendWithRetry(this.#options.dlqUrl, this.#options.dlqName, body, 0, envelope, 'dead_letter', { 'job.dead_reason': reason });
    await this.#deleter.delete(message.receiptHandle);
    this.#telemetry.recordInvalid(reason, envelope?.type);
    this.#logger.warn({ messageId: message.messageId, reason }, `message dead-lettered: ${text}`);
    this.#events.emit('message:invalid', { messageId: message.messageId, reason, message: text });
  }

  async #sendThenDelete(scope: ExecutionScope, operation: ProducerOperation, next: Envelope, delaySeconds: number, attributes: Record<string, number>): Promise<void> {
    await otelContext.with(scope.telemetry.context, () =>
      this.#sendWithRetry(this.#options.queueUrl, this.#options.queueName, encodeEnvelope(next), delaySeconds, next, operation, attributes),
    );
    await this.#deleter.delete(scope.message.receiptHandle);
  }

  /** Sends (batched) with a PRODUCER span; a failure that outlasts the retries throws, and the caller's message is redelivered. */
  async #sendWithRetry(
    queueUrl: string,
    queueName: string,
    body: string,
    delaySeconds: number,
    envelope: Envelope | undefined,
    operation: ProducerOperation,
    attributes: Record<string, string | number>,
  ): Promise<void> {
    const jobType = envelope?.type ?? 'unknown';
    const info = { destination: queueName, jobId: envelope?.id ?? 'unknown', jobType, attempt: envelope?.attempt ?? 0, operation, attributes };
    await withProducerSpan(info, async (carrier) => {
      const messageAttributes = { ...carrier, 'job-type': jobType, ...this.#options.signMessage?.(body, jobType) };
      return await this.#sender.send(queueUrl, { body, delaySeconds, attributes: messageAttributes });
    });
  }

  /** True when the visibility change went through. */
  async #changeVisibility(message: ReceivedMessage, seconds: number): Promise<boolean> {
    try {
      await this.#options.transport.changeVisibility(this.#options.queueUrl, message.receiptHandle, seconds);
      return true;
    } catch (error) {
      if (TransportError.is(error) && STALE_HANDLE_CODES.has(error.code)) {
        this.#logger.debug({ messageId: message.messageId, code: error.code }, 'lease change on a settled message ignored');
        return false;
      }
      this.#events.emit('worker:error', { error: toError(error), during: `ChangeMessageVisibility(${seconds}) of ${message.messageId}` });
      return false;
    }
  }
}

function asError(error: { name: string; message: string }): Error {
  const result = new Error(error.message);
  result.name = error.name;
  return result;
}
