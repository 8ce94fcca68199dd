/**
 * The configuration, read once at the edge (the CLI commands, `ops/default-queue.ts`) from the
 * environment and command-line flags (flags win), through the settings table of settings.ts. A bad
 * value throws a `ConfigError` whose one-line message names the setting and what was expected:
 * `CALSYNC_CONCURRENCY: expected an integer from 1 to 10000, got "lots"`.
 */
import { queueNames } from '../queue/queue-names.js';
import { parseSigningKeys, type SigningKeys } from '../queue/signing.js';
import { checkOption } from '../shared/check-option.js';
import { parseStoreUrl, type StoreSpec } from '../store/open-store.js';
import { ConfigError } from '../shared/errors.js';
import { DEFAULTS, type FlagKey, type LogLevel, SETTINGS, type SettingKey, type SettingValue } from './settings.js';

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
  logLevel: LogLevel;
  /** Extra pino redact paths. */
  logRedact: string[];
  logPayloads: boolean;
  /** `CALSYNC_HANDLER_TRACE_CONTEXT`: run each handler inside its attempt's OpenTelemetry context. */
  handlerTraceContext: boolean;
  /** Prometheus endpoint port; undefined = off. */
  metricsPort: number | undefined;
  /** Where the Prometheus endpoint listens. @defaultValue 127.0.0.1 (set 0.0.0.0 in a container) */
  metricsHost: string;
  queueDepthIntervalMs: number;
  signingKeys: SigningKeys | undefined;
  requireSignature: boolean;
  /** The job store (`CALSYNC_STORE_URL` / `--store`); `embedded` carries `CALSYNC_STORE_DIR` when set. */
  store: StoreSpec;
  /** The setting to blame for the store: the flag or variable it came from (`CALSYNC_STORE_URL` when defaulted). */
  storeSetting: string;
  /** Settled jobs are pruned after this. @defaultValue 7 days */
  storeRetentionMs: number;
  /** Keep job payloads in the store (redacted, capped). @defaultValue true */
  storePayloads: boolean;
  /** Run the scheduler in this worker (`CALSYNC_SCHEDULER`, `--no-scheduler`). @defaultValue true */
  scheduler: boolean;
}

/** Defaults a command sets for itself: `dev` takes the store `embedded`. */
export interface CommandDefaults {
  /** The store's text when neither `--store` nor `CALSYNC_STORE_URL` is set. @defaultValue `none` */
  store?: string;
}

/** Flags as the CLI parsed them (strings as typed, `true` for a boolean flag), by setting. */
export type ConfigFlags = Partial<Record<FlagKey, string | boolean | undefined>>;

class Reader {
  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly flags: ConfigFlags,
  ) {}

  /** The raw value and the name to blame: the flag if given, else the first environment variable set. */
  raw(key: SettingKey): { value: string | boolean; setting: string } | undefined {
    const setting = SETTINGS[key];
    const fromFlag = 'flag' in setting ? this.flags[key as FlagKey] : undefined;
    if (fromFlag !== undefined && 'flag' in setting) return { value: fromFlag, setting: setting.flag };
    for (const name of setting.env) {
      const fromEnv = this.env[name];
      if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, setting: name };
    }
    return undefined;
  }

  /** The setting as its schema parses it; undefined when it is not set. */
  value<K extends SettingKey>(key: K): SettingValue<K> | undefined {
    const found = this.raw(key);
    return found === undefined ? undefined : (checkOption<unknown>(found.setting, found.value, SETTINGS[key].rule) as SettingValue<K>);
  }
}

/** The store as configured: `parseStoreUrl` blames the flag or variable that was used. */
function readStore(read: Reader, defaults: CommandDefaults): { store: StoreSpec; storeSetting: string } {
  const found = read.raw('store');
  const setting = found?.setting ?? SETTINGS.store.env[0];
  const text = found === undefined ? (defaults.store ?? DEFAULTS.store) : checkOption(setting, found.value, SETTINGS.store.rule);
  const spec = parseStoreUrl(text, setting);
  const dir = read.value('storeDir');
  return { store: spec.kind === 'embedded' && spec.dir === undefined && dir ? { ...spec, dir } : spec, storeSetting: setting };
}

