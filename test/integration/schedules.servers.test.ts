/**
 * Schedules on real servers: PostgreSQL 15 (test/support/postgres.ts) as the job store, fauxqs (the
 * embedded SQS server, on 127.0.0.1) as the queue, and worker processes with the scheduler
 * (test/fixtures/schedule-worker.ts). Each case has its own schema and queues. What the processes print
 * (START/END per run, FIRED per tick sent, HOLDING when told to stall) is what is judged, with the store's
 * rows.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { ensureQueues, type EnsuredQueues } from '../../src/ops/ensure-queues.js';
import { createSchedules, type Schedules } from '../../src/ops/schedules.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { PostgresJobStore } from '../../src/store/postgres-store.js';
import type { ScheduleInput } from '../../src/store/schedule-spec.js';
import { startPostgres, type PostgresDatabase } from '../support/postgres.js';
import { REPO_ROOT, spawnPeer, waitFor, type Peer } from '../support/process.js';

const FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'schedule-worker.ts');
const SECOND = 1_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let database: PostgresDatabase | undefined;
let sqs: EmbeddedSqs | undefined;
let transport: SqsTransport | undefined;
const peers: Peer[] = [];
const stores: PostgresJobStore[] = [];

beforeAll(async () => {
  [database, sqs] = await Promise.all([startPostgres(), startEmbeddedSqs()]);
  transport = new SqsTransport({ endpoint: sqs.endpoint, region: 'us-east-1' });
});

afterEach(async () => {
  await Promise.all(peers.splice(0).map((peer) => peer.stop(2_000)));
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

afterAll(async () => {
  await transport?.close();
  await sqs?.stop();
  await database?.stop();
});

interface Case {
  schema: string;
  queues: EnsuredQueues;
  store: PostgresJobStore;
  schedules: Schedules;
}

async function newCase(): Promise<Case> {
  const schema = `sched_${randomUUID().replaceAll('-', '').slice(0, 10)}`;
  const queues = await ensureQueues(transport!, { prefix: `sched-${randomUUID().slice(0, 8)}`, maxReceiveCount: 5 });
  const store = await PostgresJobStore.connect(database!.connectionString, { schema, max: 2 });
  stores.push(store);
  return { schema, queues, store, schedules: createSchedules({ store }) };
}

async function startWorker(c: Case, name: string, env: Record<string, string> = {}): Promise<Peer> {
  const peer = spawnPeer(`schedule-worker-${name}`, process.execPath, ['--import', 'tsx', FIXTURE], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      NAME: name,
      SQS_ENDPOINT: sqs!.endpoint,
      QUEUE_URL: c.queues.mainQueueUrl,
      DLQ_URL: c.queues.dlqUrl,
      STORE_URL: database!.connectionString,
      STORE_SCHEMA: c.schema,
      ...env,
    },
  });
  peers.push(peer);
  await waitFor(
    `worker ${name} to be ready`,
    () => {
      if (peer.child.exitCode !== null) throw new Error(`worker ${name} exited:\n${peer.output()}`);
      return peer.output().includes('READY\n');
    },
    { timeoutMs: 30_000, intervalMs: 50 },
  );
  return peer;
}

interface Run {
  worker: string;
  jobId: string;
  start: number;
  end: number | undefined;
}

/** Every START/END the peers printed, one run per START. */
function runsOf(...workers: Peer[]): Run[] {
  const runs: Run[] = [];
  const ends = new Map<string, number>();
  for (const peer of workers) {
    for (const line of peer.output().split('\n')) {
      const [word, worker, jobId, at] = line.split(' ');
      if (word === 'START') runs.push({ worker: worker!, jobId: jobId!, start: Number(at), end: undefined });
      if (word === 'END') ends.set(`${worker} ${jobId}`, Number(at));
    }
  }
  for (const run of runs) run.end = ends.get(`${run.worker} ${run.jobId}`);
  return runs;
}

/** The job ids each peer printed after `word` (FIRED, HOLDING). */
function printed(peer: Peer, word: string): string[] {
  return peer
    .output()
    .split('\n')
    .filter((line) => line.startsWith(`${word} `))
    .flatMap((line) => line.split(' ').slice(2));
}

/** The next whole second at least `ms` from now. */
const secondAfter = (ms: number) => Math.ceil((Date.now() + ms) / SECOND) * SECOND;

function tickSchedule(id: string, fields: Partial<ScheduleInput> = {}): ScheduleInput {
  return { id, job: { type: 'sched.tick', payload: { n: 1 } }, every: '1s', ...fields };
}

