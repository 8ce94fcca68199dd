/** The migration runner against a real PostgreSQL: order, idempotence, concurrency, edited files. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/jobs/calendar/migrate.js';
import { startPostgres, testPool, type PostgresDatabase } from '../support/postgres.js';

let database: PostgresDatabase;
const pools: pg.Pool[] = [];
const newPool = (): pg.Pool => {
  const pool = testPool(database.connectionString, { max: 2 });
  pools.push(pool);
  return pool;
};

beforeAll(async () => {
  database = await startPostgres();
});

afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end()));
  await database?.stop();
});

describe('migrate', () => {
  it('applies the calendar store once even when three processes race, then is a no-op', async () => {
    const results = await Promise.all([migrate(newPool()), migrate(newPool()), migrate(newPool())]);
    expect(results.flatMap((r) => r.applied)).toEqual(['001_calendar_store.sql', '002_calendar_event_shape.sql']);
    const pool = newPool();
    expect(await migrate(pool)).toEqual({ applied: [] });
    const { rows } = await pool.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
    );
    expect(rows.map((row) => row.table_name)).toEqual(['calendars', 'events', 'schema_migrations']);
  });

  it('applies new files in order and refuses an applied file that was edited', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'calsync-migrations-'));
    try {
      await writeFile(join(dir, '002_b.sql'), 'CREATE TABLE b (id int REFERENCES a (id));');
      await writeFile(join(dir, '001_a.sql'), 'CREATE TABLE a (id int PRIMARY KEY);');
      await writeFile(join(dir, 'README.txt'), 'not a migration');
      const pool = newPool();
      await pool.query('CREATE SCHEMA other');
      const scoped = testPool(database.connectionString, { max: 1, options: '-c search_path=other' });
      pools.push(scoped);
      expect(await migrate(scoped, { dir })).toEqual({ applied: ['001_a.sql', '002_b.sql'] });
      await writeFile(join(dir, '001_a.sql'), 'CREATE TABLE a (id bigint PRIMARY KEY);');
      await expect(migrate(scoped, { dir })).rejects.toThrow('migration 001_a.sql was changed after it was applied');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
