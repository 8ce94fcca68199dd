/**
 * The `schedules` subcommands that change rows: `set` (create or change), `pause`, `resume`,
 * `delete`, and `trigger` (which also sends, so it connects to SQS). Argument handling and printing
 * only; the operations are src/ops/schedules.ts.
 */
import { loadConfig } from '../../config/config.js';
import { createSchedules } from '../../ops/schedules.js';
import { validateJob } from '../../queue/job-queue.js';
import { DURATION_EXPECTED, durationMs } from '../../shared/duration.js';
import { ConfigError } from '../../shared/errors.js';
import type { ScheduleInput } from '../../store/schedule-spec.js';
import type { OverlapPolicy } from '../../store/schedule-store.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connectionFlags, parse, UsageError } from '../args.js';
import { requireStore, withStoreAndQueue } from '../connect.js';
import { loadJobs } from '../load-jobs.js';
import { timingText } from './schedule-text.js';

export const SCHEDULES_SET_USAGE = `Usage: calsync-jobs schedules set <id> --type T --payload JSON (--every 5m | --cron "*/5 * * * *" [--tz Europe/Berlin]) [--jitter 30s] [--overlap skip|buffer-one|allow-all] [--catchup-window 1m] [--paused] [--jobs <module>] [--json]

Creates the schedule <id>, or changes it (a change that keeps how it ticks keeps its next tick). The
payload is checked against the job type's schema first (types from --jobs, default this project's src/jobs).
Durations: 500ms, 1s, 5m, 1h, 1d.

  --type T              the job type each tick enqueues
  --payload JSON        its payload
  --every D             tick every D (at least 1s), at multiples of D since the epoch
  --cron EXPR           or a cron expression (5 fields, or 6 with seconds first)
  --tz ZONE             the IANA zone of --cron (default UTC); DST by the zone's rules
  --jitter D            each tick fires up to D after its time (a fixed offset per tick; less than --every)
  --overlap P           skip (default: no run while the previous one is pending or running),
                        buffer-one (keep one waiting), allow-all
  --catchup-window D    after downtime, ticks missed within D give one catch-up run (default 1m)
  --paused              create it paused
  --json                print the schedule as "schedules show --json" does, without runs
${CONNECTION_HELP}`;

const change = (verb: string, what: string) => `Usage: calsync-jobs schedules ${verb} <id> [--json]

${what} Exits 1 when there is no such schedule.

  --json          print {"id", "${verb === 'delete' ? 'deleted' : 'paused'}"}
${CONNECTION_HELP}`;

const CHANGE_USAGE = {
  pause: change('pause', 'Pauses the schedule: no tick fires until it is resumed.'),
  resume: change('resume', 'Resumes the schedule: it ticks from now on; ticks missed while paused are not run.'),
  delete: change('delete', 'Deletes the schedule. Jobs it already enqueued still run.'),
} as const;

export const SCHEDULES_TRIGGER_USAGE = `Usage: calsync-jobs schedules trigger <id> [--json]

Enqueues the schedule's job now, whatever its overlap policy, and records it as one of its runs.
Prints the job's id ("calsync-jobs jobs show <id>"). Exits 1 when there is no such schedule.

  --json          print {"id", "jobId"}
${CONNECTION_HELP}`;

const OVERLAP_FLAGS: Record<string, OverlapPolicy> = { skip: 'skip', 'buffer-one': 'bufferOne', 'allow-all': 'allowAll' };
/** The schedule's fields as this command's flags, so a `ConfigError` names what was typed. */
const FIELD_FLAGS: Record<string, string> = {
  id: '<id>',
  every: '--every',
  cron: '--cron',
  timezone: '--tz',
  jitterMs: '--jitter',
  overlap: '--overlap',
  catchupWindowMs: '--catchup-window',
  'job.type': '--type',
};

function duration(flag: string, value: string | boolean | undefined, usage: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = typeof value === 'string' ? durationMs(value) : undefined;
  if (ms === undefined) throw new UsageError(`${flag}: expected ${DURATION_EXPECTED}, got ${JSON.stringify(value)}`, usage);
  return ms;
}

