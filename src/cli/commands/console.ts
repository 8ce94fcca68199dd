/**
 * `calsync-jobs console`: the web console (src/console/) in a process of its own, over the job store
 * and the queues the workers share. Refuses to start without a store, and beyond loopback without
 * CALSYNC_CONSOLE_TOKEN (one line naming the setting, exit 2).
 */
import type { Logger } from 'pino';
import { createConsoleServer, type ConsoleServer } from '../../console/server.js';
import { loadConfig, loadConsoleSettings, type CalsyncConfig, type ConsoleSettings } from '../../config/config.js';
import { DEFAULTS } from '../../config/settings.js';
import type { JobDefinition } from '../../machines/define-job.js';
import { payloadPolicy, storeRecorder } from '../../ops/job-recorder.js';
import { ConfigError } from '../../shared/errors.js';
import type { OpenedStore } from '../../store/open-store.js';
import { JobQueue } from '../../telemetry/instrumented.js';
import { createLogger } from '../../runtime/logger.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connectionFlags, parse } from '../args.js';
import { connect, requireStore, type Connection } from '../connect.js';
import { loadJobs } from '../load-jobs.js';
import { onShutdownSignals } from '../signals.js';

export const CONSOLE_USAGE = `Usage: calsync-jobs console [--port N] [--host H] [--jobs <module>]

Serves the web console until SIGTERM or SIGINT: queues, the last hour, jobs (search, attempts, payload,
trace, machine), dead letters (redrive, purge), and cancel / retry / redrive, each logged with who did it.
Needs a job store (--store, CALSYNC_STORE_URL) and the queues the workers use.

  --port N              CALSYNC_CONSOLE_PORT (default ${DEFAULTS.consolePort}; 0 picks a free port)
  --host H              CALSYNC_CONSOLE_HOST (default ${DEFAULTS.consoleHost}); beyond loopback CALSYNC_CONSOLE_TOKEN is required
  --jobs <module>       the job types it shows the retry policy of (default: this project's src/jobs)

  CALSYNC_CONSOLE_TOKEN      sign-in token (login form, or Authorization: Bearer); required beyond loopback
  CALSYNC_CONSOLE_READONLY   true: no action is shown or accepted
  CALSYNC_JAEGER_URL         link trace ids to this Jaeger UI
${CONNECTION_HELP}`;

export interface MountedConsole {
  console: ConsoleServer;
  url: string;
}

/** Starts the console over an open store and connection (shared by `console` and `dev`). */
export async function mountConsole(parts: {
  config: CalsyncConfig;
  settings: ConsoleSettings;
  store: OpenedStore;
  connection: Connection;
  jobs: readonly JobDefinition<any, any>[];
  logger: Logger;
}): Promise<MountedConsole> {
  const { config, settings, store, connection, jobs, logger } = parts;
  const sender = new JobQueue({
    transport: connection.transport,
    queueUrl: connection.queueUrl,
    queueName: connection.queueName,
    maxMessageBytes: config.maxMessageBytes,
    jobs,
    ...(connection.signMessage ? { attributes: connection.signMessage } : {}),
    // A schedule's trigger enqueues through it (recorded first); a retry's sendEnvelope records nothing.
    recorder: storeRecorder(store.store, payloadPolicy(config)),
  });
  const server = createConsoleServer({
    store: store.store,
    storeUrl: store.url,
    queues: {
      transport: connection.transport,
      queueUrl: connection.queueUrl,
      queueName: connection.queueName,
      dlqUrl: connection.dlqUrl,
      dlqName: connection.dlqName,
      ...(connection.signMessage ? { signMessage: connection.signMessage } : {}),
    },
    sender,
    producer: sender,
    jobs,
    token: settings.token,
    readonly: settings.readonly,
    jaegerUrl: settings.jaegerUrl,
    showPayloads: config.storePayloads,
    logger,
  });
  try {
    const { url } = await server.listen({ port: settings.port, host: settings.host });
    return { console: server, url };
  } catch (error) {
    throw new ConfigError('--port', `cannot listen on ${settings.host}:${settings.port}: ${(error as Error).message}`);
  }
}

export async function consoleCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    { ...CONNECTION_OPTIONS, port: { type: 'string' }, host: { type: 'string' }, jobs: { type: 'string' } },
    CONSOLE_USAGE,
  );
  if (values.help) {
    console.log(CONSOLE_USAGE);
    return 0;
  }
  // Access first: a console that must not start touches nothing.
  const settings = loadConsoleSettings(process.env, { consolePort: values.port || undefined, consoleHost: values.host || undefined });
  const config = loadConfig(process.env, connectionFlags(values));
  if (config.embedded)
    throw new ConfigError('--embedded', 'the console reads the queues the workers share; set AWS_ENDPOINT_URL_SQS instead');
  const logger = createLogger({ level: config.logLevel, redact: config.logRedact });
  const jobs = await loadJobs(values.jobs as string | undefined);
  const store = await requireStore(config);
  let connection: Connection;
  let mounted: MountedConsole;
  try {
    connection = await connect(config, logger);
  } catch (error) {
    await store.close();
    throw error;
  }
  try {
    mounted = await mountConsole({ config, settings, store, connection, jobs, logger });
  } catch (error) {
    await connection.close();
    await store.close();
    throw error;
  }
  console.log(mounted.url);
  logger.info(
    { url: mounted.url, store: store.url, readonly: settings.readonly, signIn: settings.token !== undefined },
    'console listening; SIGTERM or Ctrl-C to stop',
  );
  return await new Promise<number>((resolve) => {
    onShutdownSignals(
      () => {
        mounted.console
          .close()
          .then(() => connection.close())
          .then(() => store.close())
          .then(
            () => resolve(0),
            (error: unknown) => {
              logger.error({ err: error }, 'console shutdown failed');
              resolve(1);
            },
          );
      },
      { logger, stopping: 'console stopping' },
    );
  });
}
