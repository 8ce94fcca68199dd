/**
 * One conformance suite (conformance.cases.ts), three stores: MemoryJobStore, PostgresJobStore on
 * PGlite embedded (startEmbeddedStore), and PostgresJobStore on a real PostgreSQL 15 (a private
 * cluster from test/support/postgres.ts). Each block gets its own database; what only a server can
 * show (connections racing, a failed statement) follows the shared cases.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startEmbeddedStore, type EmbeddedStore } from '../../src/store/embedded.js';
import type { JobStore } from '../../src/store/job-store.js';
import { MemoryJobStore } from '../../src/store/memory-store.js';
import { PostgresJobStore } from '../../src/store/postgres-store.js';
import { runPrepared } from '../../src/store/postgres-sql.js';
import { eventually } from '../support/runtime-harness.js';
import { startPostgres, testPool, type PostgresDatabase } from '../support/postgres.js';
import { storeCases, type StoreHarness } from './conformance.cases.js';
import { claimOf, LONG_LEASE_MS, newJob } from './store-fixtures.js';

function conformance(
  name: string,
  start: () => Promise<{ harness: StoreHarness; stop(): Promise<void> }>,
  extra?: (h: () => StoreHarness) => void,
) {
  describe(name, () => {
    let running: { harness: StoreHarness; stop(): Promise<void> } | undefined;
    beforeAll(async () => {
      running = await start();
    });
    afterAll(async () => {
      await running?.stop();
    });
    const harness = (): StoreHarness => {
      if (!running) throw new Error(`${name} did not start`);
      return running.harness;
    };
    storeCases(harness);
    extra?.(harness);
  });
}

/** A schema of its own on the same database: `fresh()` for the server-backed stores. */
const freshSchema = () => `store_${randomUUID().replaceAll('-', '').slice(0, 12)}`;

/** What only a database shows: a statement that fails leaves the store usable (pg-pool replaces the connection). */
function afterAFailedStatement(harness: () => StoreHarness): void {
  test('a statement the database rejects fails alone; the next call works', async () => {
    const { store } = harness();
    const job = { id: randomUUID(), type: 'conformance.bad', createdAt: Date.now() };
    // attempt 0 breaks the table's CHECK (attempt >= 1).
    const bad = { jobId: job.id, type: job.type, attempt: 0, messageId: 'm', leaseMs: 1_000, worker: 'w', row: job };
    await expect(store.claim([bad])).rejects.toThrow(/check constraint/);
    await store.ping();
    expect(await store.claim([{ ...bad, attempt: 1 }])).toEqual([{ kind: 'claimed', lost: false, created: true }]);
  });
}

/**
 * A store on one connection and a fresh schema, its statements unprepared and shown to `watch` as
 * they go; `query` runs a statement unwatched.
 */
function watchedStore(
  url: string,
  watch: (text: string, values: unknown[] | undefined) => void,
): { store: PostgresJobStore; query: (text: string, values?: unknown[]) => Promise<unknown> } {
  const pool = testPool(url, { max: 1 });
  const query = pool.query.bind(pool) as (text: string, values?: unknown[]) => Promise<unknown>;
  pool.query = ((text: string, values?: unknown[]) => {
    if (typeof text === 'string') watch(text, values);
    return query(text, values);
  }) as typeof pool.query;
  return { store: new PostgresJobStore({ pool, schema: freshSchema(), closePool: true, prepareStatements: false }), query };
}

/**
 * What only a database shows: calls made while the pool's one connection is busy go as one statement
 * (batch-coalescer.ts) and are each answered as separate calls would be; a joined statement the
 * database rejects is run again call by call, so only the bad call fails.
 */
