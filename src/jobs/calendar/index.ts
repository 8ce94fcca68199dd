/**
 * The calendar jobs, configured from the environment on first use (never at import).
 */
import type { JobDefinition } from '../../machines/define-job.js';
import { calendarSyncJob } from '../calendar-sync.js';
import { calendarWriteJob } from '../calendar-write.js';

export { calendarSyncJob, closeCalendarSyncDefaults, createCalendarSyncJob } from '../calendar-sync.js';
export { calendarWriteJob, createCalendarWriteJob } from '../calendar-write.js';
export { accountsFromEnv, staticAccounts, type AccountResolver, type CalDavAccount } from './accounts.js';
export { migrate } from './migrate.js';
export { calendarSyncPayloadSchema, calendarWritePayloadSchema } from './schemas.js';

/** Both calendar job definitions, for the registry in `src/jobs/index.ts`. */
export const calendarJobs: readonly JobDefinition<any, any>[] = [calendarWriteJob, calendarSyncJob];
