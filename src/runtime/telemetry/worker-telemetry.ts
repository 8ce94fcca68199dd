/**
 * Spans and metrics for the worker: one CONSUMER `process <job type>` span per attempt, parented on
 * the trace context carried by the message, and the job counters / histograms / queue-depth gauge.
 * Uses only `@opentelemetry/api`; the SDK (if any) is registered by the CLI.
 */
import {
  type Attributes,
  type Context,
  metrics,
  type Meter,
  type ObservableGauge,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import { type Clock, systemClock } from '../../shared/clock.js';
import { errorType, extractContext, MESSAGING_SYSTEM, recordSpanError, TRACER_NAME } from '../../queue/tracing.js';
import type { QueueDepth } from '../../queue/transport.js';
import { createJobInstruments, INSTRUMENT_NAMES } from './instruments.js';
import { type QueueDepthOptions, type QueueRole, startQueueDepthPoller } from './queue-depth.js';

export interface WorkerTelemetryOptions {
  /** @defaultValue `trace.getTracer('calsync-jobs')` */
  tracer?: Tracer;
  /** @defaultValue `metrics.getMeter('calsync-jobs')` */
  meter?: Meter;
  /** Main queue name: `messaging.destination.name` of process spans. */
  queueName: string;
  /** Dead-letter queue name. */
  dlqName: string;
  /** Times durations, queue lag and the queue-depth refresh. @defaultValue `systemClock` */
  clock?: Clock;
}

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

/**
 * How an attempt ended: `succeeded` (acked), `retrying` (re-sent with a delay), `dead` (to the DLQ),
 * `released` (given back on shutdown as a fresh copy), `abandoned` (the lease was lost before the
 * settle was confirmed: the message comes back and the job goes on from there), `deferred` (an early arrival re-sent until
 * `notBefore`), `checkpointed` (progress saved, re-sent with the checkpoint).
 */
export type AttemptOutcome = 'succeeded' | 'retrying' | 'dead' | 'released' | 'deferred' | 'checkpointed' | 'abandoned';

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
  /** Context holding the process span: run the handler and the retry / DLQ sends inside `context.with(this.context, ...)`. */
  readonly context: Context;
  /** Hex trace id for logs (`trace_id`); all zeros when no SDK is registered. */
  readonly traceId: string;
  /** Hex span id for logs (`span_id`); all zeros when no SDK is registered. */
  readonly spanId: string;
  /** Ends the span and records the metrics; later calls do nothing. */
  end(result: AttemptResult): void;
}

export interface WorkerTelemetry {
  startAttempt(info: AttemptInfo): AttemptTelemetry;
  /** Counts a message dead-lettered before any machine ran (invalid envelope, bad signature). */
  recordInvalid(reason: string, jobType?: string): void;
  /**
   * Reports the queue-depth gauge from a background refresh of `read` (at most once per interval and
   * queue; default 15 s, minimum 5 s). One at a time: `stop()` the previous one before calling again.
   */
  observeQueueDepth(read: (queue: QueueRole) => Promise<QueueDepth>, options?: QueueDepthOptions): { stop(): void };
}

/** Label value used when a job type is not known (a message that failed to parse). */
export const UNKNOWN_JOB_TYPE = 'unknown';

/** Creates the worker's telemetry. No side effects: instruments are created, nothing is started. */
export function createWorkerTelemetry(options: WorkerTelemetryOptions): WorkerTelemetry {
  const tracer = options.tracer ?? trace.getTracer(TRACER_NAME);
  const meter = options.meter ?? metrics.getMeter(TRACER_NAME);
  const clock = options.clock ?? systemClock;
  const instruments = createJobInstruments(meter);
  let depthGauge: ObservableGauge | undefined;
  let depthPoller: { stop(): void } | undefined;

  const startAttempt = (info: AttemptInfo): AttemptTelemetry => {
    const startedAtMs = clock.now();
    const parent = extractContext(info.attributes);
    const attributes: Attributes = {
      'messaging.system': MESSAGING_SYSTEM,
      'messaging.operation.name': 'process',
      'messaging.operation.type': 'process',
      'messaging.destination.name': options.queueName,
      'messaging.message.id': info.messageId,
      'job.id': info.jobId,
      'job.type': info.jobType,
      'job.attempt': info.attempt,
    };
    const span = tracer.startSpan(`process ${info.jobType}`, { kind: SpanKind.CONSUMER, attributes }, parent);
    const spanContext = span.spanContext();

    if (info.enqueuedAtMs !== undefined && Number.isFinite(info.enqueuedAtMs)) {
      const lagSeconds = Math.max(0, startedAtMs - info.enqueuedAtMs) / 1000;
      instruments.queueLag.record(lagSeconds, { job_type: info.jobType });
    }

    let ended = false;
    return {
      context: trace.setSpan(parent, span),
      traceId: spanContext.traceId,
      spanId: spanContext.spanId,
      end(result: AttemptResult): void {
        if (ended) return;
        ended = true;
        const { outcome, error } = result;
        span.setAttribute('job.outcome', outcome);
        if (outcome === 'retrying' && result.retryDelayMs !== undefined) {
          span.setAttribute('job.retry_delay_ms', result.retryDelayMs);
        }
        const deadReason = result.reason ?? (error ? errorType(error) : 'unknown');
        if (outcome === 'dead') span.setAttribute('job.dead_reason', deadReason);
        if (error) {
          recordSpanError(span, error);
        } else if (outcome === 'dead') {
          span.setStatus({ code: SpanStatusCode.ERROR, message: deadReason });
          span.setAttribute('error.type', deadReason);
        }
        span.end();

        const jobType = info.jobType;
        const durationSeconds = Math.max(0, clock.now() - startedAtMs) / 1000;
        instruments.processed.add(1, { job_type: jobType, outcome });
        instruments.duration.record(durationSeconds, { job_type: jobType, outcome });
        if (error) instruments.failed.add(1, { job_type: jobType, error_type: errorType(error) });
        if (outcome === 'retrying') instruments.retried.add(1, { job_type: jobType });
        if (outcome === 'dead') instruments.deadLettered.add(1, { job_type: jobType, reason: deadReason });
      },
    };
  };

  return {
    startAttempt,
    recordInvalid(reason: string, jobType?: string): void {
      instruments.deadLettered.add(1, { job_type: jobType ?? UNKNOWN_JOB_TYPE, reason });
    },
    observeQueueDepth(read, depthOptions) {
      if (depthPoller) throw new Error('observeQueueDepth is already running: stop() it before starting another');
      depthGauge ??= meter.createObservableGauge(INSTRUMENT_NAMES.queueDepth, {
        description: `Approximate messages in the main queue (${options.queueName}) and the DLQ (${options.dlqName}), by state.`,
        unit: '{message}',
      });
      const poller = startQueueDepthPoller(depthGauge, read, clock, depthOptions);
      depthPoller = poller;
      return {
        stop(): void {
          poller.stop();
          if (depthPoller === poller) depthPoller = undefined;
        },
      };
    },
  };
}
