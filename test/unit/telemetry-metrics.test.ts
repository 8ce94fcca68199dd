import type { Attributes } from '@opentelemetry/api';
import { DataPointType, type HistogramMetricData, MeterProvider, type MetricData, MetricReader } from '@opentelemetry/sdk-metrics';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Clock, systemClock } from '../../src/shared/clock.js';
import { ManualClock } from '../support/manual-clock.js';
import type { QueueDepth } from '../../src/queue/transport.js';
import type { QueueRole } from '../../src/runtime/attempt-telemetry.js';
import { INSTRUMENT_NAMES } from '../../src/telemetry/instruments.js';
import { resolveQueueDepthInterval } from '../../src/telemetry/queue-depth.js';
import { createWorkerTelemetry } from '../../src/telemetry/worker-telemetry.js';

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

let reader: TestReader;
let provider: MeterProvider;
let clock: ManualClock;

beforeEach(() => {
  reader = new TestReader();
  provider = new MeterProvider({ readers: [reader] });
  clock = new ManualClock(1_700_000_000_000);
});

afterEach(async () => {
  await provider.shutdown();
});

function makeTelemetry(overrides: { clock?: Clock } = {}) {
  return createWorkerTelemetry({
    meter: provider.getMeter('calsync-jobs'),
    queueName: 'calsync-jobs',
    dlqName: 'calsync-jobs-dlq',
    clock: overrides.clock ?? clock,
  });
}

async function collect(): Promise<MetricData[]> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
}

function metric(all: MetricData[], name: string): MetricData | undefined {
  return all.find((m) => m.descriptor.name === name);
}

/** Sum / gauge points as `label=value,...` → value. */
function values(all: MetricData[], name: string): Record<string, number> {
  const m = metric(all, name);
  if (!m) return {};
  const out: Record<string, number> = {};
  for (const point of m.dataPoints) out[labelKey(point.attributes)] = point.value as number;
  return out;
}

function labelKey(attributes: Attributes): string {
  return Object.entries(attributes)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',');
}

function histogram(all: MetricData[], name: string): Record<string, { count: number; sum: number }> {
  const m = metric(all, name) as HistogramMetricData | undefined;
  if (!m) return {};
  expect(m.dataPointType).toBe(DataPointType.HISTOGRAM);
  const out: Record<string, { count: number; sum: number }> = {};
  for (const point of m.dataPoints) out[labelKey(point.attributes)] = { count: point.value.count, sum: point.value.sum ?? Number.NaN };
  return out;
}

