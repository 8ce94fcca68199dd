/**
 * `calsync-jobs dlq list` and `dlq show <id>`: what is dead and why, read without consuming anything
 * (src/ops/dlq-scan.ts reads a queue without peek and puts it back; this file parses and prints).
 */
import type { HistoryEntry } from '../../queue/envelope.js';
import { loadDlqListSettings } from '../../config/config.js';
import { DEFAULTS } from '../../config/settings.js';
import { asUsage, CONNECTION_HELP, CONNECTION_OPTIONS, parse, UsageError } from '../args.js';
import { releaseMessages, scanDlq, selects, summarize, type DeadJobSummary, type DlqMessage } from '../../ops/dlq-scan.js';
import { connectForDlq } from '../connect.js';
import { interruptSignal } from '../signals.js';

export const DLQ_LIST_USAGE = `Usage: calsync-jobs dlq list [--type T] [--limit N] [--json]

Lists dead jobs: id, type, reason, attempts, last error, created and dead-lettered times. Messages
are received with a 30 s visibility timeout and made visible again as soon as the listing is done:
nothing is removed from the dead-letter queue. Messages that are not jobs are listed by SQS
message id (reason not_a_job or the validation failure).

  --type T        only jobs of this type
  --limit N       stop after N jobs (default ${DEFAULTS.dlqListLimit})
  --json          one JSON object: {"queue", "jobs": [...], "count"}
${CONNECTION_HELP}`;

export const DLQ_SHOW_USAGE = `Usage: calsync-jobs dlq show <job-id | message-id> [--json]

Prints a dead job's whole envelope, its dead-letter record and its attempt history, and the trace id
from the message's traceparent attribute (paste it into Jaeger's search by Trace ID). The queue is
searched the way "dlq list" reads it and nothing is removed. Exits 1 when no such job is in the DLQ.

  --json          one JSON object
${CONNECTION_HELP}`;

const cut = (text: string | null, max: number): string => (text === null ? '-' : text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** The `dlq list` table. */
export function listTable(jobs: readonly DeadJobSummary[]): string[] {
  const rows = [
    ['ID', 'TYPE', 'REASON', 'ATTEMPTS', 'CREATED', 'DEAD-LETTERED', 'LAST ERROR'],
    ...jobs.map((job) => [
      job.id ?? `message ${job.messageId}`,
      job.type ?? '-',
      job.reason,
      job.attempts === null ? '-' : String(job.attempts),
      job.createdAt ?? '-',
      job.deadLetteredAt ?? '-',
      cut(job.lastError, 80),
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd(),
  );
}

export async function dlqListCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...CONNECTION_OPTIONS, type: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } },
    DLQ_LIST_USAGE,
    true,
  );
  if (values.help) {
    console.log(DLQ_LIST_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, DLQ_LIST_USAGE);
  const { limit } = asUsage(DLQ_LIST_USAGE, () => loadDlqListSettings({ dlqListLimit: values.limit }));
  const type = values.type as string | undefined;
  const connection = await connectForDlq(values);
  const interrupt = interruptSignal();
  let held: Map<string, DlqMessage> = new Map();
  try {
    const scan = await scanDlq(connection.transport, connection.dlqUrl, {
      limit,
      signal: interrupt.signal,
      ...(type === undefined ? {} : { match: (message: DlqMessage) => selects({ type }, message) }),
    });
    held = scan.held;
    const jobs = scan.matched.map(summarize);
    if (values.json) {
      console.log(JSON.stringify({ queue: connection.dlqName, count: jobs.length, jobs }));
    } else if (jobs.length === 0) {
      console.log(`no dead jobs${type === undefined ? '' : ` of type ${type}`} in ${connection.dlqName}`);
    } else {
      console.log(listTable(jobs).join('\n'));
      const more = jobs.length >= limit ? ` (--limit ${limit} reached; there may be more)` : '';
      console.log(`${jobs.length} dead job(s) in ${connection.dlqName}${more}`);
    }
    if (interrupt.signal.aborted) console.error('calsync-jobs dlq list: interrupted; the listing above may be incomplete');
    return interrupt.signal.aborted ? 1 : 0;
  } finally {
    interrupt.dispose();
    await release(connection, held);
    await connection.close();
  }
}

