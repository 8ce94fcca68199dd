/**
 * The runtime's telemetry port: what the worker calls per attempt, per invalid message, for the
 * queue-depth gauge and around its own sends, a no-op implementation, and {@link attemptInfo} (what
 * an attempt's start reports). The runtime may not import telemetry/ (docs/architecture.md,
 * "Layers"), so a bare runtime `Worker` defaults to {@link noopWorkerTelemetry};
 * `createWorkerTelemetry` (src/telemetry/worker-telemetry.ts) is the OpenTelemetry implementation,
 * and the package's `createWorker` / `processJobs` plug it in by default.
 */
import type { Clock } from '../shared/clock.js';
import { type SendTracer, untracedSend } from '../queue/send-tracing.js';
import type { Envelope } from '../queue/envelope.js';
import type { QueueDepth, ReceivedMessage } from '../queue/transport.js';

export interface AttemptInfo {
  jobType: string;
  jobId: string;
  attempt: number;
  /** SQS MessageId of the message being processed. */
  messageId: string;
  /** The message's String MessageAttributes (`traceparent`, `tracestate`, ...). */
  attributes: Record<string, string>;
  /** Epoch ms the job was enqueued (SentTimestamp of the first message, or the envelope's createdAt). */
  enqueuedAtMs?: number;
}

/** What the port is told when an attempt of `envelope`'s job starts on `message`. */
export function attemptInfo(message: ReceivedMessage, envelope: Envelope, attempt: number): AttemptInfo {
  return {
    jobType: envelope.type,
    jobId: envelope.id,
    attempt,
    messageId: message.messageId,
    attributes: message.attributes,
    ...(attempt === 1 && envelope.checkpoint === undefined ? { enqueuedAtMs: message.sentTimestamp } : {}),
  };
}

/**
 * How an attempt ended: `succeeded` (acked), `retrying` (re-sent with a delay), `dead` (to the DLQ),
 * `released` (given back on shutdown as a fresh copy), `abandoned` (the lease was lost before the
 * settle was confirmed: the message comes back and the job goes on from there), `deferred` (an early arrival re-sent until
 * `notBefore`), `checkpointed` (progress saved, re-sent with the checkpoint).
 */
export type AttemptOutcome =
  | 'succeeded'
  | 'retrying'
  | 'dead'
  | 'released'
  | 'deferred'
  | 'checkpointed'
  | 'abandoned'
  /** The job was cancelled in the job store while this attempt held it. */
  | 'cancelled';

export interface AttemptResult {
  outcome: AttemptOutcome;
  /** The attempt's error, if it failed (retrying, dead). */
  error?: Error;
  /** Why the job is dead; a short, low-cardinality code (`attempts_exhausted`, `non_retryable`, ...). */
  reason?: string;
  /** Delay before the next attempt when retrying. */
  retryDelayMs?: number;
}

export interface AttemptTelemetry {
  /** Hex trace id for logs (`trace_id`); all zeros when nothing is traced. */
  readonly traceId: string;
  /** Hex span id for logs (`span_id`); all zeros when nothing is traced. */
  readonly spanId: string;
  /**
   * Runs the handler: inside the attempt's trace context (OpenTelemetry's active context: spans the
   * handler's own code starts, and jobs it enqueues, are the attempt's children), unless the
   * worker's `handlerTraceContext` is off, in which case `fn` just runs.
   */
  run<T>(fn: () => T): T;
  /**
   * Wraps the worker's own sends for this attempt (retry, dead letter, checkpoint, defer, release):
   * their PRODUCER spans are children of the attempt's span, the parent given explicitly, so no
   * context is entered for them. Optional for implementations of the port written before it: the
   * worker then calls its `WorkerTelemetry.traceSend` inside `run`.
   */
  traceSend?: SendTracer;
  /** Ends the attempt's span and records the metrics; later calls do nothing. */
  end(result: AttemptResult): void;
}

/** Which of the worker's two queues; the queue-depth gauge's `queue` label. */
export type QueueRole = 'main' | 'dlq';

export interface QueueDepthOptions {
  /**
   * How often each queue is polled. Values below 5000 are raised to 5000.
   * @defaultValue 15000
   */
  intervalMs?: number;
}

export interface WorkerTelemetry {
  startAttempt(info: AttemptInfo): AttemptTelemetry;
  /** Counts a message dead-lettered before any machine ran (invalid envelope, bad signature). */
  recordInvalid(reason: string, jobType?: string): void;
  /** Counts a message the job store said must not run, deleted unrun (`calsync_jobs_duplicates_dropped_total{reason}`). */
  recordDuplicate(reason: string, jobType: string): void;
  /**
   * Reports the queue-depth gauge from a background refresh of `read` (at most once per interval and
   * queue; default 15 s, minimum 5 s). One at a time: `stop()` the previous one before calling again.
   */
  observeQueueDepth(read: (queue: QueueRole) => Promise<QueueDepth>, options?: QueueDepthOptions): { stop(): void };
  /**
   * Wraps the worker's sends (retry, dead letter, checkpoint, defer, release): the PRODUCER span hook.
   * A send of an attempt whose `AttemptTelemetry` has its own `traceSend` goes through that one
   * instead; the rest (an invalid message's dead letter, an attempt without one) through this.
   */
  traceSend: SendTracer;
}

/** Builds a worker's default telemetry once its options are resolved. `createWorkerTelemetry` fits. */
export type WorkerTelemetryFactory = (scope: { queueName: string; dlqName: string; clock: Clock }) => WorkerTelemetry;

const NO_TRACE_ID = '0'.repeat(32);
const NO_SPAN_ID = '0'.repeat(16);

const noopAttempt: AttemptTelemetry = {
  traceId: NO_TRACE_ID,
  spanId: NO_SPAN_ID,
  run: (fn) => fn(),
  end: () => undefined,
};

/** Telemetry that records nothing: ids are all zeros, queue depth is never read, sends are untraced. */
export const noopWorkerTelemetry: WorkerTelemetry = {
  startAttempt: () => noopAttempt,
  recordInvalid: () => undefined,
  recordDuplicate: () => undefined,
  observeQueueDepth: () => ({ stop: () => undefined }),
  traceSend: untracedSend,
};
