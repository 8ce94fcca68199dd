/**
 * A small migration runner: applies `migrations/NNN_name.sql` in order, each recorded in
 * `schema_migrations` with its checksum. All pending files run in one transaction under an advisory
 * lock, so concurrent workers starting at once apply each file exactly once.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';

/** Any advisory lock key of our own; the text is hashed by PostgreSQL. */
const LOCK_NAME = 'calsync-jobs.schema_migrations';
const FILE_PATTERN = /^(\d+)_[A-Za-z0-9_-]+\.sql$/;

export interface MigrateOptions {
  /** Folder of `.sql` files. @defaultValue the package's `migrations/` folder */
  dir?: string;
}

export interface MigrateResult {
  /** Files applied by this call, in order (empty when the schema was already current). */
  applied: string[];
}

/** The `migrations/` folder next to the package's `package.json` (source tree and build alike). */
export function defaultMigrationsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'migrations'))) return join(dir, 'migrations');
    dir = dirname(dir);
  }
  throw new Error('migrations folder not found next to package.json; pass { dir }');
}

async function readMigrations(dir: string): Promise<{ name: string; sql: string; checksum: string }[]> {
  const names = (await readdir(dir)).filter((name) => FILE_PATTERN.test(name)).sort();
  return await Promise.all(
    names.map(async (name) => {
      const sql = await readFile(join(dir, name), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/** Brings the database up to date. Idempotent; safe to call from many processes at once. */
export async function migrate(pool: pg.Pool, options: MigrateOptions = {}): Promise<MigrateResult> {
  const files = await readMigrations(options.dir ?? defaultMigrationsDir());
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [LOCK_NAME]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         name text PRIMARY KEY,
         checksum text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const done = new Map(
      (await client.query<{ name: string; checksum: string }>('SELECT name, checksum FROM schema_migrations')).rows.map((row) => [
        row.name,
        row.checksum,
      ]),
    );
    for (const file of files) {
      const previous = done.get(file.name);
      if (previous !== undefined) {
        if (previous !== file.checksum)
          throw new Error(`migration ${file.name} was changed after it was applied (checksum differs); add a new file instead`);
        continue;
      }
      await client.query(file.sql);
      await client.query('INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)', [file.name, file.checksum]);
      applied.push(file.name);
    }
    await client.query('COMMIT');
    return { applied };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
