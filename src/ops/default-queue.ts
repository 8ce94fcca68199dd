import { loadConfig } from '../config/config.js';
import type { JobRequest, JobSchemaEntry } from '../queue/job-queue.js';
import { JobQueue } from '../telemetry/instrumented.js';
import { signingHooks } from '../queue/signing-hooks.js';
import { openStore } from '../store/open-store.js';
import { payloadPolicy, storeRecorder } from './job-recorder.js';
import { openQueues } from './open-queues.js';

/**
 * A `JobQueue` configured from the environment the same way the worker is (AWS_REGION,
 * AWS_ENDPOINT_URL_SQS, CALSYNC_QUEUE_URL / CALSYNC_QUEUE_NAME / CALSYNC_QUEUE_PREFIX, CALSYNC_EMBEDDED,
 * CALSYNC_CREATE_QUEUES, CALSYNC_MAX_MESSAGE_BYTES, CALSYNC_SIGNING_KEYS; open-queues.ts), for a
 * producer that has nothing but the environment (`enqueueJob()` uses it). The DLQ is not looked up.
 * With `CALSYNC_STORE_URL` set, each job's row is recorded before it is sent and an idempotency key
 * dedups (`enqueue()` says which were duplicates).
 */
export async function createJobQueueFromEnv(
  options: { env?: NodeJS.ProcessEnv; jobs?: Iterable<JobSchemaEntry> } = {},
): Promise<JobQueue & { close(): Promise<void> }> {
  const config = loadConfig(options.env ?? process.env);
  const store = await openStore(config.store, config.storeSetting);
  const queues = await openQueues(config, { dlq: false }).catch(async (error: unknown) => {
    await store?.close();
    throw error;
  });
  const { signMessage } = signingHooks(config.signingKeys, false);
  const queue = new JobQueue({
    transport: queues.transport,
    queueUrl: queues.queueUrl,
    queueName: queues.queueName,
    maxMessageBytes: config.maxMessageBytes,
    ...(options.jobs ? { jobs: options.jobs } : {}),
    ...(signMessage ? { attributes: signMessage } : {}),
    ...(store ? { recorder: storeRecorder(store.store, payloadPolicy(config)) } : {}),
  });
  const close = async (): Promise<void> => {
    await queues.close();
    await store?.close();
  };
  return Object.assign(queue, { close });
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
