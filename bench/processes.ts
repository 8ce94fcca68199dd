/**
 * Child processes of the benchmark: the SQS server and the consumers. Each is started with tsx,
 * stopped by its own PID, and every wait is bounded.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { RequestCounts } from './counting-proxy.js';
import type { ConsumerConfig, ConsumerResult, FromChild, MemorySample, ToChild } from './children/protocol.js';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));

/** Resolves with `promise`, or rejects naming `what` after `ms`. */
export async function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
export async function stopChild(child: ChildProcess, graceMs = 3_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = once(child, 'exit');
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

export interface ServerProcess {
  readonly endpoint: string;
  readonly pid: number;
  /** Requests the server has served so far, by action (counted in the server: bench/sqs-server.ts). */
  counts(): Promise<RequestCounts>;
  stop(): Promise<void>;
}

/** Starts fauxqs in its own process (bench/sqs-server.ts) and reads its endpoint; its request counts come over IPC. */
export async function startServerProcess(): Promise<ServerProcess> {
  const child = fork(join(BENCH_DIR, 'sqs-server.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const lines = createInterface({ input: child.stdout! });
  const first = await within(
    'the SQS server process to print its endpoint',
    30_000,
    (async () => {
      for await (const line of lines) return JSON.parse(line) as { endpoint: string };
      throw new Error('the SQS server process exited before printing its endpoint');
    })(),
  );
  const waiting: Array<(counts: RequestCounts) => void> = [];
  child.on('message', (message: { type?: string; counts?: RequestCounts }) => {
    if (message?.type === 'counts') waiting.shift()?.(message.counts ?? {});
  });
  return {
    endpoint: first.endpoint,
    pid: child.pid!,
    counts: () =>
      within(
        'request counts from the SQS server',
        10_000,
        new Promise<RequestCounts>((resolve) => {
          waiting.push(resolve);
          child.send({ type: 'counts' });
        }),
      ),
    stop: () => stopChild(child),
  };
}

export interface ConsumerProcess {
  readonly pid: number;
  readonly ready: Promise<MemorySample>;
  /** Latest progress. */
  readonly progress: { settled: number; started: number; rss: number };
  readonly errors: string[];
  send(message: ToChild): void;
  /** Resolves when `started` reaches `n` (bounded by `ms`). */
  waitStarted(n: number, ms: number): Promise<void>;
  measure(): Promise<{ memory: MemorySample; started: number }>;
  /** Sends `message` and resolves with the child's next message of type `reply` (bounded by `ms`). */
  ask<K extends FromChild['type']>(message: ToChild, reply: K, ms: number): Promise<Extract<FromChild, { type: K }>>;
  /** Sends `stop` and resolves with the result; kills the process if it does not answer. */
  finish(ms?: number): Promise<ConsumerResult>;
  kill(): Promise<void>;
}

/** Forks bench/children/consumer.ts with `config`; `--expose-gc` so memory samples follow a full GC. */
export function startConsumer(config: ConsumerConfig, extraExecArgv: readonly string[] = []): ConsumerProcess {
  const child = fork(join(BENCH_DIR, 'children', 'consumer.ts'), [], {
    execArgv: ['--import', 'tsx', '--expose-gc', ...extraExecArgv],
    env: { ...process.env, BENCH_CONSUMER: JSON.stringify(config), AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-20_000);
  });
  const progress = { settled: 0, started: 0, rss: 0 };
  const errors: string[] = [];
  const waiters = new Set<() => void>();
  let onReady!: (m: MemorySample) => void;
  let onResult: ((r: ConsumerResult) => void) | undefined;
  let onMemory: ((m: { memory: MemorySample; started: number }) => void) | undefined;
  const replies = new Map<string, (m: FromChild) => void>();
  const ready = new Promise<MemorySample>((resolve) => (onReady = resolve));
  child.on('message', (raw) => {
    const message = raw as FromChild;
    switch (message.type) {
      case 'ready':
        onReady(message.memory);
        break;
      case 'progress':
        progress.settled = message.settled;
        progress.started = message.started;
        progress.rss = message.rss;
        for (const w of [...waiters]) w();
        break;
      case 'memory':
        onMemory?.({ memory: message.memory, started: message.started });
        break;
      case 'error':
        if (errors.length < 20) errors.push(message.message);
        break;
      case 'enqueued':
      case 'trickled':
        replies.get(message.type)?.(message);
        replies.delete(message.type);
        break;
      case 'result':
        onResult?.(message);
        break;
    }
  });
  const exited = once(child, 'exit');
  const describe = (): string => `consumer ${config.kind} (pid ${child.pid}) stderr:\n${stderr.slice(-4_000)}`;
  return {
    pid: child.pid!,
    ready: within(
      `consumer ${config.kind} ready`,
      60_000,
      Promise.race([ready, exited.then(() => Promise.reject(new Error(`exited early: ${describe()}`)))]),
    ),
    progress,
    errors,
    send: (message) => {
      if (child.connected) child.send(message);
    },
    waitStarted: (n, ms) =>
      within(
        `${n} handlers started (${describe()})`,
        ms,
        new Promise<void>((resolve) => {
          const check = (): void => {
            if (progress.started >= n) {
              waiters.delete(check);
              resolve();
            }
          };
          waiters.add(check);
          check();
        }),
      ),
    measure: () => {
      const result = new Promise<{ memory: MemorySample; started: number }>((resolve) => (onMemory = resolve));
      child.send({ type: 'measure' } satisfies ToChild);
      return within('a memory sample', 30_000, result);
    },
    ask: <K extends FromChild['type']>(message: ToChild, reply: K, ms: number) => {
      const answer = new Promise<Extract<FromChild, { type: K }>>((resolve) =>
        replies.set(reply, (m) => resolve(m as Extract<FromChild, { type: K }>)),
      );
      child.send(message);
      return within(
        `${reply} from ${describe()}`,
        ms,
        Promise.race([answer, exited.then(() => Promise.reject(new Error(`exited early: ${describe()}`)))]),
      );
    },
    finish: async (ms = 30_000) => {
      const result = new Promise<ConsumerResult>((resolve) => (onResult = resolve));
      if (child.connected) child.send({ type: 'stop' } satisfies ToChild);
      try {
        return await within(`result of ${describe()}`, ms, result);
      } finally {
        await within('consumer exit', 10_000, exited).catch(() => stopChild(child, 1_000));
      }
    },
    kill: () => stopChild(child, 1_000),
  };
}
