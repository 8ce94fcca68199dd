/**
 * `calsync-jobs api`: the calendar product's HTTP API (src/api/server.ts) in a process of its own. It
 * enqueues through the same `JobQueue` as every other producer, validating payloads against the
 * calendar jobs' schemas and signing messages when `CALSYNC_SIGNING_KEYS` is set. With a job store
 * configured it records (and dedups) every job before sending it, and serves the `/jobs` lookup.
 */
import { createApiServer } from '../../api/server.js';
import { calendarJobs } from '../../jobs/index.js';
import { loadApiSettings, loadConfig } from '../../config/config.js';
import { DEFAULTS } from '../../config/settings.js';
import { ConfigError } from '../../shared/errors.js';
import { JobQueue } from '../../telemetry/instrumented.js';
import { createLogger } from '../../runtime/logger.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connectionFlags, parse } from '../args.js';
import { connect, openConfiguredStore } from '../connect.js';
import { payloadPolicy, storeRecorder } from '../../ops/job-recorder.js';
import { startOtel } from '../../telemetry/sdk.js';
import { onShutdownSignals } from '../signals.js';

export const API_USAGE = `Usage: calsync-jobs api [--port N] [--host H]

Serves the calendar HTTP API until SIGTERM or SIGINT:
  POST /accounts/:id/calendars/:calendar/sync     enqueues calendar.sync
  POST /accounts/:id/calendars/:calendar/events   enqueues calendar.write ({ op, event })
  GET  /jobs/:id, GET /jobs?state=&type=&key=&limit=&cursor=, POST /jobs/:id/cancel
                                                  the job store's jobs (501 without --store)
  PUT|GET|DELETE /accounts/:id/calendars/:calendar/schedule
                                                  the calendar's periodic calendar.sync, e.g.
                                                  PUT {"every":"5m","jitter":"60s"} (501 without --store)

202 {"id", "jobId"} for a new job; with a store, 200 {"id", "jobId", "deduplicated": true} when a sync
of that calendar is already pending (coalesced), or when the
Idempotency-Key header matched a job of that type (nothing is sent).

  --port N              CALSYNC_API_PORT (default ${DEFAULTS.apiPort}; 0 picks a free port)
  --host H              where to listen (default ${DEFAULTS.apiHost}; 0.0.0.0 in a container)
${CONNECTION_HELP}`;

export async function apiCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...CONNECTION_OPTIONS, port: { type: 'string' }, host: { type: 'string' } }, API_USAGE);
  if (values.help) {
    console.log(API_USAGE);
    return 0;
  }
  // An empty --port or --host means the default, as an unset one does.
  const { port, host } = loadApiSettings(process.env, { apiPort: values.port || undefined, apiHost: values.host || undefined });
  const config = loadConfig(process.env, connectionFlags(values));
  if (config.embedded)
    throw new ConfigError('--embedded', 'the API needs an SQS server shared with the worker; set AWS_ENDPOINT_URL_SQS instead');
  const logger = createLogger({ level: config.logLevel, redact: config.logRedact });
  // With OTEL_* set, each enqueue is a PRODUCER span: a job's trace starts at the API.
  const otel = await startOtel({ serviceName: 'calsync-api' });
  let opened: Awaited<ReturnType<typeof openConfiguredStore>>;
  let connection: Awaited<ReturnType<typeof connect>>;
  try {
    opened = await openConfiguredStore(config);
    connection = await connect(config, logger).catch(async (error: unknown) => {
      await opened?.close();
      throw error;
    });
  } catch (error) {
    await otel.shutdown();
    throw error;
  }
  const store = opened;
  const closeAll = async (): Promise<void> => {
    await connection.close();
    await store?.close();
    await otel.shutdown();
  };
  const queue = new JobQueue({
    transport: connection.transport,
    queueUrl: connection.queueUrl,
    queueName: connection.queueName,
    maxMessageBytes: config.maxMessageBytes,
    jobs: calendarJobs,
    ...(connection.signMessage ? { attributes: connection.signMessage } : {}),
    ...(store ? { recorder: storeRecorder(store.store, payloadPolicy(config)) } : {}),
  });
  if (!store) {
    for (const job of calendarJobs) {
      if (job.keys?.coalesce)
        logger.warn(
          { jobType: job.type, option: 'coalesce' },
          `${job.type}: coalesce needs a job store (CALSYNC_STORE_URL); none is configured, so it is not applied`,
        );
    }
  }
  const api = createApiServer({ enqueue: (job) => queue.enqueue(job), logger, ...(store ? { store: store.store } : {}) });
  let url: string;
  try {
    ({ url } = await api.listen({ port, host }));
  } catch (error) {
    await closeAll();
    throw new ConfigError('--port', `cannot listen on ${host}:${port}: ${(error as Error).message}`);
  }
  console.log(url);
  logger.info({ url, queueUrl: connection.queueUrl, store: store?.url ?? 'none' }, 'api listening; SIGTERM or Ctrl-C to stop');

  const code = await new Promise<number>((resolve) => {
    onShutdownSignals(
      () => {
        api
          .close()
          .then(closeAll)
          .then(
            () => resolve(0),
            (error: unknown) => {
              logger.error({ err: error }, 'api shutdown failed');
              resolve(1);
            },
          );
      },
      { logger, stopping: 'api stopping' },
    );
  });
  return code;
}
