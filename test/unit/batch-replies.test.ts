/**
 * A batch reply that names an entry neither Successful nor Failed, or names it without an Id, must not
 * leave that entry's promise unsettled or settle entry 0 in its place (issue 10, suspected; both
 * reproduced on 61473f5: the omitted entry's promise never settled, and an Id-less success resolved
 * entry 0 while entry 0 had failed).
 */
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ManualClock } from '../support/manual-clock.js';
import type { BatchResult, DeleteEntry, JobTransport, OutgoingBatchEntry } from '../../src/queue/transport.js';
import { DeleteBatcher } from '../../src/runtime/delete-batcher.js';
import { SendBatcher } from '../../src/queue/send-batcher.js';
import { settle } from '../support/runtime-harness.js';

/** Answers each batch call with `reply(call, ids)`; records the ids each call carried. */
function fakeTransport(reply: (call: number, ids: string[]) => BatchResult) {
  const calls: string[][] = [];
  const answer = async (entries: ReadonlyArray<{ id: string }>): Promise<BatchResult> => {
    calls.push(entries.map((e) => e.id));
    return reply(
      calls.length,
      entries.map((e) => e.id),
    );
  };
  const transport = {
    kind: 'fake',
    sendBatch: (_q: string, entries: readonly OutgoingBatchEntry[]) => answer(entries),
    // A lone message goes out with SendMessage.
    send: async (_q: string, m: { body: string }) => ({ messageId: `single-${m.body}` }),
    deleteBatch: (_q: string, entries: readonly DeleteEntry[]) => answer(entries),
  } as unknown as JobTransport;
  return { transport, calls };
}

async function drive(clock: ManualClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    clock.advance(10);
    await settle();
  }
}

describe('SendBatcher with incomplete batch replies', () => {
  it('retries an entry the reply left out, and settles it', async () => {
    const clock = new ManualClock();
    const { transport, calls } = fakeTransport((call, ids) =>
      call === 1
        ? { successful: [{ id: '0', messageId: 'm0' }], failed: [] }
        : { successful: ids.map((id) => ({ id, messageId: `again-${id}` })), failed: [] },
    );
    const batcher = new SendBatcher({ transport, clock, flushMs: 5, maxMessageBytes: 1_048_576 });
    const a = batcher.send('q', { body: 'a' });
    const b = batcher.send('q', { body: 'b' });
    let bSettled = false;
    void b.then(() => (bSettled = true));
    await drive(clock, 2_000);
    expect(await a).toEqual({ messageId: 'm0' });
    expect(bSettled).toBe(true);
    expect(await b).toEqual({ messageId: 'single-b' }); // tried again alone, with SendMessage
    expect(calls.length).toBe(1);
  });

  it('does not take a success without an Id for entry 0', async () => {
    const clock = new ManualClock();
    const { transport } = fakeTransport((call, ids) =>
      call === 1
        ? {
            successful: [{ id: '', messageId: 'no-id' }],
            failed: [{ id: '0', code: 'InvalidMessageContents', message: 'bad', senderFault: true }],
          }
        : { successful: ids.map((id) => ({ id, messageId: `ok-${id}` })), failed: [] },
    );
    const batcher = new SendBatcher({ transport, clock, flushMs: 5, maxMessageBytes: 1_048_576 });
    const a = batcher.send('q', { body: 'a' }).then(
      (r) => r.messageId,
      (e: Error) => `rejected: ${e.message}`,
    );
    const b = batcher.send('q', { body: 'b' }).then((r) => r.messageId);
    await drive(clock, 2_000);
    expect(await a).toMatch(/^rejected: InvalidMessageContents/);
    expect(await b).toBe('single-b'); // retried alone (SendMessage), never settled by the Id-less reply
  });
});

describe('DeleteBatcher with incomplete batch replies', () => {
  it('retries an entry the reply left out, and settles it', async () => {
    const clock = new ManualClock();
    const { transport, calls } = fakeTransport((call, ids) =>
      call === 1 ? { successful: [{ id: '0' }], failed: [] } : { successful: ids.map((id) => ({ id })), failed: [] },
    );
    const batcher = new DeleteBatcher({
      transport,
      queueUrl: 'q',
      clock,
      flushMs: 5,
      logger: pino({ level: 'silent' }),
      onError: () => undefined,
    });
    const a = batcher.delete('h-a');
    const b = batcher.delete('h-b');
    await drive(clock, 2_000);
    expect(await a).toBe(true);
    expect(await b).toBe(true);
    expect(calls.length).toBe(2);
  });

  it('does not take a success without an Id for entry 0', async () => {
    const clock = new ManualClock();
    const { transport } = fakeTransport((call) =>
      call === 1
        ? { successful: [{ id: '' }], failed: [{ id: '0', code: 'ReceiptHandleIsInvalid', message: 'stale', senderFault: true }] }
        : { successful: [], failed: [] },
    );
    const batcher = new DeleteBatcher({
      transport,
      queueUrl: 'q',
      clock,
      flushMs: 5,
      logger: pino({ level: 'silent' }),
      onError: () => undefined,
      giveUpAfterMs: 1_000,
    });
    const a = batcher.delete('h-a');
    await drive(clock, 3_000);
    expect(await a).toBe(false);
  });
});