export async function schedulesSetCommand(argv: string[]): Promise<number> {
  const usage = SCHEDULES_SET_USAGE;
  const { values, positionals } = parse(
    argv,
    {
      ...CONNECTION_OPTIONS,
      type: { type: 'string' },
      payload: { type: 'string' },
      every: { type: 'string' },
      cron: { type: 'string' },
      tz: { type: 'string' },
      jitter: { type: 'string' },
      overlap: { type: 'string' },
      'catchup-window': { type: 'string' },
      paused: { type: 'boolean' },
      jobs: { type: 'string' },
      json: { type: 'boolean' },
    },
    usage,
    true,
  );
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`expected one schedule id, got ${positionals.length} argument(s)`, usage);
  if (typeof values.type !== 'string') throw new UsageError('--type: expected the job type each tick enqueues', usage);
  if (typeof values.payload !== 'string') throw new UsageError('--payload: expected the JSON payload of the job', usage);
  let payload: unknown;
  try {
    payload = JSON.parse(values.payload);
  } catch (error) {
    throw new UsageError(`--payload: not JSON (${(error as Error).message})`, usage);
  }
  if ((values.every === undefined) === (values.cron === undefined)) throw new UsageError('expected one of --every and --cron', usage);
  if (values.tz !== undefined && values.cron === undefined) throw new UsageError('--tz: applies to --cron only', usage);
  const overlap = values.overlap === undefined ? undefined : OVERLAP_FLAGS[values.overlap as string];
  if (values.overlap !== undefined && overlap === undefined)
    throw new UsageError(`--overlap: expected skip, buffer-one or allow-all, got ${JSON.stringify(values.overlap)}`, usage);
  const every = duration('--every', values.every, usage);
  const input: ScheduleInput = {
    id: positionals[0]!,
    job: { type: values.type, payload },
    ...(every === undefined ? { cron: values.cron as string } : { every }),
    ...(typeof values.tz === 'string' ? { timezone: values.tz } : {}),
    jitterMs: duration('--jitter', values.jitter, usage),
    catchupWindowMs: duration('--catchup-window', values['catchup-window'], usage),
    overlap,
    paused: values.paused === true,
  };
  const jobs = await loadJobs(values.jobs as string | undefined);
  // Checked before the store is opened: bad input is an argument error, whatever the store's state.
  validateJob(new Map(jobs.map((job) => [job.type, job.schema])), { type: values.type, payload });
  const opened = await requireStore(loadConfig(process.env, connectionFlags(values)));
  try {
    const { created, schedule } = await createSchedules({ store: opened.store, jobs }).upsert(input);
    if (values.json) console.log(JSON.stringify(schedule));
    else
      console.log(
        `${created ? 'created' : 'changed'} schedule ${schedule.id}: ${schedule.job.type} ${timingText(schedule)}, next run ${schedule.paused ? '(paused)' : (schedule.nextRunAt ?? '(none)')}`,
      );
    return 0;
  } catch (error) {
    if (ConfigError.is(error) && FIELD_FLAGS[error.setting] !== undefined)
      throw new UsageError(`${FIELD_FLAGS[error.setting]}${error.message.slice(error.setting.length)}`, usage);
    throw error;
  } finally {
    await opened.close();
  }
}

function oneId(argv: string[], usage: string): { id: string | undefined; values: Record<string, string | boolean | undefined> } {
  const { values, positionals } = parse(argv, { ...CONNECTION_OPTIONS, json: { type: 'boolean' } }, usage, true);
  if (values.help) {
    console.log(usage);
    return { id: undefined, values };
  }
  if (positionals.length !== 1) throw new UsageError(`expected one schedule id, got ${positionals.length} argument(s)`, usage);
  return { id: positionals[0]!, values };
}

export async function schedulesChangeCommand(verb: 'pause' | 'resume' | 'delete', argv: string[]): Promise<number> {
  const { id, values } = oneId(argv, CHANGE_USAGE[verb]);
  if (id === undefined) return 0;
  const opened = await requireStore(loadConfig(process.env, connectionFlags(values)));
  try {
    const schedules = createSchedules({ store: opened.store });
    const found = await schedules[verb](id);
    if (!found) {
      console.error(`calsync-jobs schedules ${verb}: no schedule ${id}`);
      return 1;
    }
    const done = { pause: 'paused', resume: 'resumed', delete: 'deleted' }[verb];
    if (values.json) console.log(JSON.stringify(verb === 'delete' ? { id, deleted: true } : { id, paused: verb === 'pause' }));
    else console.log(`${done} schedule ${id}`);
    return 0;
  } finally {
    await opened.close();
  }
}

export async function schedulesTriggerCommand(argv: string[]): Promise<number> {
  const { id, values } = oneId(argv, SCHEDULES_TRIGGER_USAGE);
  if (id === undefined) return 0;
  const config = loadConfig(process.env, connectionFlags(values));
  return await withStoreAndQueue(config, 'schedules trigger', { record: true }, async (store, queue) => {
    const result = await createSchedules({ store, queue }).trigger(id);
    if (result === undefined) {
      console.error(`calsync-jobs schedules trigger: no schedule ${id}`);
      return 1;
    }
    console.log(values.json ? JSON.stringify({ id, jobId: result.jobId }) : result.jobId);
    return 0;
  });
}
