import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { TransportError } from '../../src/shared/errors.js';
import { ManualClock } from '../support/manual-clock.js';
import type { BatchFailure, BatchResult, DeleteEntry, JobTransport } from '../../src/queue/transport.js';
import { DeleteBatcher } from '../../src/runtime/delete-batcher.js';
import { settle } from '../support/runtime-harness.js';

type Answer = (entries: readonly DeleteEntry[], call: number) => BatchResult | Promise<BatchResult>;

function setup(
  answer: Answer = (entries) => ({ successful: entries.map((e) => ({ id: e.id })), failed: [] }),
  flushMs = 20,
  giveUpAfterMs = 1_000,
) {
  const clock = new ManualClock();
  const calls: string[][] = [];
  const transport = {
    kind: 'fake',
    deleteBatch: async (_url: string, entries: readonly DeleteEntry[]) => {
      calls.push(entries.map((e) => e.receiptHandle));
      return await answer(entries, calls.length);
    },
  } as unknown as JobTransport;
  const warnings: Array<{ msg: string; code?: string; tries?: number }> = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line) as { msg: string }) });
  const errors: Error[] = [];
  const batcher = new DeleteBatcher({
    transport,
    queueUrl: 'memory://q',
    clock,
    flushMs,
    logger,
    onError: (e) => errors.push(e),
    giveUpAfterMs,
  });
  const settled = new Set<string>();
  const results = new Map<string, boolean>();
  const del = (handle: string): Promise<void> =>
    batcher.delete(handle).then((deleted) => {
      settled.add(handle);
      results.set(handle, deleted);
    });
  /** Advances the clock in 10 ms steps, letting promises run between them. */
  const run = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      await settle();
    }
  };
  return { clock, calls, batcher, warnings, errors, settled, results, del, run };
}

const handles = (n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `h${from + i}`);

