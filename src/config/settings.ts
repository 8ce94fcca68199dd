/**
 * The settings calsync-jobs reads (the `CALSYNC_*` variables, the AWS ones it shares with the SDK, and
 * the command-line flags that win over them), in one table: where each is read and the zod rule its
 * text must pass. The defaults are in {@link DEFAULTS}, once; the worker's own (concurrency, visibility
 * timeout, shutdown grace) come from `WORKER_DEFAULTS`, which `createWorker` applies without this module.
 * `loadConfig` (config.ts) reads the table. Read elsewhere: the calendar jobs' settings (src/jobs/) and `OTEL_*`.
 */
import { z } from 'zod';
import { MAX_QUEUE_NAME_LENGTH, MAX_QUEUE_PREFIX_LENGTH } from '../queue/queue-names.js';
import { SQS_LIMITS } from '../queue/transport.js';
import { QUEUE_DEPTH_DEFAULTS } from '../telemetry/queue-depth.js';
import { WORKER_DEFAULTS, WORKER_LIMITS } from '../runtime/worker-options.js';
import type { Rule } from '../shared/check-option.js';
import { DURATION_EXPECTED, durationMs } from '../shared/duration.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The default of every setting that has one (a setting missing here is off, or derived: see config.ts). */
export const DEFAULTS = {
  region: 'us-east-1',
  embedded: false,
  maxMessageBytes: SQS_LIMITS.maxMessageBytes,
  maxReceiveCount: 5,
  visibilityTimeoutSeconds: WORKER_DEFAULTS.visibilityTimeoutSeconds,
  concurrency: WORKER_DEFAULTS.concurrency,
  shutdownGraceMs: WORKER_DEFAULTS.shutdownGraceMs,
  logLevel: 'info' as LogLevel,
  logPayloads: false,
  /** Handlers run inside their attempt's OpenTelemetry context (issue 17: docs/metrics.md, "Spans"). */
  handlerTraceContext: true,
  metricsHost: '127.0.0.1',
  queueDepthIntervalMs: QUEUE_DEPTH_DEFAULTS.intervalMs,
  requireSignature: false,
  /** `calsync-jobs api` */
  apiPort: 8080,
  apiHost: '127.0.0.1',
  /** `calsync-jobs dlq list` */
  dlqListLimit: 100,
  /** `calsync-jobs stats --watch` */
  statsIntervalMs: 2_000,
  /** `calsync-jobs dev` (`npm start`) serves metrics unless told otherwise. */
  devMetricsPort: 9464,
  /** `CALSYNC_STORE_URL` for every command but `dev`, whose default is `embedded`. */
  store: 'none',
  devStore: 'embedded',
  /** Settled jobs are pruned this long after they settled (7 days). */
  storeRetentionMs: 7 * 86_400_000,
  storePayloads: true,
  /** Every worker with a job store runs the scheduler (docs/schedules.md). */
  scheduler: true,
  /** `calsync-jobs jobs list` */
  jobsListLimit: 50,
  /** `calsync-jobs console` */
  consolePort: 8081,
  consoleHost: '127.0.0.1',
  consoleReadonly: false,
} as const;

