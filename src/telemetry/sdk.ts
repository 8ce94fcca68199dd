/**
 * The OpenTelemetry SDK for the CLI's processes (worker, api, enqueue, dlq redrive). The library never
 * starts an SDK; this does, from the standard `OTEL_*` variables (read by `resolveOtelConfig`,
 * otel-config.ts), with one deliberate difference from NodeSDK's defaults:
 * with nothing configured nothing is exported (NodeSDK would export traces, metrics and logs over
 * OTLP to localhost:4318). OTLP is enabled by an endpoint variable or an explicit `OTEL_*_EXPORTER`.
 *
 * Variables: OTEL_SDK_DISABLED, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
 * OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER (`otlp`, `console`, `none`; comma lists allowed),
 * OTEL_EXPORTER_OTLP_ENDPOINT / _TRACES_ENDPOINT / _METRICS_ENDPOINT,
 * OTEL_EXPORTER_OTLP_PROTOCOL / _TRACES_PROTOCOL / _METRICS_PROTOCOL (`http/protobuf`, `http/json`),
 * OTEL_EXPORTER_OTLP_HEADERS / _TRACES_HEADERS / _METRICS_HEADERS,
 * OTEL_METRIC_EXPORT_INTERVAL, OTEL_METRIC_EXPORT_TIMEOUT.
 * Sampling (OTEL_TRACES_SAMPLER) and OTEL_LOG_LEVEL are read by NodeSDK from `process.env`.
 */
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPMetricExporter as OTLPHttpJsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OTLPProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter as OTLPHttpJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, hostDetector, processDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { ConsoleMetricExporter, type IMetricReader, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { type MetricsServer, startMetricsServer } from './metrics-server.js';
import { type OtlpTarget, type ResolvedOtelConfig, resolveOtelConfig } from './otel-config.js';
import { SynchronousContextManager } from './sync-context.js';

export interface StartOtelOptions {
  /** Used when OTEL_SERVICE_NAME is unset. @defaultValue 'calsync-worker' */
  serviceName?: string;
  /** Serve Prometheus `/metrics` (+ `/healthz`, `/readyz`) on this port; 0 picks a free one. Off when absent. */
  metricsPort?: number;
  /** @defaultValue '127.0.0.1' */
  metricsHost?: string;
  /** Readiness for `/readyz`. @defaultValue always ready */
  ready?: () => boolean;
  /** @defaultValue process.env */
  env?: NodeJS.ProcessEnv;
  /**
   * Whether OpenTelemetry's active context follows async code (the AsyncLocalStorage context manager).
   * `false` registers a synchronous one (sync-context.ts): a context entered is active only during
   * the synchronous call. For a process where nothing reads the active context after an `await`: a
   * worker running no handler in its trace context (`CALSYNC_HANDLER_TRACE_CONTEXT=false`) pays for
   * no promise hooks then (Node 20 and 22), not even for the exporters' own `context.with`.
   * @defaultValue true
   */
  asyncContext?: boolean;
}

export interface OtelHandle {
  /** The resolved configuration (what is exported where). */
  config: ResolvedOtelConfig;
  /** The Prometheus reader, when `metricsPort` was given and the SDK is enabled. */
  prometheus?: PrometheusExporter;
  /** The `/metrics` server, when `metricsPort` was given. */
  metricsServer?: MetricsServer;
  /** Flushes and stops exporters, closes the metrics server, unregisters the globals. Idempotent. */
  shutdown(): Promise<void>;
}

function spanProcessors(config: ResolvedOtelConfig): SpanProcessor[] {
  return config.traces.exporters.map((exporter) => {
    if (exporter === 'console') return new SimpleSpanProcessor(new ConsoleSpanExporter());
    const target = config.traces.otlp as OtlpTarget;
    const options = { url: target.url, headers: target.headers };
    return new BatchSpanProcessor(
      target.protocol === 'http/json' ? new OTLPHttpJsonTraceExporter(options) : new OTLPProtoTraceExporter(options),
    );
  });
}

function metricReaders(config: ResolvedOtelConfig): IMetricReader[] {
  const { exportIntervalMs, exportTimeoutMs } = config.metrics;
  const periodic = { exportIntervalMillis: exportIntervalMs, exportTimeoutMillis: Math.min(exportTimeoutMs, exportIntervalMs) };
  return config.metrics.exporters.map((exporter) => {
    if (exporter === 'console') return new PeriodicExportingMetricReader({ exporter: new ConsoleMetricExporter(), ...periodic });
    const target = config.metrics.otlp as OtlpTarget;
    const options = { url: target.url, headers: target.headers };
    return new PeriodicExportingMetricReader({
      exporter: target.protocol === 'http/json' ? new OTLPHttpJsonMetricExporter(options) : new OTLPProtoMetricExporter(options),
      ...periodic,
    });
  });
}

/** `/metrics` while the SDK is disabled: health probes keep working, the scrape says why it is empty. */
const disabledMetrics = {
  getMetricsRequestHandler(
    _request: unknown,
    response: { statusCode: number; setHeader(n: string, v: string): unknown; end(b: string): unknown },
  ): void {
    response.statusCode = 200;
    response.setHeader('content-type', 'text/plain; charset=utf-8');
    response.end('# telemetry disabled (OTEL_SDK_DISABLED=true)\n');
  },
};

/**
 * Starts the OpenTelemetry SDK for a worker or CLI process and registers it globally (tracer and
 * meter providers, W3C trace-context + baggage propagator, AsyncLocalStorage context manager unless
 * `asyncContext` is false).
 * No auto-instrumentation. With `metricsPort`, also serves Prometheus `/metrics`, `/healthz`, `/readyz`.
 */
export async function startOtel(options: StartOtelOptions = {}): Promise<OtelHandle> {
  const env = options.env ?? process.env;
  const config = resolveOtelConfig(env, options.serviceName);
  const ready = options.ready ?? (() => true);
  const serverOptions = (exporter: Parameters<typeof startMetricsServer>[0]['exporter'], port: number) => ({
    port,
    ready,
    exporter,
    ...(options.metricsHost === undefined ? {} : { host: options.metricsHost }),
  });

  if (config.disabled) {
    const metricsServer =
      options.metricsPort === undefined ? undefined : await startMetricsServer(serverOptions(disabledMetrics, options.metricsPort));
    let closing: Promise<void> | undefined;
    return {
      config,
      ...(metricsServer ? { metricsServer } : {}),
      shutdown: () => (closing ??= metricsServer ? metricsServer.close() : Promise.resolve()),
    };
  }

  const readers = metricReaders(config);
  const prometheus = options.metricsPort === undefined ? undefined : new PrometheusExporter({ preventServerStart: true });
  if (prometheus) readers.push(prometheus);

  const sdk = new NodeSDK({
    ...(options.asyncContext === false ? { contextManager: new SynchronousContextManager() } : {}),
    serviceName: config.serviceName,
    resource: defaultResource().merge(resourceFromAttributes(config.resourceAttributes)),
    // Not envDetector: it reads process.env, and `options.env` is the source of truth here.
    resourceDetectors: [processDetector, hostDetector],
    textMapPropagator: new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    }),
    // Explicit (possibly empty) lists keep NodeSDK from falling back to its own OTLP defaults.
    spanProcessors: spanProcessors(config),
    metricReaders: readers,
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();

  let metricsServer: MetricsServer | undefined;
  if (prometheus && options.metricsPort !== undefined) {
    try {
      metricsServer = await startMetricsServer(serverOptions(prometheus, options.metricsPort));
    } catch (error) {
      await sdk.shutdown().catch(() => undefined);
      unregisterGlobals();
      throw error;
    }
  }

  let closing: Promise<void> | undefined;
  const shutdown = (): Promise<void> =>
    (closing ??= (async () => {
      // Flush and close both even if one fails; report the first failure afterwards.
      const results = await Promise.allSettled([sdk.shutdown(), metricsServer?.close()]);
      unregisterGlobals();
      const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed) throw failed.reason;
    })());

  return {
    config,
    ...(prometheus ? { prometheus } : {}),
    ...(metricsServer ? { metricsServer } : {}),
    shutdown,
  };
}

function unregisterGlobals(): void {
  trace.disable();
  metrics.disable();
  propagation.disable();
  context.disable();
}
