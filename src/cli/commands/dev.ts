/**
 * `npm start`: the embedded default. An SQS server in this process (unless AWS_ENDPOINT_URL_SQS is
 * set), the job store (PGlite in this process unless CALSYNC_STORE_URL or --store says otherwise), the
 * queues, a worker with the demo jobs, the HTTP job lookup (`GET /jobs/:id` on a free port), the web
 * console (with a store; a free port of 127.0.0.1 unless CALSYNC_CONSOLE_PORT names one), and a small
 * demo set whose fate is printed as it settles.
 */
import { createApiServer, type ApiServer } from '../../api/server.js';
import { storeRecorder } from '../../ops/job-recorder.js';
import type { StoreSpec } from '../../store/open-store.js';
import { demoJobs } from '../../jobs/demo.js';
import { loadApiSettings, loadConfig, loadConsoleSettings } from '../../config/config.js';
import { mountConsole, type MountedConsole } from './console.js';
import { DEFAULTS } from '../../config/settings.js';
import { JobQueue } from '../../telemetry/instrumented.js';
import { createLogger } from '../../runtime/logger.js';
import { parse } from '../args.js';
import { onSignals, startWorkerProcess } from './worker.js';

export const DEV_USAGE = `Usage: calsync-jobs dev [--once] [--metrics-port N] [--store S]

Starts an SQS server inside this process (127.0.0.1; or uses AWS_ENDPOINT_URL_SQS when set) and the
job store (PGlite in this process, in memory; CALSYNC_STORE_DIR keeps it on disk), creates the queues,
runs a worker with the demo jobs, serves the job lookup (GET /jobs/:id on a free port of 127.0.0.1, or
CALSYNC_API_PORT) and the web console (a free port of 127.0.0.1, or CALSYNC_CONSOLE_PORT; the
CALSYNC_CONSOLE_* settings apply) and enqueues a demo set: a plain job, a job that fails twice and then succeeds, a
poison job, a slow job that outlives its visibility timeout, and a message that is not a job at all.
Prints what happens to each, then keeps running until Ctrl-C.

  --once              exit 0 as soon as every demo job has settled
  --metrics-port N    Prometheus endpoint (default ${DEFAULTS.devMetricsPort}; 0 picks a free port)
  --store S           CALSYNC_STORE_URL: postgres://…, embedded or none (default ${DEFAULTS.devStore})`;

const short = (id: string): string => id.slice(0, 8);

/** The start line's store: `embedded PGlite (in memory)`, `embedded PGlite in <dir>`, the masked URL, or none. */
function storeLine(spec: StoreSpec, url: string | undefined): string {
  if (spec.kind === 'embedded') return spec.dir ? `embedded PGlite in ${spec.dir}` : 'embedded PGlite (in memory)';
  if (spec.kind === 'postgres') return `PostgreSQL ${url ?? ''}`.trimEnd();
  return 'none (CALSYNC_STORE_URL=none: jobs are not recorded)';
}

