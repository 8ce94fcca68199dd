import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import { JobQueue as UntracedJobQueue } from '../../src/queue/job-queue.js';
import { untracedSend } from '../../src/queue/send-tracing.js';
import { noopWorkerTelemetry } from '../../src/runtime/attempt-telemetry.js';
import { JobQueue } from '../../src/telemetry/instrumented.js';
import { extractContext, withProducerSpan } from '../../src/telemetry/tracing.js';
import { createWorkerTelemetry } from '../../src/telemetry/worker-telemetry.js';
import { useInMemoryTracing } from '../support/tracing.js';

const { exporter, provider } = useInMemoryTracing();

afterEach(() => exporter.reset());

async function finishedSpans(): Promise<ReadableSpan[]> {
  await provider.forceFlush();
  return exporter.getFinishedSpans();
}

function spanNamed(spans: ReadableSpan[], name: string): ReadableSpan {
  const found = spans.filter((span) => span.name === name);
  expect(found, `exactly one span named ${name}`).toHaveLength(1);
  return found[0] as ReadableSpan;
}

const telemetry = () => createWorkerTelemetry({ queueName: 'calsync-jobs', dlqName: 'calsync-jobs-dlq' });

async function enqueue(jobId = 'job-1'): Promise<Record<string, string>> {
  let sent: Record<string, string> = {};
  await withProducerSpan(
    { destination: 'calsync-jobs', jobId, jobType: 'sync-calendar', attempt: 1, operation: 'send' },
    async (carrier) => {
      sent = { ...carrier, 'job-type': 'sync-calendar' };
      return { messageId: `msg-${jobId}` };
    },
  );
  return sent;
}

describe('withProducerSpan', () => {
  it('opens a PRODUCER span with the messaging and job attributes and injects its traceparent', async () => {
    let seen: Record<string, string> = {};
    const result = await withProducerSpan(
      {
        destination: 'calsync-jobs',
        jobId: 'job-42',
        jobType: 'sync-calendar',
        attempt: 1,
        operation: 'send',
        attributes: { 'job.idempotency_key': 'k-1', 'job.attempt': 99 },
      },
      async (carrier) => {
        seen = { ...carrier };
        return { messageId: 'sqs-message-1' };
      },
    );
    expect(result).toEqual({ messageId: 'sqs-message-1' });

    const span = spanNamed(await finishedSpans(), 'send calsync-jobs');
    expect(span.kind).toBe(SpanKind.PRODUCER);
    expect(span.instrumentationScope.name).toBe('calsync-jobs');
    expect(span.attributes).toEqual({
      'messaging.system': 'aws_sqs',
      'messaging.operation.name': 'send',
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'calsync-jobs',
      'messaging.message.id': 'sqs-message-1',
      'job.id': 'job-42',
      'job.type': 'sync-calendar',
      // extra attributes never override the standard ones
      'job.attempt': 1,
      'job.operation': 'send',
      'job.idempotency_key': 'k-1',
    });
    const { traceId, spanId } = span.spanContext();
    expect(seen.traceparent).toBe(`00-${traceId}-${spanId}-01`);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('is a child of the active span, or of the explicit parent when one is given', async () => {
    const outer = trace.getTracer('test').startSpan('api request');
    await context.with(trace.setSpan(context.active(), outer), () => enqueue('job-active'));
    const explicitParent = trace.getTracer('test').startSpan('explicit');
    await withProducerSpan(
      { destination: 'calsync-jobs', jobId: 'job-explicit', jobType: 't', attempt: 1, operation: 'redrive' },
      async () => ({}),
      trace.setSpan(ROOT_CONTEXT, explicitParent),
    );
    outer.end();
    explicitParent.end();

    const spans = await finishedSpans();
    const sends = spans.filter((span) => span.name === 'send calsync-jobs');
    expect(sends).toHaveLength(2);
    expect(sends[0]?.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
    expect(sends[1]?.parentSpanContext?.spanId).toBe(explicitParent.spanContext().spanId);
    expect(sends[1]?.attributes['job.operation']).toBe('redrive');
    expect(sends[1]?.attributes['messaging.message.id']).toBeUndefined();
  });

  it('records a failed send: exception event, status ERROR, error.type, rethrows, ends the span', async () => {
    class TransportError extends Error {
      override name = 'TransportError';
    }
    await expect(
      withProducerSpan(
        { destination: 'calsync-jobs-dlq', jobId: 'job-x', jobType: 't', attempt: 4, operation: 'dead_letter' },
        async () => {
          throw new TransportError('queue does not exist');
        },
      ),
    ).rejects.toThrow('queue does not exist');

    const span = spanNamed(await finishedSpans(), 'send calsync-jobs-dlq');
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'queue does not exist' });
    expect(span.attributes['error.type']).toBe('TransportError');
    expect(span.events.map((event) => event.name)).toEqual(['exception']);
    expect(span.events[0]?.attributes?.['exception.type']).toBe('TransportError');
    expect(span.events[0]?.attributes?.['exception.message']).toBe('queue does not exist');
  });

  it('calls send synchronously, so a batch sender can collect every carrier before one SendMessageBatch', async () => {
    const carriers: Array<Record<string, string>> = [];
    let release!: () => void;
    const batchSent = new Promise<void>((resolve) => (release = resolve));
    const pending = ['a', 'b', 'c'].map((jobId, index) =>
      withProducerSpan({ destination: 'calsync-jobs', jobId, jobType: 't', attempt: 1, operation: 'send' }, async (carrier) => {
        carriers[index] = carrier;
        await batchSent;
        return { messageId: `m-${jobId}` };
      }),
    );
    expect(carriers.map((carrier) => carrier.traceparent)).toEqual([
      expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/),
      expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/),
      expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/),
    ]);
    release();
    await Promise.all(pending);
    const ids = (await finishedSpans()).map((span) => span.attributes['messaging.message.id']).sort();
    expect(ids).toEqual(['m-a', 'm-b', 'm-c']);
  });

  it('gives error.type _OTHER for a thrown non-Error', async () => {
    await expect(
      withProducerSpan({ destination: 'q', jobId: 'j', jobType: 't', attempt: 1, operation: 'send' }, async () => {
        throw 'plain string';
      }),
    ).rejects.toBe('plain string');
    const span = spanNamed(await finishedSpans(), 'send q');
    expect(span.attributes['error.type']).toBe('_OTHER');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });
});

