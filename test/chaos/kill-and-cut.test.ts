/**
 * 5,000 jobs with seeded failures (20% retryable per attempt, 1% non-retryable per job) run by three
 * worker processes while a supervisor SIGKILLs a random worker every 2 s (and starts a new one) and a
 * TCP proxy between the workers and SQS cuts every connection twice for 5 s. Judged from the queues
 * themselves and from the workers' execution logs, at the end no job is lost: every job reaches at
 * least one terminal outcome (an ok execution of its final attempt, or a DLQ entry), and duplicate
 * executions stay bounded. With SQS alone (no job store) two copies of one attempt can exist, so a job
 * can end with two outcomes: each is reported with its cause, read from the SQS message ids in the
 * logs (a duplicated send, or a lost delete), and a job with two outcomes and no duplicated message
 * behind it fails the test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import type { Peer } from '../support/process.js';
import { deadOutcomeExplained, faultFreeFate, isNonRetryable } from './support/fate.js';
import { chaosQueues, pending, readLog, scratchDir, type LogLine } from './support/harness.js';
import { countReruns, readDeadLetters, runKillAndCut, short, tally, timeline as timelineOf, type DeadEntry } from './support/kill-run.js';
import { startCuttableProxy, type CuttableProxy } from './support/tcp-proxy.js';

const JOBS = 5_000;
const WORKERS = 3;
const CONCURRENCY = 10;
const KILL_EVERY_MS = 2_000;
const MAX_KILLS = 30;
const CUT_MS = 5_000;
const CUT_AT_MS = [3_000, 14_000];
const SEED = process.env.CHAOS_SEED ?? 'calsync-chaos-1';
/** Set by the first test for the second. */
let twoOutcomeCheck: { jobs: TwoOutcomeJob[]; duplicatedMessagesSeen: number } | undefined;

/** One receipt of one SQS message by one worker: its execution (if the handler ran) and its settle line. */
interface Receipt {
  m: string;
  id: string;
  a: number;
  pid: number;
  start: number;
  settledAt?: number;
}

type Cause = 'duplicated send' | 'lost delete';

interface TwoOutcomeJob {
  id: string;
  outcomes: string[];
  causes: Array<{ cause: Cause; detail: string }>;
  duplicatedMessages: number;
  timeline: string;
}

const SETTLE_EVENTS = new Set<LogLine['e']>(['succeeded', 'retrying', 'deferred', 'dead', 'released']);

