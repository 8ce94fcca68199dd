/**
 * The CLI's connection: the queues as src/ops/open-queues.ts opens them from the configuration (the
 * embedded server when asked, the queues created when asked), plus signing hooks when keys are set;
 * and the job store, when one is configured (src/store/open-store.ts).
 */
import type { Logger } from 'pino';
import { loadConfig, type CalsyncConfig } from '../config/config.js';
import type { EmbeddedSqs } from '../ops/embedded-sqs.js';
import { payloadPolicy, storeRecorder } from '../ops/job-recorder.js';
import { openQueues } from '../ops/open-queues.js';
import { signingHooks, type SigningHooks } from '../queue/signing-hooks.js';
import type { JobTransport } from '../queue/transport.js';
import { createLogger } from '../runtime/logger.js';
import { ConfigError } from '../shared/errors.js';
import type { JobStore } from '../store/job-store.js';
import { openStore, type OpenedStore } from '../store/open-store.js';
import { JobQueue } from '../telemetry/instrumented.js';
import { startOtel } from '../telemetry/sdk.js';
import { connectionFlags } from './args.js';

export interface Connection {
  transport: JobTransport;
  queueUrl: string;
  dlqUrl: string;
  queueName: string;
  dlqName: string;
  /** Set when this process runs the SQS server itself. */
  embedded: EmbeddedSqs | undefined;
  signMessage: SigningHooks['signMessage'];
  verifyMessage: SigningHooks['verifyMessage'];
  close(): Promise<void>;
}

export async function connect(config: CalsyncConfig, logger?: Logger): Promise<Connection> {
  const queues = await openQueues(config, { logger });
  return { ...queues, ...signingHooks(config.signingKeys, config.requireSignature) };
}

/** Connects for a `dlq` subcommand: a shared server (never an embedded one), quiet logs. */
export async function connectForDlq(values: Record<string, string | boolean | undefined>): Promise<Connection> {
  const config = loadConfig(process.env, connectionFlags(values));
  if (config.embedded)
    throw new ConfigError('--embedded', 'dlq commands read a server shared with the workers; set AWS_ENDPOINT_URL_SQS instead');
  return connect(config, createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel }));
}

/** Opens the configured store (PGlite started, PostgreSQL reached and migrated); undefined with `none`. Unreachable: a `ConfigError` naming the setting. */
export function openConfiguredStore(config: CalsyncConfig): Promise<OpenedStore | undefined> {
  return openStore(config.store, config.storeSetting);
}

/** For the `jobs` commands, which have nothing to read without a store: `none` is a configuration error. */
export async function requireStore(config: CalsyncConfig): Promise<OpenedStore> {
  const opened = await openConfiguredStore(config);
  if (opened === undefined)
    throw new ConfigError(config.storeSetting, 'no job store is configured: set CALSYNC_STORE_URL or --store (postgres://… or embedded)');
  return opened;
}

/**
 * For a command that writes the store and sends to the workers' queue (`jobs retry`, `schedules
 * trigger`): refuses `--embedded` (its SQS server would be this process's own, not the workers'),
 * opens the store, telemetry and the connection, runs `send` with a producer on them (recording each
 * job in the store when `record`), and closes everything after it.
 */
export async function withStoreAndQueue(
  config: CalsyncConfig,
  command: string,
  { record }: { record: boolean },
  send: (store: JobStore, queue: JobQueue, connection: Connection) => Promise<number>,
): Promise<number> {
  if (config.embedded)
    throw new ConfigError('--embedded', `${command} sends to an SQS server shared with the workers; set AWS_ENDPOINT_URL_SQS instead`);
  const opened = await requireStore(config);
  const otel = await startOtel({ serviceName: 'calsync-cli' });
  try {
    const connection = await connect(config, createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel }));
    try {
      const queue = new JobQueue({
        transport: connection.transport,
        queueUrl: connection.queueUrl,
        queueName: connection.queueName,
        maxMessageBytes: config.maxMessageBytes,
        ...(record ? { recorder: storeRecorder(opened.store, payloadPolicy(config)) } : {}),
        ...(connection.signMessage ? { attributes: connection.signMessage } : {}),
      });
      return await send(opened.store, queue, connection);
    } finally {
      await connection.close();
    }
  } finally {
    await otel.shutdown().catch(() => undefined);
    await opened.close();
  }
}
