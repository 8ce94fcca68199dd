/**
 * The `OTEL_*` settings: one zod schema over the environment, and {@link resolveOtelConfig}, which
 * turns it into what `startOtel` (sdk.ts) does. A bad value throws a `ConfigError` naming the
 * variable: `OTEL_EXPORTER_OTLP_PROTOCOL: OTLP over gRPC is not supported by calsync-jobs; ...`.
 *
 * The schema lives here, not in src/config/, because config/ sits below telemetry/ in the layers
 * table (config may import telemetry, not the reverse); config/ and the CLI read it from here.
 *
 * An OTLP setting (endpoint, protocol, headers) is checked only for a signal that exports over OTLP:
 * an `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` meant for other services stops no worker that exports nothing.
 * Everything else is checked whenever it is set.
 */
import { z } from 'zod';
import { ConfigError } from '../shared/errors.js';

export type OtlpProtocol = 'http/protobuf' | 'http/json';
export type SignalExporter = 'otlp' | 'console';

export interface OtlpTarget {
  /** Full signal URL, e.g. `http://collector:4318/v1/traces`. */
  url: string;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
}

/** What `startOtel` will do, resolved from the environment without side effects. */
export interface ResolvedOtelConfig {
  disabled: boolean;
  serviceName: string;
  resourceAttributes: Record<string, string>;
  traces: { exporters: SignalExporter[]; otlp?: OtlpTarget };
  metrics: { exporters: SignalExporter[]; otlp?: OtlpTarget; exportIntervalMs: number; exportTimeoutMs: number };
}

export const OTEL_DEFAULTS = {
  serviceName: 'calsync-worker',
  otlpEndpoint: 'http://localhost:4318',
  protocol: 'http/protobuf',
  metricExportIntervalMs: 60_000,
  metricExportTimeoutMs: 30_000,
} as const;

/** A variable's text, trimmed; unset and blank are the same (`undefined`), and `value` parses the rest. */
const setting = <T>(value: z.ZodType<T, string>) =>
  z
    .string()
    .optional()
    .transform((raw) => raw?.trim() || undefined)
    .pipe(value.optional());

const text = z.string();

const flag = z
  .string()
  .toLowerCase()
  .pipe(z.enum(['true', 'false'], { error: (issue) => `expected "true" or "false", got "${String(issue.input)}"` }))
  .transform((value) => value === 'true');

const positiveMillis = z
  .string()
  .refine((raw) => Number.isInteger(Number(raw)) && Number(raw) > 0, {
    error: (issue) => `expected a positive integer (milliseconds), got "${String(issue.input)}"`,
  })
  .transform(Number);

/** `key1=value1,key2=value2`, percent-decoded (W3C baggage-like, as OTEL_*_HEADERS and OTEL_RESOURCE_ATTRIBUTES). */
const keyValues = z.string().transform((raw, ctx) => {
  const out: Record<string, string> = {};
  for (const part of raw.split(',')) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) {
      ctx.addIssue({ code: 'custom', message: `expected comma-separated key=value pairs, got "${part.trim()}"` });
      return z.NEVER;
    }
    try {
      out[decodeURIComponent(part.slice(0, eq).trim())] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      ctx.addIssue({ code: 'custom', message: `bad percent-encoding in "${part.trim()}"` });
      return z.NEVER;
    }
  }
  return out;
});

/** `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER`: a comma list of `otlp`, `console`, `none` (`none` wins). */
const exporters = (signal: 'traces' | 'metrics') =>
  z
    .string()
    .transform((raw) => [
      ...new Set(
        raw
          .split(',')
          .map((item) => item.trim().toLowerCase())
          .filter(Boolean),
      ),
    ])
    .transform((names) => (names.includes('none') ? [] : names))
    .pipe(
      z.array(
        z.enum(['otlp', 'console'], {
          error: (issue) =>
            signal === 'metrics' && issue.input === 'prometheus'
              ? 'Prometheus is served by the worker\'s metrics port (startOtel({ metricsPort })); use "otlp", "console" or "none" here'
              : `unsupported exporter "${String(issue.input)}"; supported: otlp, console, none`,
        }),
      ),
    );

const protocol = z.enum(['http/protobuf', 'http/json'], {
  error: (issue) =>
    issue.input === 'grpc'
      ? 'OTLP over gRPC is not supported by calsync-jobs; use "http/protobuf" (port 4318) or "http/json"'
      : `unsupported protocol "${String(issue.input)}"; supported: http/protobuf, http/json`,
});

const httpUrl = z
  .string()
  .refine((url) => URL.canParse(url), { error: (issue) => `not a URL: "${String(issue.input)}"`, abort: true })
  .refine((url) => ['http:', 'https:'].includes(new URL(url).protocol), {
    error: (issue) => `expected an http(s) URL, got "${String(issue.input)}"`,
  });

