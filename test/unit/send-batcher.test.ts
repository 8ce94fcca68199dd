import { describe, expect, it } from 'vitest';
import { TransportError } from '../../src/shared/errors.js';
import { ManualClock } from '../support/manual-clock.js';
import type { BatchResult, JobTransport, OutgoingBatchEntry, OutgoingMessage } from '../../src/queue/transport.js';
import { SendBatcher } from '../../src/queue/send-batcher.js';
import { settle } from '../support/runtime-harness.js';

function setup(
  answer?: (entries: readonly OutgoingBatchEntry[], call: number) => BatchResult,
  sendAnswer?: (m: OutgoingMessage, call: number) => string,
) {
  const clock = new ManualClock();
  const calls: Array<{ kind: 'send' | 'sendBatch'; bodies: string[] }> = [];
  const transport = {
    kind: 'fake',
    send: async (_q: string, m: OutgoingMessage) => {
      calls.push({ kind: 'send', bodies: [m.body] });
      return { messageId: sendAnswer ? sendAnswer(m, calls.length) : `id-${m.body}` };
    },
    sendBatch: async (_q: string, entries: readonly OutgoingBatchEntry[]) => {
      calls.push({ kind: 'sendBatch', bodies: entries.map((e) => e.body) });
      return answer
        ? answer(entries, calls.length)
        : { successful: entries.map((e) => ({ id: e.id, messageId: `id-${e.body}` })), failed: [] };
    },
  } as unknown as JobTransport;
  const batcher = new SendBatcher({ transport, clock, flushMs: 5, maxMessageBytes: 1_048_576 });
  return { clock, calls, batcher };
}

describe('SendBatcher', () => {
  it('sends a lone message with SendMessage after flushMs', async () => {
    const { clock, calls, batcher } = setup();
    const sent = batcher.send('q', { body: 'a' });
    await settle();
    expect(calls).toEqual([]);
    clock.advance(5);
    expect(await sent).toEqual({ messageId: 'id-a' });
    expect(calls).toEqual([{ kind: 'send', bodies: ['a'] }]);
  });

  it('sends 12 messages as a batch of 10 at once and a batch of 2 after flushMs', async () => {
    const { clock, calls, batcher } = setup();
    const bodies = Array.from({ length: 12 }, (_, i) => `m${i}`);
    const sent = bodies.map((b) => batcher.send('q', { body: b }));
    await settle();
    expect(calls.map((c) => [c.kind, c.bodies.length])).toEqual([['sendBatch', 10]]);
    clock.advance(5);
    const ids = await Promise.all(sent);
    expect(ids.map((r) => r.messageId)).toEqual(bodies.map((b) => `id-${b}`));
    expect(calls.map((c) => [c.kind, c.bodies.length])).toEqual([
      ['sendBatch', 10],
      ['sendBatch', 2],
    ]);
  });

  it('retries a transient entry failure alone, and rejects a permanent one with its own error', async () => {
    const { clock, calls, batcher } = setup((entries, call) => ({
      successful: entries
        .filter((e) => e.body === 'ok' || (e.body === 'flaky' && call > 1))
        .map((e) => ({ id: e.id, messageId: `id-${e.body}` })),
      failed: entries
        .filter((e) => e.body === 'bad' || (e.body === 'flaky' && call === 1))
        .map((e) => ({
          id: e.id,
          code: e.body === 'bad' ? 'InvalidMessageContents' : 'InternalError',
          message: 'no',
          senderFault: e.body === 'bad',
        })),
    }));
    const ok = batcher.send('q', { body: 'ok' });
    const flaky = batcher.send('q', { body: 'flaky' });
    const bad = batcher.send('q', { body: 'bad' });
    bad.catch(() => undefined);
    clock.advance(5);
    await settle();
    await expect(bad).rejects.toMatchObject({ code: 'InvalidMessageContents', retryable: false });
    expect(await ok).toEqual({ messageId: 'id-ok' });
    clock.advance(200);
    await settle();
    clock.advance(5);
    expect(await flaky).toEqual({ messageId: 'id-flaky' });
    expect(calls.map((c) => [c.kind, c.bodies])).toEqual([
      ['sendBatch', ['ok', 'flaky', 'bad']],
      ['send', ['flaky']],
    ]);
  });

  it('gives up after 4 tries of a retryable request failure', async () => {
    const { clock, calls, batcher } = setup(undefined, () => {
      throw new TransportError('down', { code: 'ECONNREFUSED', retryable: true });
    });
    const sent = batcher.send('q', { body: 'x' });
    sent.catch(() => undefined);
    for (let i = 0; i < 40; i++) {
      clock.advance(100);
      await settle();
    }
    await expect(sent).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(calls).toHaveLength(4);
  });
});
