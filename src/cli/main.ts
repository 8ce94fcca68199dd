/**
 * The `calsync-jobs` command line. Exit codes: 0 done, 1 failed, 2 bad arguments or configuration.
 */
import { ConfigError, InvalidJobError, TransportError } from '../shared/errors.js';
import { UsageError } from './args.js';
import { apiCommand } from './commands/api.js';
import { consoleCommand } from './commands/console.js';
import { devCommand } from './commands/dev.js';
import { dlqCommand } from './commands/dlq.js';
import { enqueueCommand } from './commands/enqueue.js';
import { jobsCommand } from './commands/jobs.js';
import { schedulesCommand } from './commands/schedules.js';
import { machinesCommand } from './commands/machines.js';
import { queuesCommand } from './commands/queues.js';
import { statsCommand } from './commands/stats.js';
import { workerCommand } from './commands/worker.js';

export const USAGE = `Usage: calsync-jobs <command> [options]

Commands:
  worker          run jobs from the queue
  api             the calendar HTTP API: validates and enqueues calendar jobs
  console         the web console: queues, jobs, attempts, machines, dead letters, actions
  dev             embedded SQS + worker + demo jobs (what npm start runs)
  enqueue         send one job
  jobs            jobs in the job store: list, show <id>, cancel <id>, retry <id>, prune
  schedules       periodic jobs: set <id>, list, show <id>, pause|resume|trigger|delete <id>
  queues create   create the main queue and its dead-letter queue
  stats           queue depths of the main queue and the DLQ (--watch, --json)
  dlq             dead jobs: list, show <id>, redrive, purge --yes
  machines        each job type's state machine as Mermaid or JSON

Run "calsync-jobs <command> --help" for a command's options.`;

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  worker: workerCommand,
  api: apiCommand,
  console: consoleCommand,
  dev: devCommand,
  enqueue: enqueueCommand,
  jobs: jobsCommand,
  schedules: schedulesCommand,
  queues: queuesCommand,
  stats: statsCommand,
  dlq: dlqCommand,
  machines: machinesCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`calsync-jobs: unknown command "${name}"\n${USAGE}`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`calsync-jobs ${name}: ${error.message}`);
      console.error(error.usage.split('\n')[0]);
      return 2;
    }
    if (ConfigError.is(error)) {
      console.error(`calsync-jobs ${name}: config: ${error.message}`);
      return 2;
    }
    if (InvalidJobError.is(error)) {
      console.error(`calsync-jobs ${name}: invalid job: ${error.message}`);
      return 2;
    }
    if (TransportError.is(error)) {
      console.error(`calsync-jobs ${name}: queue error ${error.code}: ${error.message}`);
      return 1;
    }
    console.error(`calsync-jobs ${name}: ${(error as Error)?.stack ?? String(error)}`);
    return 1;
  }
}

const isEntry = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
