/**
 * The schedule store's rules (src/store/schedule-store.ts, docs/schedules.md), written once and run on
 * every implementation by schedule-store.conformance.test.ts: memory, PGlite embedded, PostgreSQL 15.
 * A claim takes any due row, so the cases run one after another and each deletes its schedules.
 * Lease expiry is real time: 50 ms leases, 120 ms waits.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, test } from 'vitest';
import type { JobStore } from '../../src/store/job-store.js';
import { schedulesOf, type ScheduleSpec, type ScheduleStore } from '../../src/store/schedule-store.js';

export interface ScheduleHarness {
  readonly name: string;
  readonly store: JobStore;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function spec(fields: Partial<ScheduleSpec> = {}): ScheduleSpec {
  return {
    id: `s-${randomUUID().slice(0, 8)}`,
    job: { type: 'conformance.tick', payload: { n: 1 } },
    every: 60_000,
    jitterMs: 0,
    overlap: 'skip',
    catchupWindowMs: 60_000,
    paused: false,
    ...fields,
  };
}

export function scheduleCases(harness: () => ScheduleHarness): void {
  const created: string[] = [];
  const schedules = (): ScheduleStore => {
    const store = schedulesOf(harness().store);
    if (!store) throw new Error(`${harness().name} has no schedules`);
    return store;
  };
  /** Upserts a schedule due `dueInMs` from now (negative: already due) and remembers it for clean-up. */
  async function upserted(dueInMs: number, fields: Partial<ScheduleSpec> = {}): Promise<ScheduleSpec> {
    const s = spec(fields);
    const at = Date.now() + dueInMs;
    await schedules().upsert(s, { nextTickAt: at, nextFireAt: at });
    created.push(s.id);
    return s;
  }
  const claim = (limit = 100, leaseMs = 60_000) => schedules().claimDue({ limit, leaseMs, token: randomUUID() });

  afterEach(async () => {
    for (const id of created.splice(0)) await schedules().delete(id);
  });

  describe('upsert, get, list, pause, delete', () => {
    test('upsert creates, then replaces; get gives the spec back as written', async () => {
      const s = spec({
        cron: '*/5 * * * *',
        every: undefined,
        timezone: 'Europe/Berlin',
        jitterMs: 30_000,
        overlap: 'bufferOne',
        catchupWindowMs: 5_000,
        startAt: 1_700_000_000_000,
        endAt: 1_900_000_000_000,
        job: { type: 'conformance.tick', payload: null },
      });
      delete s.every;
      created.push(s.id);
      expect(await schedules().upsert(s, { nextTickAt: 1_800_000_000_000, nextFireAt: 1_800_000_012_345 })).toEqual({ created: true });
      const got = await schedules().get(s.id);
      expect(got?.spec).toEqual(s);
      expect(got).toMatchObject({ nextTickAt: 1_800_000_000_000, nextFireAt: 1_800_000_012_345, runs: [], firedTotal: 0, skippedTotal: 0 });
      expect(got?.bufferedTickAt).toBeUndefined();
      const replaced = { ...s, job: { type: 'conformance.other', payload: { deep: [1, { x: 'y' }] } }, paused: true };
      expect(await schedules().upsert(replaced, { nextTickAt: undefined, nextFireAt: undefined })).toEqual({ created: false });
      const again = await schedules().get(s.id);
      expect(again?.spec).toEqual(replaced);
      expect(again?.nextTickAt).toBeUndefined();
      expect(again?.createdAt).toBe(got?.createdAt);
    });

    test('get of an unknown id is undefined; pause, resume and delete say whether it existed', async () => {
      expect(await schedules().get('no-such-schedule')).toBeUndefined();
      expect(await schedules().setPaused('no-such-schedule', true)).toBe(false);
      expect(await schedules().delete('no-such-schedule')).toBe(false);
      expect(await schedules().recordRun('no-such-schedule', { tickAt: 1, jobId: randomUUID(), firedAt: 1, kind: 'trigger' })).toBe(false);
      const s = await upserted(60_000);
      expect(await schedules().setPaused(s.id, true)).toBe(true);
      expect((await schedules().get(s.id))?.spec.paused).toBe(true);
      expect(await schedules().setPaused(s.id, false)).toBe(true);
      expect((await schedules().get(s.id))?.spec.paused).toBe(false);
      expect(await schedules().delete(s.id)).toBe(true);
      expect(await schedules().get(s.id)).toBeUndefined();
    });

    test('list is ordered by id, pages with after and limit', async () => {
      const prefix = `l-${randomUUID().slice(0, 6)}`;
      for (const n of [3, 1, 2]) await upserted(60_000, { id: `${prefix}-${n}` });
      const all = (await schedules().list({ limit: 1000 })).map((r) => r.spec.id).filter((id) => id.startsWith(prefix));
      expect(all).toEqual([`${prefix}-1`, `${prefix}-2`, `${prefix}-3`]);
      const page = await schedules().list({ after: `${prefix}-1`, limit: 1 });
      expect(page.map((r) => r.spec.id)).toEqual([`${prefix}-2`]);
    });

    test('recordRun appends, keeps the newest 10 oldest first, and counts fired', async () => {
      const s = await upserted(60_000);
      const ids = Array.from({ length: 12 }, () => randomUUID());
      for (const [n, jobId] of ids.entries()) await schedules().recordRun(s.id, { tickAt: n, jobId, firedAt: n, kind: 'trigger' });
      const got = await schedules().get(s.id);
      expect(got?.runs.map((r) => r.jobId)).toEqual(ids.slice(2));
      expect(got?.firedTotal).toBe(12);
    });
  });

  describe('claimDue and advance', () => {
    test('claims only due, unpaused rows, oldest due first, within the limit, and counts every due row', async () => {
      const later = await upserted(60_000);
      const paused = await upserted(-5_000, { paused: true });
      const second = await upserted(-2_000);
      const first = await upserted(-3_000);
      const third = await upserted(-1_000);
      const result = await claim(2);
      expect(result.schedules.map((r) => r.spec.id)).toEqual([first.id, second.id]);
      expect(result.dueCount).toBe(3);
      expect(Math.abs(result.now - Date.now())).toBeLessThan(5_000);
      const rest = await claim(10);
      expect(rest.schedules.map((r) => r.spec.id)).toEqual([third.id]);
      expect(rest.dueCount).toBe(3);
      expect([later.id, paused.id]).not.toContain(rest.schedules[0]?.spec.id);
    });

    test('a leased row is not claimed again until its lease runs out; the old token then writes nothing', async () => {
      const s = await upserted(-1_000);
      const first = await claim(10, 50);
      expect(first.schedules.map((r) => r.spec.id)).toEqual([s.id]);
      expect((await claim()).schedules).toEqual([]);
      await sleep(120);
      const second = await claim();
      expect(second.schedules.map((r) => r.spec.id)).toEqual([s.id]);
      const advance = (token: string) => ({
        id: s.id,
        token,
        nextTickAt: Date.now() + 60_000,
        nextFireAt: Date.now() + 60_000,
        dueAt: Date.now() + 60_000,
        bufferedTickAt: undefined,
        runs: [],
        skipped: 1,
      });
      expect(await schedules().advance([advance(first.schedules[0]!.token)])).toEqual([false]);
      expect(await schedules().advance([advance(second.schedules[0]!.token)])).toEqual([true]);
      expect((await schedules().get(s.id))?.skippedTotal).toBe(1);
    });

    test('advance writes the next tick, the buffer, the runs and the totals, and ends the lease', async () => {
      const s = await upserted(-1_000);
      const other = await upserted(-1_000);
      const { schedules: claimed } = await claim();
      expect(claimed.map((r) => r.spec.id).sort()).toEqual([s.id, other.id].sort());
      const token = claimed[0]!.token;
      const next = Date.now() + 60_000;
      const run = { tickAt: next - 60_000, jobId: randomUUID(), firedAt: Date.now(), kind: 'tick' as const };
      const results = await schedules().advance([
        {
          id: s.id,
          token,
          nextTickAt: next,
          nextFireAt: next + 7,
          dueAt: next + 7,
          bufferedTickAt: next - 30_000,
          runs: [run],
          skipped: 2,
        },
        {
          id: other.id,
          token,
          nextTickAt: undefined,
          nextFireAt: undefined,
          dueAt: undefined,
          bufferedTickAt: undefined,
          runs: [],
          skipped: 0,
        },
      ]);
      expect(results).toEqual([true, true]);
      const got = await schedules().get(s.id);
      expect(got).toMatchObject({ nextTickAt: next, nextFireAt: next + 7, bufferedTickAt: next - 30_000, firedTotal: 1, skippedTotal: 2 });
      expect(got?.runs).toEqual([run]);
      expect((await schedules().get(other.id))?.nextTickAt).toBeUndefined();
      // Neither is due now: one is in a minute, the other has ended.
      expect((await claim()).schedules).toEqual([]);
      // A due time sooner than the fire time (a buffered tick's re-check) makes the row due then.
      const soon = await upserted(-1_000);
      const [c] = (await claim()).schedules;
      await schedules().advance([
        {
          id: soon.id,
          token: c!.token,
          nextTickAt: next,
          nextFireAt: next,
          dueAt: Date.now() - 1,
          bufferedTickAt: undefined,
          runs: [],
          skipped: 0,
        },
      ]);
      expect((await claim()).schedules.map((r) => r.spec.id)).toEqual([soon.id]);
    });

    test("the claim reads the latest run's job state from the job store", async () => {
      const { store } = harness();
      const s = await upserted(-1_000);
      const [first] = (await claim()).schedules;
      expect(first?.lastJobState).toBeUndefined();
      const jobId = randomUUID();
      await store.createJobs([{ id: jobId, type: 'conformance.tick', createdAt: Date.now() }]);
      const run = { tickAt: Date.now(), jobId, firedAt: Date.now(), kind: 'tick' as const };
      await schedules().advance([
        { id: s.id, token: first!.token, nextTickAt: 0, nextFireAt: 0, dueAt: 0, bufferedTickAt: undefined, runs: [run], skipped: 0 },
      ]);
      const [second] = (await claim()).schedules;
      expect(second?.lastJobState).toBe('pending');
      await store.cancelJob(jobId);
      await schedules().advance([
        { id: s.id, token: second!.token, nextTickAt: 0, nextFireAt: 0, dueAt: 0, bufferedTickAt: undefined, runs: [], skipped: 0 },
      ]);
      const [third] = (await claim()).schedules;
      expect(third?.lastJobState).toBe('cancelled');
      // A trigger's run counts as the latest run too.
      const triggered = randomUUID();
      await store.createJobs([{ id: triggered, type: 'conformance.tick', createdAt: Date.now() }]);
      await schedules().recordRun(s.id, { tickAt: Date.now(), jobId: triggered, firedAt: Date.now(), kind: 'trigger' });
      await schedules().advance([
        { id: s.id, token: third!.token, nextTickAt: 0, nextFireAt: 0, dueAt: 0, bufferedTickAt: undefined, runs: [], skipped: 0 },
      ]);
      expect((await claim()).schedules[0]?.lastJobState).toBe('pending');
    });

    test('an upsert drops the lease: the worker holding the row writes nothing back', async () => {
      const s = await upserted(-1_000);
      const [held] = (await claim()).schedules;
      const at = Date.now() + 3_600_000;
      await schedules().upsert({ ...s, every: 120_000 }, { nextTickAt: at, nextFireAt: at });
      const results = await schedules().advance([
        { id: s.id, token: held!.token, nextTickAt: 1, nextFireAt: 1, dueAt: 1, bufferedTickAt: undefined, runs: [], skipped: 0 },
      ]);
      expect(results).toEqual([false]);
      expect((await schedules().get(s.id))?.nextTickAt).toBe(at);
    });
  });
}
