/**
 * The batch claim (job-store.ts, `claim`) in one statement: lock the batch's rows, decide per request,
 * insert the rows that are missing and update the ones the decision lets through, all in data-modifying
 * CTEs over one JSON array of requests.
 *
 * `SELECT ... FOR UPDATE` in READ COMMITTED waits for a concurrent writer and then returns the row's
 * newest version, so two workers claiming one attempt at once are serialised by the row lock and the
 * second decides on the first's claim. Copies of one job in one batch cannot both be written by one
 * statement (a row is updated once per statement): the statement decides for the highest attempt and
 * the others are answered from its outcome, as if they came after it.
 */
import type pg from 'pg';
import type { ClaimRequest, ClaimResult, DropReason, HoldReason, JobState } from './job-store.js';
import { inRounds, lockedRows, NEW_JOB_COLUMNS, newJobFields, runPrepared, ts } from './postgres-sql.js';

interface ClaimRow {
  i: number;
  decision: 'missing' | 'claim' | 'claim_lost' | DropReason;
  gate: 'go' | 'key_missing' | HoldReason;
  retry_after_ms: number | null;
  cur_state: JobState | null;
  cur_attempt: number | null;
  cur_message_id: string | null;
  cur_reason: string | null;
  cur_throttles: number | null;
  inserted: boolean;
  updated: boolean;
  holds: number | null;
}

/** One result per request, in order; one statement per round (see inRounds). */
export async function claimBatch(
  pool: pg.Pool,
  schema: string,
  requests: readonly ClaimRequest[],
  prepare: boolean,
): Promise<ClaimResult[]> {
  const results: (ClaimResult | undefined)[] = new Array(requests.length);
  // The highest attempt of each job first (ties: the first in the batch): the statement decides for it.
  const groups = new Map<string, number[]>();
  requests.forEach((request, index) => {
    const group = groups.get(request.jobId) ?? [];
    group.push(index);
    groups.set(request.jobId, group);
  });
  for (const group of groups.values()) group.sort((a, b) => requests[b]!.attempt - requests[a]!.attempt || a - b);
  await inRounds('claim', [...groups.values()], async (pending) => {
    const batch = pending.map((group) => {
      const index = group[0]!;
      const r = requests[index]!;
      return {
        i: index,
        job_id: r.jobId,
        type: r.type,
        attempt: r.attempt,
        message_id: r.messageId,
        lease_ms: r.leaseMs,
        worker: r.worker,
        ckey: r.concurrency?.key ?? null,
        climit: r.concurrency?.limit ?? null,
        rkey: r.rate?.key ?? null,
        rmax: r.rate?.max ?? null,
        rper: r.rate?.perMs ?? null,
        ...newJobFields(r.row),
      };
    });
    const keyed = batch.some((r) => r.ckey !== null || r.rkey !== null);
    const { rows } = await runPrepared<ClaimRow>(pool, prepare, claimStatement(schema, keyed), [JSON.stringify(batch)]);
    const byIndex = new Map(rows.map((row) => [row.i, row]));
    return pending.filter((group) => {
      const winner = requests[group[0]!]!;
      const row = byIndex.get(group[0]!);
      const outcome = row === undefined ? undefined : claimOutcome(row, winner);
      if (outcome === undefined) return true;
      results[group[0]!] = outcome;
      for (const index of group.slice(1)) results[index] = followerOutcome(requests[index]!, winner, outcome, row!);
      return false;
    });
  });
  return results as ClaimResult[];
}

const claimStatements = new Map<string, string>();

/** The claim's text for `schema`, with or without the key gates, built once. */
function claimStatement(schema: string, keyed: boolean): string {
  const cacheKey = `${keyed ? 'keyed' : 'plain'} ${schema}`;
  let text = claimStatements.get(cacheKey);
  if (text === undefined) {
    text = claimSql(`${schema}.jobs`, `${schema}.job_keys`, keyed);
    claimStatements.set(cacheKey, text);
  }
  return text;
}

/**
 * A batch in which no request names a key (most jobs) skips the gates: every request the row decision
 * lets through goes, and the statement has half as many CTEs to plan and run.
 */
const NO_KEYS_FIN = `    fin AS (
      SELECT d.*, 'go'::text AS gate, NULL::float8 AS retry_after_ms, NULL::float8 AS start_ms FROM dec d
    ),`;

