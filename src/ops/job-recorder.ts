/**
 * The producer's {@link JobRecorder} port over a {@link JobStore} for the edges: `storeRecorder`
 * (src/store/store-recorder.ts, where the worker's scheduler reaches it too) and the payload policy a
 * configuration gives (src/store/payload-policy.ts: off, or redacted with the log paths and capped).
 */
import type { CalsyncConfig } from '../config/config.js';
import { DEFAULT_REDACT_PATHS } from '../runtime/logger.js';
import type { PayloadPolicy } from '../store/payload-policy.js';

export { storeRecorder } from '../store/store-recorder.js';

/**
 * The payload policy a configuration gives: `CALSYNC_STORE_PAYLOADS`, and the paths the logger redacts
 * (its defaults plus `CALSYNC_LOG_REDACT`), so the store never keeps what the logs would hide.
 */
export function payloadPolicy(config: Pick<CalsyncConfig, 'storePayloads' | 'logRedact'>): PayloadPolicy {
  return { enabled: config.storePayloads, redactPaths: [...DEFAULT_REDACT_PATHS, ...config.logRedact] };
}