function joinedCalls(url: () => string): void {
  test('calls that wait for the connection go as one statement, each answered as if alone', async () => {
    let statements = 0;
    const { store } = watchedStore(url(), (text) => {
      if (text.includes('jsonb_to_recordset')) statements++;
    });
    try {
      await store.migrate();
      const type = `conformance.${randomUUID().slice(0, 8)}`;
      const [a, b, c] = [newJob(type), newJob(type, { idempotencyKey: 'k' }), newJob(type, { idempotencyKey: 'k' })];
      statements = 0;
      // a goes at once; b and c wait for it and go together: c is b's duplicate, as in one batch.
      const created = await Promise.all([store.createJobs([a!]), store.createJobs([b!]), store.createJobs([c!])]);
      expect(created).toEqual([[{ id: a!.id, created: true }], [{ id: b!.id, created: true }], [{ id: b!.id, created: false }]]);
      expect(statements).toBe(2);

      const first = claimOf(a!);
      statements = 0;
      const claims = await Promise.all([
        store.claim([claimOf(newJob(type))]),
        store.claim([first]),
        // attempt 0 breaks the table's CHECK: only this call fails, after the joined statement did.
        store.claim([{ ...claimOf(newJob(type)), attempt: 0 }]).catch((error: unknown) => error),
        store.claim([claimOf(a!)]),
        store.claim([{ ...first }]),
      ]);
      expect(claims[0]).toEqual([{ kind: 'claimed', lost: false, created: true }]);
      expect(claims[1]).toEqual([{ kind: 'claimed', lost: false, created: false }]);
      expect(String(claims[2])).toMatch(/check constraint/);
      expect(claims[3]).toMatchObject([{ kind: 'drop', reason: 'claim_held', sameMessage: false }]);
      expect(claims[4]).toMatchObject([{ kind: 'drop', reason: 'claim_held', sameMessage: true }]);
      // One alone, four joined and rejected, then those four one by one.
      expect(statements).toBe(6);

      const settled = await Promise.all([
        store.settle([{ jobId: a!.id, attempt: 1, messageId: first.messageId, outcome: { kind: 'succeeded' } }]),
        store.settle([{ jobId: a!.id, attempt: 1, messageId: first.messageId, outcome: { kind: 'succeeded' } }]),
      ]);
      expect(settled).toEqual([[{ kind: 'settled' }], [{ kind: 'superseded', state: 'succeeded' }]]);
      expect((await store.getJob(a!.id))?.state).toBe('succeeded');
    } finally {
      await store.close();
    }
  });
}

/**
 * What only a database shows: the hot path's statements find their rows by index, never by reading
 * the table, on a table the planner has not analysed (a new deployment; PGlite never runs autovacuum).
 * Before lockedRows, claim, settle and renew read every row of jobs through a hash join.
 */
function hotPathPlans(url: () => string): void {
  test('claim, settle and renew find their rows by index on an unanalysed table of 3,000 jobs', async () => {
    const seen: { text: string; values: unknown[] }[] = [];
    const { store, query } = watchedStore(url(), (text, values) => {
      if (text.includes('FOR UPDATE') && values) seen.push({ text, values });
    });
    try {
      await store.migrate();
      const type = `conformance.${randomUUID().slice(0, 8)}`;
      const jobs = Array.from({ length: 3_000 }, () => newJob(type));
      for (let i = 0; i < jobs.length; i += 500) await store.createJobs(jobs.slice(i, i + 500));
      const claims = jobs.slice(0, 20).map((job) => claimOf(job));
      await store.claim(claims);
      await store.renew(claims.slice(10).map((c) => ({ jobId: c.jobId, attempt: 1, messageId: c.messageId, leaseMs: LONG_LEASE_MS })));
      await store.settle(
        claims.slice(0, 10).map((c) => ({ jobId: c.jobId, attempt: 1, messageId: c.messageId, outcome: { kind: 'succeeded' } })),
      );
      expect(seen.length).toBeGreaterThanOrEqual(3);
      for (const { text, values } of seen) {
        const { rows } = (await query(`EXPLAIN ${text}`, values)) as { rows: { 'QUERY PLAN': string }[] };
        const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(plan, text.slice(0, 200)).not.toMatch(/Seq Scan on (jobs|job_keys)\b/);
      }
    } finally {
      await store.close();
    }
  });
}

conformance('MemoryJobStore', async () => {
  const store = new MemoryJobStore();
  return { harness: { name: 'memory', store, fresh: async () => new MemoryJobStore() }, stop: () => store.close() };
});

let url: string | undefined;

conformance(
  'PostgresJobStore on PGlite (embedded)',
  async () => {
    const embedded: EmbeddedStore = await startEmbeddedStore();
    const fresh = async (): Promise<JobStore> => {
      // A second connection, used only while the shared one idles: the cases that need it run alone.
      const pool = testPool(embedded.url, { max: 1 });
      const store = new PostgresJobStore({ pool, schema: freshSchema(), closePool: true, prepareStatements: false });
      await store.migrate();
      return store;
    };
    url = embedded.url;
    return { harness: { name: 'pglite', store: embedded.store, fresh }, stop: () => embedded.close() };
  },
  (harness) => {
    afterAFailedStatement(harness);
    hotPathPlans(() => url!);
    joinedCalls(() => url!);
  },
);

let database: PostgresDatabase | undefined;

