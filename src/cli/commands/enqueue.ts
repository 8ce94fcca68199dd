import { loadConfig } from '../../config/config.js';
import { ConfigError } from '../../shared/errors.js';
import { validateJob } from '../../queue/job-queue.js';
import { JobQueue } from '../../telemetry/instrumented.js';
import { createLogger } from '../../runtime/logger.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connectionFlags, parse, UsageError } from '../args.js';
import { connect, openConfiguredStore } from '../connect.js';
import { payloadPolicy, storeRecorder } from '../../ops/job-recorder.js';
import { loadJobs } from '../load-jobs.js';
import { startOtel } from '../../telemetry/sdk.js';

export const ENQUEUE_USAGE = `Usage: calsync-jobs enqueue <type> <json-payload> [--delay-ms N] [--idempotency-key K] [--jobs <module>] [--no-validate]

Sends one job and prints its id. The payload is checked against the job type's schema first
(types from --jobs, default this project's src/jobs); --no-validate sends any type as is. With a job
store configured (--store, CALSYNC_STORE_URL) the job is recorded first, and an idempotency key that
a job of that type already has sends nothing: that job's id is printed.

  --delay-ms N          wait before the first attempt (over 900 s the message hops)
  --idempotency-key K   passed to the handler as ctx.idempotencyKey; with a store, unique per type
  --json                print {"id", "deduplicated", "jobId", "type", "queueUrl"} instead of the bare id
${CONNECTION_HELP}`;

export async function enqueueCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...CONNECTION_OPTIONS,
      'delay-ms': { type: 'string' },
      'idempotency-key': { type: 'string' },
      jobs: { type: 'string' },
      'no-validate': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    ENQUEUE_USAGE,
    true,
  );
  if (values.help) {
    console.log(ENQUEUE_USAGE);
    return 0;
  }
  if (positionals.length !== 2)
    throw new UsageError(`expected <type> and <json-payload>, got ${positionals.length} argument(s)`, ENQUEUE_USAGE);
  const [type, json] = positionals as [string, string];
  let payload: unknown;
  try {
    payload = JSON.parse(json);
  } catch (error) {
    throw new UsageError(`<json-payload>: not JSON (${(error as Error).message})`, ENQUEUE_USAGE);
  }
  let delayMs: number | undefined;
  if (values['delay-ms'] !== undefined) {
    delayMs = Number(values['delay-ms']);
    if (!Number.isInteger(delayMs) || delayMs < 0)
      throw new UsageError(`--delay-ms: expected an integer ≥ 0, got ${JSON.stringify(values['delay-ms'])}`, ENQUEUE_USAGE);
  }
  const config = loadConfig(process.env, connectionFlags(values));
  if (config.embedded)
    throw new ConfigError('--embedded', 'enqueue needs a running SQS server shared with the worker; set AWS_ENDPOINT_URL_SQS instead');
  const jobs = values['no-validate'] ? undefined : await loadJobs(values.jobs as string | undefined);
  // Validate before connecting: a bad payload is an argument error, whatever the queue's state.
  if (jobs) validateJob(new Map(jobs.map((job) => [job.type, job.schema])), { type, payload });
  // With OTEL_* set, the enqueue is a PRODUCER span and the job's trace starts here.
  const otel = await startOtel({ serviceName: 'calsync-enqueue' });
  let opened: Awaited<ReturnType<typeof openConfiguredStore>>;
  let connection: Awaited<ReturnType<typeof connect>>;
  try {
    opened = await openConfiguredStore(config);
    connection = await connect(config, createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel })).catch(
      async (error: unknown) => {
        await opened?.close();
        throw error;
      },
    );
  } catch (error) {
    await otel.shutdown();
    throw error;
  }
  try {
    const queue = new JobQueue({
      transport: connection.transport,
      queueUrl: connection.queueUrl,
      maxMessageBytes: config.maxMessageBytes,
      ...(jobs ? { jobs } : {}),
      ...(connection.signMessage ? { attributes: connection.signMessage } : {}),
      ...(opened ? { recorder: storeRecorder(opened.store, payloadPolicy(config)) } : {}),
    });
    const { id, deduplicated } = await queue.enqueue({
      type,
      payload,
      ...(delayMs === undefined ? {} : { delayMs }),
      ...(typeof values['idempotency-key'] === 'string' ? { idempotencyKey: values['idempotency-key'] } : {}),
    });
    console.log(values.json ? JSON.stringify({ id, deduplicated, jobId: id, type, queueUrl: connection.queueUrl }) : id);
    return 0;
  } finally {
    await connection.close();
    await opened?.close();
    await otel.shutdown();
  }
}