/** Reads and checks the whole configuration at once; the first bad setting throws. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, flags: ConfigFlags = {}, defaults: CommandDefaults = {}): CalsyncConfig {
  const read = new Reader(env, flags);
  const region = read.value('region') ?? DEFAULTS.region;
  const prefix = read.value('queuePrefix');
  const names = queueNames({ prefix, mainQueueName: read.value('queueName'), dlqName: read.value('dlqName') });
  const logLevel = read.value('logLevel') ?? DEFAULTS.logLevel;
  const visibilityTimeoutSeconds = read.value('visibilityTimeoutSeconds') ?? DEFAULTS.visibilityTimeoutSeconds;
  const keysText = read.value('signingKeys');
  const signingKeys = keysText ? parseSigningKeys(keysText, SETTINGS.signingKeys.env[0]) : undefined;
  const requireSignature = read.value('requireSignature') ?? DEFAULTS.requireSignature;
  if (requireSignature && !signingKeys) {
    throw new ConfigError('CALSYNC_REQUIRE_SIGNATURE', 'is true but CALSYNC_SIGNING_KEYS is empty: set the keys to verify with');
  }
  const embedded = read.value('embedded') ?? DEFAULTS.embedded;
  return {
    region,
    endpoint: read.value('endpoint'),
    embedded,
    queuePrefix: prefix,
    queueName: names.mainQueueName,
    dlqName: names.dlqName,
    queueUrl: read.value('queueUrl'),
    dlqUrl: read.value('dlqUrl'),
    createQueues: read.value('createQueues') ?? embedded,
    maxMessageBytes: read.value('maxMessageBytes') ?? DEFAULTS.maxMessageBytes,
    maxReceiveCount: read.value('maxReceiveCount') ?? DEFAULTS.maxReceiveCount,
    visibilityTimeoutSeconds,
    concurrency: read.value('concurrency') ?? DEFAULTS.concurrency,
    shutdownGraceMs: read.value('shutdownGraceMs') ?? DEFAULTS.shutdownGraceMs,
    logLevel,
    logRedact: read.value('logRedact') ?? [],
    logPayloads: read.value('logPayloads') ?? DEFAULTS.logPayloads,
    handlerTraceContext: read.value('handlerTraceContext') ?? DEFAULTS.handlerTraceContext,
    metricsPort: read.value('metricsPort'),
    metricsHost: read.value('metricsHost') ?? DEFAULTS.metricsHost,
    queueDepthIntervalMs: read.value('queueDepthIntervalMs') ?? DEFAULTS.queueDepthIntervalMs,
    signingKeys,
    requireSignature,
    ...readStore(read, defaults),
    storeRetentionMs: read.value('storeRetentionMs') ?? DEFAULTS.storeRetentionMs,
    storePayloads: read.value('storePayloads') ?? DEFAULTS.storePayloads,
    scheduler: read.value('scheduler') ?? DEFAULTS.scheduler,
  };
}

/** `calsync-jobs api`: where the HTTP API listens (`--port` / `CALSYNC_API_PORT`, `--host`). */
export function loadApiSettings(env: NodeJS.ProcessEnv = process.env, flags: ConfigFlags = {}): { port: number; host: string } {
  const read = new Reader(env, flags);
  return { port: read.value('apiPort') ?? DEFAULTS.apiPort, host: read.value('apiHost') || DEFAULTS.apiHost };
}

/** `calsync-jobs console`: where it listens, who may use it, what it may do. */
export interface ConsoleSettings {
  port: number;
  host: string;
  /** Undefined: no sign-in (allowed on loopback only). */
  token: string | undefined;
  readonly: boolean;
  jaegerUrl: string | undefined;
}

/** Whether `host` is a loopback address or name: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127(\.\d{1,3}){3}$/.test(bare) || /^::ffff:127(\.\d{1,3}){3}$/.test(bare);
}

/**
 * `calsync-jobs console` (`--port` / `CALSYNC_CONSOLE_PORT`, `--host` / `CALSYNC_CONSOLE_HOST`,
 * `CALSYNC_CONSOLE_TOKEN`, `CALSYNC_CONSOLE_READONLY`, `CALSYNC_JAEGER_URL`). Listening anywhere but
 * loopback without a token is a `ConfigError` on `CALSYNC_CONSOLE_TOKEN`.
 */
export function loadConsoleSettings(env: NodeJS.ProcessEnv = process.env, flags: ConfigFlags = {}): ConsoleSettings {
  const read = new Reader(env, flags);
  const host = read.value('consoleHost') || DEFAULTS.consoleHost;
  const token = read.value('consoleToken');
  if (token === undefined && !isLoopbackHost(host))
    throw new ConfigError(
      'CALSYNC_CONSOLE_TOKEN',
      `is required when the console listens on ${host} (beyond loopback): set it to a secret of 16 or more characters, or listen on 127.0.0.1`,
    );
  return {
    port: read.value('consolePort') ?? DEFAULTS.consolePort,
    host,
    token,
    readonly: read.value('consoleReadonly') ?? DEFAULTS.consoleReadonly,
    jaegerUrl: read.value('jaegerUrl'),
  };
}

/** `calsync-jobs dlq list --limit N`. */
export function loadDlqListSettings(flags: ConfigFlags = {}): { limit: number } {
  return { limit: new Reader({}, flags).value('dlqListLimit') ?? DEFAULTS.dlqListLimit };
}

/** `calsync-jobs jobs list --since D --limit N`: `sinceMs` undefined means no lower bound. */
export function loadJobsListSettings(flags: ConfigFlags = {}): { sinceMs: number | undefined; limit: number } {
  const read = new Reader({}, flags);
  return { sinceMs: read.value('jobsSinceMs'), limit: read.value('jobsListLimit') ?? DEFAULTS.jobsListLimit };
}

/** `calsync-jobs jobs prune --older-than D`, else the store's retention. */
export function loadPruneSettings(config: Pick<CalsyncConfig, 'storeRetentionMs'>, flags: ConfigFlags = {}): { olderThanMs: number } {
  return { olderThanMs: new Reader({}, flags).value('pruneOlderThanMs') ?? config.storeRetentionMs };
}

/** `calsync-jobs stats --interval-ms N`. */
export function loadStatsSettings(flags: ConfigFlags = {}): { intervalMs: number } {
  return { intervalMs: new Reader({}, flags).value('statsIntervalMs') ?? DEFAULTS.statsIntervalMs };
}
