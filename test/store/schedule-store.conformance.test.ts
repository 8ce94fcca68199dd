/**
 * One schedule-store suite (schedule.cases.ts), three stores: MemoryJobStore's, PostgresJobStore's on
 * PGlite embedded, and on a real PostgreSQL 15 (a private cluster from test/support/postgres.ts), where
 * concurrent claims from two pools also show `FOR UPDATE SKIP LOCKED` at work.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startEmbeddedStore, type EmbeddedStore } from '../../src/store/embedded.js';
import { MemoryJobStore } from '../../src/store/memory-store.js';
import { PostgresJobStore } from '../../src/store/postgres-store.js';
import { startPostgres, type PostgresDatabase } from '../support/postgres.js';
import { scheduleCases, type ScheduleHarness } from './schedule.cases.js';

function conformance(name: string, start: () => Promise<{ harness: ScheduleHarness; stop(): Promise<void> }>, extra?: () => void) {
  describe(name, () => {
    let running: { harness: ScheduleHarness; stop(): Promise<void> } | undefined;
    beforeAll(async () => {
      running = await start();
    });
    afterAll(async () => {
      await running?.stop();
    });
    scheduleCases(() => {
      if (!running) throw new Error(`${name} did not start`);
      return running.harness;
    });
    extra?.();
  });
}

conformance('MemoryJobStore schedules', async () => {
  const store = new MemoryJobStore();
  return { harness: { name: 'memory', store }, stop: () => store.close() };
});

conformance('PostgresJobStore schedules on PGlite (embedded)', async () => {
  const embedded: EmbeddedStore = await startEmbeddedStore();
  return { harness: { name: 'pglite', store: embedded.store }, stop: () => embedded.close() };
});

let database: PostgresDatabase | undefined;

conformance(
  'PostgresJobStore schedules on PostgreSQL 15',
  async () => {
    database = await startPostgres();
    const store = await PostgresJobStore.connect(database.connectionString, { max: 4 });
    return {
      harness: { name: 'postgres', store },
      async stop() {
        await store.close();
        await database?.stop();
      },
    };
  },
  () => {
    test('concurrent claims from two pools take disjoint rows (SKIP LOCKED), and all of them', async () => {
      const a = await PostgresJobStore.connect(database!.connectionString, { max: 5 });
      const b = await PostgresJobStore.connect(database!.connectionString, { max: 5 });
      try {
        const prefix = `race-${randomUUID().slice(0, 6)}`;
        const ids = Array.from({ length: 200 }, (_, n) => `${prefix}-${String(n).padStart(3, '0')}`);
        for (const id of ids) {
          await a.schedules.upsert(
            { id, job: { type: 't', payload: null }, every: 60_000, jitterMs: 0, overlap: 'skip', catchupWindowMs: 60_000, paused: false },
            { nextTickAt: Date.now() - 1_000, nextFireAt: Date.now() - 1_000 },
          );
        }
        const claims = await Promise.all(
          Array.from({ length: 10 }, (_, n) =>
            (n % 2 === 0 ? a : b).schedules.claimDue({ limit: 30, leaseMs: 60_000, token: randomUUID() }),
          ),
        );
        const claimed = claims.flatMap((c) => c.schedules.map((s) => s.spec.id));
        expect(new Set(claimed).size).toBe(claimed.length);
        expect(claimed.sort()).toEqual(ids);
        for (const id of ids) await a.schedules.delete(id);
      } finally {
        await a.close();
        await b.close();
      }
    });
  },
);
