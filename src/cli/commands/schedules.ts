/**
 * `calsync-jobs schedules <set|list|show|pause|resume|trigger|delete>`: periodic jobs in the job store
 * (docs/schedules.md). Argument handling and printing only; the operations are src/ops/schedules.ts.
 * This file holds the dispatcher and the read commands; schedules-manage.ts the ones that change rows.
 */
import { loadConfig } from '../../config/config.js';
import { createSchedules } from '../../ops/schedules.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connectionFlags, parse, UsageError } from '../args.js';
import { requireStore } from '../connect.js';
import { columns } from './text.js';
import { scheduleText, timingText } from './schedule-text.js';
import { schedulesChangeCommand, schedulesSetCommand, schedulesTriggerCommand } from './schedules-manage.js';

export const SCHEDULES_USAGE = `Usage: calsync-jobs schedules <set|list|show|pause|resume|trigger|delete> [options]

Periodic jobs kept in the job store (--store or CALSYNC_STORE_URL must name one) and fired by every
worker's scheduler, with no leader.

  set <id>      create or change a schedule: --type, --payload, --every or --cron
  list          every schedule: how it ticks, when it runs next, paused or not
  show <id>     one schedule: its spec, the next 5 run times, the last 10 runs and their outcomes
  pause <id>    no ticks until resumed
  resume <id>   ticks again from now on (the ticks missed while paused are not run)
  trigger <id>  run its job now, whatever the overlap policy
  delete <id>   remove it (jobs already enqueued still run)

Run "calsync-jobs schedules <subcommand> --help" for its options.`;

export const SCHEDULES_LIST_USAGE = `Usage: calsync-jobs schedules list [--limit N] [--json]

Lists the schedules in the job store, by id.

  --limit N       at most N (default 100, at most 1000)
  --json          a JSON array of schedules shaped like "schedules show --json" without its runs
${CONNECTION_HELP}`;

export const SCHEDULES_SHOW_USAGE = `Usage: calsync-jobs schedules show <id> [--json]

Prints one schedule: its job, how it ticks (every or cron and zone, jitter, overlap, catch-up window),
its next 5 run times (with jitter), and its last 10 runs with their job ids and outcomes (the jobs'
states in the store; "calsync-jobs jobs show <job id>" has the rest). Exits 1 when there is no such schedule.

  --json          one JSON object
${CONNECTION_HELP}`;

async function listCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...CONNECTION_OPTIONS, limit: { type: 'string' }, json: { type: 'boolean' } },
    SCHEDULES_LIST_USAGE,
    true,
  );
  if (values.help) {
    console.log(SCHEDULES_LIST_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, SCHEDULES_LIST_USAGE);
  const limit = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
    throw new UsageError(`--limit: expected an integer from 1 to 1000, got ${JSON.stringify(values.limit)}`, SCHEDULES_LIST_USAGE);
  const opened = await requireStore(loadConfig(process.env, connectionFlags(values)));
  try {
    const schedules = await createSchedules({ store: opened.store }).list({ limit });
    if (values.json) console.log(JSON.stringify(schedules));
    else if (schedules.length === 0) console.log(`no schedules in the store ${opened.url}`);
    else {
      const rows = schedules.map((s) => [
        s.id,
        s.job.type,
        timingText(s),
        s.overlap,
        s.paused ? 'paused' : (s.nextRunAt ?? 'ended'),
        String(s.firedTotal),
        String(s.skippedTotal),
      ]);
      console.log(columns([['ID', 'TYPE', 'TICKS', 'OVERLAP', 'NEXT RUN', 'FIRED', 'SKIPPED'], ...rows]).join('\n'));
      console.log(`${schedules.length} schedule(s)`);
    }
    return 0;
  } finally {
    await opened.close();
  }
}

async function showCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...CONNECTION_OPTIONS, json: { type: 'boolean' } }, SCHEDULES_SHOW_USAGE, true);
  if (values.help) {
    console.log(SCHEDULES_SHOW_USAGE);
    return 0;
  }
  if (positionals.length !== 1)
    throw new UsageError(`expected one schedule id, got ${positionals.length} argument(s)`, SCHEDULES_SHOW_USAGE);
  const id = positionals[0]!;
  const opened = await requireStore(loadConfig(process.env, connectionFlags(values)));
  try {
    const detail = await createSchedules({ store: opened.store }).show(id);
    if (detail === undefined) {
      console.error(`calsync-jobs schedules show: no schedule ${id}`);
      return 1;
    }
    console.log(values.json ? JSON.stringify(detail) : scheduleText(detail));
    return 0;
  } finally {
    await opened.close();
  }
}

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  set: schedulesSetCommand,
  list: listCommand,
  show: showCommand,
  pause: (argv) => schedulesChangeCommand('pause', argv),
  resume: (argv) => schedulesChangeCommand('resume', argv),
  delete: (argv) => schedulesChangeCommand('delete', argv),
  trigger: schedulesTriggerCommand,
};

export async function schedulesCommand(argv: string[]): Promise<number> {
  const [subcommand, ...rest] = argv;
  if (subcommand === '--help' || subcommand === '-h' || subcommand === 'help') {
    console.log(SCHEDULES_USAGE);
    return 0;
  }
  const run = subcommand === undefined ? undefined : SUBCOMMANDS[subcommand];
  if (!run)
    throw new UsageError(subcommand === undefined ? 'expected a subcommand' : `unknown subcommand "${subcommand}"`, SCHEDULES_USAGE);
  return run(rest);
}
