/**
 * Client-side checks of the fixed AWS SQS rules, shared by every transport so that code tested
 * against the in-memory transport or a lenient local server fails the same way it would on AWS.
 */
import { TransportError } from '../shared/errors.js';
import { SQS_LIMITS, type OutgoingMessage, type ReceiveOptions } from './transport.js';

const utf8 = new TextEncoder();

/** SendMessageBatch's limit on all its messages together ({@link messageBytes} summed). */
export const MAX_BATCH_BYTES = 1_048_576;

/** Bytes SQS counts against the size limit: the body plus each attribute's name, type and value. */
export function messageBytes(message: OutgoingMessage): number {
  let bytes = utf8.encode(message.body).byteLength;
  for (const [name, value] of Object.entries(message.attributes ?? {})) {
    bytes += utf8.encode(name).byteLength + 'String'.length + utf8.encode(value).byteLength;
  }
  return bytes;
}

/** Anything outside SQS's allowed set: #x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD | #x10000–#x10FFFF (lone surrogates included). */
const REFUSED = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** The first character of `text` that SQS refuses, as `U+XXXX at index N`; undefined when none. */
export function refusedCharacter(text: string): string | undefined {
  const match = REFUSED.exec(text);
  if (match === null) return undefined;
  return `U+${match[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} at index ${match.index}`;
}

function invalid(message: string): TransportError {
  return new TransportError(message, { code: 'InvalidParameterValue', retryable: false });
}

function checkInteger(name: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalid(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

/**
 * Throws `MessageTooLong` when the message is over `maxMessageBytes`, `InvalidParameterValue` for a
 * delay outside 0–900 s or more than 10 attributes. `where` prefixes the message (a batch entry id).
 */
export function checkOutgoing(message: OutgoingMessage, maxMessageBytes: number, where = 'message'): void {
  const bytes = messageBytes(message);
  if (bytes > maxMessageBytes) {
    throw new TransportError(`${where} is ${bytes} bytes (body plus attributes), over the limit of ${maxMessageBytes} bytes`, {
      code: 'MessageTooLong',
      retryable: false,
    });
  }
  checkInteger(`${where}: delaySeconds`, message.delaySeconds, 0, SQS_LIMITS.maxDelaySeconds);
  const refused = refusedCharacter(message.body);
  if (refused !== undefined) {
    throw new TransportError(`${where} holds a character SQS refuses (${refused}); send bodies through toSqsJson`, {
      code: 'InvalidMessageContents',
      retryable: false,
    });
  }
  const attributeCount = Object.keys(message.attributes ?? {}).length;
  if (attributeCount > SQS_LIMITS.maxMessageAttributes) {
    throw invalid(`${where} has ${attributeCount} attributes; SQS allows at most ${SQS_LIMITS.maxMessageAttributes}`);
  }
}

/** Throws `TooManyEntriesInBatchRequest` past 10 entries and `BatchEntryIdsNotDistinct` for repeated ids. */
export function checkBatch(entries: ReadonlyArray<{ id: string }>): void {
  if (entries.length > SQS_LIMITS.maxBatchEntries) {
    throw new TransportError(`a batch holds at most ${SQS_LIMITS.maxBatchEntries} entries, got ${entries.length}`, {
      code: 'TooManyEntriesInBatchRequest',
      retryable: false,
    });
  }
  const ids = new Set(entries.map((e) => e.id));
  if (ids.size !== entries.length) {
    throw new TransportError('batch entry ids must be distinct', { code: 'BatchEntryIdsNotDistinct', retryable: false });
  }
}

/** Checks a whole send batch: entry count, each entry, and the total size (`BatchRequestTooLong`). */
export function checkOutgoingBatch(entries: ReadonlyArray<OutgoingMessage & { id: string }>, maxMessageBytes: number): void {
  checkBatch(entries);
  let total = 0;
  for (const entry of entries) {
    checkOutgoing(entry, maxMessageBytes, `batch entry ${entry.id}`);
    total += messageBytes(entry);
  }
  if (total > maxMessageBytes) {
    throw new TransportError(`the batch is ${total} bytes in all, over the limit of ${maxMessageBytes} bytes`, {
      code: 'BatchRequestTooLong',
      retryable: false,
    });
  }
}

/** Resolved receive settings after range checks (1–10 messages, 0–20 s wait, 0–43200 s visibility). */
export function checkReceive(options: ReceiveOptions): { maxMessages: number; waitTimeSeconds: number } {
  const maxMessages = options.maxMessages ?? SQS_LIMITS.maxBatchEntries;
  const waitTimeSeconds = options.waitTimeSeconds ?? SQS_LIMITS.maxWaitTimeSeconds;
  checkInteger('maxMessages', maxMessages, 1, SQS_LIMITS.maxBatchEntries);
  checkInteger('waitTimeSeconds', waitTimeSeconds, 0, SQS_LIMITS.maxWaitTimeSeconds);
  checkInteger('visibilityTimeoutSeconds', options.visibilityTimeoutSeconds, 0, SQS_LIMITS.maxVisibilityTimeoutSeconds);
  return { maxMessages, waitTimeSeconds };
}

/** Checks a visibility timeout for ChangeMessageVisibility (0–43200 s). */
export function checkVisibility(seconds: number): void {
  checkInteger('visibilityTimeoutSeconds', seconds, 0, SQS_LIMITS.maxVisibilityTimeoutSeconds);
}