/** The key gates' CTEs after `dec`, ending with `fin` (see claimSql). */
const KEYED_GATES = (k: string): string => `    want AS (
      SELECT d.i, d.job_id, d.lease_ms, d.ckey, d.climit, d.rkey, d.rmax, d.rper, extract(epoch FROM now()) * 1000 AS now_ms,
        row_number() OVER (PARTITION BY d.ckey ORDER BY d.i) AS crank,
        row_number() OVER (PARTITION BY d.rkey ORDER BY d.i) AS rrank
      FROM dec d WHERE d.decision IN ('missing', 'claim', 'claim_lost') AND (d.ckey IS NOT NULL OR d.rkey IS NOT NULL)
    ),
    klock AS (
      ${lockedRows(k, 'key', 'SELECT ckey FROM want UNION ALL SELECT rkey FROM want', 'j.key, j.holders, j.starts, j.throttled_until')}
    ),
    gate AS (
      SELECT w.*, rt.at AS rate_at,
        CASE
          WHEN (w.ckey IS NOT NULL AND kc.key IS NULL) OR (w.rkey IS NOT NULL AND kq.key IS NULL) THEN 'key_missing'
          WHEN greatest(kc.throttled_until, kq.throttled_until) > now() THEN 'throttled'
          WHEN w.ckey IS NOT NULL AND w.crank > w.climit - hc.live THEN 'concurrency'
          WHEN w.rkey IS NOT NULL AND w.rrank > w.rmax - sq.n THEN 'rate'
          ELSE 'go'
        END AS gate,
        CASE
          WHEN greatest(kc.throttled_until, kq.throttled_until) > now()
            THEN extract(epoch FROM greatest(kc.throttled_until, kq.throttled_until) - now()) * 1000
          WHEN w.ckey IS NOT NULL AND w.crank > w.climit - hc.live THEN hc.first_end - w.now_ms
          WHEN w.rkey IS NOT NULL AND w.rrank > w.rmax - sq.n THEN coalesce(sq.win[sq.n + w.rrank - w.rmax] + w.rper - rt.at, w.rper)
        END AS retry_after_ms
      FROM want w
      LEFT JOIN klock kc ON kc.key = w.ckey
      LEFT JOIN klock kq ON kq.key = w.rkey
      LEFT JOIN LATERAL (
        SELECT count(*)::int AS live, min(h.value::float8) AS first_end FROM jsonb_each_text(kc.holders) h
        WHERE h.value::float8 > w.now_ms AND h.key <> w.job_id
      ) hc ON true
      LEFT JOIN LATERAL (
        SELECT greatest(w.now_ms, (SELECT max(s) FROM unnest(kq.starts) s)) AS at
      ) rt ON true
      LEFT JOIN LATERAL (
        SELECT count(*)::int AS n, array_agg(s ORDER BY s) AS win FROM unnest(kq.starts) s WHERE s > rt.at - w.rper
      ) sq ON true
    ),
    kfix AS (
      INSERT INTO ${k} (key)
      SELECT DISTINCT x.key FROM gate g CROSS JOIN LATERAL (VALUES (g.ckey), (g.rkey)) AS x(key)
      WHERE g.gate = 'key_missing' AND x.key IS NOT NULL
      ORDER BY x.key
      ON CONFLICT DO NOTHING
    ),
    adm AS (
      SELECT x.key, g.job_id, g.now_ms, g.rate_at, g.lease_ms, g.rper, x.conc FROM gate g
      CROSS JOIN LATERAL (VALUES (g.ckey, true), (g.rkey, false)) AS x(key, conc)
      WHERE g.gate = 'go' AND x.key IS NOT NULL
    ),
    kagg AS (
      SELECT a.key, max(a.now_ms) AS now_ms,
        coalesce(jsonb_object_agg(a.job_id, a.now_ms + a.lease_ms) FILTER (WHERE a.conc), '{}'::jsonb) AS new_holders,
        coalesce(array_agg(a.rate_at) FILTER (WHERE NOT a.conc), '{}'::float8[]) AS new_starts,
        max(a.rate_at) FILTER (WHERE NOT a.conc) AS rate_at,
        bool_or(a.conc) AS any_conc, bool_or(NOT a.conc) AS any_rate, max(a.rper) FILTER (WHERE NOT a.conc) AS per_ms
      FROM adm a GROUP BY a.key
    ),
    kupd AS (
      UPDATE ${k} kr SET
        holders = CASE WHEN a.any_conc THEN
            (SELECT coalesce(jsonb_object_agg(h.key, h.value::float8), '{}'::jsonb) FROM jsonb_each_text(kr.holders) h WHERE h.value::float8 > a.now_ms)
            || a.new_holders
          ELSE kr.holders END,
        starts = CASE WHEN a.any_rate THEN
            array(SELECT s FROM unnest(kr.starts) s WHERE s > a.rate_at - a.per_ms ORDER BY s) || a.new_starts
          ELSE kr.starts END,
        updated_at = now()
      FROM kagg a WHERE kr.key = a.key
    ),
    fin AS (
      SELECT d.*, coalesce(g.gate, 'go') AS gate, g.retry_after_ms, CASE WHEN d.rkey IS NOT NULL THEN g.rate_at END AS start_ms
      FROM dec d LEFT JOIN gate g ON g.i = d.i
    ),`;