conformance(
  'PostgresJobStore on PostgreSQL 15',
  async () => {
    database = await startPostgres();
    const url = database.connectionString;
    const store = await PostgresJobStore.connect(url, { max: 10 });
    const fresh = () => PostgresJobStore.connect(url, { max: 2, schema: freshSchema() });
    return {
      harness: { name: 'postgres', store, fresh },
      async stop() {
        await store.close();
        await database?.stop();
      },
    };
  },
  (harness) => {
    afterAFailedStatement(harness);
    hotPathPlans(() => database!.connectionString);
    joinedCalls(() => database!.connectionString);

    test('the search by key is answered from indexes, not by reading every row', async () => {
      const { store } = harness();
      const type = `conformance.${randomUUID().slice(0, 8)}`;
      await store.createJobs(
        Array.from({ length: 2_000 }, (_, i) => ({ id: randomUUID(), type, idempotencyKey: `k-${i}`, createdAt: Date.now() })),
      );
      const pool = testPool(database!.connectionString, { max: 1 });
      try {
        await pool.query('ANALYZE calsync_jobs.jobs');
        const { rows } = await pool.query<{ 'QUERY PLAN': string }>(
          `EXPLAIN SELECT id FROM calsync_jobs.jobs j WHERE (j.idempotency_key = $1 OR j.concurrency_key = $1 OR j.id = $1)`,
          ['k-7'],
        );
        const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(plan).not.toMatch(/Seq Scan/);
        expect(plan).toMatch(/jobs_concurrency_key/);
      } finally {
        await pool.end();
      }
    });

    test('a connection the server ends mid-statement fails that call alone: no unhandled error, the next call works', async () => {
      // runPrepared checks a client out itself; pg emits 'error' on it when the server ends the
      // connection, and without a listener that event killed the process (the store chaos run, on
      // its PostgreSQL restart).
      const pool = testPool(database!.connectionString, { max: 1 });
      const admin = testPool(database!.connectionString, { max: 1 });
      try {
        const tag = `calsync_terminate_${randomUUID().slice(0, 8)}`;
        // Its outcome is taken at once: the server may end the statement before the admin's answer
        // arrives, and a rejection nobody holds yet is an unhandled rejection (a CI run under load).
        const sleeping = runPrepared(pool, true, `SELECT pg_sleep(10) AS ${tag}`, []).then(
          () => undefined,
          (error: unknown) => error,
        );
        await eventually('the statement to be running', async () => {
          const { rowCount } = await admin.query('SELECT 1 FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()', [
            `%${tag}%`,
          ]);
          return (rowCount ?? 0) > 0;
        });
        await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()', [
          `%${tag}%`,
        ]);
        expect(await sleeping).toBeInstanceOf(Error);
        const { rows } = await runPrepared<{ n: number }>(pool, true, 'SELECT 1::int AS n', []);
        expect(rows).toEqual([{ n: 1 }]);
      } finally {
        await pool.end();
        await admin.end();
      }
    });

    test('50 concurrent createJobs with one key, over 10 connections, make exactly one job', async () => {
      const { store } = harness();
      const type = `conformance.${randomUUID().slice(0, 8)}`;
      const results = (
        await Promise.all(
          Array.from({ length: 50 }, () => store.createJobs([{ id: randomUUID(), type, idempotencyKey: 'k', createdAt: Date.now() }])),
        )
      ).flat();
      const created = results.filter((r) => r.created);
      expect(created).toHaveLength(1);
      expect(new Set(results.map((r) => r.id))).toEqual(new Set([created[0]!.id]));
      expect((await store.listJobs({ type })).jobs.map((j) => j.id)).toEqual([created[0]!.id]);
    });

    test('two stores on their own pools claiming one attempt: exactly one claims', async () => {
      const { store } = harness();
      const other = await PostgresJobStore.connect(database!.connectionString, { max: 4 });
      try {
        const job = { id: randomUUID(), type: 'conformance.race', createdAt: Date.now() };
        await store.createJobs([job]);
        const request = (messageId: string) => ({
          jobId: job.id,
          type: job.type,
          attempt: 1,
          messageId,
          leaseMs: 60_000,
          worker: 'w',
          row: job,
        });
        const results = (
          await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? store : other).claim([request(`m${i}`)])))
        ).flat();
        expect(results.filter((r) => r.kind === 'claimed')).toHaveLength(1);
      } finally {
        await other.close();
      }
    });

    test("a claim that waited for its row counts a rate key from the key's latest start, not from when it began", async () => {
      // Regression (a cold CI run's keys.servers test: 6 starts of a 5-per-second key in one second).
      // The claim's statement clock (now()) is when it began. One that waited for a row lock counted its
      // window from then, after a later claim had pruned the key's starts older than its own window.
      const { store } = harness();
      const key = `rate-${randomUUID().slice(0, 8)}`;
      const rate = { key, max: 2, perMs: 1_000 };
      const type = `conformance.${randomUUID().slice(0, 8)}`;
      const [one, two, waiter, late] = Array.from({ length: 4 }, () => newJob(type, { keys: [key] }));
      await store.createJobs([one!, two!, waiter!, late!]);
      expect((await store.claim([claimOf(one!, { rate }), claimOf(two!, { rate })])).map((r) => r.kind)).toEqual(['claimed', 'claimed']);
      const firstStarts = Date.now();
      const pool = testPool(database!.connectionString, { max: 2 });
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('SELECT 1 FROM calsync_jobs.jobs WHERE id = $1 FOR UPDATE', [waiter!.id]);
        await new Promise((resolve) => setTimeout(resolve, 300));
        // Begins inside the first two starts' window, then waits for the row.
        const waiting = store.claim([claimOf(waiter!, { rate })]);
        await eventually('the claim to wait for the row', async () => {
          const { rowCount } = await pool.query(
            "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%jsonb_to_recordset%' AND pid <> pg_backend_pid()",
          );
          return (rowCount ?? 0) > 0;
        });
        // Past the first two starts' window: the next start goes, and prunes them from the key.
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, firstStarts + 1_100 - Date.now())));
        expect((await store.claim([claimOf(late!, { rate })]))[0]?.kind).toBe('claimed');
        await client.query('COMMIT');
        expect((await waiting)[0]?.kind).toBe('claimed');
      } finally {
        client.release();
        await pool.end();
      }
      const starts = (await Promise.all([one, two, waiter, late].map(async (job) => (await store.getJob(job!.id))!.startedAt!))).sort(
        (a, b) => a - b,
      );
      for (const at of starts) {
        expect(starts.filter((s) => s >= at && s < at + 1_000).length, `starts ${starts.join(', ')}`).toBeLessThanOrEqual(2);
      }
    });

    test('a row another transaction inserts mid-statement is found by a second round', async () => {
      const { store } = harness();
      const pool = testPool(database!.connectionString, { max: 1 });
      const client = await pool.connect();
      try {
        const type = `conformance.${randomUUID().slice(0, 8)}`;
        const theirs = randomUUID();
        const claimedId = randomUUID();
        await client.query('BEGIN');
        await client.query(
          `INSERT INTO calsync_jobs.jobs (id, type, state, attempt, idempotency_key, created_at, claim_message_id, claim_attempt, claim_expires_at)
           VALUES ($1, $2, 'pending', 1, 'k', now(), NULL, NULL, NULL), ($3, $2, 'running', 1, NULL, now(), 'theirs', 1, now() + interval '1 minute')`,
          [theirs, type, claimedId],
        );
        // Both statements start while the rows are uncommitted: their inserts wait on the unique index.
        const created = store.createJobs([{ id: randomUUID(), type, idempotencyKey: 'k', createdAt: Date.now() }]);
        const row = { id: claimedId, type, createdAt: Date.now() };
        const claim = store.claim([{ jobId: claimedId, type, attempt: 1, messageId: 'mine', leaseMs: 60_000, worker: 'w', row }]);
        await new Promise((resolve) => setTimeout(resolve, 200));
        await client.query('COMMIT');
        expect(await created).toEqual([{ id: theirs, created: false }]);
        expect(await claim).toEqual([{ kind: 'drop', reason: 'claim_held', state: 'running', sameMessage: false }]);
      } finally {
        client.release();
        await pool.end();
      }
    });

    test('the tables live in the calsync_jobs schema, with their indexes', async () => {
      const pool = testPool(database!.connectionString, { max: 1 });
      try {
        const { rows } = await pool.query<{ indexname: string }>(
          "SELECT indexname FROM pg_indexes WHERE schemaname = 'calsync_jobs' AND tablename = 'jobs' ORDER BY indexname",
        );
        expect(rows.map((r) => r.indexname)).toEqual([
          'jobs_concurrency_key',
          'jobs_created',
          'jobs_idempotency_key',
          'jobs_pkey',
          'jobs_settled',
          'jobs_state_created',
          'jobs_type_coalesce_pending',
          'jobs_type_idempotency_key',
        ]);
        const tables = await pool.query<{ table_name: string }>(
          "SELECT table_name FROM information_schema.tables WHERE table_schema = 'calsync_jobs' ORDER BY table_name",
        );
        expect(tables.rows.map((r) => r.table_name)).toEqual(['job_keys', 'jobs', 'schedules', 'schema_migrations']);
        // A handful of rows is cheaper to scan whole; with scans off the plan shows what a large table gets.
        await pool.query('SET enable_seqscan = off');
        const plan = await pool.query<{ 'QUERY PLAN': string }>(
          `EXPLAIN DELETE FROM calsync_jobs.jobs WHERE ctid = ANY (ARRAY(SELECT ctid FROM calsync_jobs.jobs WHERE settled_at < now() LIMIT 10))`,
        );
        expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toContain('Tid Scan');
      } finally {
        await pool.end();
      }
    });
  },
);
