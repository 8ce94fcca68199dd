/**
 * Where an attempt's trace context goes (issue 17): the handler runs inside it only when a tracer
 * records (and `handlerContext` is on); the worker's own sends take it as their parent explicitly,
 * without entering it.
 */
import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AttemptInfo } from '../../src/runtime/attempt-telemetry.js';
import { createWorkerTelemetry } from '../../src/telemetry/worker-telemetry.js';

const PRODUCER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PRODUCER_SPAN = '00f067aa0ba902b7';
const info: AttemptInfo = {
  jobType: 'test.job',
  jobId: 'j1',
  attempt: 1,
  messageId: 'm1',
  attributes: { traceparent: `00-${PRODUCER_TRACE}-${PRODUCER_SPAN}-01` },
};
const telemetry = (handlerContext?: boolean) =>
  createWorkerTelemetry({ queueName: 'q', dlqName: 'q-dlq', ...(handlerContext === undefined ? {} : { handlerContext }) });

/** The active span id after an await inside `run` (the context must survive async hops). */
async function activeInside(run: <T>(fn: () => T) => T): Promise<string | undefined> {
  return await run(async () => {
    await new Promise((r) => setTimeout(r, 1));
    return trace.getActiveSpan()?.spanContext().spanId;
  });
}

beforeEach(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});
afterEach(() => {
  trace.disable();
  context.disable();
  propagation.disable();
});

describe('an attempt with a tracer provider registered', () => {
  let exporter: InMemorySpanExporter;
  beforeEach(() => {
    exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  });

  it('runs the handler inside its context by default, and not with handlerContext false', async () => {
    const on = telemetry().startAttempt(info);
    expect(await activeInside(on.run)).toBe(on.spanId);
    const off = telemetry(false).startAttempt(info);
    expect(await activeInside(off.run)).toBeUndefined();
    expect(off.traceId).toBe(PRODUCER_TRACE);
  });

  it("parents the worker's sends on the attempt's span without entering its context", async () => {
    const attempt = telemetry(false).startAttempt(info);
    let activeDuringSend: unknown;
    let carrier: Record<string, string> = {};
    await attempt.traceSend!({ destination: 'q', jobId: 'j1', jobType: 'test.job', attempt: 2, operation: 'retry' }, async (c) => {
      carrier = c;
      activeDuringSend = context.active();
      return { messageId: 'm2' };
    });
    attempt.end({ outcome: 'retrying' });
    const send = exporter.getFinishedSpans().find((s) => s.name === 'send q')!;
    const process = exporter.getFinishedSpans().find((s) => s.name === 'process test.job')!;
    expect(send.parentSpanContext?.spanId).toBe(attempt.spanId);
    expect(process.parentSpanContext?.spanId).toBe(PRODUCER_SPAN);
    expect(carrier.traceparent).toBe(`00-${PRODUCER_TRACE}-${send.spanContext().spanId}-01`);
    expect(activeDuringSend).toBe(ROOT_CONTEXT);
  });
});

describe('an attempt with no tracer provider (the CLI exporting no traces)', () => {
  it("enters no context for the handler: nothing would record what it starts; logs keep the producer's trace id", async () => {
    const attempt = telemetry().startAttempt(info);
    expect(attempt.traceId).toBe(PRODUCER_TRACE);
    let active: unknown;
    await attempt.run(async () => {
      active = context.active();
    });
    expect(active).toBe(ROOT_CONTEXT);
  });

  it("carries the message's trace context on in the worker's sends, and gives zeros without one", async () => {
    const attempt = telemetry().startAttempt(info);
    let carrier: Record<string, string> = {};
    await attempt.traceSend!({ destination: 'q', jobId: 'j1', jobType: 'test.job', attempt: 2, operation: 'retry' }, async (c) => {
      carrier = c;
      return {};
    });
    expect(carrier.traceparent).toBe(`00-${PRODUCER_TRACE}-${PRODUCER_SPAN}-01`);
    const bare = telemetry().startAttempt({ ...info, attributes: {} });
    expect([bare.traceId, bare.spanId]).toEqual(['0'.repeat(32), '0'.repeat(16)]);
  });
});
