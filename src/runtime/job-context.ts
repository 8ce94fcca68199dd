/**
 * The `ctx` a handler gets: the job's identity, `signal` (aborted on timeout, on a saved checkpoint
 * and on a forced stop), a per-attempt `logger`, `heartbeat()` (one lease extension now) and
 * `saveCheckpoint()` (continue-as-new: resolves once the continuation is in the queue, then aborts the
 * signal). The signal and the logger are built on first use: most handlers never read `ctx.signal`,
 * an AbortController per job shows in profiles, and a pino child with redaction costs a few µs.
 */
import type { Logger } from 'pino';
import type { JobContext } from '../machines/define-job.js';
import type { JobMachineEvent } from '../machines/job-machine.js';
import type { Envelope } from '../queue/envelope.js';
import { CheckpointNotSavedError, CheckpointSavedError } from './job-error.js';

/** The attempt's abort: the first reason wins, and the AbortController exists only once someone reads the signal. */
export class AttemptAbort {
  #controller: AbortController | undefined;
  #reason: unknown;

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#reason !== undefined) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  abort(reason: unknown): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

/** A logger made on first call: `parent`'s child with the attempt's fields. */
export function lazyLogger(parent: Logger, fields: Record<string, unknown>): () => Logger {
  let child: Logger | undefined;
  return () => (child ??= parent.child(fields));
}

/** What `ctx` needs from its attempt. */
export interface ContextScope {
  envelope: Envelope;
  attempt: number;
  abort: AttemptAbort;
  logger: () => Logger;
  /** True while the machine is `running`: the attempt has not settled. */
  isRunning(): boolean;
  /** Feeds the machine one event and executes its actions, after any still under way. */
  send(event: JobMachineEvent): Promise<{ checkpointed: boolean }>;
  /** The continuation is in the queue (`job:checkpointed`). */
  onCheckpointed(): void;
}

export function createJobContext(scope: ContextScope): JobContext<unknown> {
  const { envelope, abort, logger } = scope;
  return {
    jobId: envelope.id,
    type: envelope.type,
    attempt: scope.attempt,
    get signal() {
      return abort.signal;
    },
    get logger() {
      return logger();
    },
    idempotencyKey: envelope.idempotencyKey,
    checkpoint: envelope.checkpoint,
    saveCheckpoint: async (state) => {
      if (!scope.isRunning()) throw new CheckpointSavedError();
      // Resolves only once the continuation is in the queue: an event queued behind a terminal one,
      // or a continuation that could not be sent, rejects.
      const result = await scope.send({ type: 'CHECKPOINT', state });
      if (!result.checkpointed) throw new CheckpointNotSavedError();
      scope.onCheckpointed();
      // Continue-as-new: the continuation is already in the queue; stop this run at once.
      abort.abort(new CheckpointSavedError());
    },
    heartbeat: async () => {
      if (scope.isRunning()) await scope.send({ type: 'LEASE_DUE' });
    },
  };
}