// Each kind of setting is a zod schema over the text as typed (a boolean flag arrives as `true`).
const text: Rule<string> = { schema: z.string().trim(), expected: 'text' };
const integerText = (min: number, max: number, expected = `an integer from ${min} to ${max}`): Rule<number> => ({
  schema: z
    .string()
    .trim()
    .regex(/^-?\d+$/)
    .transform(Number)
    .pipe(z.number().int().min(min).max(max)),
  expected,
});
const integerAtLeast = (min: number): Rule<number> => integerText(min, Number.MAX_SAFE_INTEGER, `an integer ≥ ${min}`);
const range = ({ min, max }: { min: number; max: number }): Rule<number> => integerText(min, max);
const BOOLEAN_WORDS = ['1', 'true', 'yes', 'on', '0', 'false', 'no', 'off'] as const;
const TRUE_WORDS: readonly string[] = BOOLEAN_WORDS.slice(0, 4);
const booleanText: Rule<boolean> = {
  schema: z
    .union([z.boolean(), z.string().trim().toLowerCase().pipe(z.enum(BOOLEAN_WORDS))])
    .transform((value) => value === true || TRUE_WORDS.includes(String(value))),
  expected: 'true or false',
};
const httpUrlText: Rule<string> = {
  schema: z
    .string()
    .trim()
    .pipe(z.url({ protocol: /^https?$/ }))
    .transform((url) => url.replace(/\/+$/, '')),
  expected: 'an http(s) URL',
};
const QUEUE_NAME_CHARS = /^[A-Za-z0-9_-]+$/;
const nameText = (max: number): Rule<string> => ({
  schema: z.string().trim().regex(QUEUE_NAME_CHARS).max(max),
  expected: `1–${max} letters, digits, '-' or '_'`,
});
const regionText: Rule<string> = {
  schema: z
    .string()
    .trim()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/),
  expected: 'an AWS region like us-east-1',
};
const logLevelText: Rule<LogLevel> = {
  schema: z.string().trim().pipe(z.enum(LOG_LEVELS)),
  expected: `one of ${LOG_LEVELS.join(', ')}`,
};
const durationText: Rule<number> = {
  schema: z.string().transform((value, context) => {
    const ms = durationMs(value);
    if (ms === undefined || ms <= 0) {
      context.addIssue({ code: 'custom', message: DURATION_EXPECTED });
      return z.NEVER;
    }
    return ms;
  }),
  expected: DURATION_EXPECTED,
};
/** A shared secret: long enough not to be guessed, and plain text a header and a form can carry. */
const tokenText: Rule<string> = {
  schema: z
    .string()
    .trim()
    .regex(/^[\x21-\x7e]{16,512}$/),
  expected: '16 to 512 printable characters without spaces',
  secret: true,
};
const listText: Rule<string[]> = {
  schema: z
    .string()
    .transform((list) => list.split(',').map((item) => item.trim()))
    .transform((items) => items.filter(Boolean)),
  expected: 'a comma-separated list',
};

/** Where a setting is read: its flag (wins), else the first of its environment variables that is set and not empty. */
export interface Setting<T> {
  readonly env: readonly string[];
  readonly flag?: string;
  readonly rule: Rule<T>;
}

