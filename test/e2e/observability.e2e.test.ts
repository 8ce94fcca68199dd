/**
 * End to end against the real programs: ElasticMQ, the OpenTelemetry Collector running the
 * repository's otel-collector.yaml, Jaeger, and the worker as a child process (`calsync-jobs worker`).
 * Jobs are enqueued with the CLI (its own PRODUCER span), then Jaeger's HTTP API and the worker's
 * Prometheus endpoint must tell the story: one trace per job, attempts, retries, the dead letter.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startElasticMq, type ElasticMq } from '../support/elasticmq.js';
import { queryTraces, startJaeger, tagValue, type JaegerPeer, type JaegerSpan, type JaegerTrace } from '../support/jaeger.js';
import { startCollector, type CollectorPeer } from '../support/otelcol.js';
import { freePort, REPO_ROOT, spawnPeer, waitFor, type Peer } from '../support/process.js';

const BIN = join(REPO_ROOT, 'bin', 'calsync-jobs.js');
const SERVICE = `calsync-e2e-${randomUUID().slice(0, 8)}`;

let jaeger: JaegerPeer | undefined;
let collector: CollectorPeer | undefined;
let sqs: ElasticMq | undefined;
let worker: Peer | undefined;
let metricsPort = 0;
let env: NodeJS.ProcessEnv = {};

beforeAll(async () => {
  [jaeger, sqs] = await Promise.all([startJaeger(), startElasticMq()]);
  collector = await startCollector({ jaegerOtlpGrpcEndpoint: jaeger.otlpGrpcEndpoint });
  metricsPort = await freePort();
  env = {
    ...process.env,
    AWS_ENDPOINT_URL_SQS: sqs.endpoint,
    AWS_REGION: 'us-east-1',
    CALSYNC_CREATE_QUEUES: 'true',
    CALSYNC_QUEUE_DEPTH_INTERVAL_MS: '5000',
    CALSYNC_LOG_LEVEL: 'info',
    OTEL_SERVICE_NAME: SERVICE,
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.otlpHttpEndpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
  };
  worker = spawnPeer('worker', process.execPath, [BIN, 'worker', '--metrics-port', String(metricsPort)], { env, cwd: REPO_ROOT });
  await waitFor('the worker to be ready', async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status === 200, {
    timeoutMs: 60_000,
  }).catch((error: Error) => {
    throw new Error(`${error.message}\nworker output:\n${worker?.output()}`);
  });
}, 900_000);

afterAll(async () => {
  await worker?.stop(10_000);
  await Promise.all([collector?.stop(), jaeger?.stop(), sqs?.stop()]);
});

function enqueue(type: string, payload: unknown): string {
  const run = spawnSync(process.execPath, [BIN, 'enqueue', type, JSON.stringify(payload)], {
    env: { ...env, OTEL_SERVICE_NAME: `${SERVICE}-api` },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (run.status !== 0) throw new Error(`enqueue ${type} failed (${run.status}): ${run.stderr}`);
  return run.stdout.trim();
}

async function metrics(): Promise<string> {
  return await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
}

/** Sum of a Prometheus series' samples whose labels contain every `labels` pair. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.trim().split(/\s+/).at(-1));
  }
  return total;
}

function traceOfJob(traces: readonly JaegerTrace[], jobId: string): JaegerTrace[] {
  return traces.filter((t) => t.spans.some((s) => tagValue(s, 'job.id') === jobId));
}

const isError = (span: JaegerSpan): boolean => tagValue(span, 'otel.status_code') === 'ERROR' || tagValue(span, 'error') === true;

describe('observability end to end (ElasticMQ + Collector + Jaeger + worker process)', () => {
  it('shows each job as one trace in Jaeger and counts them on the Prometheus endpoint', async () => {
    const flaky = enqueue('demo.flaky', { failTimes: 2 });
    const poison = enqueue('demo.poison', { why: 'e2e: never works' });
    const hello = enqueue('demo.hello', { name: 'e2e' });

    await waitFor(
      'the worker to settle the three jobs',
      async () => {
        const text = await metrics();
        return (
          sample(text, 'calsync_jobs_processed_total', { outcome: 'succeeded' }) >= 2 &&
          sample(text, 'calsync_jobs_dead_lettered_total') >= 1
        );
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );

    const traces = await waitFor(
      'Jaeger to hold the three traces',
      async () => {
        const found = await queryTraces(jaeger!.queryUrl, SERVICE, 50);
        const complete =
          traceOfJob(found, flaky)[0]?.spans.filter((s) => s.operationName === 'process demo.flaky').length === 3 &&
          traceOfJob(found, poison)[0]?.spans.some((s) => s.operationName === 'send calsync-jobs-dlq') &&
          traceOfJob(found, hello)[0]?.spans.some((s) => s.operationName === 'process demo.hello');
        return complete ? found : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );

    // Each job is exactly one trace.
    for (const id of [flaky, poison, hello]) expect(traceOfJob(traces, id), `traces of job ${id}`).toHaveLength(1);

    // The flaky job: enqueue send, three attempts (1 and 2 failed), two retry sends, all in one trace.
    const flakyTrace = traceOfJob(traces, flaky)[0]!;
    const processes = flakyTrace.spans
      .filter((s) => s.operationName === 'process demo.flaky')
      .sort((a, b) => Number(tagValue(a, 'job.attempt')) - Number(tagValue(b, 'job.attempt')));
    expect(processes.map((s) => Number(tagValue(s, 'job.attempt')))).toEqual([1, 2, 3]);
    expect(processes.map(isError)).toEqual([true, true, false]);
    expect(processes.map((s) => tagValue(s, 'job.outcome'))).toEqual(['retrying', 'retrying', 'succeeded']);
    expect(processes.map((s) => tagValue(s, 'span.kind'))).toEqual(['consumer', 'consumer', 'consumer']);
    expect(tagValue(processes[0]!, 'messaging.system')).toBe('aws_sqs');
    const retrySends = flakyTrace.spans.filter((s) => s.operationName === 'send calsync-jobs' && tagValue(s, 'job.operation') === 'retry');
    expect(retrySends).toHaveLength(2);
    expect(retrySends.map((s) => Number(tagValue(s, 'job.retry_delay_ms'))).sort((a, b) => a - b)).toEqual([1000, 2000]);
    const enqueueSpan = flakyTrace.spans.find((s) => tagValue(s, 'job.operation') === 'send');
    expect(enqueueSpan, 'the enqueue PRODUCER span from the CLI').toBeDefined();
    expect(flakyTrace.processes[enqueueSpan!.processID]?.serviceName).toBe(`${SERVICE}-api`);
    // The first attempt's parent is the enqueue span.
    expect(processes[0]!.references.some((r) => r.spanID === enqueueSpan!.spanID)).toBe(true);

    // The poison job ends in a send to the DLQ, with the reason.
    const poisonTrace = traceOfJob(traces, poison)[0]!;
    const dlqSend = poisonTrace.spans.find((s) => s.operationName === 'send calsync-jobs-dlq');
    expect(tagValue(dlqSend!, 'job.dead_reason')).toBe('non_retryable');
    const poisonProcess = poisonTrace.spans.find((s) => s.operationName === 'process demo.poison');
    expect(isError(poisonProcess!)).toBe(true);
    expect(tagValue(poisonProcess!, 'job.outcome')).toBe('dead');

    // Prometheus: processed 3+, retried 2+, dead 1, and a DLQ depth of 1.
    const text = await waitFor(
      'the DLQ depth gauge to read 1',
      async () => {
        const current = await metrics();
        return sample(current, 'calsync_jobs_queue_depth', { queue: 'dlq', state: 'visible' }) === 1 ? current : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 1_000 },
    );
    expect(sample(text, 'calsync_jobs_processed_total')).toBeGreaterThanOrEqual(3);
    expect(sample(text, 'calsync_jobs_retried_total', { job_type: 'demo.flaky' })).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'calsync_jobs_dead_lettered_total', { job_type: 'demo.poison', reason: 'non_retryable' })).toBe(1);
    expect(sample(text, 'calsync_jobs_queue_depth', { queue: 'dlq', state: 'visible' })).toBe(1);
  }, 300_000);

  it('logs each attempt as JSON with its job id and trace id', () => {
    const lines = worker!
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const failed = lines.filter((l) => l.type === 'demo.flaky' && typeof l.msg === 'string' && l.msg.startsWith('attempt failed'));
    expect(failed.length).toBeGreaterThanOrEqual(2);
    for (const line of failed) {
      expect(line.jobId).toMatch(/^[0-9a-f-]{36}$/);
      expect(line.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(line.trace_id).not.toBe('0'.repeat(32));
      expect(line.span_id).toMatch(/^[0-9a-f]{16}$/);
      expect(line).not.toHaveProperty('payload');
    }
  });

  it('stops cleanly on SIGTERM (exit code 0)', async () => {
    const exited = new Promise<number | null>((resolve) => worker!.child.once('exit', (code) => resolve(code)));
    process.kill(worker!.pid, 'SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);
});
