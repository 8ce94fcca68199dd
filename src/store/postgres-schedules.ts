/**
 * The schedule store on PostgreSQL (or PGlite), beside `PostgresJobStore` (its `schedules`), in the
 * same schema (migrations/store/003_schedules.sql). `claimDue` is one statement: it picks due rows with
 * `FOR UPDATE SKIP LOCKED` (two workers claiming at once take different rows and never wait on each
 * other), leases them, and reads the state of each one's latest job from `jobs` for the overlap policy.
 * `advance` writes a whole batch in one statement, each row only while the claim's token still holds.
 */
import type pg from 'pg';
import type { JobState } from './job-store.js';
import { ms, ts } from './postgres-sql.js';
import {
  MAX_RECENT_RUNS,
  schedulePageSize,
  type ClaimDueRequest,
  type ClaimDueResult,
  type DueSchedule,
  type OverlapPolicy,
  type ScheduleAdvance,
  type ScheduleListFilter,
  type ScheduleRecord,
  type ScheduleRun,
  type ScheduleSpec,
  type ScheduleStore,
  type ScheduleTiming,
} from './schedule-store.js';

const COLUMNS = [
  's.id',
  's.job_type',
  's.payload_box',
  's.every_ms::float8 AS every_ms',
  's.cron',
  's.timezone',
  's.jitter_ms::float8 AS jitter_ms',
  's.overlap',
  's.catchup_window_ms::float8 AS catchup_window_ms',
  `${ms('s.start_at')} AS start_at`,
  `${ms('s.end_at')} AS end_at`,
  's.paused',
  `${ms('s.next_tick_at')} AS next_tick_at`,
  `${ms('s.next_fire_at')} AS next_fire_at`,
  `${ms('s.buffered_tick_at')} AS buffered_tick_at`,
  's.runs',
  's.fired_total::float8 AS fired_total',
  's.skipped_total::float8 AS skipped_total',
  `${ms('s.created_at')} AS created_at`,
  `${ms('s.updated_at')} AS updated_at`,
].join(', ');

interface Row {
  id: string;
  job_type: string;
  payload_box: { v: unknown };
  every_ms: number | null;
  cron: string | null;
  timezone: string | null;
  jitter_ms: number;
  overlap: OverlapPolicy;
  catchup_window_ms: number;
  start_at: number | null;
  end_at: number | null;
  paused: boolean;
  next_tick_at: number | null;
  next_fire_at: number | null;
  buffered_tick_at: number | null;
  runs: ScheduleRun[];
  fired_total: number;
  skipped_total: number;
  created_at: number;
  updated_at: number;
}

const opt = <T>(value: T | null): T | undefined => (value === null ? undefined : value);

function toRecord(row: Row): ScheduleRecord {
  const spec: ScheduleSpec = {
    id: row.id,
    job: { type: row.job_type, payload: row.payload_box.v },
    ...(row.every_ms === null ? {} : { every: row.every_ms }),
    ...(row.cron === null ? {} : { cron: row.cron }),
    ...(row.timezone === null ? {} : { timezone: row.timezone }),
    jitterMs: row.jitter_ms,
    overlap: row.overlap,
    catchupWindowMs: row.catchup_window_ms,
    ...(row.start_at === null ? {} : { startAt: row.start_at }),
    ...(row.end_at === null ? {} : { endAt: row.end_at }),
    paused: row.paused,
  };
  return {
    spec,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    nextTickAt: opt(row.next_tick_at),
    nextFireAt: opt(row.next_fire_at),
    bufferedTickAt: opt(row.buffered_tick_at),
    runs: row.runs,
    firedTotal: row.fired_total,
    skippedTotal: row.skipped_total,
  };
}

/** `runs || added`, the newest MAX_RECENT_RUNS kept, oldest first. */
const lastRuns = (runs: string, added: string): string =>
  `(SELECT coalesce(jsonb_agg(e ORDER BY n), '[]'::jsonb) FROM (
     SELECT e, n FROM jsonb_array_elements(${runs} || ${added}) WITH ORDINALITY AS t(e, n) ORDER BY n DESC LIMIT ${MAX_RECENT_RUNS}
   ) kept)`;

export class PostgresScheduleStore implements ScheduleStore {
  readonly #pool: pg.Pool;
  readonly #table: string;
  readonly #jobs: string;