/** Lets promise callbacks (the depth reads) settle. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

class NamedError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

describe('job metrics', () => {
  it('counts attempts by type and outcome, failures by error type, retries and dead letters, and times them', async () => {
    const telemetry = makeTelemetry();
    const base = { messageId: 'm', attributes: {} };

    const a = telemetry.startAttempt({ ...base, jobType: 'sync-calendar', jobId: 'a', attempt: 1, enqueuedAtMs: clock.now() - 2_000 });
    clock.advance(250);
    a.end({ outcome: 'succeeded' });

    const b = telemetry.startAttempt({ ...base, jobType: 'sync-calendar', jobId: 'b', attempt: 1, enqueuedAtMs: clock.now() - 500 });
    clock.advance(1_000);
    b.end({ outcome: 'retrying', error: new NamedError('TimeoutError', 'slow'), retryDelayMs: 1_000 });

    const b2 = telemetry.startAttempt({ ...base, jobType: 'sync-calendar', jobId: 'b', attempt: 2, enqueuedAtMs: clock.now() + 5_000 });
    clock.advance(100);
    b2.end({ outcome: 'succeeded' });

    const c = telemetry.startAttempt({ ...base, jobType: 'write-event', jobId: 'c', attempt: 4 });
    clock.advance(3_000);
    c.end({ outcome: 'dead', error: new NamedError('NonRetryableError', 'gone'), reason: 'attempts_exhausted' });
    c.end({ outcome: 'dead', reason: 'counted twice?' });

    telemetry.startAttempt({ ...base, jobType: 'write-event', jobId: 'd', attempt: 1 }).end({ outcome: 'released' });
    telemetry.startAttempt({ ...base, jobType: 'write-event', jobId: 'e', attempt: 1 }).end({ outcome: 'deferred' });
    telemetry.startAttempt({ ...base, jobType: 'write-event', jobId: 'f', attempt: 1 }).end({ outcome: 'checkpointed' });

    telemetry.recordInvalid('invalid_envelope');
    telemetry.recordInvalid('bad_signature', 'sync-calendar');

    const all = await collect();
    expect(values(all, INSTRUMENT_NAMES.processed)).toEqual({
      'job_type=sync-calendar,outcome=succeeded': 2,
      'job_type=sync-calendar,outcome=retrying': 1,
      'job_type=write-event,outcome=dead': 1,
      'job_type=write-event,outcome=released': 1,
      'job_type=write-event,outcome=deferred': 1,
      'job_type=write-event,outcome=checkpointed': 1,
    });
    expect(values(all, INSTRUMENT_NAMES.failed)).toEqual({
      'error_type=TimeoutError,job_type=sync-calendar': 1,
      'error_type=NonRetryableError,job_type=write-event': 1,
    });
    expect(values(all, INSTRUMENT_NAMES.retried)).toEqual({ 'job_type=sync-calendar': 1 });
    expect(values(all, INSTRUMENT_NAMES.deadLettered)).toEqual({
      'job_type=write-event,reason=attempts_exhausted': 1,
      'job_type=unknown,reason=invalid_envelope': 1,
      'job_type=sync-calendar,reason=bad_signature': 1,
    });

    const duration = histogram(all, INSTRUMENT_NAMES.duration);
    expect(duration['job_type=sync-calendar,outcome=succeeded']).toEqual({ count: 2, sum: expect.closeTo(0.35, 9) });
    expect(duration['job_type=sync-calendar,outcome=retrying']).toEqual({ count: 1, sum: 1 });
    expect(duration['job_type=write-event,outcome=dead']).toEqual({ count: 1, sum: 3 });
    expect(metric(all, INSTRUMENT_NAMES.duration)?.descriptor.unit).toBe('s');

    // lag: 2 s, 0.5 s, and an enqueue time in the future (clock skew) clamped to 0; none without enqueuedAtMs
    expect(histogram(all, INSTRUMENT_NAMES.queueLag)).toEqual({ 'job_type=sync-calendar': { count: 3, sum: 2.5 } });
  });

  it('uses second-scale histogram buckets', async () => {
    const telemetry = makeTelemetry();
    telemetry.startAttempt({ jobType: 't', jobId: 'j', attempt: 1, messageId: 'm', attributes: {} }).end({ outcome: 'succeeded' });
    const m = metric(await collect(), INSTRUMENT_NAMES.duration) as HistogramMetricData;
    const boundaries = m.dataPoints[0]?.value.buckets.boundaries ?? [];
    expect(boundaries[0]).toBe(0.005);
    expect(boundaries).toContain(1);
    expect(boundaries.at(-1)).toBe(900);
  });

  it('works with no SDK at all: no-op spans with the invalid ids, nothing throws', () => {
    const telemetry = createWorkerTelemetry({ queueName: 'q', dlqName: 'dlq' });
    const attempt = telemetry.startAttempt({
      jobType: 't',
      jobId: 'j',
      attempt: 1,
      messageId: 'm',
      attributes: { traceparent: 'junk' },
      enqueuedAtMs: 0,
    });
    expect(attempt.traceId).toBe('0'.repeat(32));
    expect(attempt.spanId).toBe('0'.repeat(16));
    attempt.end({ outcome: 'dead', error: new Error('x'), reason: 'r' });
    telemetry.recordInvalid('invalid_envelope');
  });
});

describe('observeQueueDepth', () => {
  const depths: Record<QueueRole, QueueDepth> = {
    main: { visible: 12, inFlight: 3, delayed: 7 },
    dlq: { visible: 2, inFlight: 0, delayed: 0 },
  };

  it('polls each queue at most once per 5 s even when asked for 1 s, and reports cached values', async () => {
    const telemetry = makeTelemetry();
    const read = vi.fn(async (queue: QueueRole) => depths[queue]);
    const depth = telemetry.observeQueueDepth(read, { intervalMs: 1_000 });
    await settle();
    expect(read.mock.calls.map(([q]) => q)).toEqual(['main', 'dlq']);

    expect(values(await collect(), INSTRUMENT_NAMES.queueDepth)).toEqual({
      'queue=main,state=visible': 12,
      'queue=main,state=in_flight': 3,
      'queue=main,state=delayed': 7,
      'queue=dlq,state=visible': 2,
      'queue=dlq,state=in_flight': 0,
      'queue=dlq,state=delayed': 0,
    });

    // scrapes do not trigger reads
    await collect();
    await collect();
    for (let ms = 0; ms < 4_999; ms += 1_000) {
      clock.advance(Math.min(1_000, 4_999 - ms));
      await settle();
    }
    expect(read).toHaveBeenCalledTimes(2);
    clock.advance(1);
    await settle();
    expect(read).toHaveBeenCalledTimes(4);

    for (let i = 0; i < 7; i++) {
      clock.advance(1_000);
      await settle();
    }
    // t = 12 s: polls at 0, 5 and 10 s
    expect(read).toHaveBeenCalledTimes(6);
    depth.stop();
  });

  it('defaults to 15 s and raises anything below 5 s to 5 s', () => {
    expect(resolveQueueDepthInterval(undefined)).toBe(15_000);
    expect(resolveQueueDepthInterval(1_000)).toBe(5_000);
    expect(resolveQueueDepthInterval(0)).toBe(5_000);
    expect(resolveQueueDepthInterval(-1)).toBe(5_000);
    expect(resolveQueueDepthInterval(Number.NaN)).toBe(15_000);
    expect(resolveQueueDepthInterval(30_000)).toBe(30_000);
  });

  it('keeps the last value when a read fails, throws synchronously or returns junk', async () => {
    const telemetry = makeTelemetry();
    let call = 0;
    const read = vi.fn((queue: QueueRole): Promise<QueueDepth> => {
      call++;
      if (call <= 2) return Promise.resolve(depths[queue]);
      if (queue === 'main') return Promise.reject(new Error('throttled'));
      if (call === 4) throw new Error('sync throw');
      return Promise.resolve({ visible: Number.NaN } as unknown as QueueDepth);
    });
    const depth = telemetry.observeQueueDepth(read, { intervalMs: 5_000 });
    await settle();
    clock.advance(5_000);
    await settle();
    clock.advance(5_000);
    await settle();
    expect(read).toHaveBeenCalledTimes(6);
    const seen = values(await collect(), INSTRUMENT_NAMES.queueDepth);
    expect(seen['queue=main,state=visible']).toBe(12);
    expect(seen['queue=dlq,state=visible']).toBe(2);
    depth.stop();
  });

  it('does not start a second read of a queue while the first is still pending', async () => {
    const telemetry = makeTelemetry();
    const read = vi.fn(
      (queue: QueueRole): Promise<QueueDepth> => (queue === 'main' ? new Promise<QueueDepth>(() => {}) : Promise.resolve(depths.dlq)),
    );
    const depth = telemetry.observeQueueDepth(read, { intervalMs: 5_000 });
    await settle();
    for (let i = 0; i < 3; i++) {
      clock.advance(5_000);
      await settle();
    }
    expect(read.mock.calls.filter(([q]) => q === 'main')).toHaveLength(1);
    expect(read.mock.calls.filter(([q]) => q === 'dlq')).toHaveLength(4);
    // the scrape answers at once from what is cached (no main values yet)
    expect(Object.keys(values(await collect(), INSTRUMENT_NAMES.queueDepth)).sort()).toEqual([
      'queue=dlq,state=delayed',
      'queue=dlq,state=in_flight',
      'queue=dlq,state=visible',
    ]);
    depth.stop();
  });

  it('stop() ends polling and reporting; only one observer at a time', async () => {
    const telemetry = makeTelemetry();
    const read = vi.fn(async (queue: QueueRole) => depths[queue]);
    const depth = telemetry.observeQueueDepth(read, { intervalMs: 5_000 });
    await settle();
    expect(() => telemetry.observeQueueDepth(read)).toThrow(/already running/);
    depth.stop();
    depth.stop();
    expect(clock.pendingTimers).toBe(0);
    clock.advance(60_000);
    await settle();
    expect(read).toHaveBeenCalledTimes(2);
    expect(values(await collect(), INSTRUMENT_NAMES.queueDepth)).toEqual({});

    const again = telemetry.observeQueueDepth(read, { intervalMs: 5_000 });
    await settle();
    expect(read).toHaveBeenCalledTimes(4);
    again.stop();
  });

  it('unrefs its timer so it never keeps the process alive', async () => {
    const handles: unknown[] = [];
    const recording: Clock = {
      now: systemClock.now,
      setTimeout: (callback, ms) => {
        const handle = systemClock.setTimeout(callback, ms);
        handles.push(handle);
        return handle;
      },
      clearTimeout: systemClock.clearTimeout,
    };
    const telemetry = makeTelemetry({ clock: recording });
    const depth = telemetry.observeQueueDepth(async (queue) => depths[queue]);
    expect(handles).toHaveLength(1);
    expect((handles[0] as NodeJS.Timeout).hasRef()).toBe(false);
    depth.stop();
  });
});
