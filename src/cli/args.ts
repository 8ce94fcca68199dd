import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULTS } from '../config/settings.js';
import { queueNames } from '../queue/queue-names.js';
import { ConfigError } from '../shared/errors.js';

/** Bad command-line usage: printed with the command's usage line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
  }
}

/**
 * Runs `read` (a settings loader over a command's own flags) and turns its `ConfigError` into a
 * `UsageError` with the same one-line message, so the command's usage line is printed under it.
 */
export function asUsage<T>(usage: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (ConfigError.is(error)) throw new UsageError(error.message, usage);
    throw error;
  }
}

export type Options = NonNullable<ParseArgsConfig['options']>;

/** `util.parseArgs`, strict, with errors turned into a `UsageError` carrying `usage`. */
export function parse(
  argv: string[],
  options: Options,
  usage: string,
  allowPositionals = false,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals,
    });
    return { values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals };
  } catch (error) {
    throw new UsageError((error as Error).message.split('\n')[0] ?? String(error), usage);
  }
}

/** The shared connection flags every command accepts. */
export const CONNECTION_OPTIONS = {
  region: { type: 'string' },
  endpoint: { type: 'string' },
  embedded: { type: 'boolean' },
  'queue-prefix': { type: 'string' },
  'queue-name': { type: 'string' },
  'dlq-name': { type: 'string' },
  'queue-url': { type: 'string' },
  'dlq-url': { type: 'string' },
  'create-queues': { type: 'boolean' },
  'log-level': { type: 'string' },
  store: { type: 'string' },
} as const satisfies Options;

const DEFAULT_NAMES = queueNames();

export const CONNECTION_HELP = `Connection (flags override the environment):
  --region R            AWS_REGION (default ${DEFAULTS.region})
  --endpoint URL        AWS_ENDPOINT_URL_SQS, e.g. http://127.0.0.1:9324 for ElasticMQ
  --embedded            CALSYNC_EMBEDDED: run an SQS server in this process (127.0.0.1)
  --queue-prefix P      CALSYNC_QUEUE_PREFIX (the stack's QueueNamePrefix): queues P and P-dlq
  --queue-name N        CALSYNC_QUEUE_NAME (default ${DEFAULT_NAMES.mainQueueName})
  --dlq-name N          CALSYNC_DLQ_NAME (default ${DEFAULT_NAMES.dlqName})
  --queue-url URL       CALSYNC_QUEUE_URL (skips the name lookup)
  --dlq-url URL         CALSYNC_DLQ_URL
  --create-queues       CALSYNC_CREATE_QUEUES: create the queues if missing
  --log-level L         CALSYNC_LOG_LEVEL: fatal|error|warn|info|debug|trace|silent
  --store S             CALSYNC_STORE_URL: the job store, postgres://…, embedded (PGlite in this
                        process; CALSYNC_STORE_DIR keeps it on disk) or none (default ${DEFAULTS.store})`;

/** Maps parsed connection flags onto `loadConfig` flags. */
export function connectionFlags(values: Record<string, string | boolean | (string | boolean)[] | undefined>) {
  const one = (key: string): string | boolean | undefined => {
    const value = values[key];
    return Array.isArray(value) ? value.at(-1) : value;
  };
  return {
    region: one('region'),
    endpoint: one('endpoint'),
    embedded: one('embedded'),
    queuePrefix: one('queue-prefix'),
    queueName: one('queue-name'),
    dlqName: one('dlq-name'),
    queueUrl: one('queue-url'),
    dlqUrl: one('dlq-url'),
    createQueues: one('create-queues'),
    logLevel: one('log-level'),
    store: one('store'),
  };
}
