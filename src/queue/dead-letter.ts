/**
 * What the dead-letter queue holds. A job that ran is dead-lettered as its envelope plus a `deadLetter`
 * record (so `dlq redrive` can send the envelope back as it is); a message that was never a valid
 * envelope keeps its raw body in `rawBody`. A message moved by SQS's own RedrivePolicy has no record.
 */
import { z } from 'zod';
import { decodeEnvelope, historyEntrySchema, type Envelope } from './envelope.js';

export const deadLetterRecordSchema = z.object({
  reason: z.string(),
  error: historyEntrySchema.shape.error.optional(),
  at: z.iso.datetime({ offset: true }),
  /** SQS MessageId of the message that was dead-lettered. */
  sourceMessageId: z.string().optional(),
  receiveCount: z.int().optional(),
});
export type DeadLetterRecord = z.output<typeof deadLetterRecordSchema>;

/** Reasons for messages that never became a job. */
export type InvalidMessageReason = 'oversize' | 'not_json' | 'unsafe_json' | 'unknown_version' | 'invalid_envelope' | 'unknown_type' | 'bad_signature';

const RAW_BODY_ROOM = 4_096;

/** The DLQ body for a job that ran (or failed validation): its envelope plus the record. */
export function deadLetterBody(envelope: Envelope, record: DeadLetterRecord): string {
  return JSON.stringify({ ...envelope, deadLetter: record });
}

/** The DLQ body for a message that is not a usable envelope; the raw body is cut to fit `maxBytes`. */
export function invalidMessageBody(rawBody: string, record: DeadLetterRecord, maxBytes: number): string {
  const room = Math.max(0, maxBytes - RAW_BODY_ROOM);
  let kept = rawBody;
  let truncated = false;
  if (Buffer.byteLength(kept, 'utf8') > room) {
    kept = Buffer.from(kept, 'utf8').subarray(0, room).toString('utf8');
    // JSON.stringify may grow the text (escapes): shrink until the whole body fits.
    while (kept.length > 0 && Buffer.byteLength(JSON.stringify(kept), 'utf8') > room) kept = kept.slice(0, Math.floor(kept.length * 0.9));
    truncated = true;
  }
  return JSON.stringify({ deadLetter: record, rawBody: kept, ...(truncated ? { rawBodyTruncated: true } : {}) });
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
