import { createServer, type Server } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { metrics, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resolveOtelConfig } from '../../src/telemetry/otel-config.js';
import { startOtel, type OtelHandle } from '../../src/telemetry/sdk.js';
import { ConfigError } from '../../src/shared/errors.js';

interface Received {
  method: string;
  path: string;
  contentType: string;
  body: Buffer;
}

/** A tiny OTLP/HTTP sink on 127.0.0.1 that records every request. */
let collector: Server;
let collectorUrl: string;
let received: Received[];

beforeEach(async () => {
  received = [];
  collector = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({
        method: request.method ?? '',
        path: request.url ?? '',
        contentType: String(request.headers['content-type'] ?? ''),
        body: Buffer.concat(chunks),
      });
      const json = String(request.headers['content-type']).includes('json');
      response.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      response.end(json ? '{}' : undefined);
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  collectorUrl = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
});

let handle: OtelHandle | undefined;

afterEach(async () => {
  await handle?.shutdown();
  handle = undefined;
  collector.closeAllConnections();
  await new Promise<void>((resolve) => collector.close(() => resolve()));
  vi.restoreAllMocks();
});

function emit(spanName: string): void {
  const span = trace.getTracer('calsync-jobs').startSpan(spanName);
  span.end();
  metrics.getMeter('calsync-jobs').createCounter('calsync_jobs_processed').add(1, { job_type: 'probe', outcome: 'succeeded' });
}

describe('resolveOtelConfig', () => {
  it('exports nothing when nothing is configured (unlike NodeSDK, whose default is OTLP)', () => {
    const config = resolveOtelConfig({});
    expect(config).toEqual({
      disabled: false,
      serviceName: 'calsync-worker',
      resourceAttributes: {},
      traces: { exporters: [] },
      metrics: { exporters: [], exportIntervalMs: 60_000, exportTimeoutMs: 30_000 },
    });
  });

  it('turns OTLP on from the endpoint, per signal, with the standard URL rules', () => {
    const config = resolveOtelConfig(
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
        OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'https://metrics.example/custom',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/protobuf',
        OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20abc,x-team=jobs',
        OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-team=traces',
        OTEL_SERVICE_NAME: 'from-env',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=staging',
        OTEL_METRIC_EXPORT_INTERVAL: '10000',
      },
      'from-option',
    );
    expect(config.serviceName).toBe('from-env');
    expect(config.resourceAttributes).toEqual({ 'deployment.environment.name': 'staging' });
    expect(config.traces).toEqual({
      exporters: ['otlp'],
      otlp: {
        url: 'http://collector:4318/v1/traces',
        protocol: 'http/json',
        headers: { authorization: 'Bearer abc', 'x-team': 'traces' },
      },
    });
    expect(config.metrics.otlp).toEqual({
      url: 'https://metrics.example/custom',
      protocol: 'http/protobuf',
      headers: { authorization: 'Bearer abc', 'x-team': 'jobs' },
    });
    expect(config.metrics.exportIntervalMs).toBe(10_000);
  });

  it('honours explicit exporter lists, the service name option and OTEL_SDK_DISABLED', () => {
    const explicit = resolveOtelConfig({ OTEL_TRACES_EXPORTER: 'otlp,console', OTEL_METRICS_EXPORTER: 'none' }, 'api');
    expect(explicit.serviceName).toBe('api');
    expect(explicit.traces.exporters).toEqual(['otlp', 'console']);
    expect(explicit.traces.otlp?.url).toBe('http://localhost:4318/v1/traces');
    expect(explicit.traces.otlp?.protocol).toBe('http/protobuf');
    expect(explicit.metrics.exporters).toEqual([]);

    const disabled = resolveOtelConfig({ OTEL_SDK_DISABLED: 'TRUE', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318' });
    expect(disabled.disabled).toBe(true);
    expect(disabled.traces.exporters).toEqual([]);
    expect(disabled.metrics.exporters).toEqual([]);
  });

  it.each([
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4317', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift' }, 'OTEL_EXPORTER_OTLP_PROTOCOL'],
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, 'OTEL_TRACES_EXPORTER'],
    [{ OTEL_METRICS_EXPORTER: 'prometheus' }, 'OTEL_METRICS_EXPORTER'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }, 'OTEL_EXPORTER_OTLP_ENDPOINT'],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://x/v1/traces' }, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'],
    [{ OTEL_SDK_DISABLED: 'yes' }, 'OTEL_SDK_DISABLED'],
    [{ OTEL_METRIC_EXPORT_INTERVAL: '0' }, 'OTEL_METRIC_EXPORT_INTERVAL'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x:4318', OTEL_EXPORTER_OTLP_HEADERS: 'novalue' }, 'OTEL_EXPORTER_OTLP_HEADERS'],
  ])('rejects %o with a ConfigError naming %s', (env, setting) => {
    let thrown: unknown;
    try {
      resolveOtelConfig(env);
    } catch (error) {
      thrown = error;
    }
    expect(ConfigError.is(thrown)).toBe(true);
    expect((thrown as ConfigError).setting).toBe(setting);
    expect((thrown as ConfigError).message).toContain(setting);
  });
});

