/**
 * What the dead-letter queue holds. A job that ran is dead-lettered as its envelope plus a `deadLetter`
 * record (so `dlq redrive` can send the envelope back as it is); a message that was never a valid
 * envelope keeps its raw body in `rawBody`. A message moved by SQS's own RedrivePolicy has no record.
 */
import { z } from 'zod';
import { decodeEnvelope, historyEntrySchema, type Envelope } from './envelope.js';
import { toSqsJson } from './sqs-text.js';

export const deadLetterRecordSchema = z.object({
  reason: z.string(),
  error: historyEntrySchema.shape.error.optional(),
  at: z.iso.datetime({ offset: true }),
  /** SQS MessageId of the message that was dead-lettered. */
  sourceMessageId: z.string().optional(),
  receiveCount: z.int().optional(),
});
export type DeadLetterRecord = z.output<typeof deadLetterRecordSchema>;

const RAW_BODY_ROOM = 4_096;

/**
 * The DLQ body for a job that ran (or failed validation): its envelope plus the record. Characters
 * SQS refuses (e.g. U+FFFF or an emoji in an error message) are `\uXXXX` escapes: see sqs-text.ts.
 */
export function deadLetterBody(envelope: Envelope, record: DeadLetterRecord): string {
  return toSqsJson({ ...envelope, deadLetter: record });
}

/**
 * The DLQ body for a message that is not a usable envelope; the raw body is cut to fit `maxBytes`
 * (measured after escaping: a character SQS refuses takes 6 bytes as `\uXXXX`, an emoji 12).
 */
export function invalidMessageBody(rawBody: string, record: DeadLetterRecord, maxBytes: number): string {
  // The record counts too: its error message (2,000 characters) may take 12,000 bytes once escaped.
  const room = Math.max(0, maxBytes - RAW_BODY_ROOM - Buffer.byteLength(toSqsJson(record), 'utf8'));
  let kept = rawBody;
  let truncated = false;
  // Measured as escaped JSON: escapes can triple the text (a control character or U+FFFF takes 6 bytes).
  if (Buffer.byteLength(toSqsJson(kept), 'utf8') > room) {
    kept = Buffer.from(kept, 'utf8').subarray(0, room).toString('utf8');
    // Escaping may grow the text: shrink until the whole body fits.
    while (kept.length > 0 && Buffer.byteLength(toSqsJson(kept), 'utf8') > room) kept = kept.slice(0, Math.floor(kept.length * 0.9));
    truncated = true;
  }
  return toSqsJson({ deadLetter: record, rawBody: kept, ...(truncated ? { rawBodyTruncated: true } : {}) });
}

export interface DecodedDeadLetter {
  /** The job's envelope, when the dead message was one (with or without a record). */
  envelope: Envelope | undefined;
  record: DeadLetterRecord | undefined;
  rawBody: string | undefined;
}

/** Reads any DLQ body: ours (with a record), a raw envelope moved by SQS redrive, or anything else. */
export function decodeDeadLetter(body: string): DecodedDeadLetter {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { envelope: undefined, record: undefined, rawBody: body };
  }
  const object = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  const record = deadLetterRecordSchema.safeParse(object.deadLetter);
  const decoded = decodeEnvelope(body);
  return {
    envelope: decoded.ok ? decoded.envelope : undefined,
    record: record.success ? record.data : undefined,
    rawBody: typeof object.rawBody === 'string' ? object.rawBody : decoded.ok ? undefined : body,
  };
}
