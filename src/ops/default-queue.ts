import { ensureQueues } from './ensure-queues.js';
import { loadConfig } from '../config/config.js';
import { JobQueue, type JobRequest, type JobSchemaEntry } from '../queue/job-queue.js';
import { signingHooks } from '../queue/signing-hooks.js';
import { SqsTransport } from '../queue/sqs/sqs-transport.js';

/**
 * A `JobQueue` configured from the environment the same way the worker is (AWS_REGION,
 * AWS_ENDPOINT_URL_SQS, CALSYNC_QUEUE_URL / CALSYNC_QUEUE_NAME / CALSYNC_QUEUE_PREFIX,
 * CALSYNC_MAX_MESSAGE_BYTES, CALSYNC_SIGNING_KEYS), for a producer that has nothing but the
 * environment (`enqueueJob()` uses it). The CLI's `api` and `enqueue` build theirs from the parsed
 * config instead (src/cli/connect.ts).
 */
export async function createJobQueueFromEnv(
  options: { env?: NodeJS.ProcessEnv; jobs?: Iterable<JobSchemaEntry> } = {},
): Promise<JobQueue & { close(): Promise<void> }> {
  const config = loadConfig(options.env ?? process.env);
  const transport = new SqsTransport({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    maxMessageBytes: config.maxMessageBytes,
  });
  // loadConfig already named the queues from CALSYNC_QUEUE_PREFIX / _NAME (queueNames in bootstrap.ts).
  const names = { mainQueueName: config.queueName, dlqName: config.dlqName };
  const queueUrl =
    config.queueUrl ??
    (config.createQueues
      ? (await ensureQueues(transport, { ...names, maxReceiveCount: config.maxReceiveCount })).mainQueueUrl
      : await transport.getQueueUrl(names.mainQueueName));
  const { signMessage } = signingHooks(config.signingKeys, false);
  const queue = new JobQueue({
    transport,
    queueUrl,
    maxMessageBytes: config.maxMessageBytes,
    ...(options.jobs ? { jobs: options.jobs } : {}),
    ...(signMessage ? { attributes: signMessage } : {}),
  });
  return Object.assign(queue, { close: () => transport.close() });
}

let shared: Promise<JobQueue & { close(): Promise<void> }> | undefined;

/** Enqueues one job on the queue configured by the environment; resolves to the job id. */
export async function enqueueJob<Payload>(job: JobRequest<Payload>): Promise<string> {
  shared ??= createJobQueueFromEnv();
  return await (await shared).enqueueJob(job);
}

/** Enqueues many jobs (batches of 10) on the queue configured by the environment; resolves to their ids. */
export async function enqueueJobs(jobs: ReadonlyArray<JobRequest>): Promise<string[]> {
  shared ??= createJobQueueFromEnv();
  return await (await shared).enqueueJobs(jobs);
}
