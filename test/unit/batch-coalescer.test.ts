/** BatchCoalescer: calls that would queue for a connection go as one batch, each answered with its own slice. */
import { describe, expect, it } from 'vitest';
import { BatchCoalescer, StatementSlots } from '../../src/store/batch-coalescer.js';

/** A statement runner whose calls finish when the test says so; it answers each request with `r:<request>`. */
function runner(fail?: (requests: readonly string[]) => unknown) {
  const batches: string[][] = [];
  const pending: Array<() => void> = [];
  const run = (requests: readonly string[]): Promise<string[]> => {
    batches.push([...requests]);
    return new Promise<string[]>((resolve, reject) => {
      pending.push(() => {
        const error = fail?.(requests);
        if (error !== undefined) reject(error);
        else resolve(requests.map((r) => `r:${r}`));
      });
    });
  };
  /** Finishes the oldest running batch, then lets the coalescer start the next. */
  const finish = async (): Promise<void> => {
    pending.shift()?.();
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { batches, run, finish, running: () => pending.length };
}

const rejected = (error: unknown): boolean => (error as { rejected?: boolean }).rejected === true;

describe('BatchCoalescer', () => {
  it('sends a call at once while a slot is free, and joins the calls made while none is, in call order', async () => {
    const r = runner();
    const c = new BatchCoalescer(r.run, new StatementSlots(1), rejected);
    const first = c.call(['a', 'b']);
    expect(r.batches).toEqual([['a', 'b']]);
    const second = c.call(['c']);
    const third = c.call(['d', 'e']);
    expect(r.batches).toHaveLength(1);
    await r.finish();
    expect(await first).toEqual(['r:a', 'r:b']);
    expect(r.batches).toEqual([
      ['a', 'b'],
      ['c', 'd', 'e'],
    ]);
    await r.finish();
    expect(await second).toEqual(['r:c']);
    expect(await third).toEqual(['r:d', 'r:e']);
  });

  it('keeps up to `limit` statements in flight before joining any', async () => {
    const r = runner();
    const c = new BatchCoalescer(r.run, new StatementSlots(3), rejected);
    const calls = ['a', 'b', 'c', 'd', 'e'].map((x) => c.call([x]));
    expect(r.batches).toEqual([['a'], ['b'], ['c']]);
    expect(r.running()).toBe(3);
    await r.finish();
    expect(r.batches.at(-1)).toEqual(['d', 'e']);
    while (r.running() > 0) await r.finish();
    expect(await Promise.all(calls)).toEqual([['r:a'], ['r:b'], ['r:c'], ['r:d'], ['r:e']]);
  });

  it('starts a new group once a waiting one holds maxBatch requests', async () => {
    const r = runner();
    const c = new BatchCoalescer(r.run, new StatementSlots(1), rejected, 3);
    const calls = [c.call(['a']), c.call(['b', 'c']), c.call(['d']), c.call(['e', 'f', 'g', 'h'])];
    while (r.running() > 0) await r.finish();
    expect(r.batches).toEqual([['a'], ['b', 'c', 'd'], ['e', 'f', 'g', 'h']]);
    expect(await Promise.all(calls)).toEqual([['r:a'], ['r:b', 'r:c'], ['r:d'], ['r:e', 'r:f', 'r:g', 'r:h']]);
  });

  it("shares the slots among a store's kinds: a kind's calls join while another kind's statement runs", async () => {
    const claims = runner();
    const settles = runner();
    const slots = new StatementSlots(1);
    const claim = new BatchCoalescer(claims.run, slots, rejected);
    const settle = new BatchCoalescer(settles.run, slots, rejected);
    const s1 = settle.call(['s1']);
    const c1 = claim.call(['c1']);
    const c2 = claim.call(['c2']);
    expect(settles.batches).toEqual([['s1']]);
    expect(claims.batches).toEqual([]);
    await settles.finish();
    expect(claims.batches).toEqual([['c1', 'c2']]);
    await claims.finish();
    expect([await s1, await c1, await c2]).toEqual([['r:s1'], ['r:c1'], ['r:c2']]);
  });

  it('answers an empty call at once, without a statement', async () => {
    const r = runner();
    const c = new BatchCoalescer(r.run, new StatementSlots(1), rejected);
    expect(await c.call([])).toEqual([]);
    expect(r.batches).toEqual([]);
  });

  it('runs a joined batch the database rejected again call by call, so only the bad call fails', async () => {
    const r = runner((requests) => (requests.includes('bad') ? Object.assign(new Error('bad input'), { rejected: true }) : undefined));
    const c = new BatchCoalescer(r.run, new StatementSlots(1), rejected);
    const first = c.call(['a']);
    const good = c.call(['b']);
    const bad = c.call(['bad']);
    const alsoGood = c.call(['c']);
    await r.finish();
    await r.finish(); // the joined batch b, bad, c fails
    while (r.running() > 0) await r.finish();
    expect(await first).toEqual(['r:a']);
    expect(await good).toEqual(['r:b']);
    await expect(bad).rejects.toThrow('bad input');
    expect(await alsoGood).toEqual(['r:c']);
    expect(r.batches).toEqual([['a'], ['b', 'bad', 'c'], ['b'], ['bad'], ['c']]);
  });

  it('fails every joined call with a lost connection, without running them again', async () => {
    const lost = new Error('connection terminated');
    const r = runner((requests) => (requests.length > 1 ? lost : undefined));
    const c = new BatchCoalescer(r.run, new StatementSlots(1), rejected);
    const first = c.call(['a']);
    const joined = [c.call(['b']), c.call(['c'])];
    await r.finish();
    await r.finish();
    expect(await first).toEqual(['r:a']);
    for (const call of joined) await expect(call).rejects.toBe(lost);
    expect(r.batches).toEqual([['a'], ['b', 'c']]);
  });
});
