/**
 * Defect 8 (issue 10): a body with a character SQS refuses (U+FFFF; on fauxqs any character outside
 * the BMP, since it checks UTF-16 code units) failed every send with `InvalidMessageContents`. Every
 * body we build must be accepted by the server and decode back to the same value.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeDeadLetter, deadLetterBody, invalidMessageBody, type DeadLetterRecord } from '../../src/queue/dead-letter.js';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { decodeEnvelope, encodeEnvelope, newEnvelope, type Envelope } from '../../src/queue/envelope.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';

/** U+FFFF, U+FFFE, an emoji (a surrogate pair), a lone high and a lone low surrogate, a NUL. */
const NASTY = 'bad \uffff and \ufffe, emoji 😀, lone \ud800 and \udc00, nul \u0000 end';

describe('bodies with characters SQS refuses (embedded fauxqs)', () => {
  let server: EmbeddedSqs;
  let transport: SqsTransport;
  let queueUrl: string;

  beforeAll(async () => {
    server = await startEmbeddedSqs();
    transport = new SqsTransport({ endpoint: server.endpoint });
    queueUrl = await transport.createQueue('sqs-text');
  });
  afterAll(async () => {
    await transport?.close();
    await server?.stop();
  });

  async function roundTrip(body: string): Promise<string> {
    await transport.send(queueUrl, { body, attributes: { 'job-type': 'demo.text' } });
    const [message] = await transport.receive(queueUrl, { waitTimeSeconds: 1, maxMessages: 1 });
    if (!message) throw new Error('the message did not come back');
    await transport.delete(queueUrl, message.receiptHandle);
    return message.body;
  }

  const envelope: Envelope = {
    ...newEnvelope({ type: 'demo.text', payload: { note: NASTY }, now: Date.parse('2026-01-02T03:04:05.000Z') }),
    attempt: 2,
    history: [{ attempt: 1, at: '2026-01-02T03:04:06.000Z', durationMs: 3, kind: 'failed', error: { name: 'Error', message: NASTY } }],
  };
  const record: DeadLetterRecord = {
    reason: 'non_retryable',
    error: { name: 'NonRetryableError', message: NASTY, reason: 'bad\uffff' },
    at: '2026-01-02T03:04:07.000Z',
  };

  test('a retry envelope whose history error message has U+FFFF, an emoji and a lone surrogate', async () => {
    const decoded = decodeEnvelope(await roundTrip(encodeEnvelope(envelope)));
    expect(decoded).toEqual({ ok: true, envelope });
  });

  test('a dead letter of that job', async () => {
    const decoded = decodeDeadLetter(await roundTrip(deadLetterBody(envelope, record)));
    expect(decoded.envelope).toEqual(envelope);
    expect(decoded.record).toEqual(record);
  });

  test('a dead letter of a message that was never a job keeps its raw body', async () => {
    const raw = `not json ${NASTY}`;
    const decoded = decodeDeadLetter(await roundTrip(invalidMessageBody(raw, { reason: 'not_json', at: record.at }, 1 << 20)));
    expect(decoded.rawBody).toBe(raw);
    expect(decoded.record).toEqual({ reason: 'not_json', at: record.at });
  });

  test('a job enqueued by JobQueue with such characters in its payload and idempotency key', async () => {
    const queue = new JobQueue({ transport, queueUrl });
    const payload = { text: NASTY, list: ['😀', '\uffff'] };
    const id = await queue.enqueueJob({ type: 'demo.text', payload, idempotencyKey: 'key 😀' });
    const [message] = await transport.receive(queueUrl, { waitTimeSeconds: 1, maxMessages: 1 });
    if (!message) throw new Error('the job did not arrive');
    await transport.delete(queueUrl, message.receiptHandle);
    const decoded = decodeEnvelope(message.body);
    expect(decoded.ok && decoded.envelope).toMatchObject({ id, type: 'demo.text', payload, idempotencyKey: 'key 😀', attempt: 1 });
  });
});
