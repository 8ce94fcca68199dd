/**
 * The worker: receive loops that keep `concurrency` handlers busy (continuous flow: a receive is issued
 * as soon as slots free up, never waiting for a whole batch to finish), batched deletes, leases, and a
 * lifecycle of `idle → running → draining → stopped`.
 */
import type { Logger } from 'pino';
import { sleep } from '../queue/clock.js';
import { toError } from '../queue/errors.js';
import { SQS_LIMITS, type ReceivedMessage } from '../queue/transport.js';
import { ActionExecutor } from './action-executor.js';
import { DeleteBatcher } from './delete-batcher.js';
import { SendBatcher } from './send-batcher.js';
import { WorkerEvents, type WorkerEventName, type WorkerListener, type WorkerState } from './events.js';
import { JobRunner, type InFlightJob } from './job-runner.js';
import { createLogger } from './logger.js';
import { createWorkerTelemetry, type WorkerTelemetry } from './telemetry/index.js';
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from './worker-options.js';

export interface StopOptions {
  /** Overrides `shutdownGraceMs` for this stop. */
  graceMs?: number;
}

export interface WorkerStats {
  state: WorkerState;
  inFlight: number;
  received: number;
  /** True while the last receive succeeded: what `/readyz` reports. */
  ready: boolean;
}

/** A worker; create with {@link createWorker}, then `start()`. Construction has no side effects. */
export class Worker {
  readonly options: ResolvedWorkerOptions;
  readonly #events: WorkerEvents;
  readonly #logger: Logger;
  readonly #telemetry: WorkerTelemetry;
  #state: WorkerState = 'idle';
  #stopping: Promise<void> | undefined;
  readonly #inFlight = new Set<InFlightJob>();
  #reserved = 0;
  #slotWaiters: Array<() => void> = [];
  #pollAbort = new AbortController();
  #pollers: Promise<void>[] = [];
  #deleter: DeleteBatcher | undefined;
  #runner: JobRunner | undefined;
  #received = 0;
  #ready = false;
  #depthObserver: { stop(): void } | undefined;

  constructor(options: WorkerOptions & { queueDepthIntervalMs?: number }) {
    this.options = resolveWorkerOptions(options);
    this.#logger = this.options.logger ?? createLogger();
    this.#events = new WorkerEvents(this.#logger);
    this.#telemetry =
      this.options.telemetry ?? createWorkerTelemetry({ queueName: this.options.queueName, dlqName: this.options.dlqName, clock: this.options.clock });
    this.#queueDepthIntervalMs = options.queueDepthIntervalMs;
  }

  readonly #queueDepthIntervalMs: number | undefined;

  get state(): WorkerState {
    return this.#state;
  }

