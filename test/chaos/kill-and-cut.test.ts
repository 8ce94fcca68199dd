/**
 * 5,000 jobs with seeded failures (20% retryable per attempt, 1% non-retryable per job) run by three
 * worker processes while a supervisor SIGKILLs a random worker every 2 s (and starts a new one) and a
 * TCP proxy between the workers and SQS cuts every connection twice for 5 s. At the end every job is
 * settled exactly once, judged from the queues themselves and from the workers' execution logs.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/queue/embedded.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { SqsTransport } from '../../src/queue/sqs-transport.js';
import type { Peer } from '../support/process.js';
import { CHAOS_POLICY, faultFreeFate, isNonRetryable, prng } from './support/fate.js';
import { chaosQueues, pending, readAll, readLog, scratchDir, startWorker, waitQueueEmpty, type LogLine } from './support/harness.js';
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
let eventCheck: string[] | undefined;

interface DeadEntry {
  id: string;
  reason: string;
  historyLength: number;
  lost: number;
}

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

  it('settles every job exactly once as succeeded or dead, with bounded duplicate executions', async () => {
    const startedAt = Date.now();
    const queues = await chaosQueues(direct, 'chaos-kill', 5);
    const producer = new JobQueue({ transport: direct, queueUrl: queues.mainQueueUrl });
    const ids = await producer.enqueueJobs(Array.from({ length: JOBS }, (_, n) => ({ type: 'chaos.job', payload: { n } })));
    expect(new Set(ids).size).toBe(JOBS);

    let logIndex = 0;
    const logs: string[] = [];
    const live = new Set<Peer>();
    const spawn = async (): Promise<Peer> => {
      const log = join(scratch.dir, `worker-${++logIndex}.jsonl`);
      logs.push(log);
      const peer = await startWorker({ endpoint: proxy.endpoint, queueUrl: queues.mainQueueUrl, dlqUrl: queues.dlqUrl, log, seed: SEED, concurrency: CONCURRENCY, visibilitySeconds: 5, extraEnv: { CHAOS_LOG_LEVEL: 'warn' } });
      peers.add(peer);
      live.add(peer);
      return peer;
    };
    await Promise.all(Array.from({ length: WORKERS }, spawn));
    const chaosStart = Date.now();

    // Two cuts, at fixed offsets from the start.
    const cuts = CUT_AT_MS.map((at) => new Promise<void>((resolve) => setTimeout(() => void proxy.cut(CUT_MS).then(resolve, resolve), at)));

    // The supervisor: every 2 s, SIGKILL a random live worker and start another.
    const random = prng(SEED);
    let kills = 0;
    const replacements: Promise<Peer>[] = [];
    while (kills < MAX_KILLS) {
      await new Promise((r) => setTimeout(r, KILL_EVERY_MS));
      const cutsDone = proxy.stats.cuts >= CUT_AT_MS.length && Date.now() - chaosStart > Math.max(...CUT_AT_MS) + CUT_MS;
      if (cutsDone && (await pending(direct, queues.mainQueueUrl)) === 0) break;
      const candidates = [...live];
      if (candidates.length === 0) continue;
      const victim = candidates[Math.floor(random() * candidates.length)]!;
      live.delete(victim);
      process.kill(victim.pid, 'SIGKILL');
      kills++;
      replacements.push(spawn());
    }
    await Promise.all(cuts);
    await Promise.all(replacements);
    const chaosSeconds = (Date.now() - chaosStart) / 1000;

    // Let the survivors finish whatever came back after the kills (visibility 5 s), then stop them.
    await waitQueueEmpty(direct, queues.mainQueueUrl, 180_000);
    await Promise.all([...live].map((p) => p.stop(10_000)));
    expect(await pending(direct, queues.mainQueueUrl)).toBe(0);

    // Final state from the DLQ.
    const dead = new Map<string, DeadEntry[]>();
    const foreign: string[] = [];
    for (const body of await readAll(direct, queues.dlqUrl)) {
      const parsed = JSON.parse(body) as { id?: string; history?: Array<{ kind: string }>; deadLetter?: { reason: string } };
      if (!parsed.id) {
        foreign.push(body.slice(0, 200));
        continue;
      }
      const entry = { id: parsed.id, reason: parsed.deadLetter?.reason ?? 'redriven_by_sqs', historyLength: parsed.history?.length ?? 0, lost: (parsed.history ?? []).filter((h) => h.kind === 'worker_lost').length };
      dead.set(parsed.id, [...(dead.get(parsed.id) ?? []), entry]);
    }

    // Executions and settle events from every worker's log.
    const lines: LogLine[] = logs.flatMap(readLog);
    const outcomes = new Map<string, LogLine['r']>();
    for (const l of lines) if (l.e === 'end') outcomes.set(`${l.pid}/${l.id}/${l.a}`, l.r);
    const execs = new Map<string, Array<{ a: number; t: number; r: LogLine['r'] | undefined }>>();
    for (const l of lines) {
      if (l.e !== 'exec') continue;
      const list = execs.get(l.id!) ?? [];
      list.push({ a: l.a!, t: l.t, r: outcomes.get(`${l.pid}/${l.id}/${l.a}`) });
      execs.set(l.id!, list);
    }
    const loggedSucceeded = new Set(lines.filter((l) => l.e === 'succeeded').map((l) => l.id!));

    const idSet = new Set(ids);
    const problems: string[] = [];
    const succeededThenDead: string[] = [];
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
      for (let i = 1; i < list.length; i++) if (list[i - 1]!.r === undefined || list[i - 1]!.r === 'ok' || list[i - 1]!.r === 'nonretryable') duplicates++;
      const deadEntries = dead.get(id);
      if (deadEntries) {
        const last = deadEntries.at(-1)!;
        deadByReason[last.reason] = (deadByReason[last.reason] ?? 0) + 1;
        const ok = isNonRetryable(SEED, id)
          ? deadEntries.every((d) => d.reason === 'non_retryable')
          : deadEntries.every((d) => d.reason === 'attempts_exhausted' && d.historyLength === CHAOS_POLICY.maximumAttempts);
        if (!ok) problems.push(`dead job ${id}: ${JSON.stringify(deadEntries)} (non-retryable: ${isNonRetryable(SEED, id)})`);
        if (loggedSucceeded.has(id)) {
          const timeline = lines.filter((l) => l.id === id).map((l) => `${l.t - startedAt}ms pid ${l.pid} ${l.e}${l.r ? `:${l.r}` : ''}${l.reason ? `:${l.reason}` : ''} a${l.a}`);
          succeededThenDead.push(`job ${id} logged job:succeeded and is in the DLQ (${last.reason}); timeline: ${timeline.join(', ')}`);
        }
      } else {
        if (isNonRetryable(SEED, id)) problems.push(`non-retryable job ${id} is not in the DLQ`);
        const finalAttempt = Math.max(0, ...list.map((x) => x.a));
        if (!list.some((x) => x.a === finalAttempt && x.r === 'ok')) problems.push(`job ${id} is neither dead nor has an ok execution of its final attempt ${finalAttempt}: lost`);
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
      succeededEventButDead: succeededThenDead.length,
      deletesGivenUp: [...peers].reduce((sum, p) => sum + (p.output().match(/could not delete a settled message/g)?.length ?? 0), 0),
      chaosSeconds: Number(chaosSeconds.toFixed(1)),
      totalSeconds: Number(((Date.now() - startedAt) / 1000).toFixed(1)),
    };
    console.log(`chaos kill-and-cut figures: ${JSON.stringify(figures, null, 2)}`);
    if (succeededThenDead.length > 0) console.log(succeededThenDead.join('\n'));
    eventCheck = succeededThenDead;

    expect(problems.slice(0, 20)).toEqual([]);
    expect(foreign).toEqual([]);
    expect(kills).toBeGreaterThan(0);
    expect(proxy.stats.cuts).toBe(CUT_AT_MS.length);
    // Every job ran at least once; the non-retryable ones are exactly the non_retryable dead ones.
    expect(ids.every((id) => (execs.get(id)?.length ?? 0) > 0 || dead.get(id)?.[0]?.reason === 'attempts_exhausted')).toBe(true);
    expect(deadByReason.non_retryable ?? 0).toBe(ids.filter((id) => isNonRetryable(SEED, id)).length);
    // Each kill re-runs at most the jobs in flight in the killed worker (a cut could add up to those in
    // flight everywhere: boundWithCuts is printed, the tighter bound is asserted).
    expect(duplicates).toBeLessThanOrEqual(figures.boundKillsTimesConcurrency);
  });

  // The settle events agree with the queues: no job reported job:succeeded and then ended in the DLQ.
  // The runtime reports job:succeeded only once the delete went through; a delete it gives up on
  // (figures.deletesGivenUp) is reported as a worker:error and the job runs again.
  it('never reports job:succeeded for a job that ends dead', () => {
    expect(eventCheck).toBeDefined();
    expect(eventCheck).toEqual([]);
  });
});
