/**
 * `calsync-jobs dlq list` and `dlq show <id>`: what is dead and why, read without consuming anything
 * (src/ops/dlq-scan.ts reads a queue without peek and puts it back; this file parses and prints).
 * With a job store configured, each dead job also shows what the store knows of it (src/ops/jobs.ts).
 */
import { loadConfig, loadDlqListSettings } from '../../config/config.js';
import { DEFAULTS } from '../../config/settings.js';
import { asUsage, CONNECTION_HELP, CONNECTION_OPTIONS, connectionFlags, parse, UsageError } from '../args.js';
import { releaseMessages, scanDlq, selects, summarize, type DeadJobSummary, type DlqMessage } from '../../ops/dlq-scan.js';
import { storeFacts, type StoreFacts } from '../../ops/jobs.js';
import { connectForDlq, openConfiguredStore } from '../connect.js';
import type { OpenedStore } from '../../store/open-store.js';
import { interruptSignal } from '../signals.js';
import { columns, cut, historyLines } from './text.js';

export const DLQ_LIST_USAGE = `Usage: calsync-jobs dlq list [--type T] [--limit N] [--json]

Lists dead jobs: id, type, reason, attempts, last error, created and dead-lettered times, and, with a
job store configured, what the store knows of each (state, attempt, retries, dead-letter reason; "not
in the store" when it has no row; "store" in --json, null then). Messages are received with a 30 s visibility timeout and made visible again as soon as the listing is done:
nothing is removed from the dead-letter queue. Messages that are not jobs are listed by SQS
message id (reason not_a_job or the validation failure).

  --type T        only jobs of this type
  --limit N       stop after N jobs (default ${DEFAULTS.dlqListLimit})
  --json          one JSON object: {"queue", "jobs": [...], "count"}
${CONNECTION_HELP}`;

export const DLQ_SHOW_USAGE = `Usage: calsync-jobs dlq show <job-id | message-id> [--json]

Prints a dead job's whole envelope, its dead-letter record and its attempt history, and the trace id
from the message's traceparent attribute (paste it into Jaeger's search by Trace ID). The queue is
searched the way "dlq list" reads it and nothing is removed. With a job store configured, also what
the store knows of the job. Exits 1 when no such job is in the DLQ.

  --json          one JSON object
${CONNECTION_HELP}`;

/** The store's facts in one cell: `dead, attempt 3, 1 retry, non_retryable`, or `not in the store`. */
export function factsText(facts: StoreFacts | null | undefined): string {
  if (!facts) return 'not in the store';
  const retries = facts.retries > 0 ? `, ${facts.retries} ${facts.retries === 1 ? 'retry' : 'retries'}` : '';
  return `${facts.state}, attempt ${facts.attempt}${retries}${facts.deadLetterReason ? `, ${facts.deadLetterReason}` : ''}`;
}

/** The `dlq list` table; with `facts` (a store is configured), a STORE column. */
export function listTable(jobs: readonly DeadJobSummary[], facts?: ReadonlyMap<string, StoreFacts | null>): string[] {
  const header = ['ID', 'TYPE', 'REASON', 'ATTEMPTS', 'CREATED', 'DEAD-LETTERED', ...(facts ? ['STORE'] : []), 'LAST ERROR'];
  return columns([
    header,
    ...jobs.map((job) => [
      job.id ?? `message ${job.messageId}`,
      job.type ?? '-',
      job.reason,
      job.attempts === null ? '-' : String(job.attempts),
      job.createdAt ?? '-',
      job.deadLetteredAt ?? '-',
      ...(facts ? [job.id === null ? '-' : factsText(facts.get(job.id))] : []),
      cut(job.lastError, 80),
    ]),
  ]);
}

/** What the store knows of these jobs; undefined without a store. */
async function factsFor(opened: OpenedStore | undefined, jobs: readonly DeadJobSummary[]) {
  if (opened === undefined) return undefined;
  return await storeFacts(
    opened.store,
    jobs.flatMap((job) => (job.id === null ? [] : [job.id])),
  );
}

/** The configured store (opened before the DLQ is touched, so an unreachable one changes nothing), and the DLQ connection. */
async function open(values: Record<string, string | boolean | undefined>) {
  const opened = await openConfiguredStore(loadConfig(process.env, connectionFlags(values)));
  try {
    return { opened, connection: await connectForDlq(values) };
  } catch (error) {
    await opened?.close();
    throw error;
  }
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
  const { opened, connection } = await open(values);
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
    const facts = await factsFor(opened, jobs);
    if (values.json) {
      const withFacts = facts ? jobs.map((job) => ({ ...job, store: job.id === null ? null : (facts.get(job.id) ?? null) })) : jobs;
      console.log(JSON.stringify({ queue: connection.dlqName, count: jobs.length, jobs: withFacts }));
    } else if (jobs.length === 0) {
      console.log(`no dead jobs${type === undefined ? '' : ` of type ${type}`} in ${connection.dlqName}`);
    } else {
      console.log(listTable(jobs, facts).join('\n'));
      const more = jobs.length >= limit ? ` (--limit ${limit} reached; there may be more)` : '';
      console.log(`${jobs.length} dead job(s) in ${connection.dlqName}${more}`);
    }
    if (interrupt.signal.aborted) console.error('calsync-jobs dlq list: interrupted; the listing above may be incomplete');
    return interrupt.signal.aborted ? 1 : 0;
  } finally {
    interrupt.dispose();
    await release(connection, held);
    await connection.close();
    await opened?.close();
  }
}

async function release(connection: Awaited<ReturnType<typeof connectForDlq>>, held: Map<string, DlqMessage>): Promise<void> {
  if (held.size === 0) return;
  const { failed } = await releaseMessages(connection.transport, connection.dlqUrl, held.values());
  if (failed > 0)
    console.error(`warning: ${failed} message(s) could not be made visible again; they return after their 30 s visibility timeout`);
}

/** The human-readable `dlq show` of one DLQ message. */
export function showText(message: DlqMessage, dlqName: string, facts?: ReadonlyMap<string, StoreFacts | null>): string {
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
    ...(facts && summary.id !== null ? [`  in the store:    ${factsText(facts.get(summary.id))}`] : []),
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
  const { opened, connection } = await open(values);
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
    const facts = await factsFor(opened, scan.matched.map(summarize));
    if (values.json) {
      const messages = scan.matched.map((message) => ({
        ...summarize(message),
        ...(facts ? { store: facts.get(message.decoded.envelope?.id ?? '') ?? null } : {}),
        envelope: message.decoded.envelope ?? null,
        deadLetter: message.decoded.record ?? null,
        rawBody: message.decoded.envelope ? null : (message.decoded.rawBody ?? message.body),
        attributes: message.attributes,
      }));
      console.log(JSON.stringify({ id, queue: connection.dlqName, count: messages.length, messages }));
    } else {
      if (scan.matched.length > 1) console.log(`${scan.matched.length} copies of ${id} in ${connection.dlqName}:\n`);
      console.log(scan.matched.map((message) => showText(message, connection.dlqName, facts)).join('\n\n'));
    }
    return 0;
  } finally {
    interrupt.dispose();
    await release(connection, held);
    await connection.close();
    await opened?.close();
  }
}
