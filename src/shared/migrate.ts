/**
 * A small migration runner: applies the `NNN_name.sql` files of one folder in order, each recorded in
 * a `schema_migrations` table with its checksum. All pending files run in one transaction under an
 * advisory lock, so concurrent workers starting at once apply each file exactly once.
 *
 * Two users: the calendar jobs (`migrations/`, tables in the connection's default schema) and the job
 * store (`migrations/store/`, with `schema`: the runner creates the schema and runs the files with
 * `search_path` set to it, so one set of files serves whichever schema the store is configured with).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { ConfigError } from './errors.js';

/** Any advisory lock key of our own; the text is hashed by PostgreSQL. */
const LOCK_NAME = 'calsync-jobs.schema_migrations';
const FILE_PATTERN = /^(\d+)_[A-Za-z0-9_-]+\.sql$/;
const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

export interface MigrateOptions {
  /** Folder of `.sql` files; sub-folders are not read. @defaultValue the package's `migrations/` folder */
  dir?: string;
  /**
   * Created when missing; the files run with `search_path` set to it, and the bookkeeping is
   * `<schema>.schema_migrations`. Lower-case letters, digits and `_`.
   * @defaultValue none: the connection's default schema, as the calendar jobs have always used
   */
  schema?: string;
  /** The advisory lock's name. @defaultValue `calsync-jobs.schema_migrations`, or `calsync-jobs.<schema>.schema_migrations` */
  lockName?: string;
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

/** `schema` checked and double-quoted for SQL; the pattern keeps it to names that need no escaping. */
export function quoteSchema(schema: string): string {
  if (!SCHEMA_PATTERN.test(schema))
    throw new ConfigError('schema', `expected lower-case letters, digits and _, got ${JSON.stringify(schema)}`);
  return `"${schema}"`;
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
  const schema = options.schema === undefined ? undefined : quoteSchema(options.schema);
  const table = schema === undefined ? 'schema_migrations' : `${schema}.schema_migrations`;
  const lockName = options.lockName ?? (options.schema === undefined ? LOCK_NAME : `calsync-jobs.${options.schema}.schema_migrations`);
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lockName]);
    if (schema !== undefined) {
      // Under the lock: two processes creating the schema at once would otherwise race on its name.
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      // SET LOCAL ends with the transaction, so the pooled connection goes back as it came.
      await client.query(`SET LOCAL search_path TO ${schema}`);
    }
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${table} (
         name text PRIMARY KEY,
         checksum text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const done = new Map(
      (await client.query<{ name: string; checksum: string }>(`SELECT name, checksum FROM ${table}`)).rows.map((row) => [
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
      await client.query(`INSERT INTO ${table} (name, checksum) VALUES ($1, $2)`, [file.name, file.checksum]);
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