describe('schedules with two worker processes on PostgreSQL 15 and SQS', () => {
  it('every 1s for 10 s: 10 ± 1 runs per schedule, no tick twice, both workers firing some ticks', { timeout: 90_000 }, async () => {
    const c = await newCase();
    const [a, b] = await Promise.all([startWorker(c, 'a'), startWorker(c, 'b')]);
    const startAt = secondAfter(2 * SECOND);
    const ids = ['every-1', 'every-2', 'every-3'];
    // 10 s of ticks: startAt … startAt + 9 s; endAt rather than a pause, so a late last tick still counts.
    for (const id of ids) await c.schedules.upsert(tickSchedule(id, { startAt, endAt: startAt + 9_500 }));
    await sleep(startAt + 12 * SECOND - Date.now());
    const runs = runsOf(a, b);
    const fired = [...printed(a, 'FIRED'), ...printed(b, 'FIRED')];
    // No tick twice: each job id fired once and ran once.
    expect(new Set(fired).size).toBe(fired.length);
    expect(new Set(runs.map((r) => r.jobId)).size).toBe(runs.length);
    expect(new Set(runs.map((r) => r.jobId))).toEqual(new Set(fired));
    expect(printed(a, 'FIRED').length).toBeGreaterThan(0);
    expect(printed(b, 'FIRED').length).toBeGreaterThan(0);
    for (const id of ids) {
      const detail = await c.schedules.show(id);
      expect(detail?.firedTotal).toBeGreaterThanOrEqual(9);
      expect(detail?.firedTotal).toBeLessThanOrEqual(11);
      // Every tick is its own whole second from startAt, each run's job succeeded.
      const ticks = detail!.runs.map((r) => Date.parse(r.tickAt));
      expect(new Set(ticks).size).toBe(ticks.length);
      for (const tick of ticks) expect((tick - startAt) % SECOND).toBe(0);
      for (const run of detail!.runs) expect(run.state).toBe('succeeded');
    }
    expect(runs.length).toBeGreaterThanOrEqual(27);
    expect(runs.length).toBeLessThanOrEqual(33);
  });

  for (const stall of ['claim', 'advance'] as const) {
    it(`a worker SIGKILLed while holding due ticks (${stall === 'claim' ? 'claimed, not sent' : 'sent, not written back'}): each tick still runs exactly once`, {
      timeout: 90_000,
    }, async () => {
      const c = await newCase();
      const startAt = secondAfter(SECOND);
      const ids = Array.from({ length: 5 }, (_, n) => `held-${n}`);
      for (const id of ids) await c.schedules.upsert(tickSchedule(id, { startAt, overlap: 'allowAll' }));
      const doomed = await startWorker(c, 'doomed', { STALL: stall, LEASE_MS: '2000' });
      await waitFor('the doomed worker to hold ticks', () => printed(doomed, 'HOLDING').length > 0, { timeoutMs: 20_000, intervalMs: 20 });
      const held = printed(doomed, 'HOLDING');
      const exited = new Promise((resolve) => doomed.child.once('exit', (_code, signal) => resolve(signal)));
      process.kill(doomed.pid, 'SIGKILL');
      expect(await exited).toBe('SIGKILL');
      const heir = await startWorker(c, 'heir', { LEASE_MS: '2000' });
      // Past the lease: the heir claims the rows, fires their due ticks and runs them.
      await sleep(6 * SECOND);
      for (const id of ids) await c.schedules.pause(id);
      await sleep(1_500);
      const runs = runsOf(doomed, heir);
      expect(new Set(runs.map((r) => r.jobId)).size).toBe(runs.length);
      const tickJobs = new Map<string, string[]>();
      for (const id of ids) {
        const detail = await c.schedules.show(id);
        // The first tick (startAt) of every schedule ran exactly once, whoever sent it.
        const first = detail!.runs.filter((r) => Date.parse(r.tickAt) === startAt);
        expect(first).toHaveLength(1);
        tickJobs.set(
          id,
          detail!.runs.map((r) => r.jobId),
        );
        for (const run of detail!.runs) expect(runs.filter((r) => r.jobId === run.jobId)).toHaveLength(1);
      }
      if (stall === 'advance') {
        // The ticks the doomed worker had sent are among those that ran, once each.
        expect(held.length).toBeGreaterThanOrEqual(ids.length);
        for (const jobId of held) expect(runs.filter((r) => r.jobId === jobId)).toHaveLength(1);
      } else {
        expect(held.sort()).toEqual(ids.filter((id) => held.includes(id)).sort());
      }
      for (const jobId of [...tickJobs.values()].flat()) expect((await c.store.getJob(jobId))?.state).toBe('succeeded');
    });
  }

  it('overlap: a 2.5 s job every 1 s with skip never overlaps; with bufferOne at most one waits and runs follow back to back', {
    timeout: 90_000,
  }, async () => {
    const c = await newCase();
    const [a, b] = await Promise.all([startWorker(c, 'a', { JOB_MS: '2500' }), startWorker(c, 'b', { JOB_MS: '2500' })]);
    const startAt = secondAfter(2 * SECOND);
    await c.schedules.upsert(tickSchedule('skip', { startAt, overlap: 'skip', job: { type: 'sched.tick', payload: { n: 1 } } }));
    await c.schedules.upsert(tickSchedule('buffer', { startAt, overlap: 'bufferOne', job: { type: 'sched.tick', payload: { n: 2 } } }));
    await sleep(startAt + 9 * SECOND - Date.now());
    await c.schedules.pause('skip');
    await c.schedules.pause('buffer');
    await sleep(6 * SECOND);
    const runs = runsOf(a, b);
    for (const id of ['skip', 'buffer']) {
      const detail = (await c.schedules.show(id))!;
      const mine = detail.runs
        .map((r) => ({ ...r, run: runs.find((x) => x.jobId === r.jobId) }))
        .filter((r) => r.run !== undefined)
        .sort((x, y) => x.run!.start - y.run!.start);
      expect(mine.length).toBeGreaterThanOrEqual(3);
      for (const [n, r] of mine.entries()) {
        expect(r.run!.end).toBeDefined();
        // No overlapping runs: each starts after the one before ended.
        if (n > 0) expect(r.run!.start).toBeGreaterThanOrEqual(mine[n - 1]!.run!.end!);
      }
      if (id === 'skip') {
        // Skip: every run is its own tick's, started soon after it (a held-back tick would start a
        // whole 2.5 s job later, at least), and the ticks in between were skipped.
        for (const r of mine) expect(['tick', 'catchup']).toContain(r.kind);
        for (const r of mine) expect(r.run!.start - Date.parse(r.tickAt)).toBeLessThan(2 * SECOND);
        expect(detail.skippedTotal).toBeGreaterThan(0);
      } else {
        // bufferOne: at every moment, at most one run is waiting: its tick has passed and no worker
        // has started it yet (the store's startedAt: the claim, a moment before the handler prints START).
        const started = new Map<string, number>();
        for (const r of mine) started.set(r.jobId, (await c.store.getJob(r.jobId))!.startedAt!);
        for (let t = startAt; t < startAt + 9 * SECOND; t += SECOND / 4) {
          const waiting = mine.filter((r) => Date.parse(r.tickAt) <= t && t < started.get(r.jobId)!).length;
          expect(waiting).toBeLessThanOrEqual(1);
        }
        expect(mine.some((r) => r.kind === 'buffered')).toBe(true);
        // The buffered run follows its predecessor within a re-check and a receive (well within a job's 2.5 s).
        for (const [n, r] of mine.entries())
          if (r.kind === 'buffered' && n > 0) expect(r.run!.start - mine[n - 1]!.run!.end!).toBeLessThan(2 * SECOND);
      }
    }
  });

  it('catch-up: all workers stopped for 5 s on every 1s give at most one catch-up run on restart', { timeout: 90_000 }, async () => {
    const c = await newCase();
    const first = await startWorker(c, 'first');
    const startAt = secondAfter(SECOND);
    await c.schedules.upsert(tickSchedule('catchup', { startAt }));
    await sleep(startAt + 3 * SECOND - Date.now());
    await first.stop(5_000);
    const stoppedAt = Date.now();
    await sleep(5 * SECOND);
    const restartedAt = Date.now();
    const second = await startWorker(c, 'second');
    await sleep(3 * SECOND);
    await c.schedules.pause('catchup');
    await sleep(SECOND);
    const detail = (await c.schedules.show('catchup'))!;
    const ticks = detail.runs.map((r) => ({ tickAt: Date.parse(r.tickAt), kind: r.kind }));
    // Ticks whose time fell while no worker ran: at most one of them ran (the catch-up).
    const missed = ticks.filter((t) => t.tickAt > stoppedAt && t.tickAt < restartedAt);
    expect(missed.length).toBeLessThanOrEqual(1);
    expect(ticks.filter((t) => t.kind === 'catchup').length).toBeLessThanOrEqual(1);
    expect(detail.skippedTotal).toBeGreaterThanOrEqual(3);
    // Ticks ran before and after the downtime, each once.
    expect(ticks.some((t) => t.tickAt < stoppedAt)).toBe(true);
    expect(ticks.filter((t) => t.tickAt > restartedAt).length).toBeGreaterThanOrEqual(2);
    const runs = runsOf(first, second);
    expect(new Set(runs.map((r) => r.jobId)).size).toBe(runs.length);
  });
});
