/**
 * The job store's rules (src/store/job-store.ts, docs/store.md), written once and run against every
 * implementation by store.conformance.test.ts: the memory store, PGlite embedded and PostgreSQL 15.
 * Cases run concurrently on one shared store, so each uses its own job ids and type; the ones that
 * count rows (prune) take a store of their own. Claim expiry is real time: 50 ms leases, 120 ms waits;
 * a claim that must still hold gets a minute.
 */
import { randomUUID } from 'node:crypto';
import { describe, test } from 'vitest';
import type { ClaimRequest, JobStore, SettleOutcome } from '../../src/store/job-store.js';
import { keyCases } from './keys.cases.js';
import { claimOf, LONG_LEASE_MS, newJob, sleep } from './store-fixtures.js';

export interface StoreHarness {
  readonly name: string;
  /** The store the cases share. */
  readonly store: JobStore;
  /** An empty store of its own (closed by the case). */
  fresh(): Promise<JobStore>;
}

const SHORT_LEASE_MS = 50;
const EXPIRED_AFTER_MS = 120;

const uniqueType = () => `conformance.${randomUUID().slice(0, 8)}`;

const failure = { name: 'Error', message: 'boom' };
const historyOf = (attempt: number) => [
  { attempt, at: new Date(1_700_000_000_000).toISOString(), durationMs: 5, kind: 'failed' as const, error: failure },
];

