/**
 * The calendar jobs, configured from the environment on first use (never at import).
 */
import type { JobDefinition } from '../../machines/define-job.js';
import { calendarSyncJob } from './calendar-sync.js';
import { calendarWriteJob } from './calendar-write.js';

export { calendarSyncJob, closeCalendarSyncDefaults, createCalendarSyncJob } from './calendar-sync.js';
export { calendarWriteJob } from './calendar-write.js';

/** Both calendar job definitions, for the registry in `src/jobs/index.ts`. */
export const calendarJobs: readonly JobDefinition<any, any>[] = [calendarWriteJob, calendarSyncJob];
