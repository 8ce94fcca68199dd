/**
 * Trace context on the SQS wire. The producer side ({@link withProducerSpan}, the OpenTelemetry
 * implementation of the queue's `SendTracer` port, src/queue/send-tracing.ts) opens a PRODUCER span
 * around every SendMessage of a job envelope and writes W3C `traceparent` / `tracestate` into the
 * carrier that becomes the message's MessageAttributes; the consumer side ({@link extractContext})
 * reads them back, so one job and all its attempts, retries and dead-lettering form one trace.
 *
 * Only `@opentelemetry/api` is used: with no SDK registered every call here is a cheap no-op.
 * Injection and extraction go through the globally registered propagator (`propagation`), which
 * `startOtel` (src/telemetry/sdk.ts) sets to W3C trace-context + baggage.
 */
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import type { SendSpanInfo } from '../queue/send-tracing.js';

/** Instrumentation scope of every span and metric calsync-jobs emits. */
export const TRACER_NAME = 'calsync-jobs';

/** `messaging.system` for SQS, per the OpenTelemetry messaging conventions. */
export const MESSAGING_SYSTEM = 'aws_sqs';

export interface ProducerSpanInfo extends SendSpanInfo {
  /** Tracer to use instead of `trace.getTracer('calsync-jobs')` (tests, custom providers). */
  tracer?: Tracer;
}

/** The value for `error.type`: the error's `name`, or `_OTHER` for a thrown non-Error. */
export function errorType(error: unknown): string {
  if (error instanceof Error && error.name) return error.name;
  return '_OTHER';
}

/** Records `error` on `span`: exception event, status ERROR with the message, `error.type`. */
export function recordSpanError(span: Span, error: unknown): void {
  const type = errorType(error);
  if (error instanceof Error) {
    span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  } else {
    span.recordException({ name: type, message: String(error) });
    span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
  }
  span.setAttribute('error.type', type);
}

/**
 * Runs `send` inside a PRODUCER span named `send <destination>` (child of `parent`, or of the active
 * context) and hands it a fresh carrier holding the span's W3C `traceparent` / `tracestate` (plus
 * whatever else the registered propagator writes, e.g. `baggage`): copy it into MessageAttributes.
 * The result's `messageId` becomes `messaging.message.id`. A throw is recorded (exception event,
 * status ERROR, `error.type`) and rethrown; the span always ends.
 *
 * `send` is called synchronously, before this function first yields, so a batch sender can start
 * one span per entry, collect every carrier, and only then issue one SendMessageBatch.
 */
export async function withProducerSpan<T extends { messageId?: string }>(
  info: ProducerSpanInfo,
  send: (carrier: Record<string, string>) => Promise<T>,
  parent?: Context,
): Promise<T> {
  return await producerSpan(info, send, parent, true);
}

/**
 * {@link withProducerSpan} under an explicit `parent`, without entering the span's context for the
 * send: the worker's own sends (src/telemetry/worker-telemetry.ts), which go into a batch flushed
 * from wherever, so an active context there would name no one's parent, and entering it (an
 * AsyncLocalStorage `run`) turns on Node's promise hooks for the whole process on Node 20.
 */
export async function withChildProducerSpan<T extends { messageId?: string }>(
  info: ProducerSpanInfo,
  send: (carrier: Record<string, string>) => Promise<T>,
  parent: Context,
): Promise<T> {
  return await producerSpan(info, send, parent, false);
}

async function producerSpan<T extends { messageId?: string }>(
  info: ProducerSpanInfo,
  send: (carrier: Record<string, string>) => Promise<T>,
  parent: Context | undefined,
  enter: boolean,
): Promise<T> {
  const tracer = info.tracer ?? trace.getTracer(TRACER_NAME);
  const parentContext = parent ?? context.active();
  const attributes: Attributes = {
    ...info.attributes,
    'messaging.system': MESSAGING_SYSTEM,
    'messaging.operation.name': 'send',
    'messaging.operation.type': 'send',
    'messaging.destination.name': info.destination,
    'job.id': info.jobId,
    'job.type': info.jobType,
    'job.attempt': info.attempt,
    'job.operation': info.operation,
  };
  const span = tracer.startSpan(`send ${info.destination}`, { kind: SpanKind.PRODUCER, attributes }, parentContext);
  const spanContext = trace.setSpan(parentContext, span);
  const carrier: Record<string, string> = {};
  try {
    propagation.inject(spanContext, carrier);
  } catch {
    // A misbehaving propagator must not stop the send; the message simply starts a new trace.
  }
  try {
    const result = await (enter ? context.with(spanContext, () => send(carrier)) : send(carrier));
    const messageId = result?.messageId;
    if (typeof messageId === 'string' && messageId.length > 0) {
      span.setAttribute('messaging.message.id', messageId);
    }
    return result;
  } catch (error) {
    recordSpanError(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/**
 * The trace context carried by a message's String MessageAttributes. A missing or malformed
 * `traceparent` gives `ROOT_CONTEXT`; this never throws.
 */
export function extractContext(attributes: Record<string, string>): Context {
  if (attributes === null || typeof attributes !== 'object') return ROOT_CONTEXT;
  try {
    return propagation.extract(ROOT_CONTEXT, attributes);
  } catch {
    return ROOT_CONTEXT;
  }
}
