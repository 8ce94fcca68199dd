/**
 * `calsync-jobs stats`: how deep the main queue and the DLQ are (visible, in flight, delayed), once or
 * refreshed with `--watch`, as a table or JSON.
 */
import { loadConfig, loadStatsSettings } from '../../config/config.js';
import { DEFAULTS } from '../../config/settings.js';
import { ConfigError } from '../../shared/errors.js';
import type { JobTransport } from '../../queue/transport.js';
import { createLogger } from '../../runtime/logger.js';
import { asUsage, CONNECTION_HELP, CONNECTION_OPTIONS, connectionFlags, parse, UsageError } from '../args.js';
import { connect } from '../connect.js';
import { createLiveBlock } from '../progress.js';
import { interruptSignal } from '../signals.js';

export const STATS_USAGE = `Usage: calsync-jobs stats [--watch] [--json] [--interval-ms N]

Prints the depth of the main queue and the dead-letter queue: visible (waiting), in flight (received,
not yet deleted) and delayed (retries waiting out their backoff), from GetQueueAttributes. The age of
the oldest message is shown only when the server reports it: SQS's GetQueueAttributes has no such
attribute (on AWS read the CloudWatch metric ApproximateAgeOfOldestMessage), so it is usually null.

  --watch               refresh until Ctrl-C (in place on a terminal, one line per refresh otherwise)
  --json                one JSON object (with --watch: one per refresh, one per line)
  --interval-ms N       refresh interval with --watch (default ${DEFAULTS.statsIntervalMs}, at least 200)
${CONNECTION_HELP}`;

/** Attribute some servers may report for the oldest message's age, in seconds; AWS does not. */
const OLDEST_AGE_ATTRIBUTE = 'ApproximateAgeOfOldestMessage';
export const OLDEST_AGE_NOTE =
  'oldest message age: not reported by GetQueueAttributes (on AWS: CloudWatch metric ApproximateAgeOfOldestMessage)';

export interface QueueStats {
  name: string;
  url: string;
  visible: number;
  inFlight: number;
  delayed: number;
  /** Seconds, when the server reports it; null otherwise (AWS never does through this API). */
  oldestMessageAgeSeconds: number | null;
}

export interface StatsSnapshot {
  at: string;
  main: QueueStats;
  dlq: QueueStats;
  notes: string[];
}

async function queueStats(transport: JobTransport, name: string, url: string, signal: AbortSignal): Promise<QueueStats> {
  const attributes = await transport.getQueueAttributes(url, ['All'], signal);
  const count = (key: string): number => Number(attributes[key] ?? 0);
  const age = attributes[OLDEST_AGE_ATTRIBUTE];
  return {
    name,
    url,
    visible: count('ApproximateNumberOfMessages'),
    inFlight: count('ApproximateNumberOfMessagesNotVisible'),
    delayed: count('ApproximateNumberOfMessagesDelayed'),
    oldestMessageAgeSeconds: age === undefined || !Number.isFinite(Number(age)) ? null : Number(age),
  };
}

/** Reads both queues' depths at once. */
export async function readStats(
  transport: JobTransport,
  queues: { queueName: string; queueUrl: string; dlqName: string; dlqUrl: string },
  signal: AbortSignal,
  now: () => number = Date.now,
): Promise<StatsSnapshot> {
  const [main, dlq] = await Promise.all([
    queueStats(transport, queues.queueName, queues.queueUrl, signal),
    queueStats(transport, queues.dlqName, queues.dlqUrl, signal),
  ]);
  const notes = main.oldestMessageAgeSeconds === null || dlq.oldestMessageAgeSeconds === null ? [OLDEST_AGE_NOTE] : [];
  return { at: new Date(now()).toISOString(), main, dlq, notes };
}

const age = (seconds: number | null): string => (seconds === null ? 'n/a' : `${seconds} s`);

/** The table: a header and one row per queue. */
export function statsTable(snapshot: StatsSnapshot): string[] {
  const rows = [
    ['queue', 'visible', 'in flight', 'delayed', 'oldest'],
    ...[snapshot.main, snapshot.dlq].map((q) => [
      q.name,
      String(q.visible),
      String(q.inFlight),
      String(q.delayed),
      age(q.oldestMessageAgeSeconds),
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) =>
    row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  '),
  );
}

/** One line per refresh, for logs and pipes. */
export function statsLine(snapshot: StatsSnapshot): string {
  const part = (label: string, q: QueueStats): string =>
    `${label} ${q.name} visible=${q.visible} in_flight=${q.inFlight} delayed=${q.delayed} oldest=${q.oldestMessageAgeSeconds ?? 'n/a'}`;
  return `${snapshot.at} ${part('main', snapshot.main)} | ${part('dlq', snapshot.dlq)}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export async function statsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...CONNECTION_OPTIONS, watch: { type: 'boolean' }, json: { type: 'boolean' }, 'interval-ms': { type: 'string' } },
    STATS_USAGE,
    true,
  );
  if (values.help) {
    console.log(STATS_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, STATS_USAGE);
  const { intervalMs } = asUsage(STATS_USAGE, () => loadStatsSettings({ statsIntervalMs: values['interval-ms'] }));
  const config = loadConfig(process.env, connectionFlags(values));
  if (config.embedded)
    throw new ConfigError('--embedded', 'stats reads a server shared with the workers; set AWS_ENDPOINT_URL_SQS instead');
  const connection = await connect(config, createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel }));
  const stop = interruptSignal();
  try {
    const tty = process.stdout.isTTY === true;
    const block = createLiveBlock(process.stdout);
    for (;;) {
      let snapshot: StatsSnapshot;
      try {
        snapshot = await readStats(connection.transport, connection, stop.signal);
      } catch (error) {
        if (stop.signal.aborted) break;
        throw error;
      }
      if (values.json) {
        console.log(JSON.stringify(snapshot));
      } else if (!values.watch) {
        console.log([...statsTable(snapshot), ...snapshot.notes].join('\n'));
      } else if (tty) {
        block.render([...statsTable(snapshot), ...snapshot.notes, `updated ${snapshot.at}, every ${intervalMs} ms; Ctrl-C to stop`]);
      } else {
        console.log(statsLine(snapshot));
      }
      if (!values.watch) break;
      await sleep(intervalMs, stop.signal);
      if (stop.signal.aborted) break;
    }
    return 0;
  } finally {
    stop.dispose();
    await connection.close();
  }
}
