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
import type { ClaimRequest, ClaimResult, DropReason, JobState } from './job-store.js';
import { inRounds, NEW_JOB_COLUMNS, newJobFields, runPrepared, ts } from './postgres-sql.js';

interface ClaimRow {
  i: number;
  decision: 'missing' | 'claim' | 'claim_lost' | DropReason;
  cur_state: JobState | null;
  cur_attempt: number | null;
  cur_message_id: string | null;
  cur_reason: string | null;
  inserted: boolean;
  updated: boolean;
}

/** One result per request, in order; one statement per round (see inRounds). */
export async function claimBatch(
  pool: pg.Pool,
  table: string,
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
        ...newJobFields(r.row),
      };
    });
    const { rows } = await runPrepared<ClaimRow>(pool, prepare, claimSql(table), [JSON.stringify(batch)]);
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

function claimSql(t: string): string {
  return `WITH req AS (
      SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(
        i int, job_id text, type text, attempt int, message_id text, lease_ms float8, worker text, ${NEW_JOB_COLUMNS})
    ),
    cur AS (
      SELECT j.id, j.state, j.attempt, j.claim_message_id, j.dead_letter_reason,
        (j.claim_message_id IS NOT NULL AND j.claim_attempt = j.attempt) AS has_claim,
        (j.claim_expires_at > now()) AS claim_live
      FROM ${t} j WHERE j.id IN (SELECT job_id FROM req)
      FOR UPDATE
    ),
    dec AS (
      SELECT r.*, c.state AS cur_state, c.attempt AS cur_attempt, c.claim_message_id AS cur_message_id, c.dead_letter_reason AS cur_reason,
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
    ins AS (
      INSERT INTO ${t} AS j (id, type, state, attempt, idempotency_key, created_at, scheduled_at, started_at, updated_at,
        payload, payload_omitted, trace_id, claim_message_id, claim_attempt, claim_worker, claim_expires_at)
      SELECT d.job_id, d.type, 'running', d.attempt,
        -- A key another job holds is not this job's to take (its producer could not dedup): kept without it.
        CASE WHEN NOT EXISTS (SELECT 1 FROM ${t} k WHERE k.type = d.type AND k.idempotency_key = d.idempotency_key) THEN d.idempotency_key END,
        ${ts('d.created_at')}, ${ts('d.scheduled_at')}, now(), now(), d.payload_box -> 'v', d.payload_omitted, d.trace_id,
        d.message_id, d.attempt, d.worker, now() + d.lease_ms * interval '1 millisecond'
      FROM dec d WHERE d.decision = 'missing'
      ON CONFLICT DO NOTHING
      RETURNING j.id
    ),
    upd AS (
      UPDATE ${t} j SET state = 'running', attempt = d.attempt, started_at = now(), updated_at = now(),
        trace_id = COALESCE(j.trace_id, d.trace_id),
        claim_message_id = d.message_id, claim_attempt = d.attempt, claim_worker = d.worker,
        claim_expires_at = now() + d.lease_ms * interval '1 millisecond'
      FROM dec d WHERE j.id = d.job_id AND d.decision IN ('claim', 'claim_lost')
      RETURNING j.id
    )
    SELECT d.i, d.decision, d.cur_state, d.cur_attempt, d.cur_message_id, d.cur_reason,
      EXISTS (SELECT 1 FROM ins WHERE ins.id = d.job_id) AS inserted,
      EXISTS (SELECT 1 FROM upd WHERE upd.id = d.job_id) AS updated
    FROM dec d`;
}

/** The statement's answer for the request it decided; undefined when its row raced with a concurrent insert. */
function claimOutcome(row: ClaimRow, request: ClaimRequest): ClaimResult | undefined {
  if (row.inserted) return { kind: 'claimed', lost: false, created: true };
  if (row.updated) return { kind: 'claimed', lost: row.decision === 'claim_lost', created: false };
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