export function storeCases(harness: () => StoreHarness): void {
  /** A job created and claimed (attempt 1 unless said), with the request that claimed it. */
  async function claimed(fields: Partial<Omit<ClaimRequest, 'row'>> = {}, job = newJob(uniqueType())) {
    const { store } = harness();
    await store.createJobs([job]);
    const request = claimOf(job, fields);
    const [result] = await store.claim([request]);
    if (result?.kind !== 'claimed') throw new Error(`setup: claim answered ${JSON.stringify(result)}`);
    return { job, request, store };
  }

  async function settled(outcome: SettleOutcome, fields: Partial<Omit<ClaimRequest, 'row'>> = {}) {
    const c = await claimed(fields);
    const [result] = await c.store.settle([{ jobId: c.job.id, attempt: c.request.attempt, messageId: c.request.messageId, outcome }]);
    if (result?.kind !== 'settled') throw new Error(`setup: settle answered ${JSON.stringify(result)}`);
    return c;
  }

  describe.concurrent('createJobs and forgetJobs', () => {
    test('records a pending job with every field it was given', async ({ expect }) => {
      const { store } = harness();
      const job = newJob(uniqueType(), {
        idempotencyKey: 'k1',
        createdAt: 1_700_000_000_123,
        scheduledAt: 1_700_000_060_456,
        payload: { calendarId: 'c1', list: [1, 2] },
        traceId: 'trace-1',
      });
      expect(await store.createJobs([job])).toEqual([{ id: job.id, created: true }]);
      const row = await store.getJob(job.id);
      expect(row).toEqual({
        id: job.id,
        type: job.type,
        state: 'pending',
        attempt: 1,
        idempotencyKey: 'k1',
        createdAt: 1_700_000_000_123,
        scheduledAt: 1_700_000_060_456,
        startedAt: undefined,
        settledAt: undefined,
        updatedAt: expect.any(Number),
        lastError: undefined,
        history: [],
        traceId: 'trace-1',
        deadLetterReason: undefined,
        payload: { calendarId: 'c1', list: [1, 2] },
        payloadOmitted: undefined,
        retries: 0,
      });
      expect(await store.getJob(randomUUID())).toBeUndefined();
    });

    test('a null payload stays null; an omitted one says why', async ({ expect }) => {
      const { store } = harness();
      const type = uniqueType();
      const withNull = newJob(type, { payload: null });
      const omitted = newJob(type, { payloadOmitted: 'too_large' });
      await store.createJobs([withNull, omitted]);
      expect((await store.getJob(withNull.id))?.payload).toBeNull();
      expect(await store.getJob(omitted.id)).toMatchObject({ payload: undefined, payloadOmitted: 'too_large' });
    });

    test('dedups by id and by (type, idempotency key), also within one batch', async ({ expect }) => {
      const { store } = harness();
      const type = uniqueType();
      const first = newJob(type, { idempotencyKey: 'same' });
      expect(await store.createJobs([first])).toEqual([{ id: first.id, created: true }]);
      const sameKey = newJob(type, { idempotencyKey: 'same' });
      const otherType = newJob(uniqueType(), { idempotencyKey: 'same' });
      const noKey = newJob(type);
      const twin = newJob(type, { idempotencyKey: 'twin' });
      const twinAgain = newJob(type, { idempotencyKey: 'twin' });
      expect(await store.createJobs([{ ...first, idempotencyKey: undefined }, sameKey, otherType, noKey, twin, twinAgain, noKey])).toEqual([
        { id: first.id, created: false },
        { id: first.id, created: false },
        { id: otherType.id, created: true },
        { id: noKey.id, created: true },
        { id: twin.id, created: true },
        { id: twin.id, created: false },
        { id: noKey.id, created: false },
      ]);
      expect(await store.getJob(sameKey.id)).toBeUndefined();
    });

    test('concurrent creates with one key make exactly one job', async ({ expect }) => {
      const { store } = harness();
      const type = uniqueType();
      const jobs = Array.from({ length: 20 }, () => newJob(type, { idempotencyKey: 'raced' }));
      const results = (await Promise.all(jobs.map((job) => store.createJobs([job])))).flat();
      const winners = results.filter((r) => r.created);
      expect(winners).toHaveLength(1);
      expect(new Set(results.map((r) => r.id))).toEqual(new Set([winners[0]!.id]));
    });

    test('forgetJobs removes only pending jobs never claimed, and frees their key', async ({ expect }) => {
      const { store } = harness();
      const type = uniqueType();
      const unsent = newJob(type, { idempotencyKey: 'forget-me' });
      await store.createJobs([unsent]);
      const released = await claimed();
      await store.settle([
        { jobId: released.job.id, attempt: 1, messageId: released.request.messageId, outcome: { kind: 'pending', attempt: 1 } },
      ]);
      const running = await claimed();
      await store.forgetJobs([unsent.id, released.job.id, running.job.id, randomUUID()]);
      expect(await store.getJob(unsent.id)).toBeUndefined();
      expect((await store.getJob(released.job.id))?.state).toBe('pending');
      expect((await store.getJob(running.job.id))?.state).toBe('running');
      const again = newJob(type, { idempotencyKey: 'forget-me' });
      expect(await store.createJobs([again])).toEqual([{ id: again.id, created: true }]);
    });
  });

  describe.concurrent('claim', () => {
    test('a job without a row gets one, running, from the request', async ({ expect }) => {
      const { store } = harness();
      const job = newJob(uniqueType(), { idempotencyKey: 'from-worker', payload: { a: 1 }, traceId: 't', createdAt: 1_700_000_000_000 });
      expect(await store.claim([claimOf(job, { attempt: 2 })])).toEqual([{ kind: 'claimed', lost: false, created: true }]);
      const row = await store.getJob(job.id);
      expect(row).toMatchObject({ state: 'running', attempt: 2, idempotencyKey: 'from-worker', payload: { a: 1 }, traceId: 't' });
      expect(row?.createdAt).toBe(1_700_000_000_000);
      expect(row?.startedAt).toEqual(expect.any(Number));
    });

    test("a producer's row (no trace id) takes the trace id of its first claim, and keeps it", async ({ expect }) => {
      const { store } = harness();
      const job = newJob(uniqueType());
      await store.createJobs([job]);
      await store.claim([{ ...claimOf(job), row: { ...job, traceId: 'trace-of-attempt-1' } }]);
      expect((await store.getJob(job.id))?.traceId).toBe('trace-of-attempt-1');
      await store.claim([{ ...claimOf(job, { attempt: 2 }), row: { ...job, traceId: 'another' } }]);
      expect((await store.getJob(job.id))?.traceId).toBe('trace-of-attempt-1');
    });

    test('a new row does not take an idempotency key another job holds', async ({ expect }) => {
      const { store } = harness();
      const type = uniqueType();
      await store.createJobs([newJob(type, { idempotencyKey: 'taken' })]);
      const job = newJob(type, { idempotencyKey: 'taken' });
      expect(await store.claim([claimOf(job)])).toEqual([{ kind: 'claimed', lost: false, created: true }]);
      expect(await store.getJob(job.id)).toMatchObject({ state: 'running', idempotencyKey: undefined });
    });

    test('a pending job is claimed: running, started, not lost', async ({ expect }) => {
      const { store } = harness();
      const job = newJob(uniqueType());
      await store.createJobs([job]);
      expect(await store.claim([claimOf(job)])).toEqual([{ kind: 'claimed', lost: false, created: false }]);
      expect(await store.getJob(job.id)).toMatchObject({ state: 'running', attempt: 1, startedAt: expect.any(Number) });
    });

    test('succeeded and dead jobs drop as terminal, cancelled ones as cancelled', async ({ expect }) => {
      const done = await settled({ kind: 'succeeded' });
      const dead = await settled({ kind: 'dead', reason: 'attempts_exhausted', error: failure, history: historyOf(1) });
      const cancelled = await claimed();
      const { store } = harness();
      await store.cancelJob(cancelled.job.id);
      expect(await store.claim([claimOf(done.job), claimOf(dead.job), claimOf(cancelled.job)])).toEqual([
        { kind: 'drop', reason: 'terminal', state: 'succeeded', sameMessage: false },
        { kind: 'drop', reason: 'terminal', state: 'dead', sameMessage: false, deadLetterReason: 'attempts_exhausted' },
        { kind: 'drop', reason: 'cancelled', state: 'cancelled', sameMessage: false },
      ]);
    });

    test('an older attempt drops; a newer one is claimed and becomes the current attempt', async ({ expect }) => {
      const c = await claimed();
      const { store } = c;
      await store.settle([
        {
          jobId: c.job.id,
          attempt: 1,
          messageId: c.request.messageId,
          outcome: { kind: 'backoff', nextAttempt: 2, scheduledAt: Date.now(), error: failure, history: historyOf(1) },
        },
      ]);
      expect(await store.claim([claimOf(c.job, { attempt: 1 })])).toEqual([
        { kind: 'drop', reason: 'older_attempt', state: 'backoff', sameMessage: false },
      ]);
      // Attempt 3 while 2 is held: the newer message wins, nothing was lost.
      const second = claimOf(c.job, { attempt: 2 });
      expect(await store.claim([second])).toEqual([{ kind: 'claimed', lost: false, created: false }]);
      expect(await store.claim([claimOf(c.job, { attempt: 3 })])).toEqual([{ kind: 'claimed', lost: false, created: false }]);
      expect((await store.getJob(c.job.id))?.attempt).toBe(3);
      expect(await store.claim([{ ...second }])).toEqual([{ kind: 'drop', reason: 'older_attempt', state: 'running', sameMessage: false }]);
    });

    test('a held claim drops another message (claim_held) and marks the same message', async ({ expect }) => {
      const c = await claimed();
      expect(await c.store.claim([claimOf(c.job), { ...c.request }])).toEqual([
        { kind: 'drop', reason: 'claim_held', state: 'running', sameMessage: false },
        { kind: 'drop', reason: 'claim_held', state: 'running', sameMessage: true },
      ]);
    });

    test('an expired claim of the same attempt is taken over as lost, and then held', async ({ expect }) => {
      const c = await claimed({ leaseMs: SHORT_LEASE_MS });
      await sleep(EXPIRED_AFTER_MS);
      const takeover = claimOf(c.job);
      expect(await c.store.claim([takeover])).toEqual([{ kind: 'claimed', lost: true, created: false }]);
      expect(await c.store.claim([claimOf(c.job), { ...c.request }])).toEqual([
        { kind: 'drop', reason: 'claim_held', state: 'running', sameMessage: false },
        { kind: 'drop', reason: 'claim_held', state: 'running', sameMessage: false },
      ]);
    });

    test('copies of one job in one batch: the first claims, the rest see its claim', async ({ expect }) => {
      const { store } = harness();
      const job = newJob(uniqueType());
      const first = claimOf(job);
      expect(await store.claim([first, claimOf(job), { ...first }])).toEqual([
        { kind: 'claimed', lost: false, created: true },
        { kind: 'drop', reason: 'claim_held', state: 'running', sameMessage: false },
        { kind: 'drop', reason: 'claim_held', state: 'running', sameMessage: true },
      ]);
      // Two attempts in one batch: the newer one is claimed wherever it stands.
      const other = newJob(uniqueType());
      await store.createJobs([other]);
      expect(await store.claim([claimOf(other, { attempt: 1 }), claimOf(other, { attempt: 2 })])).toEqual([
        { kind: 'drop', reason: 'older_attempt', state: 'running', sameMessage: false },
        { kind: 'claimed', lost: false, created: false },
      ]);
    });

    test('concurrent claims of one attempt: exactly one is claimed, with a row or without', async ({ expect }) => {
      const { store } = harness();
      const existing = newJob(uniqueType());
      await store.createJobs([existing]);
      const missing = newJob(uniqueType());
      for (const job of [existing, missing]) {
        const results = (await Promise.all(Array.from({ length: 8 }, () => store.claim([claimOf(job)])))).flat();
        expect(results.filter((r) => r.kind === 'claimed')).toHaveLength(1);
        expect(results.filter((r) => r.kind === 'drop' && r.reason === 'claim_held' && !r.sameMessage)).toHaveLength(7);
      }
    });
  });

  describe.concurrent('settle', () => {
    test('succeeded is written once; a second settle of it is superseded', async ({ expect }) => {
      const c = await claimed();
      const request = { jobId: c.job.id, attempt: 1, messageId: c.request.messageId, outcome: { kind: 'succeeded' as const } };
      expect(await c.store.settle([request])).toEqual([{ kind: 'settled' }]);
      const row = await c.store.getJob(c.job.id);
      expect(row).toMatchObject({ state: 'succeeded', attempt: 1, settledAt: expect.any(Number) });
      expect(await c.store.settle([{ ...request, outcome: { kind: 'dead', reason: 'late', history: [] } }])).toEqual([
        { kind: 'superseded', state: 'succeeded' },
      ]);
      expect((await c.store.getJob(c.job.id))?.settledAt).toBe(row?.settledAt);
    });

    test('dead keeps the reason, the error and the history', async ({ expect }) => {
      const c = await settled({ kind: 'dead', reason: 'non_retryable', error: { ...failure, reason: 'bad' }, history: historyOf(1) });
      expect(await c.store.getJob(c.job.id)).toMatchObject({
        state: 'dead',
        deadLetterReason: 'non_retryable',
        lastError: { name: 'Error', message: 'boom', reason: 'bad' },
        history: historyOf(1),
        settledAt: expect.any(Number),
      });
    });

    test('backoff advances the attempt and clears the claim; the next attempt claims unlost', async ({ expect }) => {
      const c = await settled({ kind: 'backoff', nextAttempt: 2, scheduledAt: 1_800_000_000_000, error: failure, history: historyOf(1) });
      expect(await c.store.getJob(c.job.id)).toMatchObject({
        state: 'backoff',
        attempt: 2,
        scheduledAt: 1_800_000_000_000,
        lastError: failure,
        history: historyOf(1),
        settledAt: undefined,
      });
      expect(await c.store.renew([{ jobId: c.job.id, attempt: 1, messageId: c.request.messageId, leaseMs: LONG_LEASE_MS }])).toEqual([
        'lost',
      ]);
      expect(await c.store.claim([claimOf(c.job, { attempt: 2 })])).toEqual([{ kind: 'claimed', lost: false, created: false }]);
    });

    test('pending gives the claim back: attempt set, schedule and history only when given', async ({ expect }) => {
      const c = await claimed({}, newJob(uniqueType(), { scheduledAt: 1_750_000_000_000 }));
      const back = (attempt: number, outcome: SettleOutcome) =>
        c.store.settle([{ jobId: c.job.id, attempt, messageId: c.request.messageId, outcome }]);
      expect(await back(1, { kind: 'pending', attempt: 1 })).toEqual([{ kind: 'settled' }]);
      expect(await c.store.getJob(c.job.id)).toMatchObject({ state: 'pending', attempt: 1, scheduledAt: 1_750_000_000_000, history: [] });
      // The same message claims again (no claim was left, nothing lost) and checkpoints back to attempt 1.
      expect(await c.store.claim([{ ...c.request }])).toEqual([{ kind: 'claimed', lost: false, created: false }]);
      expect(await back(1, { kind: 'pending', attempt: 1, scheduledAt: 1_760_000_000_000, history: historyOf(1) })).toEqual([
        { kind: 'settled' },
      ]);
      expect(await c.store.getJob(c.job.id)).toMatchObject({ state: 'pending', scheduledAt: 1_760_000_000_000, history: historyOf(1) });
    });

    test('a settle that does not hold the claim writes nothing', async ({ expect }) => {
      const c = await claimed();
      const stale = { jobId: c.job.id, attempt: 1, messageId: 'another-message', outcome: { kind: 'succeeded' as const } };
      expect(await c.store.settle([stale, { ...stale, messageId: c.request.messageId, attempt: 2 }])).toEqual([
        { kind: 'superseded', state: 'running' },
        { kind: 'superseded', state: 'running' },
      ]);
      expect(await c.store.settle([{ ...stale, jobId: randomUUID() }])).toEqual([{ kind: 'superseded', state: 'succeeded' }]);
      expect((await c.store.getJob(c.job.id))?.state).toBe('running');
    });

    test('after an expired claim is taken over, only the new holder settles', async ({ expect }) => {
      const c = await claimed({ leaseMs: SHORT_LEASE_MS });
      await sleep(EXPIRED_AFTER_MS);
      const takeover = claimOf(c.job);
      await c.store.claim([takeover]);
      const outcome = { kind: 'succeeded' as const };
      expect(
        await c.store.settle([
          { jobId: c.job.id, attempt: 1, messageId: c.request.messageId, outcome },
          { jobId: c.job.id, attempt: 1, messageId: takeover.messageId, outcome },
          { jobId: c.job.id, attempt: 1, messageId: takeover.messageId, outcome },
        ]),
      ).toEqual([{ kind: 'superseded', state: 'running' }, { kind: 'settled' }, { kind: 'superseded', state: 'succeeded' }]);
    });

    test('a cancelled job answers cancelled to its settle', async ({ expect }) => {
      const c = await claimed();
      await c.store.cancelJob(c.job.id);
      expect(
        await c.store.settle([{ jobId: c.job.id, attempt: 1, messageId: c.request.messageId, outcome: { kind: 'succeeded' } }]),
      ).toEqual([{ kind: 'cancelled' }]);
      expect((await c.store.getJob(c.job.id))?.state).toBe('cancelled');
    });
  });

  describe.concurrent('renew', () => {
    test('extends a held claim past its first lease', async ({ expect }) => {
      const c = await claimed({ leaseMs: SHORT_LEASE_MS });
      expect(await c.store.renew([{ jobId: c.job.id, attempt: 1, messageId: c.request.messageId, leaseMs: LONG_LEASE_MS }])).toEqual([
        'held',
      ]);
      await sleep(EXPIRED_AFTER_MS);
      expect(await c.store.claim([claimOf(c.job)])).toEqual([{ kind: 'drop', reason: 'claim_held', state: 'running', sameMessage: false }]);
    });

    test('an expired claim nobody took over is still the message’s to renew', async ({ expect }) => {
      const c = await claimed({ leaseMs: SHORT_LEASE_MS });
      await sleep(EXPIRED_AFTER_MS);
      expect(await c.store.renew([{ jobId: c.job.id, attempt: 1, messageId: c.request.messageId, leaseMs: LONG_LEASE_MS }])).toEqual([
        'held',
      ]);
    });

    test('answers lost for a claim gone or never held, cancelled for a cancelled job', async ({ expect }) => {
      const c = await claimed();
      const done = await settled({ kind: 'succeeded' });
      const cancelled = await claimed();
      await c.store.cancelJob(cancelled.job.id);
      const renewal = (job: { id: string }, messageId: string) => ({ jobId: job.id, attempt: 1, messageId, leaseMs: LONG_LEASE_MS });
      expect(
        await c.store.renew([
          renewal(c.job, 'another-message'),
          renewal(done.job, done.request.messageId),
          renewal(cancelled.job, cancelled.request.messageId),
          renewal({ id: randomUUID() }, 'm'),
          renewal(c.job, c.request.messageId),
        ]),
      ).toEqual(['lost', 'lost', 'cancelled', 'lost', 'held']);
    });
  });

  describe.concurrent('cancel, retry, reopen', () => {
    test('cancel: pending and backoff never run, running is marked, settled and unknown say so', async ({ expect }) => {
      const { store } = harness();
      const pending = newJob(uniqueType());
      await store.createJobs([pending]);
      const running = await claimed();
      const backoff = await settled({ kind: 'backoff', nextAttempt: 2, scheduledAt: Date.now(), error: failure, history: historyOf(1) });
      const done = await settled({ kind: 'succeeded' });
      expect(await store.cancelJob(pending.id)).toEqual({ kind: 'cancelled', wasRunning: false });
      expect(await store.cancelJob(running.job.id)).toEqual({ kind: 'cancelled', wasRunning: true });
      expect(await store.cancelJob(backoff.job.id)).toEqual({ kind: 'cancelled', wasRunning: false });
      expect(await store.cancelJob(done.job.id)).toEqual({ kind: 'settled', state: 'succeeded' });
      expect(await store.cancelJob(pending.id)).toEqual({ kind: 'settled', state: 'cancelled' });
      expect(await store.cancelJob(randomUUID())).toEqual({ kind: 'not_found' });
      expect(await store.getJob(pending.id)).toMatchObject({ state: 'cancelled', settledAt: expect.any(Number) });
      expect(await store.claim([claimOf(backoff.job, { attempt: 2 })])).toEqual([
        { kind: 'drop', reason: 'cancelled', state: 'cancelled', sameMessage: false },
      ]);
    });

    test('retry: a dead job starts a new series at attempt 1, history kept; others cannot', async ({ expect }) => {
      const dead = await settled({ kind: 'dead', reason: 'attempts_exhausted', error: failure, history: historyOf(1) }, { attempt: 3 });
      const { store } = dead;
      const result = await store.retryJob(dead.job.id);
      expect(result).toEqual({
        kind: 'retried',
        job: expect.objectContaining({ id: dead.job.id, state: 'pending', attempt: 1, retries: 1 }),
      });
      expect(result.kind === 'retried' && result.job).toMatchObject({
        history: historyOf(1),
        lastError: failure,
        settledAt: undefined,
        deadLetterReason: undefined,
      });
      expect(await store.getJob(dead.job.id)).toEqual(result.kind === 'retried' ? result.job : undefined);
      expect(await store.claim([claimOf(dead.job, { attempt: 1 })])).toEqual([{ kind: 'claimed', lost: false, created: false }]);
      expect(await store.retryJob(dead.job.id)).toEqual({ kind: 'not_retryable', state: 'running' });
      expect(await store.retryJob(randomUUID())).toEqual({ kind: 'not_found' });
      const cancelled = newJob(uniqueType());
      await store.createJobs([cancelled]);
      await store.cancelJob(cancelled.id);
      expect(await store.retryJob(cancelled.id)).toMatchObject({ kind: 'retried', job: { state: 'pending', retries: 1 } });
    });

    test('reopen: dead and cancelled jobs become pending at the given attempt, others are left', async ({ expect }) => {
      const dead = await settled({ kind: 'dead', reason: 'deadline', history: historyOf(2) }, { attempt: 2 });
      const { store } = dead;
      const cancelled = newJob(uniqueType());
      await store.createJobs([cancelled]);
      await store.cancelJob(cancelled.id);
      const done = await settled({ kind: 'succeeded' });
      const reopened = await store.reopenJobs([
        { jobId: dead.job.id, attempt: 2 },
        { jobId: cancelled.id, attempt: 1 },
        { jobId: dead.job.id, attempt: 5 },
        { jobId: done.job.id, attempt: 1 },
        { jobId: randomUUID(), attempt: 1 },
      ]);
      expect(reopened).toBe(2);
      expect(await store.getJob(dead.job.id)).toMatchObject({ state: 'pending', attempt: 2, settledAt: undefined, history: historyOf(2) });
      expect((await store.getJob(cancelled.id))?.state).toBe('pending');
      expect((await store.getJob(done.job.id))?.state).toBe('succeeded');
      expect(await store.claim([claimOf(dead.job, { attempt: 2 })])).toEqual([{ kind: 'claimed', lost: false, created: false }]);
    });
  });

  describe.concurrent('listJobs', () => {
    async function fiveJobs() {
      const { store } = harness();
      const type = uniqueType();
      // Two share a creation time: the id breaks the tie.
      const times = [1_000, 2_000, 3_000, 3_000, 4_000].map((t) => 1_700_000_000_000 + t);
      const jobs = times.map((createdAt, i) =>
        newJob(type, { createdAt, idempotencyKey: `key-${i}`, id: `${type}-${String.fromCharCode(97 + i)}` }),
      );
      await store.createJobs(jobs);
      const newest = [...jobs].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1)).map((j) => j.id);
      return { store, type, jobs, newest };
    }

    test('newest first by creation time, then id; pages by cursor without overlap', async ({ expect }) => {
      const { store, type, newest } = await fiveJobs();
      const all = await store.listJobs({ type });
      expect(all.jobs.map((j) => j.id)).toEqual(newest);
      expect(all.nextCursor).toBeUndefined();
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 3; page++) {
        const result = await store.listJobs({ type, limit: 2, cursor });
        seen.push(...result.jobs.map((j) => j.id));
        cursor = result.nextCursor;
        if (page < 2) expect(cursor).toEqual(expect.any(String));
      }
      expect(cursor).toBeUndefined();
      expect(seen).toEqual(newest);
    });

    test('filters by state, key (idempotency key or id), since and until', async ({ expect }) => {
      const { store, type, jobs } = await fiveJobs();
      await store.cancelJob(jobs[0]!.id);
      const ids = async (filter: Parameters<JobStore['listJobs']>[0]) => (await store.listJobs({ type, ...filter })).jobs.map((j) => j.id);
      expect(await ids({ state: 'cancelled' })).toEqual([jobs[0]!.id]);
      expect(await ids({ key: 'key-1' })).toEqual([jobs[1]!.id]);
      expect(await ids({ key: jobs[4]!.id })).toEqual([jobs[4]!.id]);
      expect(await ids({ since: jobs[2]!.createdAt, until: jobs[4]!.createdAt })).toEqual([jobs[3]!.id, jobs[2]!.id]);
      expect((await store.listJobs({ key: 'key-1' })).jobs.every((j) => j.idempotencyKey === 'key-1')).toBe(true);
    });

    test('the key filter also matches the concurrency key a running job holds; the record shows it until the settle', async ({
      expect,
    }) => {
      const { store } = harness();
      const type = uniqueType();
      const key = `tenant-${randomUUID().slice(0, 8)}`;
      const [running, waiting, other] = [
        newJob(type, { keys: [key], idempotencyKey: `idem-${randomUUID().slice(0, 8)}` }),
        newJob(type, { keys: [key] }),
        newJob(type),
      ];
      await store.createJobs([running!, waiting!, other!]);
      const request = claimOf(running!, { concurrency: { key, limit: 1 } });
      expect(await store.claim([request])).toEqual([{ kind: 'claimed', lost: false, created: false }]);
      expect((await store.getJob(running!.id))?.concurrencyKey).toBe(key);
      expect((await store.getJob(waiting!.id))?.concurrencyKey).toBeUndefined();
      // By the concurrency key: the job holding it; by its idempotency key: the same job, as before.
      const byKey = await store.listJobs({ key });
      expect(byKey.jobs.map((j) => [j.id, j.concurrencyKey])).toEqual([[running!.id, key]]);
      expect((await store.listJobs({ key: running!.idempotencyKey })).jobs.map((j) => j.id)).toEqual([running!.id]);
      await store.settle([{ jobId: running!.id, attempt: 1, messageId: request.messageId, outcome: { kind: 'succeeded' } }]);
      expect((await store.getJob(running!.id))?.concurrencyKey).toBeUndefined();
      expect((await store.listJobs({ key })).jobs).toEqual([]);
    });

    test('50 a page by default, at most 1000', async ({ expect }) => {
      const { store } = harness();
      const type = uniqueType();
      await store.createJobs(Array.from({ length: 1001 }, (_, i) => newJob(type, { createdAt: 1_700_000_000_000 + i })));
      const first = await store.listJobs({ type });
      expect(first.jobs).toHaveLength(50);
      expect(first.jobs[0]?.createdAt).toBe(1_700_000_001_000);
      expect((await store.listJobs({ type, limit: 5000 })).jobs).toHaveLength(1000);
    });

    test('a cursor that is not one is refused', async ({ expect }) => {
      await expect(harness().store.listJobs({ cursor: 'not-a-cursor' })).rejects.toMatchObject({ name: 'ConfigError', setting: 'cursor' });
    });
  });

  describe.concurrent('prune', () => {
    test('deletes settled jobs older than the cutoff in batches; never unsettled ones', async ({ expect }) => {
      const store = await harness().fresh();
      try {
        const type = uniqueType();
        const jobs = Array.from({ length: 7 }, (_, i) => newJob(type, { idempotencyKey: `p${i}` }));
        await store.createJobs(jobs);
        const claims = jobs.map((job) => claimOf(job));
        await store.claim(claims);
        const outcomes: SettleOutcome[] = [
          { kind: 'succeeded' },
          { kind: 'succeeded' },
          { kind: 'dead', reason: 'x', history: [] },
          { kind: 'backoff', nextAttempt: 2, scheduledAt: Date.now(), error: failure, history: historyOf(1) },
          { kind: 'pending', attempt: 1 },
        ];
        await store.settle(outcomes.map((outcome, i) => ({ jobId: jobs[i]!.id, attempt: 1, messageId: claims[i]!.messageId, outcome })));
        await store.cancelJob(jobs[5]!.id);
        // jobs[6] stays running.
        expect(await store.prune({ olderThanMs: LONG_LEASE_MS })).toBe(0);
        await sleep(30);
        expect(await store.prune({ olderThanMs: 10, batchSize: 2 })).toBe(4);
        const left = (await store.listJobs({ type })).jobs.map((j) => j.state).sort();
        expect(left).toEqual(['backoff', 'pending', 'running']);
        // The key of a pruned job is free again.
        const again = newJob(type, { idempotencyKey: 'p0' });
        expect(await store.createJobs([again])).toEqual([{ id: again.id, created: true }]);
        await store.ping();
      } finally {
        await store.close();
      }
    });
  });
  // Not concurrent with prune: on PGlite each takes the one session's second connection.
  describe('activity', () => {
    test('counts settles and failed attempts per bucket over the window, and the workers seen lately', async ({ expect }) => {
      const store = await harness().fresh();
      try {
        const type = uniqueType();
        const jobs = Array.from({ length: 5 }, () => newJob(type));
        await store.createJobs(jobs);
        const claims = jobs.map((job, i) => claimOf(job, { worker: i < 3 ? 'host-a:1' : 'host-b:2' }));
        await store.claim(claims);
        const recentFailure = (attempt: number) => ({ ...historyOf(attempt)[0]!, at: new Date().toISOString() });
        const outcomes: SettleOutcome[] = [
          { kind: 'succeeded' },
          { kind: 'succeeded' },
          // Two failed attempts in the window, one long before it.
          { kind: 'dead', reason: 'attempts_exhausted', error: failure, history: [...historyOf(1), recentFailure(2), recentFailure(3)] },
          { kind: 'backoff', nextAttempt: 2, scheduledAt: Date.now() + LONG_LEASE_MS, error: failure, history: [recentFailure(1)] },
        ];
        await store.settle(outcomes.map((outcome, i) => ({ jobId: jobs[i]!.id, attempt: 1, messageId: claims[i]!.messageId, outcome })));
        // jobs[4] stays running on host-b.
        const activity = await store.activity({ windowMs: 3_600_000, bucketMs: 60_000, workersWindowMs: 900_000 });
        expect(activity.buckets).toHaveLength(60);
        expect(activity.buckets[0]!.start).toBe(activity.now - 3_600_000);
        expect(activity.buckets[59]!.start).toBe(activity.now - 60_000);
        const sum = (key: 'succeeded' | 'dead' | 'failed') => activity.buckets.reduce((total, b) => total + b[key], 0);
        expect({ succeeded: sum('succeeded'), dead: sum('dead'), failed: sum('failed') }).toEqual({ succeeded: 2, dead: 1, failed: 3 });
        // All of it just now: in the last bucket or the one before it.
        expect(activity.buckets.slice(0, 58).every((b) => b.succeeded + b.dead + b.failed === 0)).toBe(true);
        expect(activity.workers.map((w) => [w.worker, w.running]).sort()).toEqual([
          ['host-a:1', 0],
          ['host-b:2', 1],
        ]);
        expect(activity.workers.every((w) => Math.abs(w.lastSeenAt - activity.now) < 60_000)).toBe(true);
        // A window shorter than the time since: nothing settled in it, and only the worker still running is seen.
        // (The wait matters: the memory store does all of the above within one millisecond.)
        await sleep(30);
        const none = await store.activity({ windowMs: 10, bucketMs: 10, workersWindowMs: 10 });
        expect(none.buckets).toEqual([{ start: none.now - 10, succeeded: 0, dead: 0, failed: 0 }]);
        expect(none.workers.map((w) => w.worker)).toEqual(['host-b:2']);
      } finally {
        await store.close();
      }
    });
  });

  keyCases(harness);
}