describe('DeleteBatcher', () => {
  it('flushes at once when 10 deletes are queued, without waiting for the timer', async () => {
    const { calls, del, settled, clock } = setup();
    handles(10).forEach((h) => void del(h));
    await settle();
    expect(calls).toEqual([handles(10)]);
    expect(settled.size).toBe(10);
    expect(clock.pendingTimers).toBe(0);
  });

  it('flushes fewer than 10 after flushMs, not before', async () => {
    const { calls, del, settled, clock } = setup(undefined, 20);
    handles(3).forEach((h) => void del(h));
    clock.advance(19);
    await settle();
    expect(calls).toEqual([]);
    clock.advance(1);
    await settle();
    expect(calls).toEqual([handles(3)]);
    expect(settled.size).toBe(3);
  });

  it('sends 25 deletes as 10, 10 and then 5 after flushMs', async () => {
    const { calls, del, clock } = setup();
    handles(25).forEach((h) => void del(h));
    await settle();
    expect(calls.map((c) => c.length)).toEqual([10, 10]);
    clock.advance(20);
    await settle();
    expect(calls.map((c) => c.length)).toEqual([10, 10, 5]);
    expect(calls.flat()).toEqual(handles(25));
  });

  it('retries an entry that failed transiently, alone, with backoff, until it is deleted', async () => {
    const transient = (id: string): BatchFailure => ({ id, code: 'InternalError', message: 'try later', senderFault: false });
    const { calls, del, results, run, warnings } = setup((entries, call) => {
      const [first, ...rest] = entries;
      if (call <= 2 && first?.receiptHandle === 'h0') return { successful: rest.map((e) => ({ id: e.id })), failed: [transient(first.id)] };
      return { successful: entries.map((e) => ({ id: e.id })), failed: [] };
    });
    handles(3).forEach((h) => void del(h));
    await run(20);
    expect(calls).toEqual([['h0', 'h1', 'h2']]);
    await run(70); // 50 ms backoff, then the 20 ms flush window: sent at 90 ms
    expect(calls).toEqual([['h0', 'h1', 'h2'], ['h0']]);
    await run(60); // the second backoff is 100 ms: not yet
    expect(calls).toHaveLength(2);
    await run(100);
    expect(calls).toEqual([['h0', 'h1', 'h2'], ['h0'], ['h0']]);
    expect([...results.entries()].sort()).toEqual([
      ['h0', true],
      ['h1', true],
      ['h2', true],
    ]);
    expect(warnings).toEqual([]);
  });

  it('gives up on a transient failure once giveUpAfterMs has passed, resolves false and logs it', async () => {
    const { calls, del, results, run, warnings } = setup((entries) => ({
      successful: [],
      failed: entries.map((e) => ({ id: e.id, code: 'InternalError', message: 'down', senderFault: false })),
    }));
    void del('h0');
    await run(3_000);
    // 50, 100, 200, 400 ms backoffs fit in the 1 s budget; the try after that is the last.
    expect(calls.length).toBeGreaterThanOrEqual(5);
    expect(calls.length).toBeLessThanOrEqual(6);
    expect(results.get('h0')).toBe(false);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ code: 'InternalError', tries: calls.length });
  });

  it('logs a permanent per-entry failure (stale handle) once and does not retry it', async () => {
    const { calls, del, settled, results, clock, warnings } = setup((entries) => ({
      successful: entries.filter((e) => e.receiptHandle !== 'stale').map((e) => ({ id: e.id })),
      failed: entries
        .filter((e) => e.receiptHandle === 'stale')
        .map((e) => ({ id: e.id, code: 'ReceiptHandleIsInvalid', message: 'gone', senderFault: true })),
    }));
    ['a', 'stale', 'b'].forEach((h) => void del(h));
    for (let i = 0; i < 4; i++) {
      clock.advance(20);
      await settle();
    }
    expect(calls).toEqual([['a', 'stale', 'b']]);
    expect(settled).toEqual(new Set(['a', 'stale', 'b']));
    expect(results.get('stale')).toBe(false);
    expect(results.get('a')).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ code: 'ReceiptHandleIsInvalid', tries: 1 });
    expect(warnings[0]!.msg).toMatch(/will be redelivered and counted as worker_lost/);
  });

  it('reports a failed request to onError and retries the whole batch when it is retryable', async () => {
    const { calls, del, settled, run, errors } = setup((entries, call) => {
      if (call === 1) throw new TransportError('throttled', { code: 'RequestThrottled', retryable: true });
      return { successful: entries.map((e) => ({ id: e.id })), failed: [] };
    });
    handles(2).forEach((h) => void del(h));
    await run(150);
    expect(calls).toEqual([handles(2), handles(2)]);
    expect(errors.map((e) => (e as TransportError).code)).toEqual(['RequestThrottled']);
    expect(settled.size).toBe(2);
  });

  it('flush() sends what is queued at once and waits for it', async () => {
    const { calls, del, batcher, settled } = setup(undefined, 10_000);
    handles(4).forEach((h) => void del(h));
    await batcher.flush();
    expect(calls).toEqual([handles(4)]);
    await settle(1);
    expect(settled.size).toBe(4);
  });
});

describe('DeleteBatcher and the lease', () => {
  it('does not trust a delete confirmed after the lease ran out, and stops retrying before it', async () => {
    const clock = new ManualClock();
    let slow = true;
    const transport = {
      kind: 'fake',
      deleteBatch: async (_url: string, entries: readonly DeleteEntry[]) => {
        if (slow) await new Promise<void>((r) => clock.setTimeout(r, 3_000));
        return { successful: entries.map((e) => ({ id: e.id })), failed: [] };
      },
    } as unknown as JobTransport;
    const batcher = new DeleteBatcher({
      transport,
      queueUrl: 'q',
      clock,
      flushMs: 5,
      logger: pino({ level: 'silent' }),
      onError: () => undefined,
      giveUpAfterMs: 30_000,
    });
    // Lease ends at 2,500 ms; the delete is answered at 3,005 ms: too late to count.
    const late = batcher.delete('late', { expiresAt: clock.now() + 2_500 });
    for (let t = 0; t < 3_100; t += 5) {
      clock.advance(5);
      await settle();
    }
    expect(await late).toBe(false);
    slow = false;
    const inTime = batcher.delete('in-time', { expiresAt: clock.now() + 2_500 });
    clock.advance(5);
    await settle();
    expect(await inTime).toBe(true);
  });
});