async function release(connection: Awaited<ReturnType<typeof connectForDlq>>, held: Map<string, DlqMessage>): Promise<void> {
  if (held.size === 0) return;
  const { failed } = await releaseMessages(connection.transport, connection.dlqUrl, held.values());
  if (failed > 0)
    console.error(`warning: ${failed} message(s) could not be made visible again; they return after their 30 s visibility timeout`);
}

function historyLines(history: readonly HistoryEntry[]): string[] {
  if (history.length === 0) return ['  (no failed attempts recorded)'];
  return history.map(
    (entry) =>
      `  #${entry.attempt}  ${entry.at}  ${entry.kind.padEnd(11)} ${String(entry.durationMs).padStart(7)} ms  ${entry.error.name}: ${entry.error.message}${entry.error.reason ? ` (reason ${entry.error.reason})` : ''}`,
  );
}

/** The human-readable `dlq show` of one DLQ message. */
export function showText(message: DlqMessage, dlqName: string): string {
  const summary = summarize(message);
  const { envelope, record, rawBody } = message.decoded;
  const lines = [
    summary.id ? `job ${summary.id} (${summary.type}) in ${dlqName}` : `message ${message.messageId} in ${dlqName}: not a job`,
    `  reason:          ${summary.reason}${summary.kind === 'redrive_policy' ? " (moved by the queue's RedrivePolicy after too many receives, no record)" : ''}`,
    `  attempts:        ${summary.attempts ?? '-'}`,
    `  created:         ${summary.createdAt ?? '-'}`,
    `  dead-lettered:   ${summary.deadLetteredAt ?? '-'}`,
    `  last error:      ${summary.lastError ?? '-'}`,
    `  trace id:        ${summary.traceId ?? '- (the message carries no traceparent)'}`,
    `  traceparent:     ${message.attributes.traceparent ?? '-'}`,
    `  SQS message id:  ${message.messageId}${record?.sourceMessageId ? ` (was ${record.sourceMessageId} on the main queue, received ${record.receiveCount ?? '?'} time(s) there)` : ''}`,
  ];
  if (envelope) {
    lines.push('', 'history (failed attempts, oldest first):', ...historyLines(envelope.history ?? []));
    lines.push('', 'envelope:', JSON.stringify(envelope, null, 2));
  } else {
    lines.push('', 'raw body:', rawBody ?? message.body);
  }
  if (record) lines.push('', 'dead-letter record:', JSON.stringify(record, null, 2));
  return lines.join('\n');
}

export async function dlqShowCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...CONNECTION_OPTIONS, json: { type: 'boolean' } }, DLQ_SHOW_USAGE, true);
  if (values.help) {
    console.log(DLQ_SHOW_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(`expected one job id, got ${positionals.length} argument(s)`, DLQ_SHOW_USAGE);
  const id = positionals[0]!;
  const connection = await connectForDlq(values);
  const interrupt = interruptSignal();
  let held: Map<string, DlqMessage> = new Map();
  try {
    const scan = await scanDlq(connection.transport, connection.dlqUrl, {
      signal: interrupt.signal,
      match: (message) => message.decoded.envelope?.id === id || message.messageId === id,
    });
    held = scan.held;
    if (scan.matched.length === 0) {
      console.error(`calsync-jobs dlq show: no job ${id} in ${connection.dlqName} (${held.size} message(s) searched)`);
      return 1;
    }
    if (values.json) {
      const messages = scan.matched.map((message) => ({
        ...summarize(message),
        envelope: message.decoded.envelope ?? null,
        deadLetter: message.decoded.record ?? null,
        rawBody: message.decoded.envelope ? null : (message.decoded.rawBody ?? message.body),
        attributes: message.attributes,
      }));
      console.log(JSON.stringify({ id, queue: connection.dlqName, count: messages.length, messages }));
    } else {
      if (scan.matched.length > 1) console.log(`${scan.matched.length} copies of ${id} in ${connection.dlqName}:\n`);
      console.log(scan.matched.map((message) => showText(message, connection.dlqName)).join('\n\n'));
    }
    return 0;
  } finally {
    interrupt.dispose();
    await release(connection, held);
    await connection.close();
  }
}
