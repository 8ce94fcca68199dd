import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../support/manual-clock.js';
import { PROMETHEUS_NAMES } from '../../src/telemetry/instruments.js';
import { type MetricsServer, startMetricsServer } from '../../src/telemetry/metrics-server.js';
import { createWorkerTelemetry } from '../../src/telemetry/worker-telemetry.js';

class NamedError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

let exporter: PrometheusExporter;
let provider: MeterProvider;
let server: MetricsServer;
let ready = false;
let stopDepth: () => void = () => {};
let stopKeys: () => void = () => {};

beforeAll(async () => {
  exporter = new PrometheusExporter({ preventServerStart: true });
  provider = new MeterProvider({ readers: [exporter] });
  const clock = new ManualClock();
  const telemetry = createWorkerTelemetry({
    meter: provider.getMeter('calsync-jobs'),
    queueName: 'calsync-jobs',
    dlqName: 'calsync-jobs-dlq',
    clock,
  });
  const base = { messageId: 'm', attributes: {} };
  const ok = telemetry.startAttempt({ ...base, jobType: 'sync-calendar', jobId: 'a', attempt: 1, enqueuedAtMs: clock.now() - 1_500 });
  clock.advance(120);
  ok.end({ outcome: 'succeeded' });
  telemetry
    .startAttempt({ ...base, jobType: 'sync-calendar', jobId: 'b', attempt: 1 })
    .end({ outcome: 'retrying', error: new NamedError('TimeoutError', 'slow'), retryDelayMs: 1_000 });
  telemetry
    .startAttempt({ ...base, jobType: 'write-event', jobId: 'c', attempt: 4 })
    .end({ outcome: 'dead', error: new NamedError('NonRetryableError', 'gone'), reason: 'attempts_exhausted' });
  telemetry.recordInvalid('invalid_envelope');
  telemetry.recordDuplicate('claim_held', 'sync-calendar');
  telemetry.recordTicksFired('calendar.sync', 'tick', 3);
  telemetry.recordTicksFired('calendar.sync', 'catchup', 1);
  telemetry.recordTicksSkipped('calendar.sync', 'overlap', 2);
  telemetry.recordTicksSkipped('calendar.sync', 'missed', 5);
  telemetry.recordTickLag('calendar.sync', 40);
  telemetry.recordTickLag('calendar.sync', 1_200);
  telemetry.recordSchedulesDue(7);
  telemetry.recordHeld?.('concurrency', 'sync-calendar');
  telemetry.recordHeld?.('concurrency', 'sync-calendar');
  telemetry.recordHeld?.('rate', 'write-event');
  stopKeys = telemetry.observeKeysHeld?.(() => 3).stop ?? (() => undefined);
  stopDepth = telemetry.observeQueueDepth(async (queue) =>
    queue === 'main' ? { visible: 12, inFlight: 3, delayed: 7 } : { visible: 2, inFlight: 0, delayed: 1 },
  ).stop;
  await new Promise((resolve) => setImmediate(resolve));

  server = await startMetricsServer({ port: 0, ready: () => ready, exporter });
});

afterAll(async () => {
  stopDepth();
  stopKeys();
  await server?.close();
  await provider?.shutdown();
});

/** A sample line of `name` whose labels include all of `labels`, e.g. `name{a="1",b="2",otel_scope_name="..."} 3`. */
function sample(body: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of body.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = new Map([...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => present.get(key) === value)) return Number(match[3]);
  }
  return undefined;
}

