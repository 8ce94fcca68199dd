import type { Logger } from 'pino';
import { loadConfig, type CalsyncConfig } from '../../config/config.js';
import { DEFAULTS } from '../../config/settings.js';
import { createLogger } from '../../runtime/logger.js';
import { createWorker, type Worker } from '../../telemetry/instrumented.js';
import type { JobDefinition } from '../../machines/define-job.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connectionFlags, parse } from '../args.js';
import { connect, type Connection } from '../connect.js';
import { closeJobs, loadJobs } from '../load-jobs.js';
import { startOtel } from '../../telemetry/sdk.js';
import { onShutdownSignals } from '../signals.js';

export const WORKER_USAGE = `Usage: calsync-jobs worker [--jobs <module>] [--concurrency N] [--embedded] [--metrics-port N]

Runs jobs from the queue until SIGTERM or SIGINT, then drains (CALSYNC_SHUTDOWN_GRACE_MS, default ${DEFAULTS.shutdownGraceMs / 1000} s).

  --jobs <module>       a module whose default export is an array of defineJob() results
                        (default: this project's src/jobs)
  --concurrency N       CALSYNC_CONCURRENCY: handlers at once (default ${DEFAULTS.concurrency})
  --metrics-port N      CALSYNC_METRICS_PORT: serve /metrics, /healthz, /readyz on ${DEFAULTS.metricsHost}:N
  --shutdown-grace-ms N CALSYNC_SHUTDOWN_GRACE_MS
${CONNECTION_HELP}`;

export interface RunningWorker {
  worker: Worker;
  connection: Connection;
  config: CalsyncConfig;
  logger: Logger;
  metricsUrl: string | undefined;
  /**
   * Stops the worker (the last settle included), then runs the jobs' `close` hooks (pools they opened),
   * then stops telemetry and the connection. Idempotent.
   */
  shutdown(): Promise<void>;
}

/** Starts everything a worker process needs; shared by `worker` and `dev`. */
export async function startWorkerProcess(
  config: CalsyncConfig,
  jobs: readonly JobDefinition<any, any>[],
  options: { logger?: Logger; serviceName?: string; waitTimeSeconds?: number } = {},
): Promise<RunningWorker> {
  const logger = options.logger ?? createLogger({ level: config.logLevel, redact: config.logRedact });
  let worker: Worker | undefined;
  const otel = await startOtel({
    serviceName: options.serviceName ?? 'calsync-worker',
    ...(config.metricsPort === undefined ? {} : { metricsPort: config.metricsPort, metricsHost: config.metricsHost }),
    ready: () => worker?.stats.ready ?? false,
  });
  let connection: Connection;
  try {
    connection = await connect(config, logger);
  } catch (error) {
    await otel.shutdown();
    throw error;
  }
  worker = createWorker({
    transport: connection.transport,
    jobs,
    queueUrl: connection.queueUrl,
    dlqUrl: connection.dlqUrl,
    concurrency: config.concurrency,
    visibilityTimeoutSeconds: config.visibilityTimeoutSeconds,
    shutdownGraceMs: config.shutdownGraceMs,
    ...(options.waitTimeSeconds === undefined ? {} : { waitTimeSeconds: options.waitTimeSeconds }),
    maxMessageBytes: config.maxMessageBytes,
    logPayloads: config.logPayloads,
    logger,
    queueDepthIntervalMs: config.metricsPort === undefined ? 0 : config.queueDepthIntervalMs,
    ...(connection.signMessage ? { signMessage: connection.signMessage } : {}),
    ...(connection.verifyMessage ? { verifyMessage: connection.verifyMessage } : {}),
  });
  worker.start();
  let stopping: Promise<void> | undefined;
  const started = worker;
  return {
    worker,
    connection,
    config,
    logger,
    metricsUrl: otel.metricsServer?.url,
    shutdown: () =>
      (stopping ??= (async () => {
        await started.stop();
        try {
          await closeJobs(jobs, { logger });
        } finally {
          await otel.shutdown();
          await connection.close();
        }
      })()),
  };
}

/**
 * Runs `shutdown` on SIGTERM / SIGINT, then exits 0 (1 when it failed); a second signal exits at once
 * (messages come back after their visibility timeout). Returns the disposer of the listeners.
 */
export function onSignals(shutdown: () => Promise<void>, logger: Logger): () => void {
  return onShutdownSignals(
    () => {
      shutdown().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    },
    {
      logger,
      stopping: 'stopping: no new jobs; waiting for running ones',
      exiting: 'second signal: exiting now; unfinished messages return after their visibility timeout',
    },
  );
}

export async function workerCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    {
      ...CONNECTION_OPTIONS,
      jobs: { type: 'string' },
      concurrency: { type: 'string' },
      'metrics-port': { type: 'string' },
      'shutdown-grace-ms': { type: 'string' },
    },
    WORKER_USAGE,
  );
  if (values.help) {
    console.log(WORKER_USAGE);
    return 0;
  }
  const config = loadConfig(process.env, {
    ...connectionFlags(values),
    concurrency: values.concurrency,
    metricsPort: values['metrics-port'],
    shutdownGraceMs: values['shutdown-grace-ms'],
  });
  const jobs = await loadJobs(values.jobs as string | undefined);
  const running = await startWorkerProcess(config, jobs);
  onSignals(running.shutdown, running.logger);
  running.logger.info({ metrics: running.metricsUrl, queueUrl: running.connection.queueUrl }, 'worker running; SIGTERM or Ctrl-C to stop');
  await new Promise(() => undefined);
  return 0;
}
