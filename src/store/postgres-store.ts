/**
 * The job store on PostgreSQL 15+ (or PGlite through pglite-socket, embedded.ts), with `pg`. The
 * tables live in their own schema (`calsync_jobs` by default), created by migrations/store/.
 *
 * Each hot-path call (createJobs, claim, settle, renew) is one statement for the whole batch: the
 * requests go in as one JSON array (`jsonb_to_recordset`) and data-modifying CTEs do the rest. Where
 * the answer depends on the row (claim, in postgres-claim.ts; settle, renew, cancel, retry), the
 * statement first locks the rows (`SELECT ... FOR UPDATE`, which in READ COMMITTED waits for a
 * concurrent writer and then reads the newest version) and writes only what it decided from them: a
 * compare-and-set with no transaction of our own. Every time compared is the database's `now()`;
 * callers give durations. A row another transaction inserts mid-statement costs one more round
 * (postgres-sql.ts, `inRounds`).
 */
import { join } from 'node:path';
import pg from 'pg';
import { defaultMigrationsDir, migrate, quoteSchema, type MigrateResult } from '../shared/migrate.js';
import { BatchCoalescer, StatementSlots } from './batch-coalescer.js';
import { activityOf } from './job-activity.js';
import { decodeCursor, pageSize, toPage } from './job-page.js';
import { TERMINAL_STATES } from './job-store.js';
import { claimBatch } from './postgres-claim.js';
import {
  CLEAR_CLAIM,
  inRounds,
  lockedRows,
  ms,
  NEW_JOB_COLUMNS,
  newJobFields,
  runPrepared,
  RECORD_COLUMNS,
  statementRejected,
  type RecordRow,
  toRecord,
  ts,
} from './postgres-sql.js';
import { PostgresScheduleStore } from './postgres-schedules.js';
import type {
  ActivityQuery,
  CancelResult,
  ClaimRequest,
  ClaimResult,
  CreateResult,
  JobFilter,
  JobActivity,
  JobPage,
  JobRecord,
  JobState,
  JobStore,
  NewJob,
  RenewRequest,
  RenewResult,
  RetryResult,
  SettleRequest,
  SettleResult,
} from './job-store.js';

const DEFAULT_SCHEMA = 'calsync_jobs';

/**
 * The settle's key writes (a CTE list continuing after `win` and `cur`): each winning settle drops its
 * job's hold on its concurrency key, and a throttle sets the key's `throttled_until` (never earlier).
 * One upsert, in key order (the claim locks key rows in the same order).
 */
const KEY_RELEASE_SQL = (keys: string): string => `krel AS (
         SELECT x.key, array_agg(x.job_id) FILTER (WHERE x.release) AS release, max(x.until_ms) AS until_ms FROM (
           SELECT c.concurrency_key AS key, w.job_id, true AS release, NULL::float8 AS until_ms
           FROM win w JOIN cur c ON c.id = w.job_id WHERE c.concurrency_key IS NOT NULL
           UNION ALL
           SELECT w.throttle_key, w.job_id, false, w.throttle_ms FROM win w WHERE w.throttle_key IS NOT NULL AND w.throttle_ms IS NOT NULL
         ) x GROUP BY x.key
       ),
       kw AS (
         INSERT INTO ${keys} AS kr (key, throttled_until)
         SELECT key, now() + until_ms * interval '1 millisecond' FROM krel ORDER BY key
         ON CONFLICT (key) DO UPDATE SET
           holders = kr.holders - coalesce((SELECT r.release FROM krel r WHERE r.key = kr.key), '{}'::text[]),
           throttled_until = CASE WHEN EXCLUDED.throttled_until IS NULL THEN kr.throttled_until
             ELSE greatest(kr.throttled_until, EXCLUDED.throttled_until) END,
           updated_at = now()
       )`;
/** A start-up that cannot reach the server fails in this long rather than hanging. */
const CONNECT_TIMEOUT_MS = 5_000;

