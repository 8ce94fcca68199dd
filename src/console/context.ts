/**
 * What every console route is given: the servers (store, queues, the producer that sends a retry),
 * the job types it knows, the settings, and per request who is asking and the page context.
 */
import type { Hono } from 'hono';
import type { Logger } from 'pino';
import type { JobDefinition } from '../machines/define-job.js';
import type { RedriveQueues } from '../ops/dlq-redrive.js';
import type { EnvelopeSender } from '../ops/jobs.js';
import type { JobQueue } from '../queue/job-queue.js';
import type { JobStore } from '../store/job-store.js';
import type { Clock } from '../shared/clock.js';
import type { Actor, ConsoleAccess } from './access.js';
import type { NavEntry, PageContext } from './layout.js';
import type { RedriveTasks } from './redrive-tasks.js';

export interface ConsoleDeps {
  store: JobStore;
  /** Where the store is, password masked. */
  storeUrl: string;
  queues: RedriveQueues & { dlqName: string };
  /** Sends a retried job's first envelope (the producer's `JobQueue`). */
  sender: EnvelopeSender;
  /** Enqueues a schedule's job on trigger, recording it in the store first; without it, no trigger. */
  producer: Pick<JobQueue, 'enqueue'> | undefined;
  /** The job types this console knows (their retry policy is shown); every type has the same machine. */
  jobs: readonly JobDefinition<any, any>[];
  readonly: boolean;
  /** Trace ids link to `<jaegerUrl>/trace/<id>`. */
  jaegerUrl: string | undefined;
  /** `CALSYNC_STORE_PAYLOADS`: payloads are shown only when the store keeps them. */
  showPayloads: boolean;
  logger: Logger;
  clock: Clock;
  access: ConsoleAccess;
  redrives: RedriveTasks;
}

export type ConsoleEnv = { Variables: { actor: Actor; page: PageContext } };
export type ConsoleApp = Hono<ConsoleEnv>;

/**
 * A part of the console: its navigation entry (none when the feature is absent) and its routes.
 * The built-in ones are overview, jobs, dead letters and, when the store holds schedules, schedules.
 */
export interface ConsoleSection {
  nav?: NavEntry | undefined;
  mount(app: ConsoleApp, deps: ConsoleDeps): void;
}

/** Logs an action with who did it: one line per action, `console action` with its fields. */
export function audit(deps: ConsoleDeps, actor: Actor, action: string, fields: Record<string, unknown>): void {
  deps.logger.info({ action, actor: actor.name, via: actor.via, ...fields }, 'console action');
}