describe('chaos: SIGKILLed workers and network cuts', () => {
  let server: EmbeddedSqs;
  let direct: SqsTransport;
  let proxy: CuttableProxy;
  const scratch = scratchDir('kill');
  const peers = new Set<Peer>();

  beforeAll(async () => {
    server = await startEmbeddedSqs();
    direct = new SqsTransport({ endpoint: server.endpoint, region: 'us-east-1' });
    proxy = await startCuttableProxy(server.port);
  });

  afterAll(async () => {
    await Promise.all([...peers].map((p) => p.stop(1_000)));
    await proxy?.close();
    await direct?.close();
    await server?.stop();
    scratch.dispose();
  });

  it('loses no job: each ends at least once as succeeded or dead, with bounded duplicate executions', async () => {
    const startedAt = Date.now();
    const queues = await chaosQueues(direct, 'chaos-kill', 5);
    const producer = new JobQueue({ transport: direct, queueUrl: queues.mainQueueUrl });
    const ids = await producer.enqueueJobs(Array.from({ length: JOBS }, (_, n) => ({ type: 'chaos.job', payload: { n } })));
    expect(new Set(ids).size).toBe(JOBS);

    // The supervisor (test/chaos/support/kill-run.ts): every 2 s it SIGKILLs a random live worker and
    // starts another, the proxy is cut twice; then the survivors finish whatever came back after the
    // kills (visibility 5 s) and are stopped.
    const run = await runKillAndCut({
      direct,
      proxy,
      queues,
      dir: scratch.dir,
      peers,
      seed: SEED,
      workers: WORKERS,
      concurrency: CONCURRENCY,
      visibilitySeconds: 5,
      killEveryMs: KILL_EVERY_MS,
      maxKills: MAX_KILLS,
      cutMs: CUT_MS,
      cutAtMs: CUT_AT_MS,
      drainTimeoutMs: 180_000,
    });
    const { logs, chaosSeconds } = run;
    const kills = run.kills.length;
    expect(await pending(direct, queues.mainQueueUrl)).toBe(0);

    // Final state from the DLQ.
    const { dead, foreign } = await readDeadLetters(direct, queues.dlqUrl);

    // Executions, settle events and receipts (by SQS message id) from every worker's log. Each log is
    // one process, in the order it was written: an `end` belongs to the oldest open `exec` of the same
    // message and attempt in that process, a settle line closes that process's open receipt of the
    // message (or is a receipt of its own: a message received again and settled without running).
    const lines: LogLine[] = [];
    type Exec = { a: number; t: number; m: string | undefined; r: LogLine['r'] | undefined };
    const execs = new Map<string, Exec[]>();
    const receipts: Receipt[] = [];
    let execsWithoutMessageId = 0;
    for (const log of logs) {
      const openExecs = new Map<string, Exec[]>();
      const openReceipts = new Map<string, Receipt>();
      for (const l of readLog(log)) {
        lines.push(l);
        if (l.e === 'exec') {
          const x: Exec = { a: l.a!, t: l.t, m: l.m, r: undefined };
          execs.set(l.id!, [...(execs.get(l.id!) ?? []), x]);
          const key = `${l.id}/${l.a}/${l.m}`;
          openExecs.set(key, [...(openExecs.get(key) ?? []), x]);
          if (!l.m) {
            execsWithoutMessageId++;
            continue;
          }
          const receipt: Receipt = { m: l.m, id: l.id!, a: l.a!, pid: l.pid, start: l.t };
          receipts.push(receipt);
          openReceipts.set(l.m, receipt);
        } else if (l.e === 'end') {
          const x = openExecs.get(`${l.id}/${l.a}/${l.m}`)?.shift();
          if (x) x.r = l.r;
        } else if (SETTLE_EVENTS.has(l.e) && l.m) {
          const open = openReceipts.get(l.m);
          if (open && open.a === l.a) {
            open.settledAt = l.t;
            openReceipts.delete(l.m);
          } else {
            receipts.push({ m: l.m, id: l.id!, a: l.a!, pid: l.pid, start: l.t, settledAt: l.t });
          }
        }
      }
    }
    const loggedSucceeded = new Map<string, number>();
    for (const l of lines) if (l.e === 'succeeded') loggedSucceeded.set(l.id!, (loggedSucceeded.get(l.id!) ?? 0) + 1);

    // Duplicated messages, per job. A duplicated send: more distinct SQS messages carried one (job id,
    // attempt) than were sent on purpose (one per job for attempt 1; for attempt n, one per receipt of
    // attempt n - 1 that logged job:retrying, at least one; plus a copy per release or notBefore hop), or
    // one message left more DLQ entries than it had dead receipts. A lost delete: a message received
    // again after one of its receipts had settled. Copies of a copy are not counted again.
    const duplicatedSends = new Map<string, string[]>();
    const lostDeletes = new Map<string, string[]>();
    const add = (map: Map<string, string[]>, id: string, detail: string): void => void map.set(id, [...(map.get(id) ?? []), detail]);
    {
      const count = (map: Map<string, number>, key: string): void => void map.set(key, (map.get(key) ?? 0) + 1);
      const messagesOf = new Map<string, Set<string>>();
      const see = (id: string, a: number, m: string): void => {
        const key = `${id}/${a}`;
        messagesOf.set(key, (messagesOf.get(key) ?? new Set()).add(m));
      };
      for (const r of receipts) see(r.id, r.a, r.m);
      const retried = new Map<string, number>();
      const onPurpose = new Map<string, number>();
      const deadReceipts = new Map<string, number>();
      const otherSettles = new Map<string, Set<string>>();
      for (const l of lines) {
        if (l.m && (l.e === 'retrying' || l.e === 'succeeded' || l.e === 'released' || l.e === 'deferred')) {
          otherSettles.set(l.m, (otherSettles.get(l.m) ?? new Set()).add(l.e));
        }
      }
      for (const l of lines) {
        if (l.e === 'retrying') count(retried, `${l.id}/${l.a}`);
        else if (l.e === 'released' || l.e === 'deferred') count(onPurpose, `${l.id}/${l.a}`);
        else if (l.e === 'dead' && l.m) count(deadReceipts, l.m);
      }
      for (const [id, entries] of dead) {
        const bySource = new Map<string, DeadEntry[]>();
        for (const d of entries) {
          if (!d.source) continue;
          see(id, d.attempt, d.source);
          bySource.set(d.source, [...(bySource.get(d.source) ?? []), d]);
        }
        for (const [source, list] of bySource) {
          const expected = Math.max(1, deadReceipts.get(source) ?? 0);
          for (let i = expected; i < list.length; i++)
            add(
              duplicatedSends,
              id,
              `${list.length} DLQ entries from message ${short(source)} (attempt ${list[0]!.attempt}), ${expected} dead receipt(s)`,
            );
          // The same message also settled another way: the dead-lettering worker's delete never
          // landed (its DLQ send was answered only after a cut, or it died between send and delete).
          const otherwise = otherSettles.get(source);
          if (otherwise)
            add(
              lostDeletes,
              id,
              `message ${short(source)} was dead-lettered and also settled as ${[...otherwise].join(', ')}: the dead-lettering worker's delete never landed`,
            );
        }
      }
      for (const [key, set] of messagesOf) {
        const [id, attempt] = key.split('/') as [string, string];
        const a = Number(attempt);
        const expected = (a === 1 ? 1 : Math.max(1, retried.get(`${id}/${a - 1}`) ?? 0)) + (onPurpose.get(key) ?? 0);
        for (let i = expected; i < set.size; i++)
          add(
            duplicatedSends,
            id,
            `attempt ${a} carried by ${set.size} messages (${[...set].map(short).join(', ')}), ${expected} sent on purpose`,
          );
      }
      const byMessage = new Map<string, Receipt[]>();
      for (const r of receipts) byMessage.set(r.m, [...(byMessage.get(r.m) ?? []), r]);
      for (const [m, list] of byMessage) {
        const firstSettle = Math.min(...list.map((r) => r.settledAt ?? Infinity));
        const firstSettled = list.find((r) => r.settledAt === firstSettle);
        for (const r of list) {
          if (r.start > firstSettle)
            add(
              lostDeletes,
              r.id,
              `message ${short(m)} (attempt ${r.a}) settled by pid ${firstSettled?.pid} at +${firstSettle - startedAt}ms, received again by pid ${r.pid} at +${r.start - startedAt}ms`,
            );
        }
      }
    }
    const duplicatedSendsSeen = [...duplicatedSends.values()].reduce((n, d) => n + d.length, 0);
    const lostDeletesSeen = [...lostDeletes.values()].reduce((n, d) => n + d.length, 0);
    const duplicatedMessagesOf = (id: string): number => (duplicatedSends.get(id)?.length ?? 0) + (lostDeletes.get(id)?.length ?? 0);

    const idSet = new Set(ids);
    const problems: string[] = [];
    const twoOutcomeJobs: TwoOutcomeJob[] = [];
    let executions = 0;
    let duplicates = 0;
    let expectedFaultFree = 0;
    const deadByReason: Record<string, number> = {};
    for (const id of ids) {
      const list = (execs.get(id) ?? []).sort((x, y) => x.t - y.t || x.a - y.a);
      executions += list.length;
      expectedFaultFree += faultFreeFate(SEED, id).executions;
      // A re-run: an execution following one that was cut short (no outcome) or that had already
      // finished the job's work (ok, or non-retryable): what kills and cuts cost.
      duplicates += countReruns(list.map((x) => ({ start: x.t, a: x.a, r: x.r })));
      const deadEntries = dead.get(id) ?? [];
      // A duplicated message can leave a second DLQ entry with one more history entry (the lost receipt).
      const duplicated = duplicatedMessagesOf(id) > 0;
      if (deadEntries.length > 0) {
        const last = deadEntries.at(-1)!;
        deadByReason[last.reason] = (deadByReason[last.reason] ?? 0) + 1;
        const ok = deadOutcomeExplained(deadEntries, isNonRetryable(SEED, id), duplicated);
        if (!ok) problems.push(`dead job ${id}: ${JSON.stringify(deadEntries)} (non-retryable: ${isNonRetryable(SEED, id)})`);
      } else {
        if (isNonRetryable(SEED, id)) problems.push(`non-retryable job ${id} is not in the DLQ`);
        const finalAttempt = Math.max(0, ...list.map((x) => x.a));
        if (!list.some((x) => x.a === finalAttempt && x.r === 'ok'))
          problems.push(`job ${id} is neither dead nor has an ok execution of its final attempt ${finalAttempt}: lost`);
      }
      // Outcomes: each job:succeeded logged and each DLQ entry.
      const outcomes = [
        ...Array.from({ length: loggedSucceeded.get(id) ?? 0 }, () => 'succeeded'),
        ...deadEntries.map((d) => `dead:${d.reason}`),
      ];
      if (outcomes.length > 1) {
        const timeline = timelineOf(lines, id, startedAt);
        twoOutcomeJobs.push({
          id,
          outcomes,
          causes: [
            ...(duplicatedSends.get(id) ?? []).map((detail) => ({ cause: 'duplicated send' as const, detail })),
            ...(lostDeletes.get(id) ?? []).map((detail) => ({ cause: 'lost delete' as const, detail })),
          ],
          duplicatedMessages: duplicatedMessagesOf(id),
          timeline,
        });
      }
    }
    for (const id of dead.keys()) if (!idSet.has(id)) problems.push(`unknown job ${id} in the DLQ`);
    const dlqEntries = [...dead.values()].reduce((s, d) => s + d.length, 0);
    const expectedDead = ids.filter((id) => faultFreeFate(SEED, id).outcome !== 'succeeded').length;

    const figures = {
      jobs: JOBS,
      workersAtOnce: WORKERS,
      concurrency: CONCURRENCY,
      kills,
      cuts: proxy.stats.cuts,
      connectionsCut: proxy.stats.destroyed,
      workerProcesses: logs.length,
      executions,
      faultFreeExecutions: expectedFaultFree,
      duplicates,
      boundKillsTimesConcurrency: kills * CONCURRENCY,
      boundWithCuts: (kills + proxy.stats.cuts * WORKERS) * CONCURRENCY,
      succeeded: JOBS - dead.size,
      dead: dead.size,
      deadByReason,
      deadExpectedFaultFree: expectedDead,
      deadWithWorkerLostHistory: [...dead.values()].filter((d) => d.some((x) => x.lost > 0)).length,
      dlqEntries,
      dlqDuplicateEntries: dlqEntries - dead.size,
      foreignDlqBodies: foreign.length,
      twoOutcomeJobs: twoOutcomeJobs.length,
      twoOutcomeKinds: tally(twoOutcomeJobs.map((j) => [...j.outcomes].sort().join('+'))),
      twoOutcomeCauses: tally(twoOutcomeJobs.map((j) => [...new Set(j.causes.map((c) => c.cause))].sort().join('+') || 'none')),
      succeededEventButDead: twoOutcomeJobs.filter((j) => j.outcomes.includes('succeeded') && j.outcomes.some((o) => o.startsWith('dead')))
        .length,
      duplicatedSendsSeen,
      lostDeletesSeen,
      jobsWithDuplicatedMessages: new Set([...duplicatedSends.keys(), ...lostDeletes.keys()]).size,
      execsWithoutMessageId,
      deletesGivenUp: [...peers].reduce((sum, p) => sum + (p.output().match(/could not delete a settled message/g)?.length ?? 0), 0),
      chaosSeconds: Number(chaosSeconds.toFixed(1)),
      totalSeconds: Number(((Date.now() - startedAt) / 1000).toFixed(1)),
    };
    console.log(`chaos kill-and-cut figures: ${JSON.stringify(figures, null, 2)}`);
    for (const j of twoOutcomeJobs.slice(0, 20)) {
      console.log(
        `job ${j.id} has ${j.outcomes.length} outcomes (${j.outcomes.join(', ')}); causes: ${j.causes.map((c) => `${c.cause}: ${c.detail}`).join('; ') || 'NONE'}; timeline: ${j.timeline}`,
      );
    }
    twoOutcomeCheck = { jobs: twoOutcomeJobs, duplicatedMessagesSeen: duplicatedSendsSeen + lostDeletesSeen };

    expect(problems.slice(0, 20)).toEqual([]);
    expect(foreign).toEqual([]);
    expect(kills).toBeGreaterThan(0);
    expect(proxy.stats.cuts).toBe(CUT_AT_MS.length);
    // Every execution line names its SQS message: without it the causes below cannot be told apart.
    expect(execsWithoutMessageId).toBe(0);
    // Every job ran at least once; the non-retryable ones are exactly the non_retryable dead ones.
    expect(ids.every((id) => (execs.get(id)?.length ?? 0) > 0 || dead.get(id)?.[0]?.reason === 'attempts_exhausted')).toBe(true);
    expect(deadByReason.non_retryable ?? 0).toBe(ids.filter((id) => isNonRetryable(SEED, id)).length);
    // Each kill re-runs at most the jobs in flight in the killed worker (a cut could add up to those in
    // flight everywhere: boundWithCuts is printed, the tighter bound is asserted).
    expect(duplicates).toBeLessThanOrEqual(figures.boundKillsTimesConcurrency);
  });

  // On a standard queue two copies of one attempt can exist (a send retried after a lost response, a
  // delete that landed late) and, without a shared record of the job, both copies reach an outcome. So
  // here a job with two outcomes (job:succeeded and a DLQ entry, two DLQ entries, ...) is a figure, not
  // a failure, as long as a duplicated message seen in the logs explains it: each duplicated message
  // explains at most one extra outcome, and a job with two outcomes and none behind it is a defect.
  // "Exactly one outcome per job" is asserted by the chaos run with the job store (its own issue).
  it('explains every job with two outcomes by a duplicated message (duplicated send or lost delete)', () => {
    expect(twoOutcomeCheck).toBeDefined();
    const { jobs, duplicatedMessagesSeen } = twoOutcomeCheck!;
    const unexplained = jobs
      .filter((j) => j.outcomes.length - 1 > j.duplicatedMessages)
      .map(
        (j) =>
          `job ${j.id}: ${j.outcomes.length} outcomes (${j.outcomes.join(', ')}), ${j.duplicatedMessages} duplicated messages seen; timeline: ${j.timeline}`,
      );
    expect(unexplained).toEqual([]);
    expect(jobs.length).toBeLessThanOrEqual(duplicatedMessagesSeen);
  });
});