export interface PostgresJobStoreOptions {
  pool: pg.Pool;
  /** @defaultValue 'calsync_jobs' */
  schema?: string;
  /** End the pool on `close()`. @defaultValue false: the pool is the caller's */
  closePool?: boolean;
  /**
   * Run the hot-path statements (claim, settle, renew, createJobs) as named prepared statements,
   * planned once per connection (postgres-sql.ts, runPrepared). Turn it off behind a pooler that
   * does not carry prepared statements across transactions (PgBouncer in transaction mode before
   * 1.21). @defaultValue true
   */
  prepareStatements?: boolean;
}

export interface ConnectOptions {
  /** Connections in the pool. @defaultValue 10 */
  max?: number;
  /** @defaultValue 'calsync_jobs' */
  schema?: string;
  /** Opening one connection (TCP and authentication) fails after this long. @defaultValue 5000 */
  connectTimeoutMs?: number;
}

/** The longest any store query may take (the migration's advisory-lock wait included). */
const QUERY_TIMEOUT_MS = 30_000;

export class PostgresJobStore implements JobStore {
  readonly #pool: pg.Pool;
  readonly #schema: string;
  readonly #table: string;
  readonly #keys: string;
  readonly #closePool: boolean;
  readonly #prepare: boolean;
  /** The schedules in the same schema (postgres-schedules.ts). */
  readonly schedules: PostgresScheduleStore;
  /** The hot-path batch calls, joined while the pool's connections are all busy (batch-coalescer.ts). */
  readonly #creates: BatchCoalescer<NewJob, CreateResult>;
  readonly #claims: BatchCoalescer<ClaimRequest, ClaimResult>;
  readonly #settles: BatchCoalescer<SettleRequest, SettleResult>;
  readonly #renews: BatchCoalescer<RenewRequest, RenewResult>;
  #closing: Promise<void> | undefined;

