/**
 * The kill-and-cut run both chaos tests share (test/chaos/kill-and-cut*.test.ts): worker processes on a
 * TCP proxy to SQS, a supervisor that SIGKILLs a random live worker every `killEveryMs` (and starts
 * another), cuts of the proxy and other faults at fixed offsets from the start; then the queue is
 * drained and the survivors stopped with SIGTERM. And the judging pieces both read: the DLQ's entries,
 * the executions in the workers' logs, and the re-runs among them.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { SqsTransport } from '../../../src/queue/sqs/sqs-transport.js';
import type { Peer } from '../../support/process.js';
import { prng } from './fate.js';
import { readAllMessages, readLog, startWorker, waitQueueEmpty, type LogLine } from './harness.js';
import type { CuttableProxy } from './tcp-proxy.js';

export interface KillRunSpec {
  /** Straight to the SQS server (not through the proxy): the supervisor's depth checks. */
  direct: SqsTransport;
  proxy: CuttableProxy;
  queues: { mainQueueUrl: string; dlqUrl: string };
  /** Where the workers' logs go. */
  dir: string;
  /** Every worker started is added here (the caller stops what is left in afterAll). */
  peers: Set<Peer>;
  seed: string;
  workers: number;
  concurrency: number;
  visibilitySeconds: number;
  killEveryMs: number;
  maxKills: number;
  cutMs: number;
  cutAtMs: readonly number[];
  extraEnv?: Record<string, string>;
  /**
   * More faults, each started `atMs` after the workers are up (a store restart), given the logs so far
   * (see {@link workersBusy}); awaited before draining.
   */
  faults?: ReadonlyArray<{ atMs: number; run(running: { logs: readonly string[] }): Promise<void> }>;
  /** How long the queue may take to drain after the last kill. */
  drainTimeoutMs: number;
}

export interface KillRun {
  /** One JSONL log per worker process, in start order. */
  logs: string[];
  /** Each SIGKILL: the victim's pid and when the signal was sent (epoch ms). */
  kills: Array<{ pid: number; at: number }>;
  /** When each survivor had exited after its SIGTERM at the end, by pid (epoch ms). */
  stoppedAt: Map<number, number>;
  /** When every first worker was ready (epoch ms): the faults' offsets count from here. */
  chaosStart: number;
  /** From `chaosStart` to the last kill, cut and fault being over. */
  chaosSeconds: number;
  /** The main queue's depth at each supervisor tick (before its kill), and how many workers were live. */
  depths: Array<{ at: number; visible: number; inFlight: number; delayed: number; live: number }>;
}