describe('metrics server', () => {
  it('listens on 127.0.0.1 and reports the port it bound', () => {
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
  });

  it('serves the Prometheus names, types and labels the docs promise', async () => {
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const body = await response.text();

    expect(body).toContain(`# TYPE ${PROMETHEUS_NAMES.processed} counter`);
    expect(body).toContain(`# TYPE ${PROMETHEUS_NAMES.failed} counter`);
    expect(body).toContain(`# TYPE ${PROMETHEUS_NAMES.retried} counter`);
    expect(body).toContain(`# TYPE ${PROMETHEUS_NAMES.deadLettered} counter`);
    expect(body).toContain(`# TYPE ${PROMETHEUS_NAMES.duration} histogram`);
    expect(body).toContain(`# TYPE ${PROMETHEUS_NAMES.queueLag} histogram`);
    expect(body).toContain(`# TYPE ${PROMETHEUS_NAMES.queueDepth} gauge`);
    expect(body).toContain(`# TYPE ${PROMETHEUS_NAMES.duplicatesDropped} counter`);
    expect(body).toContain(`# TYPE ${PROMETHEUS_NAMES.ticksFired} counter`);
    expect(body).toContain(`# TYPE ${PROMETHEUS_NAMES.ticksSkipped} counter`);
    expect(body).toContain(`# TYPE ${PROMETHEUS_NAMES.tickLag} histogram`);
    expect(body).toContain(`# TYPE ${PROMETHEUS_NAMES.schedulesDue} gauge`);
    expect(body).toContain(`# TYPE ${PROMETHEUS_NAMES.held} counter`);
    expect(body).toContain(`# TYPE ${PROMETHEUS_NAMES.keysHeld} gauge`);
    expect(PROMETHEUS_NAMES).toEqual({
      processed: 'calsync_jobs_processed_total',
      failed: 'calsync_jobs_failed_total',
      retried: 'calsync_jobs_retried_total',
      deadLettered: 'calsync_jobs_dead_lettered_total',
      duration: 'calsync_jobs_duration_seconds',
      queueLag: 'calsync_jobs_queue_lag_seconds',
      queueDepth: 'calsync_jobs_queue_depth',
      duplicatesDropped: 'calsync_jobs_duplicates_dropped_total',
      ticksFired: 'calsync_jobs_schedule_ticks_fired_total',
      ticksSkipped: 'calsync_jobs_schedule_ticks_skipped_total',
      tickLag: 'calsync_jobs_schedule_lag_seconds',
      schedulesDue: 'calsync_jobs_schedules_due',
      held: 'calsync_jobs_held_total',
      keysHeld: 'calsync_jobs_keys_held',
    });
    expect(body).not.toMatch(/_total_total|_seconds_seconds/);

    expect(sample(body, 'calsync_jobs_processed_total', { job_type: 'sync-calendar', outcome: 'succeeded' })).toBe(1);
    expect(sample(body, 'calsync_jobs_processed_total', { job_type: 'sync-calendar', outcome: 'retrying' })).toBe(1);
    expect(sample(body, 'calsync_jobs_processed_total', { job_type: 'write-event', outcome: 'dead' })).toBe(1);
    expect(sample(body, 'calsync_jobs_failed_total', { job_type: 'sync-calendar', error_type: 'TimeoutError' })).toBe(1);
    expect(sample(body, 'calsync_jobs_retried_total', { job_type: 'sync-calendar' })).toBe(1);
    expect(sample(body, 'calsync_jobs_dead_lettered_total', { job_type: 'write-event', reason: 'attempts_exhausted' })).toBe(1);
    expect(sample(body, 'calsync_jobs_dead_lettered_total', { job_type: 'unknown', reason: 'invalid_envelope' })).toBe(1);
    expect(sample(body, 'calsync_jobs_duplicates_dropped_total', { job_type: 'sync-calendar', reason: 'claim_held' })).toBe(1);
    expect(sample(body, 'calsync_jobs_held_total', { job_type: 'sync-calendar', reason: 'concurrency' })).toBe(2);
    expect(sample(body, 'calsync_jobs_held_total', { job_type: 'write-event', reason: 'rate' })).toBe(1);
    expect(sample(body, 'calsync_jobs_keys_held', {})).toBe(3);

    expect(sample(body, 'calsync_jobs_schedule_ticks_fired_total', { job_type: 'calendar.sync', kind: 'tick' })).toBe(3);
    expect(sample(body, 'calsync_jobs_schedule_ticks_fired_total', { job_type: 'calendar.sync', kind: 'catchup' })).toBe(1);
    expect(sample(body, 'calsync_jobs_schedule_ticks_skipped_total', { job_type: 'calendar.sync', reason: 'overlap' })).toBe(2);
    expect(sample(body, 'calsync_jobs_schedule_ticks_skipped_total', { job_type: 'calendar.sync', reason: 'missed' })).toBe(5);
    expect(sample(body, 'calsync_jobs_schedule_lag_seconds_count', { job_type: 'calendar.sync' })).toBe(2);
    expect(sample(body, 'calsync_jobs_schedule_lag_seconds_sum', { job_type: 'calendar.sync' })).toBeCloseTo(1.24);
    expect(sample(body, 'calsync_jobs_schedule_lag_seconds_bucket', { job_type: 'calendar.sync', le: '1' })).toBe(1);
    expect(sample(body, 'calsync_jobs_schedules_due', {})).toBe(7);

    expect(sample(body, 'calsync_jobs_duration_seconds_count', { job_type: 'sync-calendar', outcome: 'succeeded' })).toBe(1);
    expect(sample(body, 'calsync_jobs_duration_seconds_sum', { job_type: 'sync-calendar', outcome: 'succeeded' })).toBeCloseTo(0.12);
    expect(sample(body, 'calsync_jobs_duration_seconds_bucket', { job_type: 'sync-calendar', outcome: 'succeeded', le: '0.25' })).toBe(1);
    expect(sample(body, 'calsync_jobs_duration_seconds_bucket', { job_type: 'sync-calendar', outcome: 'succeeded', le: '0.1' })).toBe(0);
    expect(sample(body, 'calsync_jobs_queue_lag_seconds_sum', { job_type: 'sync-calendar' })).toBe(1.5);
    expect(sample(body, 'calsync_jobs_queue_lag_seconds_bucket', { job_type: 'sync-calendar', le: '+Inf' })).toBe(1);

    expect(sample(body, 'calsync_jobs_queue_depth', { queue: 'main', state: 'visible' })).toBe(12);
    expect(sample(body, 'calsync_jobs_queue_depth', { queue: 'main', state: 'in_flight' })).toBe(3);
    expect(sample(body, 'calsync_jobs_queue_depth', { queue: 'main', state: 'delayed' })).toBe(7);
    expect(sample(body, 'calsync_jobs_queue_depth', { queue: 'dlq', state: 'visible' })).toBe(2);
    expect(sample(body, 'calsync_jobs_queue_depth', { queue: 'dlq', state: 'delayed' })).toBe(1);
  });

  it('answers /healthz with 200 ok', async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    expect((await response.text()).trim()).toBe('ok');
  });

  it('answers /readyz 503 until ready() is true, then 200', async () => {
    ready = false;
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${server.url}/readyz?verbose=1`)).status).toBe(200);
    ready = false;
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
  });

  it('answers 404 elsewhere and 405 to other methods', async () => {
    expect((await fetch(`${server.url}/`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics/extra`)).status).toBe(404);
    const post = await fetch(`${server.url}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('rejects when the port is taken, and close() frees the port even with keep-alive clients', async () => {
    await expect(startMetricsServer({ port: server.port, ready: () => true, exporter })).rejects.toThrow(/EADDRINUSE/);

    const second = await startMetricsServer({ port: 0, ready: () => true, exporter });
    expect((await fetch(`${second.url}/healthz`, { headers: { connection: 'keep-alive' } })).status).toBe(200);
    await second.close();
    await second.close();
    await expect(fetch(`${second.url}/healthz`)).rejects.toThrow();
  });
});
