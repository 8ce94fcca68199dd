/**
 * The span tree the real runtime produces, read from an in-memory exporter: one trace per job, a
 * CONSUMER `process` span per attempt under the enqueue's PRODUCER span, retry and dead-letter sends
 * as children of the attempt that caused them, and the log lines carrying the same ids.
 */
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../../src/machines/define-job.js';
import { NonRetryableError, RetryableError } from '../../src/machines/errors.js';
import { ensureQueues } from '../../src/ops/ensure-queues.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import { createLogger } from '../../src/runtime/logger.js';
import { createWorker, JobQueue } from '../../src/telemetry/instrumented.js';
import { useInMemoryTracing } from '../support/tracing.js';

const { exporter, provider } = useInMemoryTracing();

const flaky = defineJob({
  type: 'test.flaky',
  schema: z.object({ failTimes: z.int() }),
  retry: { initialIntervalMs: 0, jitter: 'none', maximumAttempts: 4 },
  handler: (payload, ctx) => {
    ctx.logger.info('running');
    if (ctx.attempt <= payload.failTimes) throw new RetryableError(`planned failure ${ctx.attempt}`);
  },
});
const poison = defineJob({
  type: 'test.poison',
  schema: z.object({}),
  handler: () => {
    throw new NonRetryableError('never', { reason: 'poison' });
  },
});

