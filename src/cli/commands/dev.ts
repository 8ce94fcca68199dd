/**
 * `npm start`: the embedded default. An SQS server in this process (unless AWS_ENDPOINT_URL_SQS is
 * set), the queues, a worker with the demo jobs, and a small demo set whose fate is printed as it settles.
 */
import { demoJobs } from '../../jobs/demo.js';
import { loadConfig } from '../../config/config.js';
import { DEFAULTS } from '../../config/settings.js';
import { JobQueue } from '../../telemetry/instrumented.js';
import { createLogger } from '../../runtime/logger.js';
import { parse } from '../args.js';
import { onSignals, startWorkerProcess } from './worker.js';

export const DEV_USAGE = `Usage: calsync-jobs dev [--once] [--metrics-port N]

Starts an SQS server inside this process (127.0.0.1; or uses AWS_ENDPOINT_URL_SQS when set), creates
the queues, runs a worker with the demo jobs and enqueues a demo set: a plain job, a job that fails
twice and then succeeds, a poison job, a slow job that outlives its visibility timeout, and a message
that is not a job at all. Prints what happens to each, then keeps running until Ctrl-C.

  --once              exit 0 as soon as every demo job has settled
  --metrics-port N    Prometheus endpoint (default ${DEFAULTS.devMetricsPort}; 0 picks a free port)`;

const short = (id: string): string => id.slice(0, 8);
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export async function devCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { once: { type: 'boolean' }, 'metrics-port': { type: 'string' } }, DEV_USAGE);
  if (values.help) {
    console.log(DEV_USAGE);
    return 0;
  }
  const env = { ...process.env };
  const embedded = env.AWS_ENDPOINT_URL_SQS === undefined && env.CALSYNC_QUEUE_URL === undefined;
  const loaded = loadConfig(env, { embedded: embedded || undefined, createQueues: true, metricsPort: values['metrics-port'] });
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
  const { worker, connection } = running;
  onSignals(running.shutdown, logger);

  console.log(
    `calsync-jobs dev: ${connection.embedded ? `embedded SQS at ${connection.embedded.endpoint}` : `SQS at ${config.endpoint ?? 'AWS'}`}`,
  );
  console.log(`  queue ${connection.queueUrl}`);
  console.log(`  dlq   ${connection.dlqUrl}`);
  if (running.metricsUrl) console.log(`  metrics ${running.metricsUrl}/metrics  (health: /healthz, /readyz)`);

  const queue = new JobQueue({
    transport: connection.transport,
    queueUrl: connection.queueUrl,
    jobs,
    ...(connection.signMessage ? { attributes: connection.signMessage } : {}),
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
  if (values.once) {
    await running.shutdown();
    return 0;
  }
  console.log(
    'worker still running; try `npx calsync-jobs enqueue demo.flaky \'{"failTimes":1}\' --endpoint ...` from another shell, Ctrl-C to stop',
  );
  await new Promise(() => undefined);
  return 0;
}
