/**
 * One zod-validated configuration from the environment and command-line flags (flags win). A bad value
 * throws a `ConfigError` whose one-line message names the setting and what was expected:
 * `CALSYNC_CONCURRENCY: expected an integer from 1 to 10000, got "lots"`.
 */
import { z } from 'zod';
import { MAX_QUEUE_NAME_LENGTH, MAX_QUEUE_PREFIX_LENGTH, queueNames } from '../queue/queue-names.js';
import { ConfigError } from '../shared/errors.js';
import { parseSigningKeys, type SigningKeys } from '../queue/signing.js';
import { SQS_LIMITS } from '../queue/transport.js';

export interface CalsyncConfig {
  region: string;
  /** SQS endpoint (`AWS_ENDPOINT_URL_SQS`); undefined means AWS itself, or the embedded server in dev. */
  endpoint: string | undefined;
  /** Start an SQS server in this process (fauxqs on 127.0.0.1). */
  embedded: boolean;
  /** `CALSYNC_QUEUE_PREFIX`: the stack's `QueueNamePrefix`; it names the queues `<prefix>` and `<prefix>-dlq`. */
  queuePrefix: string | undefined;
  /** `CALSYNC_QUEUE_NAME`, else the prefix, else `calsync-jobs`. */
  queueName: string;
  /** `CALSYNC_DLQ_NAME`, else `<prefix>-dlq`, else `calsync-jobs-dlq`. */
  dlqName: string;
  queueUrl: string | undefined;
  dlqUrl: string | undefined;
  /** Create the queues (and DLQ with its redrive policy) at start-up if missing. */
  createQueues: boolean;
  maxMessageBytes: number;
  maxReceiveCount: number;
  visibilityTimeoutSeconds: number;
  concurrency: number;
  shutdownGraceMs: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Extra pino redact paths. */
  logRedact: string[];
  logPayloads: boolean;
  /** Prometheus endpoint port; undefined = off. */
  metricsPort: number | undefined;
  /** Where the Prometheus endpoint listens. @defaultValue 127.0.0.1 (set 0.0.0.0 in a container) */
  metricsHost: string;
  queueDepthIntervalMs: number;
  signingKeys: SigningKeys | undefined;
  requireSignature: boolean;
}

/** Flags as the CLI parsed them (strings, as typed). */
export type ConfigFlags = Partial<
  Record<
    | 'region'
    | 'endpoint'
    | 'embedded'
    | 'queuePrefix'
    | 'queueName'
    | 'dlqName'
    | 'queueUrl'
    | 'dlqUrl'
    | 'createQueues'
    | 'maxMessageBytes'
    | 'concurrency'
    | 'shutdownGraceMs'
    | 'logLevel'
    | 'metricsPort',
    string | boolean | undefined
  >
>;

const FLAG_NAMES: Record<keyof ConfigFlags, string> = {
  region: '--region',
  endpoint: '--endpoint',
  embedded: '--embedded',
  queuePrefix: '--queue-prefix',
  queueName: '--queue-name',
  dlqName: '--dlq-name',
  queueUrl: '--queue-url',
  dlqUrl: '--dlq-url',
  createQueues: '--create-queues',
  maxMessageBytes: '--max-message-bytes',
  concurrency: '--concurrency',
  shutdownGraceMs: '--shutdown-grace-ms',
  logLevel: '--log-level',
  metricsPort: '--metrics-port',
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const QUEUE_NAME_CHARS = /^[A-Za-z0-9_-]+$/;

/** Each kind of setting is a zod schema over the text as typed; the message names what was expected. */
const integerText = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/)
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
const booleanText = z
  .union([
    z.boolean(),
    z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['1', 'true', 'yes', 'on', '0', 'false', 'no', 'off'])),
  ])
  .transform((value) => value === true || ['1', 'true', 'yes', 'on'].includes(String(value)));
const httpUrlText = z
  .string()
  .trim()
  .pipe(z.url({ protocol: /^https?$/ }))
  .transform((text) => text.replace(/\/+$/, ''));
const queueNameText = z.string().trim().regex(QUEUE_NAME_CHARS).max(MAX_QUEUE_NAME_LENGTH);
/** The DLQ is `<prefix>-dlq`, so the prefix may be 4 characters shorter than a queue name. */
const queuePrefixText = z.string().trim().regex(QUEUE_NAME_CHARS).max(MAX_QUEUE_PREFIX_LENGTH);
const nameChars = (max: number): string => `1–${max} letters, digits, '-' or '_'`;