  get stats(): WorkerStats {
    return { state: this.#state, inFlight: this.#inFlight.size, received: this.#received, ready: this.#ready && this.#state === 'running' };
  }

  on<K extends WorkerEventName>(event: K, listener: WorkerListener<K>): () => void {
    return this.#events.on(event, listener);
  }

  off<K extends WorkerEventName>(event: K, listener: WorkerListener<K>): void {
    this.#events.off(event, listener);
  }

  /** Starts the receive loops. Calling it twice, or after `stop()`, throws. */
  start(): this {
    if (this.#state !== 'idle') throw new Error(`worker.start(): the worker is ${this.#state}; a worker starts once`);
    const options = this.options;
    const onError = (error: Error): void => this.#events.emit('worker:error', { error, during: 'DeleteMessageBatch' });
    this.#deleter = new DeleteBatcher({
      transport: options.transport,
      queueUrl: options.queueUrl,
      clock: options.clock,
      flushMs: options.deleteFlushMs,
      logger: this.#logger,
      onError,
      giveUpAfterMs: options.visibilityTimeoutSeconds * 1000,
    });
    const sender = new SendBatcher({ transport: options.transport, clock: options.clock, flushMs: options.deleteFlushMs, maxMessageBytes: options.maxMessageBytes });
    const deps = { deleter: this.#deleter, sender, events: this.#events, telemetry: this.#telemetry, logger: this.#logger };
    const executor = new ActionExecutor(options, deps);
    this.#runner = new JobRunner(options, { executor, events: this.#events, telemetry: this.#telemetry, logger: this.#logger });
    this.#setState('running');
    for (let i = 0; i < options.pollers; i++) this.#pollers.push(this.#poll());
    if (this.#queueDepthIntervalMs !== undefined && this.#queueDepthIntervalMs > 0) {
      this.#depthObserver = this.#telemetry.observeQueueDepth(
        (queue) => options.transport.depth(queue === 'main' ? options.queueUrl : options.dlqUrl),
        { intervalMs: this.#queueDepthIntervalMs },
      );
    }
    this.#logger.info({ queue: options.queueName, concurrency: options.concurrency, pollers: options.pollers, jobs: options.jobs.map((j) => j.type) }, 'worker started');
    return this;
  }

  /**
   * Stops receiving at once (the long poll is aborted), lets running handlers finish for `graceMs`, then
   * aborts their signals and releases their jobs (a fresh copy of each message, visible at once) so another worker takes them.
   * Idempotent: every call returns the same promise.
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.#stopping ??= this.#stop(options.graceMs ?? this.options.shutdownGraceMs);
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #stop(graceMs: number): Promise<void> {
    if (this.#state === 'idle') {
      this.#setState('stopped');
      return;
    }
    this.#setState('draining');
    this.#pollAbort.abort();
    for (const wake of this.#slotWaiters.splice(0)) wake();
    await Promise.all(this.#pollers);
    const running = [...this.#inFlight];
    if (running.length > 0) {
      this.#logger.info({ inFlight: running.length, graceMs }, 'draining: waiting for running jobs');
      const grace = new AbortController();
      await Promise.race([Promise.all(running.map((job) => job.done)), sleep(graceMs, this.options.clock, grace.signal).catch(() => undefined)]);
      grace.abort();
    }
    const left = [...this.#inFlight];
    if (left.length > 0) {
      this.#logger.warn({ released: left.length }, 'grace period over: aborting and releasing running jobs');
      await Promise.all(left.map((job) => job.release()));
    }
    await this.#deleter?.flush();
    this.#depthObserver?.stop();
    this.#setState('stopped');
    this.#logger.info('worker stopped');
  }

  #setState(state: WorkerState): void {
    this.#state = state;
    this.#events.emit('worker:state', { state });
  }

  #free(): number {
    return this.options.concurrency - this.#inFlight.size - this.#reserved;
  }

  #wakeOne(): void {
    this.#slotWaiters.shift()?.();
  }

  /** Waits for free slots and reserves up to 10; prefers a fuller batch if one is a few ms away. */
  async #acquire(): Promise<number> {
    const target = Math.min(SQS_LIMITS.maxBatchEntries, this.options.concurrency);
    let windowEnds: number | undefined;
    while (this.#state === 'running') {
      const free = this.#free();
      const now = this.options.clock.now();
      if (free >= target || (free > 0 && windowEnds !== undefined && now >= windowEnds)) {
        const take = Math.min(free, target);
        this.#reserved += take;
        return take;
      }
      if (free > 0) windowEnds ??= now + this.options.receiveBatchWindowMs;
      await new Promise<void>((resolve) => {
        const waiter = (): void => {
          if (timer !== undefined) this.options.clock.clearTimeout(timer);
          resolve();
        };
        const timer = free > 0 ? this.options.clock.setTimeout(() => {
          this.#slotWaiters = this.#slotWaiters.filter((w) => w !== waiter);
          resolve();
        }, Math.max(0, (windowEnds ?? now) - now)) : undefined;
        this.#slotWaiters.push(waiter);
      });
    }
    return 0;
  }

  async #poll(): Promise<void> {
    const options = this.options;
    let failures = 0;
    while (this.#state === 'running') {
      const slots = await this.#acquire();
      if (slots === 0) break;
      let messages: ReceivedMessage[] = [];
      try {
        messages = await options.transport.receive(options.queueUrl, {
          maxMessages: slots,
          waitTimeSeconds: options.waitTimeSeconds,
          visibilityTimeoutSeconds: options.visibilityTimeoutSeconds,
          signal: this.#pollAbort.signal,
        });
        failures = 0;
        this.#ready = true;
      } catch (error) {
        this.#reserved -= slots;
        this.#wakeOne();
        if (this.#pollAbort.signal.aborted) break;
        failures++;
        this.#ready = false;
        const delayMs = Math.min(5_000, 100 * 2 ** Math.min(failures, 6)) * (0.5 + options.random() / 2);
        this.#events.emit('worker:error', { error: toError(error), during: 'ReceiveMessage' });
        this.#logger.warn({ err: error, failures, retryInMs: Math.round(delayMs) }, 'receive failed; backing off');
        await sleep(delayMs, options.clock, this.#pollAbort.signal).catch(() => undefined);
        continue;
      }
      this.#reserved -= slots;
      this.#received += messages.length;
      for (const message of messages) this.#startJob(message);
      if (messages.length < slots) this.#wakeOne();
    }
  }

  #startJob(message: ReceivedMessage): void {
    const job = this.#runner!.start(message);
    this.#inFlight.add(job);
    void job.done.finally(() => {
      this.#inFlight.delete(job);
      this.#wakeOne();
    });
  }
}

/** Creates a worker (not started). */
export function createWorker(options: WorkerOptions & { queueDepthIntervalMs?: number }): Worker {
  return new Worker(options);
}
