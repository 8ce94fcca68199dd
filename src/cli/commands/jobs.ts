/**
 * `calsync-jobs jobs <list|show|cancel|retry|prune>`: jobs as the store knows them (docs/store.md,
 * "Command line"). Argument handling and printing only; the operations are src/ops/jobs.ts. This file
 * holds the dispatcher and the read commands; src/cli/commands/jobs-manage.ts the ones that change rows.
 */
import { loadConfig, loadJobsListSettings } from '../../config/config.js';
import { DEFAULTS } from '../../config/settings.js';
import { listJobs, showJob, type JobView } from '../../ops/jobs.js';
import { systemClock } from '../../shared/clock.js';
import { JOB_STATES, type JobState } from '../../store/job-store.js';
import { asUsage, CONNECTION_HELP, CONNECTION_OPTIONS, connectionFlags, parse, UsageError } from '../args.js';
import { requireStore } from '../connect.js';
import { columns, cut, historyLines } from './text.js';
import { jobsCancelCommand, jobsPruneCommand, jobsRetryCommand } from './jobs-manage.js';

export const JOBS_USAGE = `Usage: calsync-jobs jobs <list|show|cancel|retry|prune> [options]

Jobs as the job store knows them (--store or CALSYNC_STORE_URL must name one).

  list      jobs, newest first, filtered by state, type, key, age
  show      one job: state, attempts and their errors, times, trace id, payload
  cancel    a pending or backoff job never runs; a running one is aborted
  retry     a dead or cancelled job runs again as a new attempt series
  prune     delete jobs settled longer ago than the retention, now

Run "calsync-jobs jobs <subcommand> --help" for its options.`;

export const JOBS_LIST_USAGE = `Usage: calsync-jobs jobs list [--state S] [--type T] [--key K] [--since 1h] [--limit N] [--json]

Lists jobs from the job store, newest first.

  --state S       one of ${JOB_STATES.join(', ')}
  --type T        only jobs of this type
  --key K         the job with this idempotency key or id
  --since D       created within D (500ms, 30s, 15m, 12h, 7d)
  --limit N       at most N jobs (default ${DEFAULTS.jobsListLimit}, at most 1000)
  --json          a JSON array of jobs shaped like "jobs show --json"
${CONNECTION_HELP}`;

export const JOBS_SHOW_USAGE = `Usage: calsync-jobs jobs show <id> [--json]

Prints what the job store knows of one job: its state, every attempt with its error and duration, its
times, trace id and dead-letter reason, and its payload when stored. Exits 1 when there is no such job.

  --json          one JSON object
${CONNECTION_HELP}`;

const LIST_OPTIONS = {
  ...CONNECTION_OPTIONS,
  state: { type: 'string' },
  type: { type: 'string' },
  key: { type: 'string' },
  since: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const errorText = (job: JobView): string =>
  job.lastError ? `${job.lastError.name}: ${job.lastError.message}${job.lastError.reason ? ` (${job.lastError.reason})` : ''}` : '';

/** The `jobs list` table. */
export function jobsTable(jobs: readonly JobView[]): string[] {
  return columns([
    ['ID', 'TYPE', 'STATE', 'ATTEMPT', 'CREATED', 'UPDATED', 'KEY', 'LAST ERROR'],
    ...jobs.map((job) => [
      job.id,
      job.type,
      job.state,
      String(job.attempt),
      job.createdAt,
      job.updatedAt,
      job.idempotencyKey ?? '-',
      cut(errorText(job) || null, 80),
    ]),
  ]);
}

async function jobsListCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, LIST_OPTIONS, JOBS_LIST_USAGE, true);
  if (values.help) {
    console.log(JOBS_LIST_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, JOBS_LIST_USAGE);
  const state = values.state as string | undefined;
  if (state !== undefined && !(JOB_STATES as readonly string[]).includes(state))
    throw new UsageError(`--state: expected one of ${JOB_STATES.join(', ')}, got ${JSON.stringify(state)}`, JOBS_LIST_USAGE);
  const { sinceMs, limit } = asUsage(JOBS_LIST_USAGE, () =>
    loadJobsListSettings({ jobsSinceMs: values.since, jobsListLimit: values.limit }),
  );
  const opened = await requireStore(loadConfig(process.env, connectionFlags(values)));
  try {
    const page = await listJobs(opened.store, {
      limit,
      ...(state === undefined ? {} : { state: state as JobState }),
      ...(typeof values.type === 'string' ? { type: values.type } : {}),
      ...(typeof values.key === 'string' ? { key: values.key } : {}),
      ...(sinceMs === undefined ? {} : { since: systemClock.now() - sinceMs }),
    });
    if (values.json) {
      console.log(JSON.stringify(page.jobs));
    } else if (page.jobs.length === 0) {
      console.log(`no jobs in the store ${opened.url} match`);
    } else {
      console.log(jobsTable(page.jobs).join('\n'));
      console.log(`${page.jobs.length} job(s)${page.nextCursor ? ` (--limit ${limit} reached; there are more)` : ''}`);
    }
    return 0;
  } finally {
    await opened.close();
  }
}

