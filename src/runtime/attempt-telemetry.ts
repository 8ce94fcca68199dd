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
  | 'cancelled'
  /** Held back by its keys (busy, out of starts, throttled): re-sent after a delay, no attempt counted. */
  | 'held';

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

/** What the scheduler (scheduler.ts) reports. */
export interface SchedulerTelemetry {
  /** Ticks run, by job type and run kind (tick, catchup, buffered). */
  recordTicksFired(jobType: string, kind: string, count: number): void;
  /** Ticks not run: `overlap` (the policy, or collapsed into one catch-up run) or `missed` (past the catch-up window). */
  recordTicksSkipped(jobType: string, reason: 'overlap' | 'missed', count: number): void;
  /** From a tick's fire time (its time plus jitter) to its job enqueued. */
  recordTickLag(jobType: string, lagMs: number): void;
  /** Schedules due at the latest claim. */
  recordSchedulesDue(count: number): void;
}

export interface WorkerTelemetry extends SchedulerTelemetry {
  startAttempt(info: AttemptInfo): AttemptTelemetry;
  /** Counts a message dead-lettered before any machine ran (invalid envelope, bad signature). */
  recordInvalid(reason: string, jobType?: string): void;
  /** Counts a message the job store said must not run, deleted unrun (`calsync_jobs_duplicates_dropped_total{reason}`). */
  recordDuplicate(reason: string, jobType: string): void;
  /** Counts a job held back by its keys (`calsync_jobs_held_total{reason="concurrency"|"rate"}`); a throttle counts as `rate`. */
  recordHeld?(reason: 'concurrency' | 'rate', jobType: string): void;
  /** Reports how many concurrency keys this worker's running jobs hold (`calsync_jobs_keys_held`), read at each collection. */
  observeKeysHeld?(read: () => number): { stop(): void };
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
  recordTicksFired: () => undefined,
  recordTicksSkipped: () => undefined,
  recordTickLag: () => undefined,
  recordSchedulesDue: () => undefined,
};