describe('extractContext and the process span', () => {
  it('puts the process span in the producer trace, with the producer span as parent', async () => {
    const attributes = await enqueue('job-7');
    const attempt = telemetry().startAttempt({
      jobType: 'sync-calendar',
      jobId: 'job-7',
      attempt: 1,
      messageId: 'msg-job-7',
      attributes,
    });
    attempt.end({ outcome: 'succeeded' });

    const spans = await finishedSpans();
    const send = spanNamed(spans, 'send calsync-jobs');
    const process = spanNamed(spans, 'process sync-calendar');
    expect(process.kind).toBe(SpanKind.CONSUMER);
    expect(process.spanContext().traceId).toBe(send.spanContext().traceId);
    expect(process.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
    expect(attempt.traceId).toBe(process.spanContext().traceId);
    expect(attempt.spanId).toBe(process.spanContext().spanId);
    expect(process.attributes).toEqual({
      'messaging.system': 'aws_sqs',
      'messaging.operation.name': 'process',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'calsync-jobs',
      'messaging.message.id': 'msg-job-7',
      'job.id': 'job-7',
      'job.type': 'sync-calendar',
      'job.attempt': 1,
      'job.outcome': 'succeeded',
    });
    expect(process.status.code).toBe(SpanStatusCode.UNSET);
  });

  it.each([
    ['missing', {}],
    ['garbage', { traceparent: 'not-a-traceparent' }],
    ['all-zero trace id', { traceparent: '00-00000000000000000000000000000000-b7ad6b7169203331-01' }],
    ['wrong length', { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033-01' }],
  ])('a %s traceparent gives ROOT_CONTEXT and a valid new root trace', async (_label, attributes: Record<string, string>) => {
    const extracted = extractContext(attributes);
    expect(extracted).toBe(ROOT_CONTEXT);
    expect(trace.getSpanContext(extracted)).toBeUndefined();

    const attempt = telemetry().startAttempt({ jobType: 't', jobId: 'j', attempt: 1, messageId: 'm', attributes });
    attempt.end({ outcome: 'succeeded' });
    const process = spanNamed(await finishedSpans(), 'process t');
    expect(process.parentSpanContext).toBeUndefined();
    expect(process.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(process.spanContext().traceId).not.toBe('0'.repeat(32));
    expect(attempt.traceId).toBe(process.spanContext().traceId);
  });

  it('never throws on attributes that are not an object', () => {
    expect(extractContext(undefined as unknown as Record<string, string>)).toBe(ROOT_CONTEXT);
    expect(extractContext(null as unknown as Record<string, string>)).toBe(ROOT_CONTEXT);
  });

  it('makes retry and dead-letter sends inside the attempt context children of the process span', async () => {
    const attributes = await enqueue('job-9');
    const attempt = telemetry().startAttempt({ jobType: 'sync-calendar', jobId: 'job-9', attempt: 1, messageId: 'm1', attributes });
    let retryCarrier: Record<string, string> = {};
    await attempt.run(async () => {
      // the handler runs here; its own spans would nest under the process span too
      await new Promise((resolve) => setTimeout(resolve, 1));
      await withProducerSpan(
        { destination: 'calsync-jobs', jobId: 'job-9', jobType: 'sync-calendar', attempt: 2, operation: 'retry' },
        async (carrier) => {
          retryCarrier = carrier;
          return { messageId: 'm2' };
        },
      );
    });
    attempt.end({ outcome: 'retrying', error: new Error('boom'), retryDelayMs: 2000 });

    // attempt 2 continues the same trace from the retry message's attributes
    const second = telemetry().startAttempt({
      jobType: 'sync-calendar',
      jobId: 'job-9',
      attempt: 2,
      messageId: 'm2',
      attributes: retryCarrier,
    });
    second.end({ outcome: 'succeeded' });

    const spans = await finishedSpans();
    const [send, retry] = spans.filter((span) => span.name === 'send calsync-jobs');
    const [first, next] = spans.filter((span) => span.name === 'process sync-calendar');
    expect(send?.attributes['job.operation']).toBe('send');
    expect(retry?.attributes['job.operation']).toBe('retry');
    expect(retry?.attributes['job.attempt']).toBe(2);
    expect(retry?.parentSpanContext?.spanId).toBe(first?.spanContext().spanId);
    expect(next?.parentSpanContext?.spanId).toBe(retry?.spanContext().spanId);
    const traceIds = new Set(spans.map((span) => span.spanContext().traceId));
    expect(traceIds.size).toBe(1);
    expect(first?.attributes['job.outcome']).toBe('retrying');
    expect(first?.attributes['job.retry_delay_ms']).toBe(2000);
    expect(first?.status.code).toBe(SpanStatusCode.ERROR);
  });
});

describe('AttemptTelemetry.end', () => {
  it('records the error on the process span and marks a dead job', async () => {
    class NonRetryableError extends Error {
      override name = 'NonRetryableError';
    }
    const attempt = telemetry().startAttempt({ jobType: 'write-event', jobId: 'j', attempt: 3, messageId: 'm', attributes: {} });
    attempt.end({ outcome: 'dead', error: new NonRetryableError('calendar gone'), reason: 'non_retryable' });

    const span = spanNamed(await finishedSpans(), 'process write-event');
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'calendar gone' });
    expect(span.attributes['error.type']).toBe('NonRetryableError');
    expect(span.attributes['job.outcome']).toBe('dead');
    expect(span.attributes['job.dead_reason']).toBe('non_retryable');
    expect(span.attributes['job.retry_delay_ms']).toBeUndefined();
    expect(span.events.map((event) => event.name)).toEqual(['exception']);
    expect(span.events[0]?.attributes?.['exception.message']).toBe('calendar gone');
  });

  it('marks a dead job without an error as ERROR with its reason', async () => {
    const attempt = telemetry().startAttempt({ jobType: 'write-event', jobId: 'j', attempt: 1, messageId: 'm', attributes: {} });
    attempt.end({ outcome: 'dead', reason: 'invalid_payload' });
    const span = spanNamed(await finishedSpans(), 'process write-event');
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'invalid_payload' });
    expect(span.attributes['error.type']).toBe('invalid_payload');
    expect(span.events).toHaveLength(0);
  });

  it('ends the span once; a second end() is ignored', async () => {
    const attempt = telemetry().startAttempt({ jobType: 't', jobId: 'j', attempt: 1, messageId: 'm', attributes: {} });
    attempt.end({ outcome: 'released' });
    attempt.end({ outcome: 'dead', reason: 'late' });
    const span = spanNamed(await finishedSpans(), 'process t');
    expect(span.attributes['job.outcome']).toBe('released');
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
  });
});

