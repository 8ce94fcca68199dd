/**
 * The producer's {@link JobRecorder} port over a {@link JobStore}: `record` is one `createJobs` call
 * (dedup by type and idempotency key, and by id), `forget` is `forgetJobs`. Payloads are stored as the
 * policy allows (src/store/payload-policy.ts: off, or redacted with the log paths and capped).
 */
import type { CalsyncConfig } from '../config/config.js';
import type { JobRecorder, RecordedJob } from '../queue/job-queue.js';
import { DEFAULT_REDACT_PATHS } from '../runtime/logger.js';
import type { JobStore, NewJob } from '../store/job-store.js';
import { storedPayload, type PayloadPolicy } from '../store/payload-policy.js';

/**
 * The payload policy a configuration gives: `CALSYNC_STORE_PAYLOADS`, and the paths the logger redacts
 * (its defaults plus `CALSYNC_LOG_REDACT`), so the store never keeps what the logs would hide.
 */
export function payloadPolicy(config: Pick<CalsyncConfig, 'storePayloads' | 'logRedact'>): PayloadPolicy {
  return { enabled: config.storePayloads, redactPaths: [...DEFAULT_REDACT_PATHS, ...config.logRedact] };
}

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
