/**
 * The job store's per-key rules (docs/keys.md), part of the conformance suite (conformance.cases.ts
 * calls {@link keyCases}): run on the memory store, PGlite and PostgreSQL 15 alike. Every case uses keys
 * of its own, so cases run concurrently on one shared store. Hold expiry is real time, as for claims.
 */
import { randomUUID } from 'node:crypto';
import { describe, test } from 'vitest';
import type { JobStore, SettleOutcome } from '../../src/store/job-store.js';
import { claimOf, LONG_LEASE_MS, newJob, sleep } from './store-fixtures.js';

interface Harness {
  readonly store: JobStore;
}

/** A claim this short has surely expired after {@link EXPIRED_AFTER_MS}. */
const SHORT_LEASE_MS = 300;
const EXPIRED_AFTER_MS = 450;

const uniqueType = () => `keys.${randomUUID().slice(0, 8)}`;
const uniqueKey = () => `key-${randomUUID().slice(0, 12)}`;

export function keyCases(harness: () => Harness): void {
  /** `n` jobs of one new type, recorded (with their keys' rows made ready, as a producer does). */
  async function jobs(n: number, keys: string[] = []) {
    const { store } = harness();
    const type = uniqueType();
    const list = Array.from({ length: n }, () => newJob(type, { keys }));
    await store.createJobs(list);
    return { store, list };
  }

  describe.concurrent('per-key concurrency', () => {
    test('a key at its limit holds the next claim back; the settle frees it', async ({ expect }) => {
      const key = uniqueKey();
      const { store, list } = await jobs(2, [key]);
      const concurrency = { key, limit: 1 };
      const first = claimOf(list[0]!, { concurrency });
      expect(await store.claim([first])).toEqual([{ kind: 'claimed', lost: false, created: false }]);
      const [held] = await store.claim([claimOf(list[1]!, { concurrency })]);
      expect(held).toMatchObject({ kind: 'held', reason: 'concurrency', holds: 1 });
      // At the latest when the holder's claim would expire.
      expect(held?.kind === 'held' && held.retryAfterMs).toBeGreaterThan(LONG_LEASE_MS - 5_000);
      expect(held?.kind === 'held' && held.retryAfterMs).toBeLessThanOrEqual(LONG_LEASE_MS);
      // Held back: not running, no attempt, nothing claimed.
      expect(await store.getJob(list[1]!.id)).toMatchObject({ state: 'pending', attempt: 1, startedAt: undefined });
      await store.settle([{ jobId: first.jobId, attempt: 1, messageId: first.messageId, outcome: { kind: 'succeeded' } }]);
      expect(await store.claim([claimOf(list[1]!, { concurrency })])).toEqual([{ kind: 'claimed', lost: false, created: false }]);
    });

    test('in one batch, a key admits at most its limit, in batch order', async ({ expect }) => {
      const key = uniqueKey();
      const { store, list } = await jobs(4, [key]);
      const concurrency = { key, limit: 2 };
      const results = await store.claim(list.map((job) => claimOf(job, { concurrency })));
      expect(results.map((r) => r.kind)).toEqual(['claimed', 'claimed', 'held', 'held']);
      // Another key, or none, is not affected.
      const other = await jobs(2, [uniqueKey()]);
      expect(
        (await other.store.claim([claimOf(other.list[0]!, { concurrency: { key: uniqueKey(), limit: 1 } }), claimOf(other.list[1]!)])).map(
          (r) => r.kind,
        ),
      ).toEqual(['claimed', 'claimed']);
    });

    test('a hold ends with its claim: a worker that died holds the key one lease at most', async ({ expect }) => {
      const key = uniqueKey();
      const { store, list } = await jobs(2, [key]);
      const concurrency = { key, limit: 1 };
      // Long enough that the second claim surely comes before it ends, on a busy embedded store too.
      await store.claim([claimOf(list[0]!, { concurrency, leaseMs: 2_000 })]);
      expect((await store.claim([claimOf(list[1]!, { concurrency })]))[0]?.kind).toBe('held');
      await sleep(2_100);
      expect((await store.claim([claimOf(list[1]!, { concurrency })]))[0]?.kind).toBe('claimed');
    });

    test('a renewal extends the hold with the claim', async ({ expect }) => {
      const key = uniqueKey();
      const { store, list } = await jobs(2, [key]);
      const concurrency = { key, limit: 1 };
      const first = claimOf(list[0]!, { concurrency, leaseMs: SHORT_LEASE_MS });
      await store.claim([first]);
      expect(await store.renew([{ jobId: first.jobId, attempt: 1, messageId: first.messageId, leaseMs: LONG_LEASE_MS }])).toEqual(['held']);
      await sleep(EXPIRED_AFTER_MS);
      expect((await store.claim([claimOf(list[1]!, { concurrency })]))[0]).toMatchObject({ kind: 'held', reason: 'concurrency' });
    });

    test('every settle kind releases the key; a cancel too', async ({ expect }) => {
      const key = uniqueKey();
      const { store, list } = await jobs(5, [key]);
      const concurrency = { key, limit: 1 };
      const outcomes: SettleOutcome[] = [
        { kind: 'dead', reason: 'non_retryable', history: [] },
        { kind: 'backoff', nextAttempt: 2, scheduledAt: Date.now(), error: { name: 'E', message: 'x' }, history: [] },
        { kind: 'pending', attempt: 1 },
      ];
      for (const [index, outcome] of outcomes.entries()) {
        const request = claimOf(list[index]!, { concurrency });
        expect((await store.claim([request]))[0]?.kind).toBe('claimed');
        expect((await store.claim([claimOf(list[4]!, { concurrency })]))[0]?.kind).toBe('held');
        await store.settle([{ jobId: request.jobId, attempt: 1, messageId: request.messageId, outcome }]);
      }
      expect((await store.claim([claimOf(list[3]!, { concurrency })]))[0]?.kind).toBe('claimed');
      expect(await store.cancelJob(list[3]!.id)).toEqual({ kind: 'cancelled', wasRunning: true });
      expect((await store.claim([claimOf(list[4]!, { concurrency })]))[0]?.kind).toBe('claimed');
    });

    test('held answers count up while the job stays blocked; a claim resets them', async ({ expect }) => {
      const key = uniqueKey();
      const { store, list } = await jobs(2, [key]);
      const concurrency = { key, limit: 1 };
      const first = claimOf(list[0]!, { concurrency });
      await store.claim([first]);
      expect((await store.claim([claimOf(list[1]!, { concurrency })]))[0]).toMatchObject({ holds: 1 });
      expect((await store.claim([claimOf(list[1]!, { concurrency })]))[0]).toMatchObject({ holds: 2 });
      await store.settle([{ jobId: first.jobId, attempt: 1, messageId: first.messageId, outcome: { kind: 'succeeded' } }]);
      const second = claimOf(list[1]!, { concurrency });
      expect((await store.claim([second]))[0]?.kind).toBe('claimed');
      await store.settle([{ jobId: second.jobId, attempt: 1, messageId: second.messageId, outcome: { kind: 'pending', attempt: 1 } }]);
      // Claimed and given back, then held again: counting starts over.
      const third = await jobs(1, [key]);
      const blocker = claimOf(third.list[0]!, { concurrency });
      await store.claim([blocker]);
      expect((await store.claim([claimOf(list[1]!, { concurrency })]))[0]).toMatchObject({ holds: 1 });
    });

    test('a job with no row (a producer without the store) is recorded pending when held back', async ({ expect }) => {
      const { store } = harness();
      const key = uniqueKey();
      const type = uniqueType();
      const [a, b] = [newJob(type), newJob(type)];
      const concurrency = { key, limit: 1 };
      expect(await store.claim([claimOf(a, { concurrency })])).toEqual([{ kind: 'claimed', lost: false, created: true }]);
      expect((await store.claim([claimOf(b, { concurrency })]))[0]).toMatchObject({ kind: 'held', reason: 'concurrency', holds: 1 });
      expect(await store.getJob(b.id)).toMatchObject({ state: 'pending', startedAt: undefined });
    });

    test('claims racing from many calls at once admit exactly the limit', async ({ expect }) => {
      const key = uniqueKey();
      const { store, list } = await jobs(12, [key]);
      const concurrency = { key, limit: 2 };
      const results = (await Promise.all(list.map((job) => store.claim([claimOf(job, { concurrency })])))).flat();
      expect(results.filter((r) => r.kind === 'claimed')).toHaveLength(2);
      expect(results.filter((r) => r.kind === 'held')).toHaveLength(10);
    });
  });

  describe.concurrent('per-key rate', () => {
    test('at most max starts per window; the held answer says when the next start frees', async ({ expect }) => {
      const key = uniqueKey();
      const { store, list } = await jobs(3, [key]);
      // A window long enough that the second ask surely comes inside it, on a busy embedded store too.
      const rate = { key, max: 2, perMs: 2_000 };
      const results = await store.claim(list.map((job) => claimOf(job, { rate })));
      expect(results.map((r) => r.kind)).toEqual(['claimed', 'claimed', 'held']);
      const held = results[2]!;
      expect(held).toMatchObject({ kind: 'held', reason: 'rate' });
      const first = held.kind === 'held' ? held.retryAfterMs! : -1;
      expect(first).toBeGreaterThan(0);
      expect(first).toBeLessThanOrEqual(2_000);
      const [again] = await store.claim([claimOf(list[2]!, { rate })]);
      expect(again?.kind).toBe('held');
      await sleep((again?.kind === 'held' ? again.retryAfterMs! : 0) + 50);
      expect((await store.claim([claimOf(list[2]!, { rate })]))[0]?.kind).toBe('claimed');
    });

    test('a rate counts starts, not running jobs: settling does not give a start back', async ({ expect }) => {
      const key = uniqueKey();
      const { store, list } = await jobs(2, [key]);
      const rate = { key, max: 1, perMs: 60_000 };
      const first = claimOf(list[0]!, { rate });
      await store.claim([first]);
      await store.settle([{ jobId: first.jobId, attempt: 1, messageId: first.messageId, outcome: { kind: 'succeeded' } }]);
      expect((await store.claim([claimOf(list[1]!, { rate })]))[0]).toMatchObject({ kind: 'held', reason: 'rate' });
    });

    test('one key as both concurrency and rate key: both gates apply', async ({ expect }) => {
      const key = uniqueKey();
      const { store, list } = await jobs(3, [key]);
      const gates = { concurrency: { key, limit: 5 }, rate: { key, max: 1, perMs: 60_000 } };
      expect((await store.claim(list.map((job) => claimOf(job, gates)))).map((r) => r.kind)).toEqual(['claimed', 'held', 'held']);
    });
  });

  describe.concurrent('throttles (RateLimitedError)', () => {
    test('a throttled key claims nothing until its time; the job counts its throttles', async ({ expect }) => {
      const key = uniqueKey();
      const { store, list } = await jobs(2, [key]);
      const rate = { key, max: 100, perMs: 1_000 };
      const first = claimOf(list[0]!, { rate });
      await store.claim([first]);
      const [settled] = await store.settle([
        {
          jobId: first.jobId,
          attempt: 1,
          messageId: first.messageId,
          outcome: { kind: 'pending', attempt: 1, scheduledAt: Date.now() + 2_000, throttle: { key, retryAfterMs: 2_000 } },
        },
      ]);
      expect(settled).toEqual({ kind: 'settled' });
      const [other] = await store.claim([claimOf(list[1]!, { concurrency: { key, limit: 10 } })]);
      expect(other).toMatchObject({ kind: 'held', reason: 'throttled' });
      expect(other?.kind === 'held' && other.retryAfterMs).toBeGreaterThan(0);
      expect(other?.kind === 'held' && other.retryAfterMs).toBeLessThanOrEqual(2_000);
      const [self] = await store.claim([claimOf(list[0]!, { rate })]);
      expect(self).toMatchObject({ kind: 'held', reason: 'throttled' });
      expect(await store.getJob(list[0]!.id)).toMatchObject({ state: 'pending', attempt: 1 });
      await sleep((self?.kind === 'held' ? self.retryAfterMs! : 0) + 50);
      expect(await store.claim([claimOf(list[0]!, { rate })])).toEqual([{ kind: 'claimed', lost: false, created: false, throttles: 1 }]);
    });

    test('a throttle without a key counts for its job only', async ({ expect }) => {
      const key = uniqueKey();
      const { store, list } = await jobs(2, [key]);
      const first = claimOf(list[0]!, { rate: { key, max: 10, perMs: 1_000 } });
      await store.claim([first]);
      await store.settle([
        {
          jobId: first.jobId,
          attempt: 1,
          messageId: first.messageId,
          outcome: { kind: 'pending', attempt: 1, throttle: { retryAfterMs: 60_000 } },
        },
      ]);
      expect((await store.claim([claimOf(list[1]!, { rate: { key, max: 10, perMs: 1_000 } })]))[0]?.kind).toBe('claimed');
      expect(await store.claim([claimOf(list[0]!)])).toEqual([{ kind: 'claimed', lost: false, created: false, throttles: 1 }]);
    });
  });

  describe.concurrent('coalescing', () => {
    test('one pending job per (type, key): a second enqueue answers the first id, also within a batch', async ({ expect }) => {
      const { store } = harness();
      const type = uniqueType();
      const key = uniqueKey();
      const first = newJob(type, { coalesceKey: key });
      expect(await store.createJobs([first])).toEqual([{ id: first.id, created: true }]);
      const again = newJob(type, { coalesceKey: key });
      const otherType = newJob(uniqueType(), { coalesceKey: key });
      const twin = [newJob(type, { coalesceKey: `${key}-b` }), newJob(type, { coalesceKey: `${key}-b` })];
      expect(await store.createJobs([again, otherType, ...twin])).toEqual([
        { id: first.id, created: false },
        { id: otherType.id, created: true },
        { id: twin[0]!.id, created: true },
        { id: twin[0]!.id, created: false },
      ]);
      expect(await store.getJob(again.id)).toBeUndefined();
    });

    test('once the pending job starts, the key takes a new one (one running, one pending)', async ({ expect }) => {
      const { store } = harness();
      const type = uniqueType();
      const key = uniqueKey();
      const first = newJob(type, { coalesceKey: key });
      await store.createJobs([first]);
      const claim = claimOf(first);
      await store.claim([claim]);
      const second = newJob(type, { coalesceKey: key });
      expect(await store.createJobs([second])).toEqual([{ id: second.id, created: true }]);
      expect(await store.createJobs([newJob(type, { coalesceKey: key })])).toEqual([{ id: second.id, created: false }]);
      // The first, given back (pending again), does not take the key back: no conflict, no second coalescing.
      expect(
        await store.settle([{ jobId: first.id, attempt: 1, messageId: claim.messageId, outcome: { kind: 'pending', attempt: 1 } }]),
      ).toEqual([{ kind: 'settled' }]);
      expect(await store.createJobs([newJob(type, { coalesceKey: key })])).toEqual([{ id: second.id, created: false }]);
    });

    test('a held-back job stays pending and keeps coalescing; a cancelled one frees the key', async ({ expect }) => {
      const { store } = harness();
      const type = uniqueType();
      const key = uniqueKey();
      const blocker = newJob(type, { keys: [key] });
      await store.createJobs([blocker]);
      await store.claim([claimOf(blocker, { concurrency: { key, limit: 1 } })]);
      const pending = newJob(type, { coalesceKey: key, keys: [key] });
      await store.createJobs([pending]);
      expect((await store.claim([claimOf(pending, { concurrency: { key, limit: 1 } })]))[0]?.kind).toBe('held');
      expect(await store.createJobs([newJob(type, { coalesceKey: key })])).toEqual([{ id: pending.id, created: false }]);
      await store.cancelJob(pending.id);
      const next = newJob(type, { coalesceKey: key });
      expect(await store.createJobs([next])).toEqual([{ id: next.id, created: true }]);
      // A retried (pending again) job does not take the key back either.
      expect((await store.retryJob(pending.id)).kind).toBe('retried');
      expect(await store.createJobs([newJob(type, { coalesceKey: key })])).toEqual([{ id: next.id, created: false }]);
    });

    test('concurrent enqueues with one key make one pending job', async ({ expect }) => {
      const { store } = harness();
      const type = uniqueType();
      const key = uniqueKey();
      const list = Array.from({ length: 20 }, () => newJob(type, { coalesceKey: key }));
      const results = (await Promise.all(list.map((job) => store.createJobs([job])))).flat();
      const winners = results.filter((r) => r.created);
      expect(winners).toHaveLength(1);
      expect(new Set(results.map((r) => r.id))).toEqual(new Set([winners[0]!.id]));
    });
  });
}
