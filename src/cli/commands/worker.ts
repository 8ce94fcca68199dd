import type { Logger } from 'pino';
import { loadConfig, type CalsyncConfig } from '../../config/config.js';
import { DEFAULTS } from '../../config/settings.js';
import { createLogger } from '../../runtime/logger.js';
import { createWorker, type Worker } from '../../telemetry/instrumented.js';
import type { JobDefinition } from '../../machines/define-job.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connectionFlags, parse } from '../args.js';
import { connect, openConfiguredStore, type Connection } from '../connect.js';
import type { OpenedStore } from '../../store/open-store.js';
import { payloadPolicy } from '../../ops/job-recorder.js';
import type { PayloadPolicy } from '../../store/payload-policy.js';
import { closeJobs, loadJobs } from '../load-jobs.js';
import { startOtel } from '../../telemetry/sdk.js';
import { onShutdownSignals } from '../signals.js';

export const WORKER_USAGE = `Usage: calsync-jobs worker [--jobs <module>] [--concurrency N] [--embedded] [--metrics-port N] [--no-scheduler]

Runs jobs from the queue until SIGTERM or SIGINT, then drains (CALSYNC_SHUTDOWN_GRACE_MS, default ${DEFAULTS.shutdownGraceMs / 1000} s).
With a job store (--store, CALSYNC_STORE_URL) each attempt is claimed and settled there, and settled
jobs older than CALSYNC_STORE_RETENTION are pruned every hour, and the worker fires the store's due
schedules (calsync-jobs schedules --help) beside every other worker, unless --no-scheduler.

  --jobs <module>       a module whose default export is an array of defineJob() results
                        (default: this project's src/jobs)
  --concurrency N       CALSYNC_CONCURRENCY: handlers at once (default ${DEFAULTS.concurrency})
  --metrics-port N      CALSYNC_METRICS_PORT: serve /metrics, /healthz, /readyz on ${DEFAULTS.metricsHost}:N
  --shutdown-grace-ms N CALSYNC_SHUTDOWN_GRACE_MS
  --no-scheduler        CALSYNC_SCHEDULER=false: fire no schedules from this worker
${CONNECTION_HELP}`;

export interface RunningWorker {
  worker: Worker;
  connection: Connection;
  config: CalsyncConfig;
  logger: Logger;
  metricsUrl: string | undefined;
  /** The job store the worker claims and settles through; undefined with `CALSYNC_STORE_URL=none`. */
  store: OpenedStore | undefined;
  /** What of payloads this process stores (`CALSYNC_STORE_PAYLOADS`, the log redaction paths). */
  payloadPolicy: PayloadPolicy;
  /**
   * Stops the worker (the last settle included), then runs the jobs' `close` hooks (pools they opened),
   * then stops telemetry and the connection, then closes the store. Idempotent.
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
  // The store first and meanwhile the rest (PGlite takes seconds to start): either failing stops the
  // start, a bad or unreachable store with one line naming its setting.
  const opening = openConfiguredStore(config);
  opening.catch(() => undefined); // awaited below
  const otel = await startOtel({
    serviceName: options.serviceName ?? 'calsync-worker',
    ...(config.metricsPort === undefined ? {} : { metricsPort: config.metricsPort, metricsHost: config.metricsHost }),
    ready: () => worker?.stats.ready ?? false,
    // No handler runs in its attempt's context: nothing reads the active context across an await.
    asyncContext: config.handlerTraceContext,
  }).catch(async (error: unknown) => {
    await opening.then((opened) => opened?.close()).catch(() => undefined);
    throw error;
  });
  const connecting = connect(config, logger);
  connecting.catch(() => undefined); // awaited below
  let store: OpenedStore | undefined;
  try {
    store = await opening;
  } catch (error) {
    // At once, not after the queues answer (or time out): the store's line is the one to print.
    void connecting.then((connection) => connection.close()).catch(() => undefined);
    await otel.shutdown();
    throw error;
  }
  let connection: Connection;
  try {
    connection = await connecting;
  } catch (error) {
    await store?.close();
    await otel.shutdown();
    throw error;
  }
  const policy = payloadPolicy(config);
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
    handlerTraceContext: config.handlerTraceContext,
    logger,
    queueDepthIntervalMs: config.metricsPort === undefined ? 0 : config.queueDepthIntervalMs,
    ...(connection.signMessage ? { signMessage: connection.signMessage } : {}),
    ...(connection.verifyMessage ? { verifyMessage: connection.verifyMessage } : {}),
    ...(store ? { store: store.store, storePayloads: policy } : {}),
    scheduler: config.scheduler,
  });
  worker.start();
  const pruner = store ? startPruning(store, config.storeRetentionMs, logger) : undefined;
  let stopping: Promise<void> | undefined;
  const started = worker;
  return {
    worker,
    connection,
    config,
    logger,
    metricsUrl: otel.metricsServer?.url,
    store,
    payloadPolicy: policy,
    shutdown: () =>
      (stopping ??= (async () => {
        await started.stop();
        try {
          await closeJobs(jobs, { logger });
        } finally {
          await otel.shutdown();
          await connection.close();
          // After the worker stopped: its last settles went through the store.
          await pruner?.stop();
          await store?.close();
        }
      })()),
  };
}

/** How often a worker prunes settled jobs past the retention. */
const PRUNE_INTERVAL_MS = 3_600_000;

/**
 * Prunes the store every {@link PRUNE_INTERVAL_MS} on one unref'd timer: a pass never overlaps the
 * next, never holds the process open, and its failure is logged (the next hour tries again).
 */
function startPruning(opened: OpenedStore, olderThanMs: number, logger: Logger): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= opened.store
      .prune({ olderThanMs })
      .then(
        (pruned) => {
          if (pruned > 0) logger.info({ pruned, olderThanMs }, 'pruned settled jobs from the store');
        },
        (error: unknown) => logger.warn({ err: error }, 'pruning the job store failed; trying again in an hour'),
      )
      .finally(() => {
        running = undefined;
      });
  }, PRUNE_INTERVAL_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
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
      'no-scheduler': { type: 'boolean' },
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
    scheduler: values['no-scheduler'] ? false : undefined,
  });
  const jobs = await loadJobs(values.jobs as string | undefined);
  const running = await startWorkerProcess(config, jobs);
  onSignals(running.shutdown, running.logger);
  running.logger.info(
    { metrics: running.metricsUrl, queueUrl: running.connection.queueUrl, store: running.store?.url ?? 'none' },
    'worker running; SIGTERM or Ctrl-C to stop',
  );
  await new Promise(() => undefined);
  return 0;
}
