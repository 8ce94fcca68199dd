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
import { errorType, extractContext, MESSAGING_SYSTEM, recordSpanError, TRACER_NAME, withProducerSpan } from './tracing.js';

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
  let dueGauge: ObservableGauge | undefined;
  let schedulesDue = 0;

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
    let ended = false;
    return {
      traceId: spanContext.traceId,
      spanId: spanContext.spanId,
      run: (fn) => context.with(attemptContext, fn),
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