/** A claimed job's start: its rate key's clock when it has one (see claimSql), else the statement's. */
const STARTED_AT = 'coalesce(to_timestamp(f.start_ms / 1000), now())';

/** Keyed requests held back: their rows count the hold. */
const KEYED_HOLD = (t: string): string => `    hold AS (
      UPDATE ${t} j SET holds = j.holds + 1
      FROM fin f WHERE j.id = f.job_id AND f.decision IN ('claim', 'claim_lost') AND f.gate IN ('concurrency', 'rate', 'throttled')
      RETURNING j.id, j.holds
    )`;

/**
 * Per-key gates (docs/keys.md), in the same statement: the requests the row decision lets through and
 * that name a key are ranked per key in batch order; their key rows are locked in key order (after the
 * job rows, as every statement that touches both does, so two statements never wait on each other in
 * a circle); a request goes when its key is not throttled, its rank fits the key's live holds under
 * `limit` and its rate rank fits the starts left in the window. Ranks count every candidate, so a
 * batch never admits more than a key allows (it may hold back one a finer count would have let go).
 * A key row that does not exist yet is inserted and its requests decided in the next round.
 *
 * A rate key's starts never go back in time: a request is counted and recorded at the later of the
 * statement's `now()` and the key's latest start, and that is the job's `started_at`. `now()` is when
 * the statement began; one that waited for a row another claim held (a job row, the key row) would
 * otherwise count its window from before that claim's start, after that claim had already pruned
 * the starts older than its own window, and admit one start too many. The waiting statement really
 * starts its jobs after the other claim's, so the later time is also the truer one.
 */
function claimSql(t: string, k: string, keyed: boolean): string {
  return `WITH req AS (
      SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(
        i int, job_id text, type text, attempt int, message_id text, lease_ms float8, worker text,
        ckey text, climit int, rkey text, rmax int, rper float8, ${NEW_JOB_COLUMNS})
    ),
    cur AS (
      ${lockedRows(
        t,
        'id',
        'SELECT job_id FROM req',
        `j.id, j.state, j.attempt, j.claim_message_id, j.dead_letter_reason, j.throttles,
        (j.claim_message_id IS NOT NULL AND j.claim_attempt = j.attempt) AS has_claim,
        (j.claim_expires_at > now()) AS claim_live`,
      )}
    ),
    dec AS (
      SELECT r.*, c.state AS cur_state, c.attempt AS cur_attempt, c.claim_message_id AS cur_message_id, c.dead_letter_reason AS cur_reason,
        c.throttles AS cur_throttles,
        CASE
          WHEN c.id IS NULL THEN 'missing'
          WHEN c.state IN ('succeeded', 'dead') THEN 'terminal'
          WHEN c.state = 'cancelled' THEN 'cancelled'
          WHEN r.attempt < c.attempt THEN 'older_attempt'
          WHEN r.attempt > c.attempt THEN 'claim'
          WHEN c.has_claim AND c.claim_live THEN 'claim_held'
          WHEN c.has_claim THEN 'claim_lost'
          ELSE 'claim'
        END AS decision
      FROM req r LEFT JOIN cur c ON c.id = r.job_id
    ),
${keyed ? KEYED_GATES(k) : NO_KEYS_FIN}
    ins AS (
      INSERT INTO ${t} AS j (id, type, state, attempt, idempotency_key, created_at, scheduled_at, started_at, updated_at,
        payload, payload_omitted, trace_id, claim_message_id, claim_attempt, claim_worker, claim_expires_at, concurrency_key, holds)
      SELECT f.job_id, f.type, CASE WHEN f.gate = 'go' THEN 'running' ELSE 'pending' END, f.attempt,
        -- A key another job holds is not this job's to take (its producer could not dedup): kept without it.
        CASE WHEN NOT EXISTS (SELECT 1 FROM ${t} e WHERE e.type = f.type AND e.idempotency_key = f.idempotency_key) THEN f.idempotency_key END,
        ${ts('f.created_at')}, ${ts('f.scheduled_at')}, CASE WHEN f.gate = 'go' THEN ${STARTED_AT} END, now(), f.payload_box -> 'v', f.payload_omitted, f.trace_id,
        CASE WHEN f.gate = 'go' THEN f.message_id END, CASE WHEN f.gate = 'go' THEN f.attempt END, CASE WHEN f.gate = 'go' THEN f.worker END,
        CASE WHEN f.gate = 'go' THEN now() + f.lease_ms * interval '1 millisecond' END,
        CASE WHEN f.gate = 'go' THEN f.ckey END, CASE WHEN f.gate = 'go' THEN 0 ELSE 1 END
      FROM fin f WHERE f.decision = 'missing' AND f.gate <> 'key_missing'
      ON CONFLICT DO NOTHING
      RETURNING j.id, j.holds
    ),
    upd AS (
      UPDATE ${t} j SET state = 'running', attempt = f.attempt, started_at = ${STARTED_AT}, updated_at = now(),
        trace_id = COALESCE(j.trace_id, f.trace_id),
        claim_message_id = f.message_id, claim_attempt = f.attempt, claim_worker = f.worker,
        claim_expires_at = now() + f.lease_ms * interval '1 millisecond',
        concurrency_key = f.ckey, coalesce_key = NULL, holds = 0
      FROM fin f WHERE j.id = f.job_id AND f.decision IN ('claim', 'claim_lost') AND f.gate = 'go'
      RETURNING j.id
    )${
      keyed
        ? `,
${KEYED_HOLD(t)}`
        : ''
    }
    SELECT f.i, f.decision, f.gate, f.retry_after_ms, f.cur_state, f.cur_attempt, f.cur_message_id, f.cur_reason, f.cur_throttles,
      EXISTS (SELECT 1 FROM ins WHERE ins.id = f.job_id) AS inserted,
      EXISTS (SELECT 1 FROM upd WHERE upd.id = f.job_id) AS updated,
      ${keyed ? 'coalesce((SELECT h.holds FROM hold h WHERE h.id = f.job_id), (SELECT n.holds FROM ins n WHERE n.id = f.job_id))' : '(SELECT n.holds FROM ins n WHERE n.id = f.job_id)'} AS holds
    FROM fin f`;
}

