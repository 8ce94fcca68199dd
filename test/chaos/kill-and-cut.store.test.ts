/**
 * The kill-and-cut chaos run (kill-and-cut.test.ts) with the job store on: 5,000 jobs with seeded
 * failures, three worker processes each with a PostgresJobStore on a real PostgreSQL 15 server, a
 * SIGKILL of a random worker every 2 s, two 5 s cuts of every connection between the workers and SQS,
 * and one restart of the PostgreSQL server mid-run (stopped, down for 2 s, started again on the same
 * port and data folder). Where SQS alone lets one job end twice, the store arbitrates (docs/design.md,
 * "With a job store: claim, then settle once"); judged from the queues, the workers' logs and the rows:
 *
 * - no job is lost: every job has a terminal row, and the main queue is empty (the DLQ aside);
 * - no job has two outcomes (defined below, where it is checked);
 * - no two executions of one job overlap in time (a SIGKILLed execution ends at its kill);
 * - no job runs after its row settled;
 * - re-runs stay within kills × concurrency;
 * - every row's final state is what the queues and the handler log say.
 *
 * The restart waits, from RESTART_AT_MS, for a moment some worker is running jobs: with a kill every
 * 2 s and replacements that take seconds to start on a 2-core machine, often only one worker is live
 * and a fixed instant can find none at work (then the outage would go unfelt). The summary line gives
 * the kills, cuts, the restart, the store calls it failed, the duplicates dropped by reason, the
 * executions and the wall time. CHAOS_SEED changes the seed; CHAOS_KEEP_LOGS=1 keeps the workers'
 * logs, their output and the run's record (run.json) in the scratch folder it prints.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { storeRecorder } from '../../src/ops/job-recorder.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { PostgresJobStore } from '../../src/store/postgres-store.js';
import { startPrivatePostgres, testPool, type PostgresDatabase } from '../support/postgres.js';
import type { Peer } from '../support/process.js';
import { CHAOS_POLICY, deadOutcomeExplained, faultFreeFate, isNonRetryable } from './support/fate.js';
import { chaosQueues, pending, scratchDir } from './support/harness.js';
import {
  countReruns,
  readDeadLetters,
  readExecutions,
  runKillAndCut,
  tally,
  timeline,
  workersBusy,
  type Execution,
} from './support/kill-run.js';
import { startCuttableProxy, type CuttableProxy } from './support/tcp-proxy.js';

const JOBS = 5_000;
const WORKERS = 3;
const CONCURRENCY = 10;
const VISIBILITY_SECONDS = 5;
const KILL_EVERY_MS = 2_000;
const MAX_KILLS = 30;
const CUT_MS = 5_000;
const CUT_AT_MS = [3_000, 14_000];
/** The PostgreSQL restart: between the two cuts, with kills going on. */
const RESTART_AT_MS = 9_000;
const STORE_DOWN_MS = 2_000;
const SEED = process.env.CHAOS_SEED ?? 'calsync-chaos-store-1';
/** Timestamps are whole milliseconds (the rows' rounded from microseconds): this much slack before calling two of them out of order. */
const STAMP_SLACK_MS = 2;

interface Row {
  id: string;
  state: string;
  attempt: number;
  dead_letter_reason: string | null;
  history_length: number;
  worker_lost: number;
  settled_at: number | null;
  claim_message_id: string | null;
}

