import { describe, expect, it } from 'vitest';
import { decodeDeadLetter, deadLetterBody, invalidMessageBody, type DeadLetterRecord } from '../../src/queue/dead-letter.js';
import { newEnvelope } from '../../src/queue/envelope.js';
import { isSqsSafeText } from '../../src/queue/sqs-text.js';

const AT = '2026-01-02T03:04:05.000Z';
const NASTY = 'U+FFFF \uffff, emoji 😀, lone \ud800, nul \u0000';

describe('dead-letter bodies only hold characters every SQS server accepts', () => {
  it('deadLetterBody escapes the envelope and the record and reads back equal', () => {
    const envelope = newEnvelope({ type: 'demo.text', payload: { text: NASTY }, now: Date.parse(AT) });
    const record: DeadLetterRecord = { reason: 'non_retryable', error: { name: 'Error', message: NASTY }, at: AT };
    const body = deadLetterBody(envelope, record);
    expect(isSqsSafeText(body)).toBe(true);
    expect(decodeDeadLetter(body)).toMatchObject({ envelope, record, rawBody: undefined });
  });

  it('invalidMessageBody keeps a raw body with such characters whole when it fits', () => {
    const raw = `not json ${NASTY}`;
    const body = invalidMessageBody(raw, { reason: 'not_json', at: AT }, 1 << 20);
    expect(isSqsSafeText(body)).toBe(true);
    expect(JSON.parse(body)).toEqual({ deadLetter: { reason: 'not_json', at: AT }, rawBody: raw });
  });

  it.each([
    ['U+FFFF (6 bytes escaped)', '\uffff'],
    ['emoji (12 bytes escaped)', '😀'],
    ['NUL (6 bytes escaped)', '\u0000'],
  ])('invalidMessageBody cuts a raw body of %s to fit the limit once escaped', (_name, char) => {
    const maxBytes = 262_144;
    // Fits as UTF-8 (at most 4 bytes a character) but not once escaped.
    const raw = char.repeat(Math.floor((maxBytes - 8_192) / 4 / char.length));
    const record: DeadLetterRecord = {
      reason: 'not_json',
      error: { name: 'InvalidMessage', message: char.repeat(2000 / char.length), reason: 'not_json' },
      at: AT,
    };
    const body = invalidMessageBody(raw, record, maxBytes);
    expect(isSqsSafeText(body)).toBe(true);
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(maxBytes - 4_096);
    const parsed = JSON.parse(body) as { rawBody: string; rawBodyTruncated?: boolean; deadLetter: DeadLetterRecord };
    expect(parsed.rawBodyTruncated).toBe(true);
    expect(parsed.deadLetter).toEqual(record);
    expect(raw.startsWith(parsed.rawBody.replace(/[\ud800-\udbff]$/, ''))).toBe(true);
  });
});
