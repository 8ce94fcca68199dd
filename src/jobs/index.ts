/**
 * The project's job registry: what `calsync-jobs worker` runs when no `--jobs` module is given.
 * Calendar jobs read their configuration (accounts, database) on first use, never at import.
 */
import type { JobDefinition } from '../machines/define-job.js';
import { calendarJobs } from './calendar/index.js';
import { demoJobs } from './demo.js';

export { calendarJobs, demoJobs };

const jobs: readonly JobDefinition<any, any>[] = [...demoJobs, ...calendarJobs];
export default jobs;
