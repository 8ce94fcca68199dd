/**
 * Tick timing (src/store/schedule-timing.ts): every-intervals, cron in an IANA zone across both DST
 * changes driven by an injected clock through the real scheduler pass, jitter within bounds and stable
 * per tick (fast-check), and the tick ids (UUID v5, stable, one per tick).
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../../src/machines/define-job.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { noopWorkerTelemetry } from '../../src/runtime/attempt-telemetry.js';
import { Scheduler } from '../../src/runtime/scheduler.js';
import { MemoryJobStore } from '../../src/store/memory-store.js';
import { resolveSchedule } from '../../src/store/schedule-spec.js';
import { fireAt, jitterFor, tickAfter, tickJobId, ticksAfter, timingAfter } from '../../src/store/schedule-timing.js';
import { storeRecorder } from '../../src/store/store-recorder.js';
import { ManualClock } from '../support/manual-clock.js';
import { silentLogger } from '../support/runtime-harness.js';

const at = (text: string) => Date.parse(text);
const isoList = (ticks: number[]) => ticks.map((t) => new Date(t).toISOString());

describe('every', () => {
  test('ticks at multiples of the interval since the epoch, or since startAt', () => {
    const every = resolveSchedule({ id: 'e', job: { type: 't' }, every: '5m' });
    expect(isoList(ticksAfter(every, at('2026-01-01T10:02:00Z'), 3))).toEqual([
      '2026-01-01T10:05:00.000Z',
      '2026-01-01T10:10:00.000Z',
      '2026-01-01T10:15:00.000Z',
    ]);
    // Strictly after: a time on a tick gives the next one.
    expect(tickAfter(every, at('2026-01-01T10:05:00Z'))).toBe(at('2026-01-01T10:10:00Z'));
    const anchored = resolveSchedule({
      id: 'a',
      job: { type: 't' },
      every: 60_000,
      startAt: '2026-01-01T10:00:07Z',
      endAt: '2026-01-01T10:02:07Z',
    });
    expect(isoList(ticksAfter(anchored, at('2026-01-01T09:00:00Z'), 10))).toEqual([
      '2026-01-01T10:00:07.000Z',
      '2026-01-01T10:01:07.000Z',
      '2026-01-01T10:02:07.000Z',
    ]);
    expect(timingAfter(anchored, at('2026-01-01T10:02:07Z'))).toEqual({ nextTickAt: undefined, nextFireAt: undefined });
  });
});

/** Runs the real scheduler pass over a memory store on a manual clock from `from` to `to`, one pass a minute; the tick times it fired. */
async function firedTicks(input: Parameters<typeof resolveSchedule>[0], from: number, to: number, stepMs = 60_000): Promise<number[]> {
  const clock = new ManualClock(from);
  const store = new MemoryJobStore({ now: () => clock.now() });
  const transport = new MemoryTransport({ clock });
  const queueUrl = await transport.createQueue('q');
  const job = defineJob({ type: 't', schema: z.object({}), handler: async () => undefined });
  const queue = new JobQueue({
    transport,
    queueUrl,
    jobs: [job],
    clock,
    recorder: storeRecorder(store, { enabled: true, redactPaths: [] }),
  });
  const spec = resolveSchedule(input);
  await store.schedules.upsert(spec, timingAfter(spec, clock.now()));
  const scheduler = new Scheduler({
    store,
    schedules: store.schedules,
    queue,
    clock,
    logger: silentLogger(),
    telemetry: noopWorkerTelemetry,
    onError: (error) => {
      throw error;
    },
  });
  const ticks: number[] = [];
  for (let now = from; now <= to; now += stepMs) {
    clock.setTime(now);
    await scheduler.pass();
    // Each tick's job ends at once, so skip never holds one back.
    for (const run of (await store.schedules.get(spec.id))!.runs) {
      if (!ticks.includes(run.tickAt)) ticks.push(run.tickAt);
      await store.cancelJob(run.jobId);
    }
  }
  return ticks;
}

