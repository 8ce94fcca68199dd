/**
 * `calsync-jobs dlq <list|show|redrive|purge>`: the dead-letter queue, for operators
 * (docs/operations.md walks through it).
 */
import { CONNECTION_HELP, CONNECTION_OPTIONS, parse, UsageError } from '../args.js';
import { dlqListCommand, dlqShowCommand } from './dlq-read.js';
import { dlqRedriveCommand } from './dlq-redrive.js';
import { connectForDlq } from '../connect.js';

export const DLQ_PURGE_USAGE = `Usage: calsync-jobs dlq purge --yes

Deletes every message in the dead-letter queue (PurgeQueue; AWS allows one purge a minute and takes
up to 60 s). There is no undo: list or redrive first.

  --yes           required: confirms the purge
${CONNECTION_HELP}`;

export const DLQ_USAGE = `Usage: calsync-jobs dlq <list|show|redrive|purge> [options]

  list      list dead jobs without removing them
  show      one dead job: envelope, attempt history, trace id
  redrive   move dead jobs back to the main queue
  purge     delete everything in the dead-letter queue (--yes)

Run "calsync-jobs dlq <subcommand> --help" for its options.`;

export async function dlqPurgeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...CONNECTION_OPTIONS, yes: { type: 'boolean' } }, DLQ_PURGE_USAGE, true);
  if (values.help) {
    console.log(DLQ_PURGE_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, DLQ_PURGE_USAGE);
  if (values.yes !== true) throw new UsageError('refusing to purge the dead-letter queue without --yes', DLQ_PURGE_USAGE);
  const connection = await connectForDlq(values);
  try {
    const depth = await connection.transport.depth(connection.dlqUrl);
    await connection.transport.purge(connection.dlqUrl);
    console.log(`purged ${connection.dlqName} (about ${depth.visible + depth.inFlight + depth.delayed} message(s))`);
    return 0;
  } finally {
    await connection.close();
  }
}

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  list: dlqListCommand,
  show: dlqShowCommand,
  redrive: dlqRedriveCommand,
  purge: dlqPurgeCommand,
};

export async function dlqCommand(argv: string[]): Promise<number> {
  const [subcommand, ...rest] = argv;
  if (subcommand === '--help' || subcommand === '-h' || subcommand === 'help') {
    console.log(DLQ_USAGE);
    return 0;
  }
  const run = subcommand === undefined ? undefined : SUBCOMMANDS[subcommand];
  if (!run) throw new UsageError(subcommand === undefined ? 'expected a subcommand' : `unknown subcommand "${subcommand}"`, DLQ_USAGE);
  return run(rest);
}