/** Every `OTEL_*` variable calsync-jobs reads. The OTLP ones stay text here: {@link resolveOtlp} checks them where used. */
export const otelSettingsSchema = z.object({
  OTEL_SDK_DISABLED: setting(flag),
  OTEL_SERVICE_NAME: setting(text),
  OTEL_RESOURCE_ATTRIBUTES: setting(keyValues),
  OTEL_TRACES_EXPORTER: setting(exporters('traces')),
  OTEL_METRICS_EXPORTER: setting(exporters('metrics')),
  OTEL_METRIC_EXPORT_INTERVAL: setting(positiveMillis),
  OTEL_METRIC_EXPORT_TIMEOUT: setting(positiveMillis),
  OTEL_EXPORTER_OTLP_ENDPOINT: setting(text),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: setting(text),
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: setting(text),
  OTEL_EXPORTER_OTLP_PROTOCOL: setting(text),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: setting(text),
  OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: setting(text),
  OTEL_EXPORTER_OTLP_HEADERS: setting(text),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: setting(text),
  OTEL_EXPORTER_OTLP_METRICS_HEADERS: setting(text),
});

type OtelSettings = z.output<typeof otelSettingsSchema>;

/** Parses `value` with `schema`; a failure is a `ConfigError` naming `name`. */
function check<T>(name: string, schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const setting = typeof issue?.path[0] === 'string' ? issue.path[0] : name;
    throw new ConfigError(setting, issue?.message ?? 'invalid value');
  }
  return result.data;
}

function resolveOtlp(settings: OtelSettings, signal: 'TRACES' | 'METRICS'): OtlpTarget {
  const path = signal === 'TRACES' ? 'v1/traces' : 'v1/metrics';
  const protocolVar =
    settings[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`] !== undefined
      ? `OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`
      : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const chosenProtocol = check(protocolVar, protocol, settings[protocolVar as keyof OtelSettings] ?? OTEL_DEFAULTS.protocol);

  const signalEndpoint = settings[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`];
  let url: string;
  let urlVar: string;
  if (signalEndpoint !== undefined) {
    // Signal-specific endpoints are used as given (spec).
    url = signalEndpoint;
    urlVar = `OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`;
  } else {
    const base = settings.OTEL_EXPORTER_OTLP_ENDPOINT ?? OTEL_DEFAULTS.otlpEndpoint;
    url = `${base.endsWith('/') ? base : `${base}/`}${path}`;
    urlVar = 'OTEL_EXPORTER_OTLP_ENDPOINT';
  }
  check(urlVar, httpUrl, url);

  const headers = (name: string): Record<string, string> => {
    const raw = settings[name as keyof OtelSettings];
    return raw === undefined ? {} : check(name, keyValues, raw);
  };
  return {
    url,
    protocol: chosenProtocol,
    headers: { ...headers('OTEL_EXPORTER_OTLP_HEADERS'), ...headers(`OTEL_EXPORTER_OTLP_${signal}_HEADERS`) },
  };
}

/** Reads the `OTEL_*` variables into a {@link ResolvedOtelConfig}; throws `ConfigError` naming the variable. */
export function resolveOtelConfig(env: NodeJS.ProcessEnv = process.env, serviceName?: string): ResolvedOtelConfig {
  const settings = check('OTEL_*', otelSettingsSchema, env);
  const disabled = settings.OTEL_SDK_DISABLED ?? false;
  // Unset exporters: the deliberate difference from the spec default (`otlp`): only an endpoint turns OTLP on.
  const exportersOf = (signal: 'TRACES' | 'METRICS'): SignalExporter[] => {
    if (disabled) return [];
    const listed = settings[`OTEL_${signal}_EXPORTER`];
    if (listed !== undefined) return listed;
    const endpoint = settings.OTEL_EXPORTER_OTLP_ENDPOINT ?? settings[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`];
    return endpoint === undefined ? [] : ['otlp'];
  };
  const config: ResolvedOtelConfig = {
    disabled,
    serviceName: settings.OTEL_SERVICE_NAME ?? serviceName ?? OTEL_DEFAULTS.serviceName,
    resourceAttributes: settings.OTEL_RESOURCE_ATTRIBUTES ?? {},
    traces: { exporters: exportersOf('TRACES') },
    metrics: {
      exporters: exportersOf('METRICS'),
      exportIntervalMs: settings.OTEL_METRIC_EXPORT_INTERVAL ?? OTEL_DEFAULTS.metricExportIntervalMs,
      exportTimeoutMs: settings.OTEL_METRIC_EXPORT_TIMEOUT ?? OTEL_DEFAULTS.metricExportTimeoutMs,
    },
  };
  if (config.traces.exporters.includes('otlp')) config.traces.otlp = resolveOtlp(settings, 'TRACES');
  if (config.metrics.exporters.includes('otlp')) config.metrics.otlp = resolveOtlp(settings, 'METRICS');
  return config;
}
