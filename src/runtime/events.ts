import type { Logger } from 'pino';
import type { DeadReason, JobError } from '../machines/job-machine.js';

interface JobEventBase {
  jobId: string;
  type: string;
  attempt: number;
  messageId: string;
}

/** Everything a worker reports. Keys are namespaced; payloads are objects so fields can be added. */
export interface WorkerEventMap {
  'job:started': JobEventBase;
  'job:succeeded': JobEventBase & { durationMs: number };
  'job:retrying': JobEventBase & { durationMs: number; delayMs: number; error: JobError };
  'job:dead': JobEventBase & { reason: DeadReason | string; error: JobError | undefined };
  'job:deferred': JobEventBase & { delayMs: number };
  /** Held back by its keys (docs/keys.md): re-sent after `delayMs`, no attempt counted. */
  'job:held': JobEventBase & { reason: 'concurrency' | 'rate' | 'throttled'; delayMs: number };
  'job:checkpointed': JobEventBase;
  'job:released': JobEventBase;
  /** Cancelled in the job store: the attempt was aborted (or had just ended) and its message deleted. */
  'job:cancelled': JobEventBase;
  /**
   * A message the job store says must not run (a second copy of a running attempt, an older attempt,
   * a job already over) was deleted unrun.
   */
  'job:duplicate': { jobId: string; type: string; attempt: number; messageId: string; reason: string };
  /** A message that never became a job (bad JSON, unknown type, bad signature) went to the DLQ. */
  'message:invalid': { messageId: string; reason: string; message: string };
  'worker:error': { error: Error; during: string };
  'worker:state': { state: WorkerState };
}

export type WorkerState = 'idle' | 'running' | 'draining' | 'stopped';
export type WorkerEventName = keyof WorkerEventMap;
export type WorkerListener<K extends WorkerEventName> = (payload: WorkerEventMap[K]) => void;

/** A small typed emitter: a throwing listener is logged and never breaks the caller. */
export class WorkerEvents {
  readonly #listeners = new Map<WorkerEventName, Set<(payload: never) => void>>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  on<K extends WorkerEventName>(event: K, listener: WorkerListener<K>): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener as (payload: never) => void);
    return () => this.off(event, listener);
  }

  off<K extends WorkerEventName>(event: K, listener: WorkerListener<K>): void {
    this.#listeners.get(event)?.delete(listener as (payload: never) => void);
  }

  emit<K extends WorkerEventName>(event: K, payload: WorkerEventMap[K]): void {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const listener of set) {
      try {
        (listener as WorkerListener<K>)(payload);
      } catch (error) {
        this.#logger.error({ err: error, event }, 'a worker event listener threw; ignored');
      }
    }
  }
}