/** The statement's answer for the request it decided; undefined when its row raced with a concurrent insert, or a key row was just made. */
function claimOutcome(row: ClaimRow, request: ClaimRequest): ClaimResult | undefined {
  if (row.gate === 'key_missing') return undefined;
  const held = (): ClaimResult => ({
    kind: 'held',
    reason: row.gate as HoldReason,
    retryAfterMs: row.retry_after_ms === null ? undefined : Math.max(0, Math.ceil(row.retry_after_ms)),
    holds: row.holds ?? 1,
  });
  if (row.inserted) return row.gate === 'go' ? { kind: 'claimed', lost: false, created: true } : held();
  if (row.updated)
    return {
      kind: 'claimed',
      lost: row.decision === 'claim_lost',
      created: false,
      ...(row.cur_throttles ? { throttles: row.cur_throttles } : {}),
    };
  if (row.holds !== null && row.decision !== 'missing') return held();
  if (row.decision === 'missing' || row.decision === 'claim' || row.decision === 'claim_lost' || row.cur_state === null) return undefined;
  return drop(row.decision, row.cur_state, row.cur_message_id === request.messageId, row.cur_reason);
}

/** Another copy of the same job in the batch, answered as if it came after the winner. */
function followerOutcome(request: ClaimRequest, winner: ClaimRequest, outcome: ClaimResult, row: ClaimRow): ClaimResult {
  if (outcome.kind === 'claimed') {
    return request.attempt < winner.attempt
      ? drop('older_attempt', 'running', false, null)
      : drop('claim_held', 'running', request.messageId === winner.messageId, null);
  }
  // The winner was held back: it carries the job on; a copy of the same attempt is a second copy.
  if (outcome.kind === 'held')
    return drop(request.attempt < winner.attempt ? 'older_attempt' : 'claim_held', row.cur_state ?? 'pending', false, null);
  if (outcome.reason === 'terminal' || outcome.reason === 'cancelled') return { ...outcome, sameMessage: false };
  return request.attempt < row.cur_attempt!
    ? drop('older_attempt', outcome.state, false, null)
    : drop('claim_held', outcome.state, row.cur_message_id === request.messageId, null);
}

function drop(reason: DropReason, state: JobState, sameMessage: boolean, deadLetterReason: string | null): ClaimResult {
  return {
    kind: 'drop',
    reason,
    state,
    sameMessage: reason === 'claim_held' && sameMessage,
    ...(state === 'dead' ? { deadLetterReason: deadLetterReason ?? undefined } : {}),
  };
}