class Reader {
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly flags: ConfigFlags,
  ) {}

  /** The raw value and the name to blame: the flag if given, else the environment variable. */
  raw(envName: string, flag?: keyof ConfigFlags): { value: string | boolean | undefined; setting: string } {
    const fromFlag = flag === undefined ? undefined : this.flags[flag];
    if (fromFlag !== undefined) return { value: fromFlag, setting: FLAG_NAMES[flag!] };
    const fromEnv = this.env[envName];
    return { value: fromEnv === '' ? undefined : fromEnv, setting: envName };
  }

  /** Parses the setting with `schema`; a failure is one `ConfigError` line naming the setting. */
  parse<T>(envName: string, flag: keyof ConfigFlags | undefined, schema: z.ZodType<T>, expected: string): T | undefined {
    const { value, setting } = this.raw(envName, flag);
    if (value === undefined) return undefined;
    const result = schema.safeParse(value);
    if (!result.success) throw new ConfigError(setting, `expected ${expected}, got ${JSON.stringify(value)}`);
    return result.data;
  }

  string(envName: string, flag?: keyof ConfigFlags): string | undefined {
    const { value } = this.raw(envName, flag);
    return typeof value === 'string' ? value.trim() : undefined;
  }

  integer(
    envName: string,
    flag: keyof ConfigFlags | undefined,
    fallback: number | undefined,
    min: number,
    max: number,
  ): number | undefined {
    return this.parse(envName, flag, integerText(min, max), `an integer from ${min} to ${max}`) ?? fallback;
  }

  boolean(envName: string, flag: keyof ConfigFlags | undefined, fallback: boolean): boolean {
    return this.parse(envName, flag, booleanText, 'true or false') ?? fallback;
  }

  url(envName: string, flag?: keyof ConfigFlags): string | undefined {
    return this.parse(envName, flag, httpUrlText, 'an http(s) URL');
  }

  queueName(envName: string, flag: keyof ConfigFlags): string | undefined {
    return this.parse(envName, flag, queueNameText, nameChars(MAX_QUEUE_NAME_LENGTH));
  }

  queuePrefix(envName: string, flag: keyof ConfigFlags): string | undefined {
    return this.parse(envName, flag, queuePrefixText, nameChars(MAX_QUEUE_PREFIX_LENGTH));
  }
}

/** Reads and checks the whole configuration at once; the first bad setting throws. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, flags: ConfigFlags = {}): CalsyncConfig {
  const read = new Reader(env, flags);
  const region = read.string('AWS_REGION', 'region') ?? read.string('AWS_DEFAULT_REGION') ?? 'us-east-1';
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) {
    throw new ConfigError(read.raw('AWS_REGION', 'region').setting, `expected an AWS region like us-east-1, got ${JSON.stringify(region)}`);
  }
  const prefix = read.queuePrefix('CALSYNC_QUEUE_PREFIX', 'queuePrefix');
  const names = queueNames({
    prefix,
    mainQueueName: read.queueName('CALSYNC_QUEUE_NAME', 'queueName'),
    dlqName: read.queueName('CALSYNC_DLQ_NAME', 'dlqName'),
  });
  const logLevel = read.string('CALSYNC_LOG_LEVEL', 'logLevel') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(
      read.raw('CALSYNC_LOG_LEVEL', 'logLevel').setting,
      `expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`,
    );
  }
  const visibilityTimeoutSeconds = read.integer(
    'CALSYNC_VISIBILITY_TIMEOUT_SECONDS',
    undefined,
    30,
    2,
    SQS_LIMITS.maxVisibilityTimeoutSeconds,
  )!;
  const keysText = read.string('CALSYNC_SIGNING_KEYS');
  const signingKeys = keysText ? parseSigningKeys(keysText, 'CALSYNC_SIGNING_KEYS') : undefined;
  const requireSignature = read.boolean('CALSYNC_REQUIRE_SIGNATURE', undefined, false);
  if (requireSignature && !signingKeys) {
    throw new ConfigError('CALSYNC_REQUIRE_SIGNATURE', 'is true but CALSYNC_SIGNING_KEYS is empty: set the keys to verify with');
  }
  const embedded = read.boolean('CALSYNC_EMBEDDED', 'embedded', false);
  return {
    region,
    endpoint: read.url('AWS_ENDPOINT_URL_SQS', 'endpoint') ?? read.url('AWS_ENDPOINT_URL'),
    embedded,
    queuePrefix: prefix,
    queueName: names.mainQueueName,
    dlqName: names.dlqName,
    queueUrl: read.url('CALSYNC_QUEUE_URL', 'queueUrl'),
    dlqUrl: read.url('CALSYNC_DLQ_URL', 'dlqUrl'),
    createQueues: read.boolean('CALSYNC_CREATE_QUEUES', 'createQueues', embedded),
    maxMessageBytes: read.integer(
      'CALSYNC_MAX_MESSAGE_BYTES',
      'maxMessageBytes',
      SQS_LIMITS.maxMessageBytes,
      1_024,
      SQS_LIMITS.maxMessageBytes,
    )!,
    maxReceiveCount: read.integer('CALSYNC_MAX_RECEIVE_COUNT', undefined, 5, 1, 1_000)!,
    visibilityTimeoutSeconds,
    concurrency: read.integer('CALSYNC_CONCURRENCY', 'concurrency', 10, 1, 10_000)!,
    shutdownGraceMs: read.integer('CALSYNC_SHUTDOWN_GRACE_MS', 'shutdownGraceMs', 25_000, 0, 3_600_000)!,
    logLevel: logLevel as CalsyncConfig['logLevel'],
    logRedact: (read.string('CALSYNC_LOG_REDACT') ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
    logPayloads: read.boolean('CALSYNC_LOG_PAYLOADS', undefined, false),
    metricsPort: read.integer('CALSYNC_METRICS_PORT', 'metricsPort', undefined, 0, 65_535),
    metricsHost: read.string('CALSYNC_METRICS_HOST') ?? '127.0.0.1',
    queueDepthIntervalMs: read.integer('CALSYNC_QUEUE_DEPTH_INTERVAL_MS', undefined, 15_000, 5_000, 3_600_000)!,
    signingKeys,
    requireSignature,
  };
}