describe('startOtel', () => {
  it('with an empty environment registers the propagator but opens no connection at all', async () => {
    const connect = vi.spyOn(net.Socket.prototype, 'connect');
    handle = await startOtel({ env: {} });
    expect(handle.config.traces.exporters).toEqual([]);
    expect(handle.config.metrics.exporters).toEqual([]);
    expect(handle.prometheus).toBeUndefined();
    expect(handle.metricsServer).toBeUndefined();

    emit('nobody-listens');
    const carrier: Record<string, string> = {};
    propagation.inject(
      trace.setSpanContext(ROOT_CONTEXT, {
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        traceFlags: 1,
      }),
      carrier,
    );
    expect(carrier.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');

    await handle.shutdown();
    expect(connect).not.toHaveBeenCalled();
    expect(received).toEqual([]);
  });

  it('exports spans and metrics as OTLP http/json to OTEL_EXPORTER_OTLP_ENDPOINT', async () => {
    // the same spy as in the empty-environment test does see the exporter's sockets
    const connect = vi.spyOn(net.Socket.prototype, 'connect');
    handle = await startOtel({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
      serviceName: 'otel-json-test',
    });
    emit('probe-json-span');
    await handle.shutdown();
    expect(connect).toHaveBeenCalled();

    const traces = received.filter((r) => r.path === '/v1/traces');
    expect(traces).toHaveLength(1);
    expect(traces[0]?.method).toBe('POST');
    expect(traces[0]?.contentType).toMatch(/^application\/json/);
    const payload = JSON.parse(traces[0]?.body.toString('utf8') ?? '{}') as {
      resourceSpans: Array<{
        resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
        scopeSpans: Array<{ spans: Array<{ name: string }> }>;
      }>;
    };
    const resource = payload.resourceSpans[0]?.resource.attributes ?? [];
    expect(resource.find((a) => a.key === 'service.name')?.value.stringValue).toBe('otel-json-test');
    const names = payload.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.name)));
    expect(names).toEqual(['probe-json-span']);

    const metricPosts = received.filter((r) => r.path === '/v1/metrics');
    expect(metricPosts.length).toBeGreaterThanOrEqual(1);
    expect(metricPosts[0]?.contentType).toMatch(/^application\/json/);
    expect(metricPosts.map((r) => r.body.toString('utf8')).join('')).toContain('calsync_jobs_processed');
  });

  it('exports OTLP http/protobuf with content-type application/x-protobuf', async () => {
    handle = await startOtel({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' },
    });
    emit('probe-proto-span');
    await handle.shutdown();

    const traces = received.filter((r) => r.path === '/v1/traces');
    expect(traces).toHaveLength(1);
    expect(traces[0]?.method).toBe('POST');
    expect(traces[0]?.contentType).toBe('application/x-protobuf');
    // protobuf strings are raw UTF-8: the span and service names appear verbatim in the body
    expect(traces[0]?.body.includes(Buffer.from('probe-proto-span'))).toBe(true);
    expect(traces[0]?.body.includes(Buffer.from('calsync-worker'))).toBe(true);
    const metricPosts = received.filter((r) => r.path === '/v1/metrics');
    expect(metricPosts[0]?.contentType).toBe('application/x-protobuf');
  });

  it('serves Prometheus and pushes OTLP metrics at the same time', async () => {
    let ready = false;
    handle = await startOtel({
      env: { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${collectorUrl}/v1/metrics` },
      metricsPort: 0,
      ready: () => ready,
    });
    expect(handle.config.traces.exporters).toEqual([]);
    expect(handle.prometheus).toBeDefined();
    const url = handle.metricsServer?.url ?? '';
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    emit('not-exported');
    const body = await (await fetch(`${url}/metrics`)).text();
    expect(body).toMatch(/^calsync_jobs_processed_total\{job_type="probe",outcome="succeeded"[^}]*\} 1$/m);
    expect(body).toMatch(/^target_info\{[^}]*service_name="calsync-worker"/m);
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    await handle.shutdown();
    const metricPosts = received.filter((r) => r.path === '/v1/metrics');
    expect(metricPosts.length).toBeGreaterThanOrEqual(1);
    expect(metricPosts[0]?.contentType).toBe('application/x-protobuf');
    expect(received.filter((r) => r.path === '/v1/traces')).toEqual([]);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('with OTEL_SDK_DISABLED exports nothing but keeps the health endpoints', async () => {
    handle = await startOtel({
      env: { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl },
      metricsPort: 0,
    });
    expect(handle.prometheus).toBeUndefined();
    emit('disabled-span');
    expect(trace.getTracer('x').startSpan('s').isRecording()).toBe(false);
    const url = handle.metricsServer?.url ?? '';
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${url}/metrics`)).text()).toContain('telemetry disabled');
    await handle.shutdown();
    expect(received).toEqual([]);
  });

  it('can be started again after shutdown (globals are released)', async () => {
    const first = await startOtel({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl } });
    await first.shutdown();
    await first.shutdown();
    handle = await startOtel({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl } });
    emit('second-start');
    await handle.shutdown();
    const traces = received.filter((r) => r.path === '/v1/traces');
    expect(traces).toHaveLength(1);
    expect(traces[0]?.body.includes(Buffer.from('second-start'))).toBe(true);
  });
});