/** The latest attempt when it is not in the history (running, or the one that succeeded), in the history's columns. */
function latestAttemptLine(job: JobView, startedAt: string): string {
  if (job.settledAt === null || job.state === 'running') return `  #${job.attempt}  started ${startedAt}  ${job.state}`;
  const ms = Math.max(0, Date.parse(job.settledAt) - Date.parse(startedAt));
  return `  #${job.attempt}  ${job.settledAt}  ${job.state.padEnd(11)} ${String(ms).padStart(7)} ms`;
}

/** The human-readable `jobs show`. */
export function jobText(job: JobView): string {
  const lines = [
    `job ${job.id} (${job.type})`,
    `  state:            ${job.state}${job.deadLetterReason ? ` (dead-letter reason: ${job.deadLetterReason})` : ''}`,
    `  attempt:          ${job.attempt}${job.retries > 0 ? ` (retried ${job.retries} time(s))` : ''}`,
    `  idempotency key:  ${job.idempotencyKey ?? '-'}`,
    ...(job.concurrencyKey ? [`  concurrency key:  ${job.concurrencyKey}`] : []),
    `  created:          ${job.createdAt}`,
    `  scheduled:        ${job.scheduledAt ?? '-'}`,
    `  started:          ${job.startedAt ?? '-'}`,
    `  settled:          ${job.settledAt ?? '-'}`,
    `  updated:          ${job.updatedAt}`,
    `  trace id:         ${job.traceId ?? '-'}`,
    `  last error:       ${errorText(job) || '-'}`,
    '',
    'attempts, oldest first:',
  ];
  const latest = job.history.at(-1)?.attempt ?? 0;
  const current = job.attempt > latest && job.startedAt !== null ? [latestAttemptLine(job, job.startedAt)] : [];
  if (job.history.length > 0 || current.length === 0) lines.push(...historyLines(job.history));
  lines.push(...current);
  lines.push('', 'payload:');
  lines.push(
    job.payloadOmitted === undefined
      ? JSON.stringify(job.payload, null, 2)
      : `  (not stored: ${job.payloadOmitted === 'disabled' ? 'CALSYNC_STORE_PAYLOADS is off' : 'over the 16 KiB cap'})`,
  );
  return lines.join('\n');
}

async function jobsShowCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...CONNECTION_OPTIONS, json: { type: 'boolean' } }, JOBS_SHOW_USAGE, true);
  if (values.help) {
    console.log(JOBS_SHOW_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`expected one job id, got ${positionals.length} argument(s)`, JOBS_SHOW_USAGE);
  const id = positionals[0]!;
  const opened = await requireStore(loadConfig(process.env, connectionFlags(values)));
  try {
    const job = await showJob(opened.store, id);
    if (job === undefined) {
      console.error(`calsync-jobs jobs show: no job ${id}`);
      return 1;
    }
    console.log(values.json ? JSON.stringify(job) : jobText(job));
    return 0;
  } finally {
    await opened.close();
  }
}

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  list: jobsListCommand,
  show: jobsShowCommand,
  cancel: jobsCancelCommand,
  retry: jobsRetryCommand,
  prune: jobsPruneCommand,
};

export async function jobsCommand(argv: string[]): Promise<number> {
  const [subcommand, ...rest] = argv;
  if (subcommand === '--help' || subcommand === '-h' || subcommand === 'help') {
    console.log(JOBS_USAGE);
    return 0;
  }
  const run = subcommand === undefined ? undefined : SUBCOMMANDS[subcommand];
  if (!run) throw new UsageError(subcommand === undefined ? 'expected a subcommand' : `unknown subcommand "${subcommand}"`, JOBS_USAGE);
  return run(rest);
}