  /** `schema` is already quoted (quoteSchema). */
  constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#table = `${schema}.schedules`;
    this.#jobs = `${schema}.jobs`;
  }

  async upsert(spec: ScheduleSpec, timing: ScheduleTiming): Promise<{ created: boolean }> {
    const { rows } = await this.#pool.query<{ created: boolean }>(
      `INSERT INTO ${this.#table} AS s (id, job_type, payload_box, every_ms, cron, timezone, jitter_ms, overlap, catchup_window_ms,
         start_at, end_at, paused, next_tick_at, next_fire_at, due_at)
       VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, ${ts('$10::float8')}, ${ts('$11::float8')}, $12,
         ${ts('$13::float8')}, ${ts('$14::float8')}, ${ts('$14::float8')})
       ON CONFLICT (id) DO UPDATE SET job_type = excluded.job_type, payload_box = excluded.payload_box, every_ms = excluded.every_ms,
         cron = excluded.cron, timezone = excluded.timezone, jitter_ms = excluded.jitter_ms, overlap = excluded.overlap,
         catchup_window_ms = excluded.catchup_window_ms, start_at = excluded.start_at, end_at = excluded.end_at, paused = excluded.paused,
         next_tick_at = excluded.next_tick_at, next_fire_at = excluded.next_fire_at, due_at = excluded.due_at,
         lease_token = NULL, lease_until = NULL, updated_at = now()
       RETURNING (xmax = 0) AS created`,
      [
        spec.id,
        spec.job.type,
        JSON.stringify({ v: spec.job.payload }),
        spec.every ?? null,
        spec.cron ?? null,
        spec.timezone ?? null,
        spec.jitterMs,
        spec.overlap,
        spec.catchupWindowMs,
        spec.startAt ?? null,
        spec.endAt ?? null,
        spec.paused,
        timing.nextTickAt ?? null,
        timing.nextFireAt ?? null,
      ],
    );
    return { created: rows[0]!.created };
  }

  async get(id: string): Promise<ScheduleRecord | undefined> {
    const { rows } = await this.#pool.query<Row>(`SELECT ${COLUMNS} FROM ${this.#table} s WHERE s.id = $1`, [id]);
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  async list(filter: ScheduleListFilter = {}): Promise<ScheduleRecord[]> {
    const { rows } = await this.#pool.query<Row>(
      `SELECT ${COLUMNS} FROM ${this.#table} s WHERE $1::text IS NULL OR s.id > $1::text ORDER BY s.id LIMIT $2`,
      [filter.after ?? null, schedulePageSize(filter.limit)],
    );
    return rows.map(toRecord);
  }

  async setPaused(id: string, paused: boolean): Promise<boolean> {
    const { rowCount } = await this.#pool.query(`UPDATE ${this.#table} SET paused = $2, updated_at = now() WHERE id = $1`, [id, paused]);
    return (rowCount ?? 0) > 0;
  }

  async delete(id: string): Promise<boolean> {
    const { rowCount } = await this.#pool.query(`DELETE FROM ${this.#table} WHERE id = $1`, [id]);
    return (rowCount ?? 0) > 0;
  }

  async recordRun(id: string, run: ScheduleRun): Promise<boolean> {
    const { rowCount } = await this.#pool.query(
      `UPDATE ${this.#table} s SET runs = ${lastRuns('s.runs', '$2::jsonb')}, last_job_id = $3, fired_total = s.fired_total + 1,
         updated_at = now() WHERE s.id = $1`,
      [id, JSON.stringify([run]), run.jobId],
    );
    return (rowCount ?? 0) > 0;
  }

  async claimDue(request: ClaimDueRequest): Promise<ClaimDueResult> {
    const t = this.#table;
    const { rows } = await this.#pool.query<{ now: number; due_count: number; claimed: (Row & { last_job_state: JobState | null })[] }>(
      `WITH picked AS (
         SELECT id FROM ${t}
         WHERE NOT paused AND due_at <= now() AND (lease_until IS NULL OR lease_until <= now())
         ORDER BY due_at LIMIT $1
         FOR UPDATE SKIP LOCKED
       ),
       leased AS (
         UPDATE ${t} s SET lease_token = $2, lease_until = now() + $3::float8 * interval '1 millisecond'
         FROM picked WHERE s.id = picked.id
         RETURNING s.*
       )
       SELECT ${ms('now()')} AS now,
         (SELECT count(*) FROM ${t} WHERE NOT paused AND due_at <= now())::int AS due_count,
         coalesce((
           SELECT jsonb_agg(to_jsonb(c) ORDER BY c.next_fire_at) FROM (
             SELECT ${COLUMNS}, j.state AS last_job_state
             FROM leased s LEFT JOIN ${this.#jobs} j ON j.id = s.last_job_id
           ) c
         ), '[]'::jsonb) AS claimed`,
      [request.limit, request.token, request.leaseMs],
    );
    const row = rows[0]!;
    const schedules = row.claimed.map(
      (claimed): DueSchedule => ({ ...toRecord(claimed), token: request.token, lastJobState: opt(claimed.last_job_state) }),
    );
    return { now: row.now, dueCount: row.due_count, schedules };
  }

  async advance(requests: readonly ScheduleAdvance[]): Promise<boolean[]> {
    if (requests.length === 0) return [];
    const batch = requests.map((r, i) => ({
      i,
      id: r.id,
      token: r.token,
      next_tick_at: r.nextTickAt ?? null,
      next_fire_at: r.nextFireAt ?? null,
      due_at: r.dueAt ?? null,
      buffered_tick_at: r.bufferedTickAt ?? null,
      runs: r.runs,
      fired: r.runs.length,
      skipped: r.skipped,
      last_job_id: r.runs.at(-1)?.jobId ?? null,
    }));
    const { rows } = await this.#pool.query<{ i: number; applied: boolean }>(
      `WITH req AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(i int, id text, token text, next_tick_at float8, next_fire_at float8,
           due_at float8, buffered_tick_at float8, runs jsonb, fired int, skipped int, last_job_id text)
       ),
       upd AS (
         UPDATE ${this.#table} s SET next_tick_at = ${ts('r.next_tick_at')}, next_fire_at = ${ts('r.next_fire_at')},
           due_at = ${ts('r.due_at')}, buffered_tick_at = ${ts('r.buffered_tick_at')},
           runs = ${lastRuns('s.runs', 'r.runs')}, last_job_id = coalesce(r.last_job_id, s.last_job_id),
           fired_total = s.fired_total + r.fired, skipped_total = s.skipped_total + r.skipped,
           lease_token = NULL, lease_until = NULL, updated_at = now()
         FROM req r WHERE s.id = r.id AND s.lease_token = r.token
         RETURNING s.id
       )
       SELECT r.i, EXISTS (SELECT 1 FROM upd WHERE upd.id = r.id) AS applied FROM req r`,
      [JSON.stringify(batch)],
    );
    const results: boolean[] = new Array(requests.length).fill(false);
    for (const row of rows) results[row.i] = row.applied;
    return results;
  }
}
