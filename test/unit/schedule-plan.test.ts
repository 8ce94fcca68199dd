/**
 * The scheduler's plan for one claimed schedule (src/runtime/schedule-plan.ts): overlap policies judged
 * from the latest run's job state, the catch-up window after downtime, and where the next tick is.
 */
import { describe, expect, test } from 'vitest';
import { BUFFER_RECHECK_MS, planSchedule } from '../../src/runtime/schedule-plan.js';
import type { JobState } from '../../src/store/job-store.js';
import type { DueSchedule, OverlapPolicy } from '../../src/store/schedule-store.js';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const SECOND = 1_000;

function due(fields: {
  overlap?: OverlapPolicy;
  nextTickAt?: number;
  bufferedTickAt?: number;
  last?: JobState;
  windowMs?: number;
}): DueSchedule {
  return {
    spec: {
      id: 's',
      job: { type: 't', payload: null },
      every: SECOND,
      jitterMs: 0,
      overlap: fields.overlap ?? 'skip',
      catchupWindowMs: fields.windowMs ?? 60_000,
      paused: false,
    },
    createdAt: 0,
    updatedAt: 0,
    nextTickAt: fields.nextTickAt ?? NOW,
    nextFireAt: fields.nextTickAt ?? NOW,
    bufferedTickAt: fields.bufferedTickAt,
    runs: [],
    firedTotal: 0,
    skippedTotal: 0,
    token: 'tok',
    lastJobState: fields.last,
  };
}

describe('one due tick', () => {
  test.each<[OverlapPolicy, JobState | undefined, 'fire' | 'skip' | 'buffer']>([
    ['skip', undefined, 'fire'],
    ['skip', 'succeeded', 'fire'],
    ['skip', 'dead', 'fire'],
    ['skip', 'cancelled', 'fire'],
    ['skip', 'pending', 'skip'],
    ['skip', 'running', 'skip'],
    ['skip', 'backoff', 'skip'],
    ['bufferOne', undefined, 'fire'],
    ['bufferOne', 'running', 'buffer'],
    ['bufferOne', 'backoff', 'buffer'],
    ['bufferOne', 'pending', 'skip'],
    ['allowAll', 'running', 'fire'],
    ['allowAll', 'pending', 'fire'],
  ])('%s with the latest job %s: %s', (overlap, last, expected) => {
    const plan = planSchedule(due({ overlap, ...(last === undefined ? {} : { last }) }), NOW);
    expect(plan.nextTickAt).toBe(NOW + SECOND);
    if (expected === 'fire') expect(plan.fire).toEqual([{ tickAt: NOW, fireAt: NOW, kind: 'tick' }]);
    else expect(plan.fire).toEqual([]);
    expect(plan.skippedOverlap).toBe(expected === 'skip' ? 1 : 0);
    expect(plan.bufferedTickAt).toBe(expected === 'buffer' ? NOW : undefined);
    expect(plan.dueAt).toBe(expected === 'buffer' ? NOW + BUFFER_RECHECK_MS : NOW + SECOND);
  });
});

describe('bufferOne keeps at most one waiting', () => {
  test('a buffered tick with its job still running: the new tick is skipped, the buffer kept', () => {
    const plan = planSchedule(due({ overlap: 'bufferOne', last: 'running', bufferedTickAt: NOW - SECOND }), NOW);
    expect(plan.fire).toEqual([]);
    expect(plan.bufferedTickAt).toBe(NOW - SECOND);
    expect(plan.skippedOverlap).toBe(1);
  });

  test('the running job ended: the buffered tick fires, the new tick finds it waiting and is skipped', () => {
    const plan = planSchedule(due({ overlap: 'bufferOne', last: 'succeeded', bufferedTickAt: NOW - SECOND }), NOW);
    expect(plan.fire).toEqual([{ tickAt: NOW - SECOND, fireAt: NOW - SECOND, kind: 'buffered' }]);
    expect(plan.bufferedTickAt).toBeUndefined();
    expect(plan.skippedOverlap).toBe(1);
  });

  test('a re-check between ticks with the job ended fires the buffer and leaves the next tick alone', () => {
    const plan = planSchedule(due({ overlap: 'bufferOne', last: 'succeeded', bufferedTickAt: NOW - 500, nextTickAt: NOW + 500 }), NOW);
    expect(plan.fire.map((r) => r.kind)).toEqual(['buffered']);
    expect(plan.nextTickAt).toBe(NOW + 500);
    expect(plan.dueAt).toBe(NOW + 500);
  });
});

describe('catch-up after downtime', () => {
  test('5 ticks missed within the window: skip and bufferOne run one catch-up (the latest), allowAll runs each', () => {
    for (const overlap of ['skip', 'bufferOne'] as const) {
      const plan = planSchedule(due({ overlap, nextTickAt: NOW - 4 * SECOND }), NOW);
      expect(plan.fire).toEqual([{ tickAt: NOW, fireAt: NOW, kind: 'catchup' }]);
      expect(plan.skippedOverlap).toBe(4);
      expect(plan.nextTickAt).toBe(NOW + SECOND);
    }
    const all = planSchedule(due({ overlap: 'allowAll', nextTickAt: NOW - 4 * SECOND }), NOW);
    expect(all.fire.map((r) => r.tickAt)).toEqual([4, 3, 2, 1, 0].map((n) => NOW - n * SECOND));
    expect(all.fire.every((r) => r.kind === 'catchup')).toBe(true);
  });

  test('ticks older than the window are missed; the rest collapse into one run', () => {
    const plan = planSchedule(due({ nextTickAt: NOW - 10 * SECOND, windowMs: 3 * SECOND }), NOW);
    expect(plan.skippedMissed).toBe(7);
    expect(plan.skippedOverlap).toBe(3);
    expect(plan.fire).toEqual([{ tickAt: NOW, fireAt: NOW, kind: 'catchup' }]);
  });

  test('a catch-up window of 0 runs only a tick due this very moment', () => {
    const plan = planSchedule(due({ nextTickAt: NOW - 10 * SECOND, windowMs: 0 }), NOW);
    expect(plan.fire.map((r) => r.tickAt)).toEqual([NOW]);
    expect(plan.skippedMissed).toBe(10);
  });

  test('a week down on every 1 s: the walk jumps to the window, counts what it missed, runs one catch-up', () => {
    const week = 7 * 86_400 * SECOND;
    const plan = planSchedule(due({ nextTickAt: NOW - week }), NOW);
    expect(plan.fire).toEqual([{ tickAt: NOW, fireAt: NOW, kind: 'catchup' }]);
    expect(plan.skippedMissed + plan.skippedOverlap + 1).toBeGreaterThan(week / SECOND - 5);
    expect(plan.skippedMissed + plan.skippedOverlap + 1).toBeLessThan(week / SECOND + 5);
    expect(plan.nextTickAt).toBe(NOW + SECOND);
  });

  test('with the latest job still running, skip runs no catch-up at all', () => {
    const plan = planSchedule(due({ nextTickAt: NOW - 4 * SECOND, last: 'running' }), NOW);
    expect(plan.fire).toEqual([]);
    expect(plan.skippedOverlap).toBe(5);
  });
});

test('a schedule past its end has no next tick and is not due again', () => {
  const row = due({});
  row.spec.endAt = NOW;
  const plan = planSchedule(row, NOW);
  expect(plan.fire).toHaveLength(1);
  expect(plan.nextTickAt).toBeUndefined();
  expect(plan.dueAt).toBeUndefined();
});
