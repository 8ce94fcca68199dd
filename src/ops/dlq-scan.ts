/**
 * Reading the dead-letter queue without consuming it. SQS has no peek: messages are received with a
 * short visibility timeout, kept invisible while the scan goes on (so the same message is not handed
 * out again and again), deduplicated by MessageId (a message whose timeout ran out during a long scan
 * comes back with a new receipt handle), and made visible again at once (ChangeMessageVisibility 0).
 * Receiving a DLQ message raises its ApproximateReceiveCount; the DLQ has no redrive policy, so this
 * changes nothing else.
 *
 * The library under `calsync-jobs dlq list | show | redrive` (src/cli/commands/), which only parses
 * arguments and prints.
 */
import { ATTRIBUTES } from '../queue/attributes.js';
import { decodeDeadLetter, type DecodedDeadLetter } from '../queue/dead-letter.js';
import type { HistoryEntry } from '../queue/envelope.js';
import type { JobTransport, ReceivedMessage } from '../queue/transport.js';
import { TransportError } from '../shared/errors.js';

/** One DLQ message as received (its receipt handle is the latest, the one that can release or delete it), decoded. */
export interface DlqMessage
  extends Pick<ReceivedMessage, 'messageId' | 'receiptHandle' | 'body' | 'attributes' | 'receiveCount' | 'sentTimestamp'> {
  decoded: DecodedDeadLetter;
}

/** What kind of DLQ body it is: ours with a record, a bare envelope SQS moved itself, or not a job. */
export type DlqMessageKind = 'job' | 'redrive_policy' | 'invalid';

/** One line of `dlq list`. */
export interface DeadJobSummary {
  /** Job id; null for a message that is not a job. */
  id: string | null;
  type: string | null;
  kind: DlqMessageKind;
  /** `non_retryable`, `attempts_exhausted`, …; `redrive_policy` for a bare envelope moved by SQS. */
  reason: string;
  /** The attempt that died (the envelope's `attempt`). */
  attempts: number | null;
  lastError: string | null;
  createdAt: string | null;
  deadLetteredAt: string | null;
  messageId: string;
  /** From the message's W3C `traceparent` attribute: paste into Jaeger. */
  traceId: string | null;
}

export const messageKind = (message: DlqMessage): DlqMessageKind =>
  message.decoded.envelope === undefined ? 'invalid' : message.decoded.record === undefined ? 'redrive_policy' : 'job';

/** The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), or null. */
export function traceIdOf(traceparent: string | undefined): string | null {
  const match = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/.exec(traceparent?.trim().toLowerCase() ?? '');
  return match && !/^0+$/.test(match[1]!) ? match[1]! : null;
}

const formatError = (error: { name: string; message: string } | undefined): string | null =>
  error ? `${error.name}: ${error.message}` : null;

export function summarize(message: DlqMessage): DeadJobSummary {
  const { envelope, record } = message.decoded;
  const history: HistoryEntry[] = envelope?.history ?? [];
  const kind = messageKind(message);
  return {
    id: envelope?.id ?? null,
    type: envelope?.type ?? message.attributes[ATTRIBUTES.jobType] ?? null,
    kind,
    reason: record?.reason ?? (kind === 'redrive_policy' ? 'redrive_policy' : 'not_a_job'),
    attempts: envelope?.attempt ?? null,
    lastError: formatError(record?.error ?? history.at(-1)?.error),
    createdAt: envelope?.createdAt ?? null,
    deadLetteredAt: record?.at ?? null,
    messageId: message.messageId,
    traceId: traceIdOf(message.attributes.traceparent),
  };
}

export function toDlqMessage(received: ReceivedMessage): DlqMessage {
  return {
    messageId: received.messageId,
    receiptHandle: received.receiptHandle,
    body: received.body,
    attributes: received.attributes,
    receiveCount: received.receiveCount,
    sentTimestamp: received.sentTimestamp,
    decoded: decodeDeadLetter(received.body),
  };
}

export interface ScanOptions {
  /** Only these are collected (all are held and released). */
  match?: (message: DlqMessage) => boolean;
  /** Stop once this many matched. */
  limit?: number;
  /** How long received messages stay hidden while the scan runs. @defaultValue 30 */
  visibilityTimeoutSeconds?: number;
  /** Long poll per receive; the scan ends at the first empty one. @defaultValue 1 */
  waitTimeSeconds?: number;
  signal?: AbortSignal;
  /** Called after each receive with the number of distinct messages seen so far. */
  onProgress?: (seen: number) => void;
}

export interface ScanResult {
  /** Matched messages in the order first received, each once. */
  matched: DlqMessage[];
  /** Every distinct message received (matched or not), by MessageId, with its latest handle. */
  held: Map<string, DlqMessage>;
}

/** Receives from the DLQ until `limit` matched or a receive comes back empty; releases nothing. */
export async function scanDlq(transport: JobTransport, dlqUrl: string, options: ScanOptions = {}): Promise<ScanResult> {
  const held = new Map<string, DlqMessage>();
  const matched: DlqMessage[] = [];
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  while (matched.length < limit && !options.signal?.aborted) {
    const batch = await transport.receive(dlqUrl, {
      maxMessages: 10,
      waitTimeSeconds: options.waitTimeSeconds ?? 1,
      visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 30,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (batch.length === 0) break;
    for (const received of batch) {
      const seen = held.get(received.messageId);
      if (seen) {
        // Received again (its timeout ran out mid-scan): keep the newest handle, list it once.
        seen.receiptHandle = received.receiptHandle;
        continue;
      }
      const message = toDlqMessage(received);
      held.set(message.messageId, message);
      if (matched.length < limit && (options.match?.(message) ?? true)) matched.push(message);
    }
    options.onProgress?.(held.size);
  }
  return { matched, held };
}

/** Codes that mean the handle is no longer ours: the message is visible already, or will be soon. */
const STALE = new Set(['MessageNotInflight', 'ReceiptHandleIsInvalid', 'InvalidParameterValue']);

/**
 * Makes messages visible again at once (ChangeMessageVisibility 0), 16 at a time. A stale handle is
 * not an error (the message comes back when its timeout runs out anyway); other failures are counted.
 */
export async function releaseMessages(
  transport: JobTransport,
  dlqUrl: string,
  messages: Iterable<DlqMessage>,
): Promise<{ released: number; failed: number }> {
  const queue = [...messages];
  let released = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    for (let message = queue.shift(); message; message = queue.shift()) {
      try {
        await transport.changeVisibility(dlqUrl, message.receiptHandle, 0);
        released++;
      } catch (error) {
        if (TransportError.is(error) && STALE.has(error.code)) released++;
        else failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return { released, failed };
}

/** Matches a selection: a job type, job ids, or everything. Messages that are not jobs match only `all`. */
export interface Selection {
  type?: string | undefined;
  ids?: readonly string[] | undefined;
}

export function selects(selection: Selection, message: DlqMessage): boolean {
  const envelope = message.decoded.envelope;
  if (selection.type !== undefined && envelope?.type !== selection.type) return false;
  if (selection.ids !== undefined && !(envelope && selection.ids.includes(envelope.id))) return false;
  return true;
}
