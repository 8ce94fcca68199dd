/**
 * What the PostgreSQL store's statements share: the row a JobRecord is read from and how it maps
 * (times as epoch milliseconds, NULL as undefined), how a NewJob travels in a statement's JSON batch,
 * and the rounds a batch gets when its rows race with a concurrent insert.
 */
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { JobRecord, JobState, NewJob } from './job-store.js';

const statementNames = new Map<string, string>();
const clientTags = new WeakMap<pg.PoolClient, string>();

/**
 * Whether `error` is the database rejecting a statement (a SQLSTATE error such as bad input or a
 * constraint), as opposed to the connection or the server failing (classes 08, 53, 57, 58, XX, or no
 * SQLSTATE at all): only the former is worth running again in smaller pieces (batch-coalescer.ts).
 */
export function statementRejected(error: unknown): boolean {
  const { code, severity } = (error ?? {}) as { code?: unknown; severity?: unknown };
  return typeof severity === 'string' && typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !/^(08|53|57|58|XX)/.test(code);
}

/**
 * Runs `text` on one of `pool`'s connections, as a named prepared statement when `prepare` is set:
 * each connection parses and plans it once and then only binds and executes it. The hot-path
 * statements (claim, settle, renew, create) are large CTEs over a JSON batch whose planning alone cost
 * PostgreSQL about half a millisecond per call. The name is derived from the text (two texts never
 * share a name) and from the connection: PGlite behind pglite-socket keeps one session for all its
 * socket connections, so a name one connection prepared would already exist for the next one (a
 * reconnect after an error, another process's CLI), which pg cannot know.
 */