  constructor(options: PostgresJobStoreOptions) {
    this.#pool = options.pool;
    this.#schema = options.schema ?? DEFAULT_SCHEMA;
    this.#table = `${quoteSchema(this.#schema)}.jobs`;
    this.#keys = `${quoteSchema(this.#schema)}.job_keys`;
    this.#closePool = options.closePool ?? false;
    this.#prepare = options.prepareStatements ?? true;
    this.schedules = new PostgresScheduleStore(this.#pool, quoteSchema(this.#schema));
    const slots = new StatementSlots(this.#pool.options.max ?? 10);
    const joined = <Req, Res>(run: (requests: readonly Req[]) => Promise<Res[]>) => new BatchCoalescer(run, slots, statementRejected);
    this.#creates = joined((jobs) => this.#createJobs(jobs));
    this.#claims = joined((requests) => claimBatch(this.#pool, quoteSchema(this.#schema), requests, this.#prepare));
    this.#settles = joined((requests) => this.#settle(requests));
    this.#renews = joined((requests) => this.#renew(requests));
  }

  /** A pool to `url` (max 10 by default), migrated and pinged; `close()` ends the pool. */
  static async connect(url: string, options: ConnectOptions = {}): Promise<PostgresJobStore> {
    const pool = new pg.Pool({
      connectionString: url,
      max: options.max ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
      // A network that drops packets instead of refusing would hang a claim (and the slots waiting
      // on it) forever: every query fails after this long, and TCP keepalive finds dead peers.
      query_timeout: QUERY_TIMEOUT_MS,
      keepAlive: true,
      application_name: 'calsync-jobs',
    });
    // An idle connection the server ends (a restart, a failover) is reported here; without a listener
    // it would crash the process. The next query gets a fresh connection or fails on its own.
    pool.on('error', () => undefined);
    const store = new PostgresJobStore({ pool, closePool: true, ...(options.schema === undefined ? {} : { schema: options.schema }) });
    try {
      await store.migrate();
      await store.ping();
      return store;
    } catch (error) {
      await store.close().catch(() => undefined);
      throw error;
    }
  }

  /** Creates the schema and brings its tables up to date (migrations/store/); safe from many processes at once. */
  migrate(): Promise<MigrateResult> {
    return migrate(this.#pool, { dir: join(defaultMigrationsDir(), 'store'), schema: this.#schema });
  }

  createJobs(jobs: readonly NewJob[]): Promise<CreateResult[]> {
    return this.#creates.call(jobs);
  }

  async #createJobs(jobs: readonly NewJob[]): Promise<CreateResult[]> {
    const results: (CreateResult | undefined)[] = new Array(jobs.length);
    // A later job of the batch with an earlier one's id or key is that job's duplicate: answered here,
    // so the statement sees each id and each key once.
    const leaders: number[] = [];
    const followers: [index: number, leader: number][] = [];
    jobs.forEach((job, index) => {
      const leader = leaders.find((l) => {
        const other = jobs[l]!;
        return (
          other.id === job.id ||
          (job.idempotencyKey !== undefined && other.type === job.type && other.idempotencyKey === job.idempotencyKey) ||
          (job.coalesceKey !== undefined && other.type === job.type && other.coalesceKey === job.coalesceKey)
        );
      });
      if (leader === undefined) leaders.push(index);
      else followers.push([index, leader]);
    });
    await inRounds('createJobs', leaders, async (pending) => {
      const batch = pending.map((index) => {
        const job = jobs[index]!;
        return { i: index, id: job.id, type: job.type, coalesce_key: job.coalesceKey ?? null, keys: job.keys ?? [], ...newJobFields(job) };
      });
      const { rows } = await runPrepared<{ i: number; created: boolean; existing: string | null }>(
        this.#pool,
        this.#prepare,
        `WITH req AS (
           SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(i int, id text, type text, coalesce_key text, keys jsonb, ${NEW_JOB_COLUMNS})
         ),
         ins AS (
           INSERT INTO ${this.#table} (id, type, state, attempt, idempotency_key, created_at, scheduled_at, updated_at, payload, payload_omitted, trace_id, coalesce_key)
           SELECT id, type, 'pending', 1, idempotency_key, ${ts('created_at')}, ${ts('scheduled_at')}, now(), payload_box -> 'v', payload_omitted, trace_id, coalesce_key
           FROM req ORDER BY i
           ON CONFLICT DO NOTHING
           RETURNING id
         ),
         -- The jobs' key rows, ready for their claims (which would otherwise spend a round making them).
         kins AS (
           INSERT INTO ${this.#keys} (key)
           SELECT DISTINCT k.key FROM req r CROSS JOIN LATERAL jsonb_array_elements_text(r.keys) AS k(key) ORDER BY k.key
           ON CONFLICT DO NOTHING
         )
         SELECT r.i, (ins.id IS NOT NULL) AS created,
           coalesce(
             (SELECT e.id FROM ${this.#table} e WHERE e.id = r.id),
             (SELECT e.id FROM ${this.#table} e WHERE r.idempotency_key IS NOT NULL AND e.type = r.type AND e.idempotency_key = r.idempotency_key),
             (SELECT e.id FROM ${this.#table} e
              WHERE r.coalesce_key IS NOT NULL AND e.type = r.type AND e.coalesce_key = r.coalesce_key AND e.state = 'pending')
           ) AS existing
         FROM req r LEFT JOIN ins ON ins.id = r.id`,
        [JSON.stringify(batch)],
      );
      // Neither inserted nor found: another transaction's row, committed after this statement began.
      return rows.flatMap((row) => {
        if (row.created) results[row.i] = { id: jobs[row.i]!.id, created: true };
        else if (row.existing !== null) results[row.i] = { id: row.existing, created: false };
        else return [row.i];
        return [];
      });
    });
    for (const [index, leader] of followers) results[index] = { id: results[leader]!.id, created: false };
    return results as CreateResult[];
  }

  async forgetJobs(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#pool.query(
      `DELETE FROM ${this.#table} WHERE id = ANY($1::text[]) AND state = 'pending' AND started_at IS NULL AND claim_message_id IS NULL`,
      [ids],
    );
  }

  claim(requests: readonly ClaimRequest[]): Promise<ClaimResult[]> {
    return this.#claims.call(requests);
  }

  settle(requests: readonly SettleRequest[]): Promise<SettleResult[]> {
    return this.#settles.call(requests);
  }

  /** One batch of settles (the coalescer answers an empty call itself). */
  async #settle(requests: readonly SettleRequest[]): Promise<SettleResult[]> {
    const batch = requests.map((r, i) => {
      const o = r.outcome;
      return {
        i,
        job_id: r.jobId,
        attempt: r.attempt,
        message_id: r.messageId,
        kind: o.kind,
        next_attempt: o.kind === 'backoff' ? o.nextAttempt : o.kind === 'pending' ? o.attempt : null,
        scheduled_at: o.kind === 'backoff' || o.kind === 'pending' ? (o.scheduledAt ?? null) : null,
        error: o.kind === 'backoff' || o.kind === 'dead' ? (o.error ?? null) : null,
        history: o.kind === 'succeeded' ? null : (o.history ?? null),
        reason: o.kind === 'dead' ? o.reason : null,
        throttle_ms: o.kind === 'pending' && o.throttle ? o.throttle.retryAfterMs : null,
        throttle_key: o.kind === 'pending' ? (o.throttle?.key ?? null) : null,
      };
    });
    const t = this.#table;
    // `win` is the request that holds each row's claim, if any (a batch may carry a stale copy too);
    // the others are answered as if in batch order: from the row before the write, or after it.
    const { rows } = await runPrepared<{ i: number; settled: boolean; state: JobState | null }>(
      this.#pool,
      this.#prepare,
      `WITH req AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(
           i int, job_id text, attempt int, message_id text, kind text, next_attempt int, scheduled_at float8, error jsonb, history jsonb, reason text,
           throttle_ms float8, throttle_key text)
       ),
       cur AS (
         ${lockedRows(t, 'id', 'SELECT job_id FROM req', 'j.id, j.state, j.attempt, j.claim_attempt, j.claim_message_id, j.concurrency_key')}
       ),
       win AS (
         SELECT DISTINCT ON (r.job_id) r.* FROM req r JOIN cur c ON c.id = r.job_id
         WHERE c.state = 'running' AND c.attempt = r.attempt AND c.claim_attempt = r.attempt AND c.claim_message_id = r.message_id
         ORDER BY r.job_id, r.i
       ),
       upd AS (
         UPDATE ${t} j SET
           state = w.kind,
           attempt = coalesce(w.next_attempt, j.attempt),
           scheduled_at = coalesce(${ts('w.scheduled_at')}, j.scheduled_at),
           settled_at = CASE WHEN w.kind IN ('succeeded', 'dead') THEN now() END,
           last_error = coalesce(w.error, j.last_error),
           history = coalesce(w.history, j.history),
           dead_letter_reason = CASE WHEN w.kind = 'dead' THEN w.reason ELSE j.dead_letter_reason END,
           throttles = j.throttles + CASE WHEN w.throttle_ms IS NULL THEN 0 ELSE 1 END,
           updated_at = now(), concurrency_key = NULL,
           ${CLEAR_CLAIM}
         FROM win w WHERE j.id = w.job_id
         RETURNING j.id, j.state, w.i
       ),
       ${KEY_RELEASE_SQL(this.#keys)}
       SELECT r.i, coalesce(u.i = r.i, false) AS settled, CASE WHEN r.i > u.i THEN u.state ELSE c.state END AS state
       FROM req r LEFT JOIN cur c ON c.id = r.job_id LEFT JOIN upd u ON u.id = r.job_id`,
      [JSON.stringify(batch)],
    );
    const results: SettleResult[] = new Array(requests.length);
    for (const row of rows) {
      if (row.settled) results[row.i] = { kind: 'settled' };
      else if (row.state === 'cancelled') results[row.i] = { kind: 'cancelled' };
      // The row is gone only when it was pruned, long after it settled: nothing is left to write.
      else results[row.i] = { kind: 'superseded', state: row.state ?? 'succeeded' };
    }
    return results;
  }

