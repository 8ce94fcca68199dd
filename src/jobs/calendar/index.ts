/**
 * The calendar jobs over their settings. Each job is defined once, by its factory over its dependencies
 * (`createCalendarWriteJob`, `createCalendarSyncJob`); here both are given dependencies opened from the
 * settings on each job's first run, never at import. The registry (src/jobs/index.ts) hands in the
 * environment.
 */
import type { JobDefinition } from '../../machines/define-job.js';
import { createCalendarSyncJob, openCalendarSyncDeps, type CalendarSyncCheckpoint } from './calendar-sync.js';
import { createCalendarWriteJob } from './calendar-write.js';
import { Lazy } from './lazy.js';
import type { CalendarSyncPayload, CalendarWritePayload } from './schemas.js';
import type { CalendarSettings } from './settings.js';

/**
 * `calendar.write` and `calendar.sync` configured from `settings`: the accounts are resolved on the first
 * write; the first sync opens the PostgreSQL pool and migrates the schema, and its `close` hook ends the pool.
 */
export function createCalendarJobs(
  settings: CalendarSettings,
): readonly [JobDefinition<CalendarWritePayload>, JobDefinition<CalendarSyncPayload, CalendarSyncCheckpoint>] {
  return [
    createCalendarWriteJob(new Lazy(() => settings.write()), { perSecond: settings.caldavRate() }),
    createCalendarSyncJob(
      new Lazy(
        () => openCalendarSyncDeps(settings.sync()),
        (deps) => deps.pool.end(),
      ),
    ),
  ];
}
