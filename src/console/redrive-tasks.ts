/**
 * Redrives started from the console run in the background (src/ops/dlq-redrive.ts, by hand when a
 * job store reopens each job first), one at a time: two at once would hide each other's messages. The
 * page of a task shows its progress until it ends; the last few are kept to look back at.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { redriveDlq, type RedriveQueues, type RedriveResult } from '../ops/dlq-redrive.js';
import type { JobStore } from '../store/job-store.js';
import type { Actor } from './access.js';

export interface RedriveTask {
  id: string;
  /** `all`, or the job ids asked for. */
  selection: 'all' | string[];
  actor: string;
  startedAt: number;
  done: number;
  total: number | undefined;
  state: 'running' | 'finished' | 'failed';
  result: RedriveResult | undefined;
  error: string | undefined;
  notes: string[];
}

const KEEP = 20;

export class RedriveTasks {
  readonly #tasks = new Map<string, RedriveTask>();
  readonly #abort = new AbortController();
  #pending: Promise<void> | undefined;

  constructor(
    private readonly queues: RedriveQueues,
    private readonly store: JobStore,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  get(id: string): RedriveTask | undefined {
    return this.#tasks.get(id);
  }

  running(): RedriveTask | undefined {
    return [...this.#tasks.values()].find((task) => task.state === 'running');
  }

  /** Starts a redrive; a second one while one runs is refused (the running one is returned with `started: false`). */
  start(selection: 'all' | string[], actor: Actor): { task: RedriveTask; started: boolean } {
    const busy = this.running();
    if (busy) return { task: busy, started: false };
    const task: RedriveTask = {
      id: randomUUID(),
      selection,
      actor: actor.name,
      startedAt: this.now(),
      done: 0,
      total: undefined,
      state: 'running',
      result: undefined,
      error: undefined,
      notes: [],
    };
    this.#tasks.set(task.id, task);
    for (const old of [...this.#tasks.keys()].slice(0, Math.max(0, this.#tasks.size - KEEP))) this.#tasks.delete(old);
    const log = this.logger.child({ action: 'dlq.redrive', actor: actor.name, via: actor.via, taskId: task.id });
    this.#pending = redriveDlq(this.queues, {
      selection: selection === 'all' ? {} : { ids: selection },
      all: selection === 'all',
      resetAttempts: false,
      dryRun: false,
      signal: this.#abort.signal,
      note: (line) => task.notes.push(line),
      warn: (line) => {
        task.notes.push(line);
        log.warn(line);
      },
      progress: (_label, total) => {
        task.total = total;
        return {
          update: (done, newTotal) => {
            task.done = done;
            if (newTotal !== undefined) task.total = newTotal;
          },
          finish: () => undefined,
        };
      },
      // The rows are reopened at the attempt each message carries, or the worker would drop them as dead.
      beforeSend: async (jobs) => {
        await this.store.reopenJobs(jobs);
      },
    }).then(
      ({ result }) => {
        task.result = result;
        task.done = result.redrove;
        task.state = result.failed > 0 ? 'failed' : 'finished';
        log.info({ redrove: result.redrove, skipped: result.skipped, failed: result.failed }, 'console: dead letters redriven');
      },
      (error: unknown) => {
        task.state = 'failed';
        task.error = error instanceof Error ? error.message : String(error);
        log.error({ err: error }, 'console: redrive failed');
      },
    );
    return { task, started: true };
  }

  /** Stops a redrive in progress (on close) and waits for it: what was sent stays sent, the rest stays in the DLQ. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#pending;
  }
}