describe('chaos with the job store: SIGKILLed workers, network cuts and a PostgreSQL restart', () => {
  let server: EmbeddedSqs;
  let direct: SqsTransport;
  let proxy: CuttableProxy;
  let database: PostgresDatabase & Required<Pick<PostgresDatabase, 'restart'>>;
  let producerStore: PostgresJobStore | undefined;
  const scratch = scratchDir('kill-store');
  const peers = new Set<Peer>();

  beforeAll(async () => {
    [server, database] = await Promise.all([startEmbeddedSqs(), startPrivatePostgres()]);
    direct = new SqsTransport({ endpoint: server.endpoint, region: 'us-east-1' });
    proxy = await startCuttableProxy(server.port);
    // Migrates the store's schema once, before any worker does.
    producerStore = await PostgresJobStore.connect(database.connectionString);
  });

  afterAll(async () => {
    await Promise.all([...peers].map((p) => p.stop(1_000)));
    await proxy?.close();
    await producerStore?.close();
    await direct?.close();
    await server?.stop();
    await database?.stop();
    // CHAOS_KEEP_LOGS=1 keeps the workers' logs for a look after a failure.
    if (process.env.CHAOS_KEEP_LOGS === '1') {
      for (const peer of peers) writeFileSync(join(scratch.dir, `output-${peer.pid}.txt`), peer.output());
      console.log(`chaos worker logs (and their output) kept in ${scratch.dir}`);
    } else scratch.dispose();
  });

  it('ends every job exactly once, never runs one job twice at once, and the rows agree with the queues and the logs', async () => {
    const startedAt = Date.now();
    const queues = await chaosQueues(direct, 'chaos-store', VISIBILITY_SECONDS);
    // The producer records each job (state pending) before sending it.
    const producer = new JobQueue({
      transport: direct,
      queueUrl: queues.mainQueueUrl,
      recorder: storeRecorder(producerStore!, { enabled: true, redactPaths: [] }),
    });
    const ids = await producer.enqueueJobs(Array.from({ length: JOBS }, (_, n) => ({ type: 'chaos.job', payload: { n } })));
    expect(new Set(ids).size).toBe(JOBS);

    const restart: {
      at?: number;
      downMs?: number;
      waitedForBusyMs?: number;
      busy?: boolean;
      pidBefore?: number | undefined;
      pidAfter?: number | undefined;
    } = {};
    const run = await runKillAndCut({
      direct,
      proxy,
      queues,
      dir: scratch.dir,
      peers,
      seed: SEED,
      workers: WORKERS,
      concurrency: CONCURRENCY,
      visibilitySeconds: VISIBILITY_SECONDS,
      killEveryMs: KILL_EVERY_MS,
      maxKills: MAX_KILLS,
      cutMs: CUT_MS,
      cutAtMs: CUT_AT_MS,
      extraEnv: { CHAOS_STORE_URL: database.connectionString },
      faults: [
        {
          atMs: RESTART_AT_MS,
          // From RESTART_AT_MS on, at the first moment some worker is running jobs (so the outage hits
          // claims, settles and renewals in flight), at most 30 s later: on a loaded 2-core machine
          // replacements took so long to start that no worker ran a job for 19 s (a rehearsal beside
          // other test runs), and a 10 s wait left the restart unfelt.
          run: async ({ logs }) => {
            const from = Date.now();
            restart.busy = await workersBusy(logs, 30_000);
            restart.at = Date.now();
            restart.waitedForBusyMs = restart.at - from;
            restart.pidBefore = database.pid;
            await database.restart({ downMs: STORE_DOWN_MS });
            restart.downMs = Date.now() - restart.at;
            restart.pidAfter = database.pid;
          },
        },
      ],
      drainTimeoutMs: 120_000,
    });
    const kills = run.kills.length;
    expect(await pending(direct, queues.mainQueueUrl)).toBe(0);

    const { dead, foreign } = await readDeadLetters(direct, queues.dlqUrl);
    const { lines, executions } = readExecutions(run.logs);
    const pool = testPool(database.connectionString);
    let rows: Map<string, Row>;
    try {
      const result = await pool.query<Row>(
        `SELECT id, state, attempt, dead_letter_reason, jsonb_array_length(history) AS history_length,
           (SELECT count(*)::int FROM jsonb_array_elements(history) h WHERE h->>'kind' = 'worker_lost') AS worker_lost,
           round(extract(epoch FROM settled_at) * 1000)::float8 AS settled_at, claim_message_id
         FROM calsync_jobs.jobs`,
      );
      rows = new Map(result.rows.map((row) => [row.id, row]));
    } finally {
      await pool.end();
    }

    // A SIGKILLed execution has no end line: it ended when its worker was killed. A worker stopped at
    // the end ran nothing by then (the queue was empty), but its stop time bounds it all the same.
    const killedAt = new Map(run.kills.map((k) => [k.pid, k.at]));
    const endOf = (x: Execution): number => x.end ?? killedAt.get(x.pid) ?? run.stoppedAt.get(x.pid) ?? Number.POSITIVE_INFINITY;

    const idSet = new Set(ids);
    const problems: string[] = [];
    const problemJobs = new Set<string>();
    const flag = (id: string, text: string): void => {
      problems.push(`job ${id}: ${text}`);
      problemJobs.add(id);
    };
    const twoOutcomeJobs: string[] = [];
    const overlapping: string[] = [];
    let executionCount = 0;
    let reruns = 0;
    let faultFreeExecutions = 0;
    let execsWithoutMessageId = 0;
    // How close the next execution of a job came: after any execution, and after one its worker's kill cut short.
    let closestNextMs = Number.POSITIVE_INFINITY;
    let closestNextAfterKillMs = Number.POSITIVE_INFINITY;
    let killedExecutions = 0;
    const endLinesOf = new Map<string, typeof lines>();
    for (const l of lines) if (l.id && (l.e === 'succeeded' || l.e === 'dead')) endLinesOf.set(l.id, [...(endLinesOf.get(l.id) ?? []), l]);

    for (const id of ids) {
      const row = rows.get(id);
      const list = [...(executions.get(id) ?? [])].sort((x, y) => x.start - y.start);
      const dlq = dead.get(id) ?? [];
      const endLines = endLinesOf.get(id) ?? [];
      executionCount += list.length;
      faultFreeExecutions += faultFreeFate(SEED, id).executions;
      reruns += countReruns(list);
      execsWithoutMessageId += list.filter((x) => x.m === undefined).length;

      // Lost: no terminal row.
      if (!row) {
        flag(id, 'has no row: lost');
        continue;
      }
      if (row.state !== 'succeeded' && row.state !== 'dead') flag(id, `row left ${row.state} at attempt ${row.attempt}: lost`);

      // Outcomes. A job's outcome is how it ended as anyone can see it: (1) a worker's `succeeded`
      // line (job:succeeded: it won the store's compare-and-set for the success, then its delete was
      // confirmed), (2) a worker's `dead` line (job:dead: it won the compare-and-set for dead and sent
      // the dead letter), (3) a DLQ entry, taken by its reason, and (4) the row's terminal state (with
      // its dead-letter reason). Several DLQ entries with the row's reason are one outcome: a copy of a
      // job the store already has dead is dead-lettered again on purpose (the store is written before
      // the dead letter is sent, so the copy completes it). An ok execution alone is not an outcome: a
      // worker can finish the handler and die before the settle (a re-run, counted below). A job has
      // two outcomes when these name more than one end (succeeded and dead, or dead for two reasons),
      // or when more than one settle reported an end (two `succeeded`/`dead` lines, whatever their
      // attempts: the compare-and-set lets one through).
      const rowEnd = row.state === 'dead' ? `dead:${row.dead_letter_reason}` : row.state;
      const ends = new Set([
        rowEnd,
        ...endLines.map((l) => (l.e === 'succeeded' ? 'succeeded' : `dead:${l.reason}`)),
        ...dlq.map((d) => `dead:${d.reason}`),
      ]);
      if (ends.size > 1 || endLines.length > 1) {
        twoOutcomeJobs.push(id);
        flag(
          id,
          `two outcomes: row ${rowEnd}; lines ${endLines.map((l) => `${l.e}${l.reason ? `:${l.reason}` : ''} a${l.a}`).join(', ') || 'none'}; DLQ ${dlq.map((d) => d.reason).join(', ') || 'none'}`,
        );
      }

      // No two executions of one job at once: each starts after every earlier one has ended.
      let latest: Execution | undefined;
      for (const x of list) {
        if (x.end === undefined && killedAt.has(x.pid)) killedExecutions++;
        if (latest) {
          closestNextMs = Math.min(closestNextMs, x.start - endOf(latest));
          if (latest.end === undefined) closestNextAfterKillMs = Math.min(closestNextAfterKillMs, x.start - endOf(latest));
        }
        if (latest && x.start < endOf(latest)) {
          overlapping.push(id);
          flag(
            id,
            `execution a${x.a} (pid ${x.pid}, m ${x.m?.slice(0, 8)}) started at +${x.start - startedAt}ms while a${latest.a} (pid ${latest.pid}, m ${latest.m?.slice(0, 8)}) ran until +${endOf(latest) - startedAt}ms${latest.end === undefined ? ' (no end line: killed or stopped)' : ''}`,
          );
        }
        if (!latest || endOf(x) > endOf(latest)) latest = x;
      }
      // Nothing runs once the row has settled: a later copy is dropped as terminal.
      if (row.settled_at !== null) {
        const late = list.filter((x) => x.start > row.settled_at! + STAMP_SLACK_MS);
        if (late.length > 0) flag(id, `ran ${late.length} time(s) after its row settled at +${row.settled_at - startedAt}ms`);
      }

      // The row agrees with the queues and the log.
      if (row.claim_message_id !== null && (row.state === 'succeeded' || row.state === 'dead')) flag(id, `settled row still holds a claim`);
      if (row.state === 'succeeded') {
        if (isNonRetryable(SEED, id)) flag(id, 'non-retryable job has a succeeded row');
        if (!list.some((x) => x.r === 'ok' && x.a === row.attempt))
          flag(id, `succeeded row (attempt ${row.attempt}) has no ok execution of that attempt`);
        if (dlq.length > 0) flag(id, `succeeded row, yet ${dlq.length} DLQ entries`);
        if (endLines.some((l) => l.e === 'succeeded' && l.a !== row.attempt))
          flag(id, `a succeeded line names another attempt than the row's ${row.attempt}`);
      } else if (row.state === 'dead') {
        // The same rule as without a store (fate.ts): a non-retryable job may die attempts_exhausted
        // only when every attempt was lost (here: each one's claim expired).
        const nonRetryable = isNonRetryable(SEED, id);
        const outcome = { reason: row.dead_letter_reason ?? '', historyLength: row.history_length, lost: row.worker_lost };
        if (!deadOutcomeExplained([outcome], nonRetryable, false))
          flag(
            id,
            `dead row says ${row.dead_letter_reason} after ${row.history_length} attempts (${row.worker_lost} lost), expected ${nonRetryable ? 'non_retryable' : `attempts_exhausted after ${CHAOS_POLICY.maximumAttempts}`}`,
          );
        if (dlq.length === 0) flag(id, 'dead row with no DLQ entry');
        if (dlq.some((d) => d.reason !== row.dead_letter_reason))
          flag(id, `DLQ reasons ${dlq.map((d) => d.reason).join(', ')} differ from the row's ${row.dead_letter_reason}`);
        if (row.dead_letter_reason === 'non_retryable' && !list.some((x) => x.r === 'nonretryable'))
          flag(id, 'dead non_retryable with no non-retryable execution');
      }
    }
    const unknownRows = [...rows.keys()].filter((id) => !idSet.has(id));
    const unknownDead = [...dead.keys()].filter((id) => !idSet.has(id));

    const duplicatesByReason = tally(lines.filter((l) => l.e === 'duplicate').map((l) => l.reason ?? '?'));
    const storeErrors = tally(lines.filter((l) => l.e === 'store_error').map((l) => l.op ?? '?'));
    const storeErrorCount = Object.values(storeErrors).reduce((s, n) => s + n, 0);
    const dlqEntries = [...dead.values()].reduce((s, d) => s + d.length, 0);
    const rowStates = tally([...rows.values()].map((r) => (r.state === 'dead' ? `dead:${r.dead_letter_reason}` : r.state)));
    // Handler starts per second of the run, and where the faults were: how the run went.
    const perSecond: number[] = [];
    for (const list of executions.values())
      for (const x of list) {
        const second = Math.floor((x.start - run.chaosStart) / 1000);
        if (second >= 0) perSecond[second] = (perSecond[second] ?? 0) + 1;
      }
    const wallSeconds = Number(((Date.now() - startedAt) / 1000).toFixed(1));
    const figures = {
      jobs: JOBS,
      workersAtOnce: WORKERS,
      concurrency: CONCURRENCY,
      kills,
      cuts: proxy.stats.cuts,
      connectionsCut: proxy.stats.destroyed,
      storeRestart: {
        atSeconds: restart.at === undefined ? undefined : Number(((restart.at - run.chaosStart) / 1000).toFixed(1)),
        downMs: restart.downMs,
        waitedForBusyMs: restart.waitedForBusyMs,
        workersBusy: restart.busy,
        pidBefore: restart.pidBefore,
        pidAfter: restart.pidAfter,
      },
      storeCallsFailed: storeErrors,
      workerProcesses: run.logs.length,
      storeConnectRetries: lines.filter((l) => l.e === 'store_connect' && (l.tries ?? 0) > 0).length,
      executions: executionCount,
      faultFreeExecutions,
      killedExecutions,
      closestNextExecutionMs: closestNextMs,
      closestNextExecutionAfterKillMs: closestNextAfterKillMs,
      reruns,
      boundKillsTimesConcurrency: kills * CONCURRENCY,
      duplicatesDropped: duplicatesByReason,
      cancelled: lines.filter((l) => l.e === 'cancelled').length,
      rows: rows.size,
      rowStates,
      rowsWithWorkerLost: [...rows.values()].filter((r) => r.worker_lost > 0).length,
      succeededLines: lines.filter((l) => l.e === 'succeeded').length,
      deadLines: lines.filter((l) => l.e === 'dead').length,
      dlqEntries,
      dlqJobs: dead.size,
      dlqRepeatEntries: dlqEntries - dead.size,
      foreignDlqBodies: foreign.length,
      twoOutcomeJobs: twoOutcomeJobs.length,
      overlappingJobs: new Set(overlapping).size,
      execsWithoutMessageId,
      execsPerSecond: Array.from(perSecond, (n) => n ?? 0).join(' '),
      chaosSeconds: Number(run.chaosSeconds.toFixed(1)),
      wallSeconds,
    };
    console.log(`chaos kill-and-cut (store) figures: ${JSON.stringify(figures, null, 2)}`);
    console.log(
      `chaos kill-and-cut (store) summary: ${kills} kills, ${proxy.stats.cuts} cuts, store restart at +${figures.storeRestart.atSeconds}s down ${restart.downMs} ms (${storeErrorCount} store calls failed: ${JSON.stringify(storeErrors)}), duplicates dropped ${JSON.stringify(duplicatesByReason)}, ${executionCount} executions (${faultFreeExecutions} fault-free, ${reruns} re-runs, bound ${kills * CONCURRENCY}), ${twoOutcomeJobs.length} jobs with two outcomes, ${figures.overlappingJobs} overlapping, rows ${JSON.stringify(rowStates)}, wall ${wallSeconds} s`,
    );
    for (const id of [...problemJobs].slice(0, 20)) {
      const row = rows.get(id);
      console.log(
        `job ${id}: row ${row ? JSON.stringify({ ...row, settled_at: row.settled_at === null ? null : `+${row.settled_at - startedAt}ms` }) : 'none'}; DLQ ${JSON.stringify(dead.get(id) ?? [])}; timeline: ${timeline(lines, id, startedAt)}`,
      );
    }
    if (process.env.CHAOS_KEEP_LOGS === '1')
      writeFileSync(join(scratch.dir, 'run.json'), JSON.stringify({ startedAt, ...run, stoppedAt: [...run.stoppedAt] }));

    expect(problems.slice(0, 30)).toEqual([]);
    expect(twoOutcomeJobs).toEqual([]);
    expect(overlapping).toEqual([]);
    expect(unknownRows).toEqual([]);
    expect(unknownDead).toEqual([]);
    expect(foreign).toEqual([]);
    expect(rows.size).toBe(JOBS);
    // The faults happened: kills, both cuts, and a restart the workers felt.
    expect(kills).toBeGreaterThan(0);
    expect(proxy.stats.cuts).toBe(CUT_AT_MS.length);
    expect(restart.downMs).toBeGreaterThanOrEqual(STORE_DOWN_MS);
    expect(restart.busy).toBe(true);
    expect(storeErrorCount + figures.storeConnectRetries).toBeGreaterThan(0);
    expect(execsWithoutMessageId).toBe(0);
    // The non-retryable jobs are exactly the non_retryable dead ones.
    expect(rowStates['dead:non_retryable'] ?? 0).toBe(ids.filter((id) => isNonRetryable(SEED, id)).length);
    // Each kill re-runs at most the jobs in flight in the killed worker.
    expect(reruns).toBeLessThanOrEqual(kills * CONCURRENCY);
  });
});