/** Runs the supervisor (kills, cuts, faults), drains the queue and stops the survivors. */
export async function runKillAndCut(spec: KillRunSpec): Promise<KillRun> {
  const { direct, proxy, queues } = spec;
  let logIndex = 0;
  const logs: string[] = [];
  const live = new Set<Peer>();
  const spawn = async (): Promise<Peer> => {
    const log = join(spec.dir, `worker-${++logIndex}.jsonl`);
    logs.push(log);
    const peer = await startWorker({
      endpoint: proxy.endpoint,
      queueUrl: queues.mainQueueUrl,
      dlqUrl: queues.dlqUrl,
      log,
      seed: spec.seed,
      concurrency: spec.concurrency,
      visibilitySeconds: spec.visibilitySeconds,
      extraEnv: { CHAOS_LOG_LEVEL: 'warn', ...spec.extraEnv },
    });
    spec.peers.add(peer);
    live.add(peer);
    return peer;
  };
  await Promise.all(Array.from({ length: spec.workers }, spawn));
  const chaosStart = Date.now();

  // The cuts and the other faults, at fixed offsets from the start. A cut that fails is not the
  // test's concern (the proxy reports its cuts); a fault that fails fails the run.
  const cuts = spec.cutAtMs.map(
    (at) => new Promise<void>((resolve) => setTimeout(() => void proxy.cut(spec.cutMs).then(resolve, resolve), at)),
  );
  let faultsLeft = spec.faults?.length ?? 0;
  const faultErrors: unknown[] = [];
  const faults = (spec.faults ?? []).map(
    (fault) =>
      new Promise<void>((resolve) =>
        setTimeout(
          () =>
            void fault
              .run({ logs })
              .catch((error: unknown) => void faultErrors.push(error))
              .finally(() => {
                faultsLeft--;
                resolve();
              }),
          fault.atMs,
        ),
      ),
  );
  const lastCutEnds = Math.max(0, ...spec.cutAtMs) + spec.cutMs;

  // The supervisor: every killEveryMs, SIGKILL a random live worker and start another.
  const random = prng(spec.seed);
  const kills: KillRun['kills'] = [];
  const depths: KillRun['depths'] = [];
  const replacements: Promise<Peer>[] = [];
  // A replacement still starting when the supervisor fails is not in spec.peers yet (it joins once
  // ready): wait for it, so the test's clean-up stops it too. (A failed run once left one running.)
  try {
    while (kills.length < spec.maxKills) {
      await new Promise((r) => setTimeout(r, spec.killEveryMs));
      const cutsDone = proxy.stats.cuts >= spec.cutAtMs.length && Date.now() - chaosStart > lastCutEnds;
      const depth = await direct.depth(queues.mainQueueUrl);
      depths.push({ at: Date.now(), ...depth, live: live.size });
      if (cutsDone && faultsLeft === 0 && depth.visible + depth.inFlight + depth.delayed === 0) break;
      // A worker that exited without being killed is a defect of its own: say which, and why.
      for (const peer of live) {
        const { exitCode, signalCode } = peer.child;
        if (exitCode === null && signalCode === null) continue;
        const log = logs.find((file) => readLog(file).some((line) => line.pid === peer.pid));
        const lastLines = log === undefined ? [] : readLog(log).slice(-10);
        throw new Error(
          `worker ${peer.pid} exited by itself (${exitCode !== null ? `code ${exitCode}` : signalCode}) ${Math.round((Date.now() - chaosStart) / 1000)} s in; ` +
            `its output: ${peer.output().slice(-3_000)}\nits last log lines: ${JSON.stringify(lastLines)}`,
        );
      }
      const candidates = [...live];
      if (candidates.length === 0) continue;
      const victim = candidates[Math.floor(random() * candidates.length)]!;
      live.delete(victim);
      process.kill(victim.pid, 'SIGKILL');
      kills.push({ pid: victim.pid, at: Date.now() });
      replacements.push(spawn());
    }
  } catch (error) {
    await Promise.allSettled(replacements);
    throw error;
  }
  await Promise.all(cuts);
  await Promise.all(faults);
  await Promise.all(replacements);
  if (faultErrors.length > 0) throw faultErrors[0];
  const chaosSeconds = (Date.now() - chaosStart) / 1000;

  // Let the survivors finish whatever came back after the kills, then stop them.
  await waitQueueEmpty(direct, queues.mainQueueUrl, spec.drainTimeoutMs);
  const stoppedAt = new Map<number, number>();
  await Promise.all([...live].map((p) => p.stop(10_000).then(() => void stoppedAt.set(p.pid, Date.now()))));
  return { logs, kills, stoppedAt, chaosStart, chaosSeconds, depths };
}

/**
 * Resolves true once the workers' logs grow by more than a few lines within `windowMs` (some worker is
 * running jobs, not starting up or backing off), false after `timeoutMs`: a fault meant to be felt
 * waits for it. Live workers come and go (one is killed every 2 s, and a replacement takes seconds
 * to start on a busy 2-core machine), so a fixed instant may find none at work.
 */
export async function workersBusy(logs: readonly string[], timeoutMs: number, windowMs = 50, bytes = 500): Promise<boolean> {
  const size = (): number => logs.reduce((sum, log) => sum + (existsSync(log) ? statSync(log).size : 0), 0);
  const deadline = Date.now() + timeoutMs;
  let last = size();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, windowMs));
    const now = size();
    if (now - last > bytes) return true;
    last = now;
  }
  return false;
}

/** One DLQ entry of a job. */
export interface DeadEntry {
  id: string;
  attempt: number;
  /** deadLetter.reason; `redriven_by_sqs` when the body has no record (SQS moved it past maxReceiveCount). */
  reason: string;
  /** deadLetter.sourceMessageId: the main-queue message that was dead-lettered. */
  source: string | undefined;
  historyLength: number;
  /** History entries of kind worker_lost. */
  lost: number;
}