export async function runPrepared<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  prepare: boolean,
  text: string,
  values: unknown[],
): Promise<pg.QueryResult<R>> {
  if (!prepare) return await pool.query<R>(text, values);
  let base = statementNames.get(text);
  if (base === undefined) {
    base = `calsync_${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
    statementNames.set(text, base);
  }
  const client = await pool.connect();
  let tag = clientTags.get(client);
  if (tag === undefined) {
    tag = randomBytes(6).toString('hex');
    clientTags.set(client, tag);
  }
  // As pool.query does: an error event of a checked-out connection (the server ending it) is this
  // call's, not the process's, and a connection that failed a query is not reused.
  const onError = (): void => undefined;
  client.on('error', onError);
  try {
    const result = await client.query<R>({ name: `${base}_${tag}`, text, values });
    client.removeListener('error', onError);
    client.release();
    return result;
  } catch (error) {
    client.removeListener('error', onError);
    client.release(error instanceof Error ? error : true);
    throw error;
  }
}

/**
 * The rows of `table` whose `column` is one of the values `ids` yields (a query of one text column),
 * locked FOR UPDATE in value order, each found by its own index probe; `columns` are read from `j`.
 *
 * Written as a nested loop on purpose. With `WHERE j.id IN (SELECT job_id FROM req)` the planner sized
 * the batch at jsonb_to_recordset's default of 100 rows and, on a table it had not analysed since it
 * was small (a new deployment's first minutes; PGlite, which runs no autovacuum, for ever), chose a
 * hash join over a sequential scan of every row: 1.6 of a 10-row claim's 2.3 ms over 3,000 rows, and
 * growing with the table. The value order is the lock order every statement shares (job rows by id,
 * then key rows by key), so two statements never wait on each other in a circle.
 */
export const lockedRows = (table: string, column: string, ids: string, columns: string): string =>
  `SELECT ${columns} FROM (SELECT DISTINCT w.v FROM (${ids}) AS w(v) WHERE w.v IS NOT NULL ORDER BY w.v) AS want
      CROSS JOIN LATERAL (SELECT * FROM ${table} l WHERE l.${column} = want.v FOR UPDATE) AS j`;

/** Rounds of a batch whose rows raced with a concurrent insert; a second one has always been enough. */
const MAX_ROUNDS = 4;

/**
 * Runs `round` until it leaves nothing pending. A row inserted by another transaction after a
 * statement's snapshot is invisible to that statement (its ON CONFLICT skips the row, its lock cannot
 * see it); a round answers what it could and gives back the rest, which the next statement, with a
 * newer snapshot, sees.
 */
export async function inRounds<T>(what: string, pending: T[], round: (batch: T[]) => Promise<T[]>): Promise<void> {
  for (let n = 1; pending.length > 0; n++) {
    if (n > MAX_ROUNDS) throw new Error(`${what}: ${pending.length} jobs kept racing with concurrent inserts`);
    pending = await round(pending);
  }
}

/** A timestamptz column as epoch milliseconds (float8, so pg gives a JS number). */
export const ms = (column: string): string => `round(extract(epoch FROM ${column}) * 1000)::float8`;
/** Epoch milliseconds (a float8 expression) as timestamptz. */
export const ts = (value: string): string => `to_timestamp(${value} / 1000.0)`;
/** Ends a claim. `claim_worker` stays: the last worker to claim the job, for the console's workers seen lately. */
export const CLEAR_CLAIM = 'claim_message_id = NULL, claim_attempt = NULL, claim_expires_at = NULL';

/** The columns of a JobRecord, from a row aliased `j`. */
export const RECORD_COLUMNS = [
  'j.id',
  'j.type',
  'j.state',
  'j.attempt',
  'j.idempotency_key',
  `${ms('j.created_at')} AS created_at`,
  `${ms('j.scheduled_at')} AS scheduled_at`,
  `${ms('j.started_at')} AS started_at`,
  `${ms('j.settled_at')} AS settled_at`,
  `${ms('j.updated_at')} AS updated_at`,
  'j.last_error',
  'j.history',
  'j.trace_id',
  'j.dead_letter_reason',
  'j.payload',
  '(j.payload IS NULL) AS payload_absent',
  'j.payload_omitted',
  'j.retries',
  'j.concurrency_key',
].join(', ');

export interface RecordRow {
  id: string;
  type: string;
  state: JobState;
  attempt: number;
  idempotency_key: string | null;
  created_at: number;
  scheduled_at: number | null;
  started_at: number | null;
  settled_at: number | null;
  updated_at: number;
  last_error: JobRecord['lastError'] | null;
  history: JobRecord['history'];
  trace_id: string | null;
  dead_letter_reason: string | null;
  payload: unknown;
  payload_absent: boolean;
  payload_omitted: JobRecord['payloadOmitted'] | null;
  retries: number;
  concurrency_key: string | null;
}

export function toRecord(row: RecordRow): JobRecord {
  return {
    id: row.id,
    type: row.type,
    state: row.state,
    attempt: row.attempt,
    idempotencyKey: row.idempotency_key ?? undefined,
    createdAt: row.created_at,
    scheduledAt: row.scheduled_at ?? undefined,
    startedAt: row.started_at ?? undefined,
    settledAt: row.settled_at ?? undefined,
    updatedAt: row.updated_at,
    lastError: row.last_error ?? undefined,
    history: row.history,
    traceId: row.trace_id ?? undefined,
    deadLetterReason: row.dead_letter_reason ?? undefined,
    // pg reads SQL NULL and JSON null alike as null: the flag tells a stored null from no payload.
    payload: row.payload_absent ? undefined : row.payload,
    payloadOmitted: row.payload_omitted ?? undefined,
    retries: row.retries,
    concurrencyKey: row.concurrency_key ?? undefined,
  };
}

/** NewJob as a JSON object for jsonb_to_recordset; the payload is boxed so a JSON null survives (a bare null reads as SQL NULL). */
export function newJobFields(job: NewJob) {
  return {
    idempotency_key: job.idempotencyKey ?? null,
    created_at: job.createdAt,
    scheduled_at: job.scheduledAt ?? null,
    payload_box: job.payload === undefined ? null : { v: job.payload },
    payload_omitted: job.payloadOmitted ?? null,
    trace_id: job.traceId ?? null,
  };
}

export const NEW_JOB_COLUMNS =
  'idempotency_key text, created_at float8, scheduled_at float8, payload_box jsonb, payload_omitted text, trace_id text';
