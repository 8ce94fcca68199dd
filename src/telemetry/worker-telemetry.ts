/**
 * Spans and metrics for the worker, the OpenTelemetry implementation of the runtime's
 * `WorkerTelemetry` port (src/runtime/attempt-telemetry.ts): one CONSUMER `process <job type>` span
 * per attempt, parented on the trace context carried by the message, PRODUCER spans around the
 * worker's own sends, and the job counters / histograms / queue-depth gauge. Uses only
 * `@opentelemetry/api`; the SDK (if any) is registered by the CLI (`startOtel`, sdk.ts).
 */
import {
  type Attributes,
  context,
  isSpanContextValid,
  metrics,
  type Meter,
  type ObservableGauge,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import type { AttemptInfo, AttemptResult, AttemptTelemetry, WorkerTelemetry } from '../runtime/attempt-telemetry.js';
import { type Clock, systemClock } from '../shared/clock.js';
import { createJobInstruments, INSTRUMENT_NAMES } from './instruments.js';
import { startQueueDepthPoller } from './queue-depth.js';
import {
  errorType,
  extractContext,
  MESSAGING_SYSTEM,
  recordSpanError,
  TRACER_NAME,
  withChildProducerSpan,
  withProducerSpan,
} from './tracing.js';

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
  /**
   * Run each handler inside its attempt's context (`context.with`), so code in the handler that
   * reads OpenTelemetry's active context (its own spans, an instrumented client, a `JobQueue` that
   * enqueues a follow-up job) sees the attempt's span as its parent. Off, the attempt's spans and
   * the worker's own sends form the same trace (their parents are given explicitly), and such code
   * starts from the root context instead. See docs/design.md, "Trace context without entering it".
   * @defaultValue true
   */
  handlerContext?: boolean;
}

/** Label value used when a job type is not known (a message that failed to parse). */
export const UNKNOWN_JOB_TYPE = 'unknown';

/** Creates the worker's telemetry. No side effects: instruments are created, nothing is started. */
export function createWorkerTelemetry(options: WorkerTelemetryOptions): WorkerTelemetry {
  const tracer = options.tracer ?? trace.getTracer(TRACER_NAME);
  const meter = options.meter ?? metrics.getMeter(TRACER_NAME);
  const clock = options.clock ?? systemClock;
  const handlerContext = options.handlerContext ?? true;
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

    const attemptContext = trace.setSpan(parent, span);
    // With no tracer provider registered (the CLI exporting no traces: NodeSDK registers none) the span
    // is the API's stand-in for the parent's context: nothing would record what the handler starts, so
    // no context is entered for it (entering one turns on Node 20's promise hooks for the process).
    const recordingHere =
      span.isRecording() || (isSpanContextValid(spanContext) && spanContext.spanId !== trace.getSpanContext(parent)?.spanId);
    let ended = false;
    return {
      traceId: spanContext.traceId,
      spanId: spanContext.spanId,
      run: handlerContext && recordingHere ? (fn) => context.with(attemptContext, fn) : (fn) => fn(),
      traceSend: (sendInfo, send) => withChildProducerSpan(sendInfo, send, attemptContext),
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
    recordDuplicate(reason: string, jobType: string): void {
      instruments.duplicatesDropped.add(1, { job_type: jobType, reason });
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
    traceSend: withProducerSpan,
  };
}