describe('the ports and the defaults (docs/design.md, "Telemetry behind ports")', () => {
  const info = { destination: 'q', jobId: 'j', jobType: 't', attempt: 1, operation: 'send' } as const;

  it('the no-op implementations record nothing and pass the work through', async () => {
    const attempt = noopWorkerTelemetry.startAttempt({ jobType: 't', jobId: 'j', attempt: 1, messageId: 'm', attributes: {} });
    expect(attempt.traceId).toBe('0'.repeat(32));
    expect(attempt.spanId).toBe('0'.repeat(16));
    expect(attempt.run(() => 42)).toBe(42);
    attempt.end({ outcome: 'succeeded' });
    let carrier: Record<string, string> | undefined;
    const sent = await untracedSend(info, async (c) => {
      carrier = c;
      return { messageId: 'x' };
    });
    expect(sent).toEqual({ messageId: 'x' });
    expect(carrier).toEqual({});
    expect(noopWorkerTelemetry.traceSend).toBe(untracedSend);
    expect(await finishedSpans()).toEqual([]);
  });

  it("the queue layer's JobQueue sends untraced; the package's JobQueue opens a PRODUCER span by default", async () => {
    const transport = new MemoryTransport();
    const queueUrl = await transport.createQueue('jobs');
    await new UntracedJobQueue({ transport, queueUrl }).enqueueJob({ type: 't', payload: {} });
    await new JobQueue({ transport, queueUrl }).enqueueJob({ type: 't', payload: {} });
    await new JobQueue({ transport, queueUrl, traceSend: untracedSend }).enqueueJob({ type: 't', payload: {} });
    const received = await transport.receive(queueUrl, { waitTimeSeconds: 0 });
    expect(received.map((m) => m.attributes.traceparent !== undefined)).toEqual([false, true, false]);
    expect((await finishedSpans()).map((span) => span.name)).toEqual(['send jobs']);
    await transport.close();
  });
});
