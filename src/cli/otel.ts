/**
 * The OpenTelemetry SDK for the CLI's worker process. The library never starts an SDK; this does,
 * from the standard `OTEL_*` variables, with one deliberate difference from NodeSDK's defaults:
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
import { ConfigError } from '../shared/errors.js';
import { type MetricsServer, startMetricsServer } from '../runtime/telemetry/metrics-server.js';

export type OtlpProtocol = 'http/protobuf' | 'http/json';
export type SignalExporter = 'otlp' | 'console';

export interface OtlpTarget {
  /** Full signal URL, e.g. `http://collector:4318/v1/traces`. */
  url: string;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
}

/** What {@link startOtel} will do, resolved from the environment without side effects. */
export interface ResolvedOtelConfig {
  disabled: boolean;
  serviceName: string;
  resourceAttributes: Record<string, string>;
  traces: { exporters: SignalExporter[]; otlp?: OtlpTarget };
  metrics: { exporters: SignalExporter[]; otlp?: OtlpTarget; exportIntervalMs: number; exportTimeoutMs: number };
}

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

export const OTEL_DEFAULTS = {
  serviceName: 'calsync-worker',
  otlpEndpoint: 'http://localhost:4318',
  protocol: 'http/protobuf',
  metricExportIntervalMs: 60_000,
  metricExportTimeoutMs: 30_000,
} as const;

function value(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw ? raw : undefined;
}

function parseBoolean(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = value(env, name)?.toLowerCase();
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new ConfigError(name, `expected "true" or "false", got "${env[name]}"`);
}

function parsePositiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  const parsed = Number(raw);
  if (!Number.isInteger(parsed) || parsed <= 0) throw new ConfigError(name, `expected a positive integer (milliseconds), got "${raw}"`);
  return parsed;
}

/** `key1=value1,key2=value2`, percent-decoded (W3C baggage-like, as OTEL_*_HEADERS and OTEL_RESOURCE_ATTRIBUTES). */
function parseKeyValues(env: NodeJS.ProcessEnv, name: string): Record<string, string> {
  const raw = value(env, name);
  const out: Record<string, string> = {};
  if (raw === undefined) return out;
  for (const part of raw.split(',')) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ConfigError(name, `expected comma-separated key=value pairs, got "${part.trim()}"`);
    try {
      out[decodeURIComponent(part.slice(0, eq).trim())] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      throw new ConfigError(name, `bad percent-encoding in "${part.trim()}"`);
    }
  }
  return out;
}

function parseExporters(
  env: NodeJS.ProcessEnv,
  name: 'OTEL_TRACES_EXPORTER' | 'OTEL_METRICS_EXPORTER',
  signal: 'TRACES' | 'METRICS',
): SignalExporter[] {
  const raw = value(env, name);
  if (raw === undefined) {
    // The deliberate difference from the spec default (`otlp`): only an endpoint turns OTLP on.
    const endpointSet = value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') ?? value(env, `OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`);
    return endpointSet === undefined ? [] : ['otlp'];
  }
  const names = [
    ...new Set(
      raw
        .split(',')
        .map((item) => item.trim().toLowerCase())
        .filter(Boolean),
    ),
  ];
  if (names.includes('none')) return [];
  for (const item of names) {
    if (item === 'prometheus' && name === 'OTEL_METRICS_EXPORTER') {
      throw new ConfigError(
        name,
        'Prometheus is served by the worker\'s metrics port (startOtel({ metricsPort })); use "otlp", "console" or "none" here',
      );
    }
    if (item !== 'otlp' && item !== 'console') {
      throw new ConfigError(name, `unsupported exporter "${item}"; supported: otlp, console, none`);
    }
  }
  return names as SignalExporter[];
}

function resolveOtlp(env: NodeJS.ProcessEnv, signal: 'TRACES' | 'METRICS'): OtlpTarget {
  const path = signal === 'TRACES' ? 'v1/traces' : 'v1/metrics';
  const signalProtocolVar = `OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`;
  const protocolVar = value(env, signalProtocolVar) !== undefined ? signalProtocolVar : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = value(env, protocolVar) ?? OTEL_DEFAULTS.protocol;
  if (protocol === 'grpc') {
    throw new ConfigError(protocolVar, 'OTLP over gRPC is not supported by calsync-jobs; use "http/protobuf" (port 4318) or "http/json"');
  }
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new ConfigError(protocolVar, `unsupported protocol "${protocol}"; supported: http/protobuf, http/json`);
  }

  const signalEndpointVar = `OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`;
  const signalEndpoint = value(env, signalEndpointVar);
  const baseEndpoint = value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  let url: string;
  let urlVar: string;
  if (signalEndpoint !== undefined) {
    // Signal-specific endpoints are used as given (spec).
    url = signalEndpoint;
    urlVar = signalEndpointVar;
  } else {
    const base = baseEndpoint ?? OTEL_DEFAULTS.otlpEndpoint;
    url = `${base.endsWith('/') ? base : `${base}/`}${path}`;
    urlVar = 'OTEL_EXPORTER_OTLP_ENDPOINT';
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(urlVar, `not a URL: "${url}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(urlVar, `expected an http(s) URL, got "${url}"`);
  }

  const headers = {
    ...parseKeyValues(env, 'OTEL_EXPORTER_OTLP_HEADERS'),
    ...parseKeyValues(env, `OTEL_EXPORTER_OTLP_${signal}_HEADERS`),
  };
  return { url, protocol, headers };
}

/** Reads the `OTEL_*` variables into a {@link ResolvedOtelConfig}; throws `ConfigError` naming the variable. */
export function resolveOtelConfig(env: NodeJS.ProcessEnv = process.env, serviceName?: string): ResolvedOtelConfig {
  const disabled = parseBoolean(env, 'OTEL_SDK_DISABLED');
  const traceExporters = parseExporters(env, 'OTEL_TRACES_EXPORTER', 'TRACES');
  const metricExporters = parseExporters(env, 'OTEL_METRICS_EXPORTER', 'METRICS');
  const config: ResolvedOtelConfig = {
    disabled,
    serviceName: value(env, 'OTEL_SERVICE_NAME') ?? serviceName ?? OTEL_DEFAULTS.serviceName,
    resourceAttributes: parseKeyValues(env, 'OTEL_RESOURCE_ATTRIBUTES'),
    traces: { exporters: disabled ? [] : traceExporters },
    metrics: {
      exporters: disabled ? [] : metricExporters,
      exportIntervalMs: parsePositiveInt(env, 'OTEL_METRIC_EXPORT_INTERVAL', OTEL_DEFAULTS.metricExportIntervalMs),
      exportTimeoutMs: parsePositiveInt(env, 'OTEL_METRIC_EXPORT_TIMEOUT', OTEL_DEFAULTS.metricExportTimeoutMs),
    },
  };
  if (config.traces.exporters.includes('otlp')) config.traces.otlp = resolveOtlp(env, 'TRACES');
  if (config.metrics.exporters.includes('otlp')) config.metrics.otlp = resolveOtlp(env, 'METRICS');
  return config;
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
 * meter providers, W3C trace-context + baggage propagator, AsyncLocalStorage context manager).
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