describe('the runtime span tree', () => {
  it('makes one trace per job with a process span per attempt and send spans for retries and the DLQ', async () => {
    const transport = new MemoryTransport();
    const queues = await ensureQueues(transport);
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        callback();
      },
    });
    const worker = createWorker({
      transport,
      jobs: [flaky, poison],
      queueUrl: queues.mainQueueUrl,
      dlqUrl: queues.dlqUrl,
      waitTimeSeconds: 1,
      logger: createLogger({ level: 'info', destination }),
    });
    const settled = new Map<string, string>();
    worker.on('job:succeeded', (e) => settled.set(e.jobId, 'succeeded'));
    worker.on('job:dead', (e) => settled.set(e.jobId, 'dead'));
    worker.start();
    const queue = new JobQueue({ transport, queueUrl: queues.mainQueueUrl, jobs: [flaky, poison] });
    const [flakyId, poisonId] = await queue.enqueueJobs([
      { type: 'test.flaky', payload: { failTimes: 2 } },
      { type: 'test.poison', payload: {} },
    ]);
    for (let i = 0; i < 100 && settled.size < 2; i++) await new Promise((r) => setTimeout(r, 50));
    await worker.stop();
    await provider.forceFlush();
    expect(settled.get(flakyId!)).toBe('succeeded');
    expect(settled.get(poisonId!)).toBe('dead');

    const spans = exporter.getFinishedSpans();
    const ofJob = (id: string): ReadableSpan[] => spans.filter((s) => s.attributes['job.id'] === id);
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const parentOf = (s: ReadableSpan): ReadableSpan | undefined => byId.get(s.parentSpanContext?.spanId ?? '');

    // The flaky job: 1 enqueue send, 3 process spans (attempts 1, 2, 3), 2 retry sends. One trace.
    const flakySpans = ofJob(flakyId!);
    expect(new Set(flakySpans.map((s) => s.spanContext().traceId)).size).toBe(1);
    const enqueue = flakySpans.filter((s) => s.attributes['job.operation'] === 'send');
    const processes = flakySpans
      .filter((s) => s.name === 'process test.flaky')
      .sort((a, b) => Number(a.attributes['job.attempt']) - Number(b.attributes['job.attempt']));
    const retries = flakySpans.filter((s) => s.attributes['job.operation'] === 'retry');
    expect(enqueue).toHaveLength(1);
    expect(enqueue[0]!.kind).toBe(SpanKind.PRODUCER);
    expect(enqueue[0]!.name).toBe('send calsync-jobs');
    expect(processes.map((s) => s.attributes['job.attempt'])).toEqual([1, 2, 3]);
    expect(processes.map((s) => s.kind)).toEqual([SpanKind.CONSUMER, SpanKind.CONSUMER, SpanKind.CONSUMER]);
    expect(processes.map((s) => s.status.code)).toEqual([SpanStatusCode.ERROR, SpanStatusCode.ERROR, SpanStatusCode.UNSET]);
    expect(processes.map((s) => s.attributes['job.outcome'])).toEqual(['retrying', 'retrying', 'succeeded']);
    expect(processes[0]!.attributes['messaging.system']).toBe('aws_sqs');
    expect(processes[0]!.attributes['messaging.destination.name']).toBe('calsync-jobs');
    expect(processes[0]!.events.some((e) => e.name === 'exception')).toBe(true);
    expect(retries).toHaveLength(2);
    // Attempt 1 hangs off the enqueue; each retry send is a child of the attempt that failed, and the
    // next attempt is a child of that retry send.
    expect(parentOf(processes[0]!)).toBe(enqueue[0]);
    expect(parentOf(retries[0]!)).toBe(processes[0]);
    expect(parentOf(processes[1]!)).toBe(retries[0]);
    expect(parentOf(retries[1]!)).toBe(processes[1]);
    expect(parentOf(processes[2]!)).toBe(retries[1]);

    // The poison job: its trace ends in a send to the DLQ with the reason.
    const poisonSpans = ofJob(poisonId!);
    const dead = poisonSpans.find((s) => s.attributes['job.operation'] === 'dead_letter');
    const poisonProcess = poisonSpans.find((s) => s.name === 'process test.poison');
    expect(dead?.name).toBe('send calsync-jobs-dlq');
    expect(dead?.attributes['job.dead_reason']).toBe('non_retryable');
    expect(parentOf(dead!)).toBe(poisonProcess);
    expect(poisonProcess?.attributes['job.outcome']).toBe('dead');
    expect(new Set(poisonSpans.map((s) => s.spanContext().traceId)).size).toBe(1);
    expect(poisonSpans[0]!.spanContext().traceId).not.toBe(flakySpans[0]!.spanContext().traceId);

    // Logs of each attempt carry the attempt's trace and span ids.
    const running = lines.filter((l) => l.msg === 'running' && l.jobId === flakyId);
    expect(running.map((l) => l.attempt)).toEqual([1, 2, 3]);
    for (const [index, line] of running.entries()) {
      expect(line.trace_id).toBe(processes[index]!.spanContext().traceId);
      expect(line.span_id).toBe(processes[index]!.spanContext().spanId);
      expect(line.type).toBe('test.flaky');
    }
    await transport.close();
  });

  it('gives a message with a broken traceparent a new trace and runs it', async () => {
    exporter.reset();
    const transport = new MemoryTransport();
    const queues = await ensureQueues(transport);
    const worker = createWorker({
      transport,
      jobs: [flaky],
      queueUrl: queues.mainQueueUrl,
      dlqUrl: queues.dlqUrl,
      waitTimeSeconds: 1,
      logger: createLogger({ level: 'silent' }),
    });
    let done = false;
    worker.on('job:succeeded', () => (done = true));
    worker.start();
    const body = JSON.stringify({
      v: 1,
      id: crypto.randomUUID(),
      type: 'test.flaky',
      payload: { failTimes: 0 },
      attempt: 1,
      createdAt: new Date().toISOString(),
    });
    await transport.send(queues.mainQueueUrl, { body, attributes: { traceparent: '00-zzzz-broken-01', 'job-type': 'test.flaky' } });
    for (let i = 0; i < 100 && !done; i++) await new Promise((r) => setTimeout(r, 20));
    await worker.stop();
    await provider.forceFlush();
    expect(done).toBe(true);
    const span = exporter.getFinishedSpans().find((s) => s.name === 'process test.flaky');
    expect(span?.parentSpanContext).toBeUndefined();
    expect(span?.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
    await transport.close();
  });

  for (const handlerTraceContext of [true, false]) {
    it(`keeps one trace per job with handlerTraceContext ${handlerTraceContext}; the handler sees the attempt's span as active only with it on`, async () => {
      exporter.reset();
      const transport = new MemoryTransport();
      const queues = await ensureQueues(transport);
      const activeInHandler: Array<string | undefined> = [];
      const probe = defineJob({
        type: 'test.probe',
        schema: z.object({}),
        retry: { initialIntervalMs: 0, jitter: 'none', maximumAttempts: 2 },
        handler: async (_payload, ctx) => {
          await new Promise((r) => setTimeout(r, 1));
          // After an await: implicit context must survive async hops when it is on.
          activeInHandler.push(trace.getActiveSpan()?.spanContext().spanId);
          if (ctx.attempt === 1) throw new RetryableError('once');
        },
      });
      const worker = createWorker({
        transport,
        jobs: [probe],
        queueUrl: queues.mainQueueUrl,
        dlqUrl: queues.dlqUrl,
        waitTimeSeconds: 1,
        logger: createLogger({ level: 'silent' }),
        handlerTraceContext,
      });
      let done = false;
      worker.on('job:succeeded', () => (done = true));
      worker.start();
      const queue = new JobQueue({ transport, queueUrl: queues.mainQueueUrl, jobs: [probe] });
      const id = await queue.enqueueJob({ type: 'test.probe', payload: {} });
      for (let i = 0; i < 100 && !done; i++) await new Promise((r) => setTimeout(r, 20));
      await worker.stop();
      await provider.forceFlush();
      expect(done).toBe(true);

      const spans = exporter.getFinishedSpans().filter((s) => s.attributes['job.id'] === id);
      const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
      const parentOf = (s: ReadableSpan): ReadableSpan | undefined => byId.get(s.parentSpanContext?.spanId ?? '');
      const processes = spans
        .filter((s) => s.name === 'process test.probe')
        .sort((a, b) => Number(a.attributes['job.attempt']) - Number(b.attributes['job.attempt']));
      const enqueue = spans.find((s) => s.attributes['job.operation'] === 'send')!;
      const retry = spans.find((s) => s.attributes['job.operation'] === 'retry')!;
      expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
      expect(processes).toHaveLength(2);
      expect(parentOf(processes[0]!)).toBe(enqueue);
      expect(parentOf(retry)).toBe(processes[0]);
      expect(parentOf(processes[1]!)).toBe(retry);
      expect(activeInHandler).toEqual(handlerTraceContext ? processes.map((s) => s.spanContext().spanId) : [undefined, undefined]);
      await transport.close();
    });
  }
});