/** Everything in the DLQ: entries by job id, in the order read, and the bodies that are no job's. */
export async function readDeadLetters(
  transport: SqsTransport,
  dlqUrl: string,
): Promise<{ dead: Map<string, DeadEntry[]>; foreign: string[] }> {
  const dead = new Map<string, DeadEntry[]>();
  const foreign: string[] = [];
  for (const { body } of await readAllMessages(transport, dlqUrl)) {
    const parsed = JSON.parse(body) as {
      id?: string;
      attempt?: number;
      history?: Array<{ kind: string }>;
      deadLetter?: { reason: string; sourceMessageId?: string };
    };
    if (!parsed.id) {
      foreign.push(body.slice(0, 200));
      continue;
    }
    const entry: DeadEntry = {
      id: parsed.id,
      attempt: parsed.attempt ?? 0,
      reason: parsed.deadLetter?.reason ?? 'redriven_by_sqs',
      source: parsed.deadLetter?.sourceMessageId,
      historyLength: parsed.history?.length ?? 0,
      lost: (parsed.history ?? []).filter((h) => h.kind === 'worker_lost').length,
    };
    dead.set(parsed.id, [...(dead.get(parsed.id) ?? []), entry]);
  }
  return { dead, foreign };
}

/** One run of a handler, from a worker's log. */
export interface Execution {
  id: string;
  a: number;
  m: string | undefined;
  pid: number;
  /** The `exec` line's stamp. */
  start: number;
  /** The matching `end` line's stamp; undefined when the process died (or stopped) first. */
  end: number | undefined;
  /** The `end` line's result; undefined when there was none. */
  r: LogLine['r'] | undefined;
}

/**
 * Every line of every log, and the executions by job id. Each log is one process, in the order it was
 * written: an `end` belongs to the oldest open `exec` of the same job, attempt and message there.
 */
export function readExecutions(logs: readonly string[]): { lines: LogLine[]; executions: Map<string, Execution[]> } {
  const lines: LogLine[] = [];
  const executions = new Map<string, Execution[]>();
  for (const log of logs) {
    const open = new Map<string, Execution[]>();
    for (const l of readLog(log)) {
      lines.push(l);
      const key = `${l.id}/${l.a}/${l.m}`;
      if (l.e === 'exec') {
        const x: Execution = { id: l.id!, a: l.a!, m: l.m, pid: l.pid, start: l.t, end: undefined, r: undefined };
        executions.set(x.id, [...(executions.get(x.id) ?? []), x]);
        open.set(key, [...(open.get(key) ?? []), x]);
      } else if (l.e === 'end') {
        const x = open.get(key)?.shift();
        if (x) {
          x.end = l.t;
          x.r = l.r;
        }
      }
    }
  }
  return { lines, executions };
}

/**
 * Re-runs among one job's executions: an execution following one that was cut short (no outcome) or
 * that had already finished the job's work (ok, or non-retryable) — what kills and cuts cost. The
 * executions are taken in start order (ties by attempt).
 */
export function countReruns(executions: ReadonlyArray<{ start: number; a: number; r: LogLine['r'] | undefined }>): number {
  const list = [...executions].sort((x, y) => x.start - y.start || x.a - y.a);
  let reruns = 0;
  for (let i = 1; i < list.length; i++) {
    const before = list[i - 1]!.r;
    if (before === undefined || before === 'ok' || before === 'nonretryable') reruns++;
  }
  return reruns;
}

/** Counts of each key. */
export function tally(keys: Iterable<string>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const k of keys) counts[k] = (counts[k] ?? 0) + 1;
  return counts;
}

/** The first 8 characters of a message id, for timelines. */
export const short = (m: string | undefined): string => (m ? m.slice(0, 8) : '?');

/** One job's log lines, oldest first, on one line: `+{ms since origin}ms pid P event[:result][:reason] aN m MSGID`. */
export function timeline(lines: readonly LogLine[], id: string, origin: number): string {
  return lines
    .filter((l) => l.id === id)
    .sort((x, y) => x.t - y.t)
    .map((l) => `+${l.t - origin}ms pid ${l.pid} ${l.e}${l.r ? `:${l.r}` : ''}${l.reason ? `:${l.reason}` : ''} a${l.a} m ${short(l.m)}`)
    .join(', ');
}
