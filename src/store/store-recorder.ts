/**
 * The producer's `JobRecorder` port (src/queue/job-queue.ts) over a {@link JobStore}: `record` is one
 * `createJobs` call (dedup by type and idempotency key, and by id), `forget` is `forgetJobs`. Payloads
 * are stored as the policy allows (payload-policy.ts: off, or redacted with the log paths and capped).
 * Here, not in ops/, because the worker's scheduler (src/runtime/scheduler.ts) records its ticks too.
 */
import type { JobRecorder, RecordedJob } from '../queue/job-queue.js';
import type { JobStore, NewJob } from './job-store.js';
import { storedPayload, type PayloadPolicy } from './payload-policy.js';

/** A recorder that writes each enqueued job's row (state `pending`) before the producer sends it. */
export function storeRecorder(store: JobStore, policy: PayloadPolicy): JobRecorder {
  return {
    async record(jobs: readonly RecordedJob[]) {
      const rows = jobs.map(
        (job): NewJob => ({
          id: job.id,
          type: job.type,
          idempotencyKey: job.idempotencyKey,
          createdAt: job.createdAt,
          scheduledAt: job.scheduledAt,
          ...(job.coalesceKey === undefined ? {} : { coalesceKey: job.coalesceKey }),
          ...(job.keys === undefined ? {} : { keys: job.keys }),
          ...storedPayload(job.payload, policy),
        }),
      );
      return await store.createJobs(rows);
    },
    async forget(ids: readonly string[]) {
      if (ids.length > 0) await store.forgetJobs(ids);
    },
  };
}
