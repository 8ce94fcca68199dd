/**
 * The project's job registry: what `calsync-jobs worker` runs when no `--jobs` module is given. It is
 * where the calendar jobs get their settings: from this process's environment, read on each job's first
 * run, never at import (src/jobs/calendar/settings.ts).
 */
import type { JobDefinition } from '../machines/define-job.js';
import { createCalendarJobs } from './calendar/index.js';
import { calendarSettingsFromEnv } from './calendar/settings.js';
import { demoJobs } from './demo.js';

export const [calendarWriteJob, calendarSyncJob] = createCalendarJobs(calendarSettingsFromEnv(() => process.env));

/** Both calendar job definitions (the HTTP API validates with them). */
export const calendarJobs: readonly JobDefinition<any, any>[] = [calendarWriteJob, calendarSyncJob];

export { demoJobs };

const jobs: readonly JobDefinition<any, any>[] = [...demoJobs, ...calendarJobs];
export default jobs;