export const SETTINGS = {
  region: { env: ['AWS_REGION', 'AWS_DEFAULT_REGION'], flag: '--region', rule: regionText },
  /** Undefined means AWS itself (or, in dev, the embedded server). */
  endpoint: { env: ['AWS_ENDPOINT_URL_SQS', 'AWS_ENDPOINT_URL'], flag: '--endpoint', rule: httpUrlText },
  embedded: { env: ['CALSYNC_EMBEDDED'], flag: '--embedded', rule: booleanText },
  /** The DLQ is `<prefix>-dlq`, so the prefix may be 4 characters shorter than a queue name. */
  queuePrefix: { env: ['CALSYNC_QUEUE_PREFIX'], flag: '--queue-prefix', rule: nameText(MAX_QUEUE_PREFIX_LENGTH) },
  queueName: { env: ['CALSYNC_QUEUE_NAME'], flag: '--queue-name', rule: nameText(MAX_QUEUE_NAME_LENGTH) },
  dlqName: { env: ['CALSYNC_DLQ_NAME'], flag: '--dlq-name', rule: nameText(MAX_QUEUE_NAME_LENGTH) },
  queueUrl: { env: ['CALSYNC_QUEUE_URL'], flag: '--queue-url', rule: httpUrlText },
  dlqUrl: { env: ['CALSYNC_DLQ_URL'], flag: '--dlq-url', rule: httpUrlText },
  createQueues: { env: ['CALSYNC_CREATE_QUEUES'], flag: '--create-queues', rule: booleanText },
  maxMessageBytes: { env: ['CALSYNC_MAX_MESSAGE_BYTES'], flag: '--max-message-bytes', rule: range(WORKER_LIMITS.maxMessageBytes) },
  maxReceiveCount: { env: ['CALSYNC_MAX_RECEIVE_COUNT'], flag: '--max-receive-count', rule: integerText(1, 1_000) },
  visibilityTimeoutSeconds: {
    env: ['CALSYNC_VISIBILITY_TIMEOUT_SECONDS'],
    flag: '--visibility-timeout',
    rule: range(WORKER_LIMITS.visibilityTimeoutSeconds),
  },
  concurrency: { env: ['CALSYNC_CONCURRENCY'], flag: '--concurrency', rule: range(WORKER_LIMITS.concurrency) },
  shutdownGraceMs: { env: ['CALSYNC_SHUTDOWN_GRACE_MS'], flag: '--shutdown-grace-ms', rule: range(WORKER_LIMITS.shutdownGraceMs) },
  logLevel: { env: ['CALSYNC_LOG_LEVEL'], flag: '--log-level', rule: logLevelText },
  /** Extra pino redact paths. */
  logRedact: { env: ['CALSYNC_LOG_REDACT'], rule: listText },
  logPayloads: { env: ['CALSYNC_LOG_PAYLOADS'], rule: booleanText },
  handlerTraceContext: { env: ['CALSYNC_HANDLER_TRACE_CONTEXT'], rule: booleanText },
  /** Undefined: no Prometheus endpoint. */
  metricsPort: { env: ['CALSYNC_METRICS_PORT'], flag: '--metrics-port', rule: integerText(0, 65_535) },
  metricsHost: { env: ['CALSYNC_METRICS_HOST'], rule: text },
  queueDepthIntervalMs: { env: ['CALSYNC_QUEUE_DEPTH_INTERVAL_MS'], rule: integerText(QUEUE_DEPTH_DEFAULTS.minimumIntervalMs, 3_600_000) },
  /** Parsed by `parseSigningKeys`, whose messages never echo a secret. */
  signingKeys: { env: ['CALSYNC_SIGNING_KEYS'], rule: text },
  requireSignature: { env: ['CALSYNC_REQUIRE_SIGNATURE'], rule: booleanText },
  apiPort: { env: ['CALSYNC_API_PORT'], flag: '--port', rule: integerText(0, 65_535, 'a port from 0 to 65535') },
  apiHost: { env: [], flag: '--host', rule: text },
  dlqListLimit: { env: [], flag: '--limit', rule: integerAtLeast(1) },
  statsIntervalMs: { env: [], flag: '--interval-ms', rule: integerAtLeast(200) },
  /** `postgres://…`, `embedded` or `none`; parsed by `parseStoreUrl` (src/store/open-store.ts), whose messages mask a password. */
  store: { env: ['CALSYNC_STORE_URL'], flag: '--store', rule: text },
  /** With `embedded`: the PGlite data folder (persisted); unset, the store lives in memory. */
  storeDir: { env: ['CALSYNC_STORE_DIR'], rule: text },
  storeRetentionMs: { env: ['CALSYNC_STORE_RETENTION'], rule: durationText },
  /** Store job payloads in the rows (redacted with the log paths, capped). */
  storePayloads: { env: ['CALSYNC_STORE_PAYLOADS'], rule: booleanText },
  /** Fire due schedules from this worker (needs a store); `--no-scheduler` or `CALSYNC_SCHEDULER=false` turns it off. */
  scheduler: { env: ['CALSYNC_SCHEDULER'], flag: '--no-scheduler', rule: booleanText },
  /** `calsync-jobs jobs list --since 1h`: created in the last hour. */
  jobsSinceMs: { env: [], flag: '--since', rule: durationText },
  jobsListLimit: { env: [], flag: '--limit', rule: integerText(1, 1_000) },
  /** `calsync-jobs console`: where it listens. */
  consolePort: { env: ['CALSYNC_CONSOLE_PORT'], flag: '--port', rule: integerText(0, 65_535, 'a port from 0 to 65535') },
  consoleHost: { env: ['CALSYNC_CONSOLE_HOST'], flag: '--host', rule: text },
  /** Required to sign in (login form or `Authorization: Bearer`); required when the console listens beyond loopback. */
  consoleToken: { env: ['CALSYNC_CONSOLE_TOKEN'], rule: tokenText },
  /** Hide and refuse every action (cancel, retry, redrive, purge). */
  consoleReadonly: { env: ['CALSYNC_CONSOLE_READONLY'], rule: booleanText },
  /** The Jaeger UI the console links trace ids to (`<url>/trace/<id>`). */
  jaegerUrl: { env: ['CALSYNC_JAEGER_URL'], rule: httpUrlText },
  /** `calsync-jobs jobs prune --older-than 7d`; unset, the retention. */
  pruneOlderThanMs: { env: [], flag: '--older-than', rule: durationText },
} as const satisfies Record<string, Setting<unknown>>;

export type SettingKey = keyof typeof SETTINGS;
/** What a setting's schema makes of its text. */
export type SettingValue<K extends SettingKey> = (typeof SETTINGS)[K]['rule'] extends Rule<infer T> ? T : never;
/** The settings that have a command-line flag. */
export type FlagKey = { [K in SettingKey]: (typeof SETTINGS)[K] extends { flag: string } ? K : never }[SettingKey];