  renew(requests: readonly RenewRequest[]): Promise<RenewResult[]> {
    return this.#renews.call(requests);
  }

  /** One batch of renewals (the coalescer answers an empty call itself). */
  async #renew(requests: readonly RenewRequest[]): Promise<RenewResult[]> {
    const batch = requests.map((r, i) => ({ i, job_id: r.jobId, attempt: r.attempt, message_id: r.messageId, lease_ms: r.leaseMs }));
    const t = this.#table;
    const { rows } = await runPrepared<{ i: number; held: boolean; state: JobState | null }>(
      this.#pool,
      this.#prepare,
      `WITH req AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(i int, job_id text, attempt int, message_id text, lease_ms float8)
       ),
       cur AS (
         ${lockedRows(t, 'id', 'SELECT job_id FROM req', 'j.id, j.state, j.attempt, j.claim_attempt, j.claim_message_id, j.concurrency_key')}
       ),
       held AS (
         SELECT r.* FROM req r JOIN cur c ON c.id = r.job_id
         WHERE c.state = 'running' AND c.attempt = r.attempt AND c.claim_attempt = r.attempt AND c.claim_message_id = r.message_id
       ),
       upd AS (
         UPDATE ${t} j SET claim_expires_at = now() + w.lease_ms * interval '1 millisecond'
         FROM (SELECT DISTINCT ON (job_id) * FROM held ORDER BY job_id, i DESC) w WHERE j.id = w.job_id
         RETURNING j.id
       ),
       -- A key's hold ends with its claim: extended with it, but never brought back once gone (another
       -- job may hold the key now).
       kext AS (
         SELECT c.concurrency_key AS key, jsonb_object_agg(h.job_id, extract(epoch FROM now()) * 1000 + h.lease_ms) AS ext
         FROM (SELECT DISTINCT ON (job_id) * FROM held ORDER BY job_id, i DESC) h JOIN cur c ON c.id = h.job_id
         WHERE c.concurrency_key IS NOT NULL GROUP BY c.concurrency_key
       ),
       klock AS (${lockedRows(this.#keys, 'key', 'SELECT key FROM kext', 'j.key')}),
       kupd AS (
         UPDATE ${this.#keys} kr SET holders = kr.holders || (
             SELECT coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb) FROM jsonb_each(x.ext) e WHERE kr.holders ? e.key)
         FROM klock l JOIN kext x ON x.key = l.key WHERE kr.key = l.key
       )
       SELECT r.i, EXISTS (SELECT 1 FROM held h WHERE h.i = r.i) AS held, c.state
       FROM req r LEFT JOIN cur c ON c.id = r.job_id`,
      [JSON.stringify(batch)],
    );
    const results: RenewResult[] = new Array(requests.length);
    for (const row of rows) results[row.i] = row.held ? 'held' : row.state === 'cancelled' ? 'cancelled' : 'lost';
    return results;
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    const { rows } = await this.#pool.query<RecordRow>(`SELECT ${RECORD_COLUMNS} FROM ${this.#table} j WHERE j.id = $1`, [id]);
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  async listJobs(filter: JobFilter = {}): Promise<JobPage> {
    const size = pageSize(filter.limit);
    const params: unknown[] = [];
    const where: string[] = [];
    const param = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    if (filter.state !== undefined) where.push(`j.state = ${param(filter.state)}`);
    if (filter.type !== undefined) where.push(`j.type = ${param(filter.type)}`);
    if (filter.key !== undefined) {
      const key = param(filter.key);
      where.push(`(j.idempotency_key = ${key} OR j.concurrency_key = ${key} OR j.id = ${key})`);
    }
    if (filter.since !== undefined) where.push(`j.created_at >= ${ts(`${param(filter.since)}::float8`)}`);
    if (filter.until !== undefined) where.push(`j.created_at < ${ts(`${param(filter.until)}::float8`)}`);
    if (filter.cursor !== undefined) {
      const after = decodeCursor(filter.cursor);
      where.push(`(j.created_at, j.id) < (${ts(`${param(after.createdAt)}::float8`)}, ${param(after.id)}::text)`);
    }
    const { rows } = await this.#pool.query<RecordRow>(
      `SELECT ${RECORD_COLUMNS} FROM ${this.#table} j
       ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`}
       ORDER BY j.created_at DESC, j.id DESC LIMIT ${size + 1}`,
      params,
    );
    return toPage(rows.map(toRecord), size);
  }

  async cancelJob(id: string): Promise<CancelResult> {
    const t = this.#table;
    // The claim stays: the running worker's next renewal or settle finds the job cancelled.
    const { rows } = await this.#pool.query<{ state: JobState; cancelled: boolean }>(
      `WITH cur AS (SELECT id, state, concurrency_key FROM ${t} WHERE id = $1 FOR UPDATE),
       upd AS (
         UPDATE ${t} j SET state = 'cancelled', settled_at = now(), updated_at = now(), coalesce_key = NULL
         FROM cur WHERE j.id = cur.id AND cur.state IN ('pending', 'backoff', 'running')
         RETURNING j.id
       ),
       -- A cancelled job's key is free at once (its worker writes no settle for it).
       kupd AS (
         UPDATE ${this.#keys} kr SET holders = kr.holders - cur.id, updated_at = now()
         FROM cur WHERE kr.key = cur.concurrency_key AND EXISTS (SELECT 1 FROM upd)
       )
       SELECT cur.state, EXISTS (SELECT 1 FROM upd) AS cancelled FROM cur`,
      [id],
    );
    const row = rows[0];
    if (row === undefined) return { kind: 'not_found' };
    return row.cancelled ? { kind: 'cancelled', wasRunning: row.state === 'running' } : { kind: 'settled', state: row.state };
  }

  async retryJob(id: string): Promise<RetryResult> {
    const t = this.#table;
    const { rows } = await this.#pool.query<RecordRow & { prior_state: JobState; retried: boolean }>(
      `WITH cur AS (SELECT id, state FROM ${t} WHERE id = $1 FOR UPDATE),
       upd AS (
         UPDATE ${t} j SET state = 'pending', attempt = 1, retries = j.retries + 1, settled_at = NULL, dead_letter_reason = NULL,
           throttles = 0, holds = 0, concurrency_key = NULL, coalesce_key = NULL, updated_at = now(), ${CLEAR_CLAIM}
         FROM cur WHERE j.id = cur.id AND cur.state IN ('dead', 'cancelled')
         RETURNING ${RECORD_COLUMNS}
       )
       SELECT cur.state AS prior_state, upd.id IS NOT NULL AS retried, upd.* FROM cur LEFT JOIN upd ON true`,
      [id],
    );
    const row = rows[0];
    if (row === undefined) return { kind: 'not_found' };
    return row.retried ? { kind: 'retried', job: toRecord(row) } : { kind: 'not_retryable', state: row.prior_state };
  }

  async reopenJobs(requests: readonly { jobId: string; attempt: number }[]): Promise<number> {
    if (requests.length === 0) return 0;
    const batch = requests.map((r, i) => ({ i, job_id: r.jobId, attempt: r.attempt }));
    const { rows } = await this.#pool.query<{ n: number }>(
      `WITH req AS (
         SELECT DISTINCT ON (job_id) * FROM jsonb_to_recordset($1::jsonb) AS r(i int, job_id text, attempt int) ORDER BY job_id, i
       ),
       upd AS (
         UPDATE ${this.#table} j SET state = 'pending', attempt = r.attempt, settled_at = NULL, dead_letter_reason = NULL,
           concurrency_key = NULL, coalesce_key = NULL, updated_at = now(), ${CLEAR_CLAIM}
         FROM req r WHERE j.id = r.job_id AND j.state IN ('dead', 'cancelled')
         RETURNING j.id
       )
       SELECT count(*)::int AS n FROM upd`,
      [JSON.stringify(batch)],
    );
    return rows[0]?.n ?? 0;
  }

  async prune(options: { olderThanMs: number; batchSize?: number }): Promise<number> {
    const batchSize = options.batchSize ?? 1000;
    let total = 0;
    // One short statement per batch (a TID scan over the rows the settled_at index picked), so a large
    // prune never holds many row locks or one long transaction against the hot path.
    for (;;) {
      const { rowCount } = await this.#pool.query(
        `DELETE FROM ${this.#table} WHERE ctid = ANY (ARRAY(
           SELECT ctid FROM ${this.#table}
           WHERE settled_at < now() - $1::float8 * interval '1 millisecond' AND state = ANY ($3::text[])
           LIMIT $2
         ))`,
        [options.olderThanMs, batchSize, TERMINAL_STATES],
      );
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < batchSize) break;
    }
    // Key rows idle as long (no live hold, no start in any window, no throttle ahead): a job that names
    // such a key again makes its row again.
    await this.#pool.query(
      `DELETE FROM ${this.#keys} WHERE updated_at < now() - $1::float8 * interval '1 millisecond'
         AND (throttled_until IS NULL OR throttled_until < now())
         AND NOT EXISTS (SELECT 1 FROM jsonb_each_text(holders) h WHERE h.value::float8 > extract(epoch FROM now()) * 1000)`,
      [options.olderThanMs],
    );
    return total;
  }

  async activity(query: ActivityQuery): Promise<JobActivity> {
    const t = this.#table;
    const count = Math.max(1, Math.ceil(query.windowMs / query.bucketMs));
    // Rows that can hold something in the window: settled in it (jobs_settled) or not settled yet
    // (jobs_state_created); a job that failed in the window and settled since settled in it too.
    const { rows } = await this.#pool.query<{ kind: string; bucket: number | null; n: number; worker: string | null; seen: number | null }>(
      `WITH w AS (
         SELECT ${ms('now()')} AS now_ms, ${ms('now()')} - $1::float8 AS since_ms
       ),
       recent AS (
         SELECT j.* FROM ${t} j, w
         WHERE j.settled_at >= ${ts('w.since_ms')} OR j.state IN ('pending', 'running', 'backoff')
       ),
       settled AS (
         SELECT j.state AS kind, floor((${ms('j.settled_at')} - w.since_ms) / $2::float8)::int AS bucket, count(*)::int AS n
         FROM recent j, w WHERE j.state IN ('succeeded', 'dead') AND j.settled_at >= ${ts('w.since_ms')}
         GROUP BY 1, 2
       ),
       failed AS (
         SELECT 'failed' AS kind, floor((${ms("(h->>'at')::timestamptz")} - w.since_ms) / $2::float8)::int AS bucket, count(*)::int AS n
         FROM recent j CROSS JOIN w CROSS JOIN LATERAL jsonb_array_elements(j.history) h
         WHERE (h->>'at')::timestamptz >= ${ts('w.since_ms')}
         GROUP BY 2
       ),
       workers AS (
         SELECT j.claim_worker AS worker, max(${ms('j.updated_at')}) AS seen, (count(*) FILTER (WHERE j.state = 'running'))::int AS n
         FROM recent j, w
         WHERE j.claim_worker IS NOT NULL AND (j.state = 'running' OR j.updated_at >= ${ts('(w.now_ms - $3::float8)')})
         GROUP BY 1
       )
       SELECT 'now' AS kind, NULL::int AS bucket, 0 AS n, NULL::text AS worker, w.now_ms AS seen FROM w
       UNION ALL SELECT kind, bucket, n, NULL, NULL FROM settled
       UNION ALL SELECT kind, bucket, n, NULL, NULL FROM failed
       UNION ALL SELECT 'worker', NULL, n, worker, seen FROM workers`,
      [query.windowMs, query.bucketMs, query.workersWindowMs],
    );
    const now = rows.find((row) => row.kind === 'now')?.seen ?? Date.now();
    return activityOf(
      now,
      query,
      count,
      rows.filter((row) => row.kind !== 'now' && row.kind !== 'worker') as Array<{
        kind: 'succeeded' | 'dead' | 'failed';
        bucket: number;
        n: number;
      }>,
      rows.filter((row) => row.kind === 'worker').map((row) => ({ worker: row.worker ?? '', lastSeenAt: row.seen ?? now, running: row.n })),
    );
  }

  async ping(): Promise<void> {
    await this.#pool.query(`SELECT 1 FROM ${this.#table} LIMIT 1`);
  }

  /** Ends the pool when this store owns it (`connect`, `closePool`). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#closePool ? this.#pool.end() : Promise.resolve();
    return this.#closing;
  }
}