/** Where to look the demo's jobs up, printed once it settled. */
function lookupLines(spec: StoreSpec, lookupUrl: string | undefined, exampleId: string | undefined, once: boolean): string[] {
  if (!lookupUrl) return [];
  const lines = once ? [] : [`look a job up: curl ${lookupUrl}/jobs/${exampleId ?? '<id>'}   (all of them: curl ${lookupUrl}/jobs)`];
  if (spec.kind === 'embedded' && !spec.dir)
    lines.push(
      `${once ? "the demo's jobs were in an in-memory store, gone with this process; to keep them: " : 'to keep the jobs after exit: '}CALSYNC_STORE_DIR=.calsync-store npm start${once ? ' -- --once' : ''}, then: CALSYNC_STORE_DIR=.calsync-store npx calsync-jobs jobs list --store embedded`,
    );
  else if (spec.kind === 'embedded' && spec.dir)
    lines.push(`after this process exits: CALSYNC_STORE_DIR=${spec.dir} calsync-jobs jobs list --store embedded`);
  else if (spec.kind === 'postgres') lines.push('or: calsync-jobs jobs list --store <the same URL>');
  return lines;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export async function devCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { once: { type: 'boolean' }, 'metrics-port': { type: 'string' }, store: { type: 'string' } }, DEV_USAGE);
  if (values.help) {
    console.log(DEV_USAGE);
    return 0;
  }
  const env = { ...process.env };
  const embedded = env.AWS_ENDPOINT_URL_SQS === undefined && env.CALSYNC_QUEUE_URL === undefined;
  const loaded = loadConfig(
    env,
    { embedded: embedded || undefined, createQueues: true, metricsPort: values['metrics-port'], store: values.store },
    { store: DEFAULTS.devStore },
  );
  // The job lookup listens on a free port unless CALSYNC_API_PORT names one.
  const apiSettings = loadApiSettings(env, env.CALSYNC_API_PORT ? {} : { apiPort: '0' });
  // So does the console; it listens on loopback unless CALSYNC_CONSOLE_HOST (with a token) says otherwise.
  const consoleSettings = loadConsoleSettings(env, env.CALSYNC_CONSOLE_PORT ? {} : { consolePort: '0' });
  const config = { ...loaded, metricsPort: loaded.metricsPort ?? DEFAULTS.devMetricsPort };
  // The demo's own lines are the interface; JSON logs only for warnings and worse unless asked.
  const logger = createLogger({ level: env.CALSYNC_LOG_LEVEL ? config.logLevel : 'error', redact: config.logRedact });
  const jobs = [...demoJobs];
  let running: Awaited<ReturnType<typeof startWorkerProcess>>;
  try {
    running = await startWorkerProcess({ ...config, visibilityTimeoutSeconds: Math.min(config.visibilityTimeoutSeconds, 4) }, jobs, {
      logger,
      serviceName: 'calsync-dev',
      // stop() lets an in-flight long poll finish (its messages are given back uncharged): a 2 s
      // poll keeps the demo's exit quick; the in-process server costs nothing per empty receive.
      waitTimeSeconds: 2,
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      console.error(`calsync-jobs dev: port ${config.metricsPort} is in use; pass --metrics-port 0 for a free one`);
      return 2;
    }
    throw error;
  }
  const { worker, connection, store } = running;
  let api: ApiServer | undefined;
  let lookupUrl: string | undefined;
  if (store) {
    api = createApiServer({ store: store.store, logger });
    try {
      lookupUrl = (await api.listen({ port: apiSettings.port, host: DEFAULTS.apiHost })).url;
    } catch (error) {
      await running.shutdown();
      console.error(`calsync-jobs dev: cannot serve the job lookup on port ${apiSettings.port}: ${(error as Error).message}`);
      return 2;
    }
  }
  let consoleServer: MountedConsole | undefined;
  if (store) {
    try {
      consoleServer = await mountConsole({ config, settings: consoleSettings, store, connection, jobs, logger });
    } catch (error) {
      await api?.close();
      await running.shutdown();
      console.error(`calsync-jobs dev: cannot serve the console: ${(error as Error).message}`);
      return 2;
    }
  }
  const shutdown = async (): Promise<void> => {
    await consoleServer?.console.close();
    await api?.close();
    await running.shutdown();
  };
  onSignals(shutdown, logger);

  console.log(
    `calsync-jobs dev: ${connection.embedded ? `embedded SQS at ${connection.embedded.endpoint}` : `SQS at ${config.endpoint ?? 'AWS'}`}`,
  );
  console.log(`  queue ${connection.queueUrl}`);
  console.log(`  dlq   ${connection.dlqUrl}`);
  if (running.metricsUrl) console.log(`  metrics ${running.metricsUrl}/metrics  (health: /healthz, /readyz)`);
  console.log(`  store   ${storeLine(config.store, store?.url)}`);
  if (lookupUrl) console.log(`  jobs    ${lookupUrl}/jobs  (GET /jobs/:id, POST /jobs/:id/cancel)`);
  if (consoleServer) console.log(`  console ${consoleServer.url}/`);

  const queue = new JobQueue({
    transport: connection.transport,
    queueUrl: connection.queueUrl,
    jobs,
    ...(connection.signMessage ? { attributes: connection.signMessage } : {}),
    ...(store ? { recorder: storeRecorder(store.store, running.payloadPolicy) } : {}),
  });
  const names = new Map<string, string>();
  const pending = new Set<string>();
  let resolveAll!: () => void;
  const allSettled = new Promise<void>((resolve) => (resolveAll = resolve));
  const settle = (key: string): void => {
    pending.delete(key);
    if (pending.size === 0) resolveAll();
  };
  const label = (jobId: string, type: string): string => `${names.get(jobId) ?? type} ${short(jobId)}`;

  worker.on('job:started', (e) => console.log(`▶ ${label(e.jobId, e.type)} attempt ${e.attempt} started`));
  worker.on('job:succeeded', (e) => {
    console.log(`✔ ${label(e.jobId, e.type)} succeeded on attempt ${e.attempt} (${e.durationMs} ms)`);
    settle(e.jobId);
  });
  worker.on('job:retrying', (e) =>
    console.log(`↻ ${label(e.jobId, e.type)} attempt ${e.attempt} failed: ${e.error.message} — retrying in ${seconds(e.delayMs)}`),
  );
  worker.on('job:dead', (e) => {
    console.log(
      `✖ ${label(e.jobId, e.type)} dead after attempt ${e.attempt}: ${e.reason}${e.error ? ` (${e.error.message})` : ''} → ${connection.dlqName}`,
    );
    settle(e.jobId);
  });
  worker.on('message:invalid', (e) => {
    console.log(`✖ message ${short(e.messageId)} is not a job: ${e.reason} (${e.message.slice(0, 80)}) → ${connection.dlqName}`);
    settle('raw');
  });

  const demo = [
    { name: 'hello', job: { type: 'demo.hello', payload: { name: 'calsync' } } },
    { name: 'flaky (fails twice)', job: { type: 'demo.flaky', payload: { failTimes: 2 } } },
    { name: 'poison', job: { type: 'demo.poison', payload: { why: 'the calendar account was deleted' } } },
    { name: 'slow (6 s, lease extended)', job: { type: 'demo.slow', payload: { ms: 6_000 } } },
  ];
  pending.add('raw');
  const ids = await queue.enqueueJobs(demo.map((d) => d.job));
  ids.forEach((id, index) => {
    names.set(id, `${demo[index]!.job.type} [${demo[index]!.name}]`);
    pending.add(id);
    console.log(`+ enqueued ${names.get(id)} ${short(id)}`);
  });
  await connection.transport.send(connection.queueUrl, { body: '{"v":1,"type":"demo.hello","payload":"not an envelope"}' });
  console.log('+ sent a malformed message straight to the queue');

  await allSettled;
  const [main, dlq] = await Promise.all([connection.transport.depth(connection.queueUrl), connection.transport.depth(connection.dlqUrl)]);
  console.log(
    `demo settled: main queue ${main.visible + main.inFlight + main.delayed} message(s), DLQ ${dlq.visible + dlq.inFlight + dlq.delayed} message(s)`,
  );
  for (const line of lookupLines(config.store, lookupUrl, ids[0], values.once === true)) console.log(line);
  if (values.once) {
    await shutdown();
    return 0;
  }
  console.log(
    'worker still running; try `npx calsync-jobs enqueue demo.flaky \'{"failTimes":1}\' --endpoint ...` from another shell, Ctrl-C to stop',
  );
  await new Promise(() => undefined);
  return 0;
}