describe('cron in a time zone, across DST (croner owns the rules), through the scheduler on an injected clock', () => {
  test('spring forward in Berlin: 02:30 does not exist on 29 March, the run moves to 03:30 CEST; the hours after shift by one', async () => {
    const ticks = await firedTicks(
      { id: 'berlin-daily', job: { type: 't', payload: {} }, cron: '30 2 * * *', timezone: 'Europe/Berlin' },
      at('2026-03-27T12:00:00Z'),
      at('2026-03-31T12:00:00Z'),
      15 * 60_000,
    );
    expect(isoList(ticks)).toEqual([
      '2026-03-28T01:30:00.000Z', // 02:30 CET (UTC+1)
      '2026-03-29T01:30:00.000Z', // the skipped hour: 03:30 CEST
      '2026-03-30T00:30:00.000Z', // 02:30 CEST (UTC+2)
      '2026-03-31T00:30:00.000Z',
    ]);
  });

  test('fall back in Berlin: a */30 schedule fires once for the repeated wall-clock times, then goes on in CET', async () => {
    const ticks = await firedTicks(
      { id: 'berlin-half-hour', job: { type: 't', payload: {} }, cron: '*/30 * * * *', timezone: 'Europe/Berlin' },
      at('2026-10-24T23:00:30Z'),
      at('2026-10-25T03:10:00Z'),
    );
    expect(isoList(ticks)).toEqual([
      '2026-10-24T23:30:00.000Z',
      '2026-10-25T00:00:00.000Z', // 02:00 CEST
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      // 02:00 and 02:30 CET (01:00Z, 01:30Z) repeat wall-clock times already run: croner runs them once
      '2026-10-25T02:00:00.000Z', // 03:00 CET
      '2026-10-25T02:30:00.000Z',
      '2026-10-25T03:00:00.000Z',
    ]);
  });

  test('New York 09:00 stays 09:00 local across 8 March (13:00Z after, 14:00Z before)', async () => {
    const ticks = await firedTicks(
      { id: 'ny', job: { type: 't', payload: {} }, cron: '0 9 * * *', timezone: 'America/New_York' },
      at('2026-03-06T20:00:00Z'),
      at('2026-03-09T20:00:00Z'),
      30 * 60_000,
    );
    expect(isoList(ticks)).toEqual(['2026-03-07T14:00:00.000Z', '2026-03-08T13:00:00.000Z', '2026-03-09T13:00:00.000Z']);
  });
});

describe('jitter', () => {
  test('is within [0, jitterMs), the same for the same (schedule, tick) on every call, and fires after the tick', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 4_000_000_000_000 }),
        fc.integer({ min: 1, max: 86_400_000 }),
        (id, tickAt, jitterMs) => {
          const j = jitterFor(id, tickAt, jitterMs);
          expect(Number.isInteger(j)).toBe(true);
          expect(j).toBeGreaterThanOrEqual(0);
          expect(j).toBeLessThan(jitterMs);
          expect(jitterFor(id, tickAt, jitterMs)).toBe(j);
          const fired = fireAt({ id, jitterMs }, tickAt);
          expect(fired).toBe(tickAt + j);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  test('is zero without jitter, and spreads the ticks of many schedules over the window', () => {
    expect(jitterFor('s', 1, 0)).toBe(0);
    const offsets = Array.from({ length: 10_000 }, (_, n) => jitterFor(`account-${n}`, at('2026-01-01T00:00:00Z'), 60_000));
    // Ten 6-second buckets: each gets about a tenth (1000 ± 15 %).
    const buckets = new Array(10).fill(0);
    for (const offset of offsets) buckets[Math.floor(offset / 6_000)]++;
    for (const count of buckets) expect(count).toBeGreaterThan(850);
    for (const count of buckets) expect(count).toBeLessThan(1150);
  });
});

describe('tick ids', () => {
  test('are UUID v5, stable per (schedule, tick), different across ticks and schedules', () => {
    const id = tickJobId('account-1', at('2026-01-01T00:05:00Z'));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(z.uuid().safeParse(id).success).toBe(true);
    expect(tickJobId('account-1', at('2026-01-01T00:05:00Z'))).toBe(id);
    expect(tickJobId('account-1', at('2026-01-01T00:10:00Z'))).not.toBe(id);
    expect(tickJobId('account-2', at('2026-01-01T00:05:00Z'))).not.toBe(id);
  });
});
