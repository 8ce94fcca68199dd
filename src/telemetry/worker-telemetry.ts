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
  ProxyTracerProvider,
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

const NO_TRACE_ID = '0'.repeat(32);
const NO_SPAN_ID = '0'.repeat(16);
/** What the API's global tracer provider delegates to while no SDK has registered one. */
const NO_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();

/** Whether a tracer provider is registered globally (false: every tracer is the API's no-op one). */
function tracerRegistered(): boolean {
  const provider = trace.getTracerProvider() as Partial<ProxyTracerProvider>;
  return typeof provider.getDelegate !== 'function' || provider.getDelegate() !== NO_TRACER_PROVIDER;
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
  let dueGauge: ObservableGauge | undefined;
  let schedulesDue = 0;

  /** The metrics of an ended attempt (every outcome records these, traced or not). */
  const recordEnd = (info: AttemptInfo, startedAtMs: number, result: AttemptResult, deadReason: string): void => {
    const { outcome, error } = result;
    const jobType = info.jobType;
    const durationSeconds = Math.max(0, clock.now() - startedAtMs) / 1000;
    const labels = { job_type: jobType, outcome };
    instruments.processed.add(1, labels);
    instruments.duration.record(durationSeconds, labels);
    if (error) instruments.failed.add(1, { job_type: jobType, error_type: errorType(error) });
    if (outcome === 'retrying') instruments.retried.add(1, { job_type: jobType });
    if (outcome === 'dead') instruments.deadLettered.add(1, { job_type: jobType, reason: deadReason });
  };
  const deadReasonOf = (result: AttemptResult): string => result.reason ?? (result.error ? errorType(result.error) : 'unknown');

  const startAttempt = (info: AttemptInfo): AttemptTelemetry => {
    const startedAtMs = clock.now();
    const parent = extractContext(info.attributes);
    if (info.enqueuedAtMs !== undefined && Number.isFinite(info.enqueuedAtMs)) {
      const lagSeconds = Math.max(0, startedAtMs - info.enqueuedAtMs) / 1000;
      instruments.queueLag.record(lagSeconds, { job_type: info.jobType });
    }
    // No tracer provider registered (the CLI exporting no traces: NodeSDK registers none): every span
    // call would be the API's no-op, so none is made. The ids for logs are the message's (the
    // producer's span, as the no-op tracer would hand back), the worker's sends carry the message's
    // trace context on, and the handler runs in no context: nothing would record what it starts.
    if (options.tracer === undefined && !tracerRegistered()) {
      const carried = trace.getSpanContext(parent);
      const ids = carried && isSpanContextValid(carried) ? carried : undefined;
      let ended = false;
      return {
        traceId: ids?.traceId ?? NO_TRACE_ID,
        spanId: ids?.spanId ?? NO_SPAN_ID,
        run: (fn) => fn(),
        traceSend: (sendInfo, send) => withChildProducerSpan(sendInfo, send, parent),
        end(result: AttemptResult): void {
          if (ended) return;
          ended = true;
          recordEnd(info, startedAtMs, result, deadReasonOf(result));
        },
      };
    }
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
    const attemptContext = trace.setSpan(parent, span);
    // A tracer that records nothing here (a custom no-op one) hands back the parent's context: then
    // nothing would record what the handler starts either, so no context is entered for it.
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
        const deadReason = deadReasonOf(result);
        if (outcome === 'dead') span.setAttribute('job.dead_reason', deadReason);
        if (error) {
          recordSpanError(span, error);
        } else if (outcome === 'dead') {
          span.setStatus({ code: SpanStatusCode.ERROR, message: deadReason });
          span.setAttribute('error.type', deadReason);
        }
        span.end();
        recordEnd(info, startedAtMs, result, deadReason);
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
    recordHeld(reason: 'concurrency' | 'rate', jobType: string): void {
      instruments.held.add(1, { job_type: jobType, reason });
    },
    observeKeysHeld(read: () => number) {
      const gauge = meter.createObservableGauge(INSTRUMENT_NAMES.keysHeld, {
        description: "Concurrency keys this worker's running jobs hold now (summed over workers: the keys held).",
        unit: '{key}',
      });
      const callback = (result: { observe(value: number): void }): void => result.observe(read());
      gauge.addCallback(callback);
      return { stop: () => gauge.removeCallback(callback) };
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
    recordTicksFired(jobType, kind, count) {
      instruments.ticksFired.add(count, { job_type: jobType, kind });
    },
    recordTicksSkipped(jobType, reason, count) {
      instruments.ticksSkipped.add(count, { job_type: jobType, reason });
    },
    recordTickLag(jobType, lagMs) {
      instruments.tickLag.record(lagMs / 1000, { job_type: jobType });
    },
    recordSchedulesDue(count) {
      schedulesDue = count;
      if (dueGauge === undefined) {
        dueGauge = meter.createObservableGauge(INSTRUMENT_NAMES.schedulesDue, {
          description: "Schedules due at this worker's latest claim (claimed, held by other workers, or left for the next pass).",
          unit: '{schedule}',
        });
        dueGauge.addCallback((result) => result.observe(schedulesDue));
      }
    },
  };
}
