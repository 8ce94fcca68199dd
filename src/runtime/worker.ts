/**
 * The worker: receive loops that keep `concurrency` handlers busy (continuous flow: a receive is issued
 * as soon as slots free up, never waiting for a whole batch to finish), batched deletes, leases, and a
 * lifecycle of `idle → running → draining → stopped`.
 *
 * `stop()` always reaches `stopped`, within the grace period plus {@link STOP_HARD_LIMIT_MS}, whatever
 * the server does: an in-flight receive is let finish within the grace period (an aborted long poll
 * can still take messages on fauxqs and moto) and what it returns is given back uncharged; handlers
 * get the grace period, then are aborted and released; every settle is awaited, bounded by the limit.
 */
import type { Logger } from 'pino';
import { backoffDelay, type Backoff } from '../shared/backoff.js';
import { sleep } from '../shared/clock.js';
import { toError } from '../shared/errors.js';
import { SQS_LIMITS, type ReceivedMessage } from '../queue/transport.js';
import { ActionExecutor } from './action-executor.js';
import { DeleteBatcher } from './delete-batcher.js';
import { SendBatcher, SETTLE_SEND_RETRY } from '../queue/send-batcher.js';
import { WorkerEvents, type WorkerEventName, type WorkerListener, type WorkerState } from './events.js';
import { JobRunner, type InFlightJob } from './job-runner.js';
import { KeyGate, warnKeysWithoutStore } from './key-gate.js';
import { createLogger } from './logger.js';
import { noopWorkerTelemetry, type WorkerTelemetry, type WorkerTelemetryFactory } from './attempt-telemetry.js';
import { StoreLink } from './store-link.js';
import { startWorkerScheduler } from './worker-scheduler.js';
import { resolveWorkerOptions, type ResolvedWorkerOptions, type WorkerOptions } from './worker-options.js';

/** How long past the grace period `stop()` may wait for settles and the last deletes before it returns. */
export const STOP_HARD_LIMIT_MS = 8_000;

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

/**
 * A worker; create with {@link createWorker}, then `start()`. Construction has no side effects.
 * Without a `telemetry` option it records nothing, unless built with a `defaultTelemetry` factory:
 * the package's `Worker` / `createWorker` (src/telemetry/instrumented.ts) pass the OpenTelemetry one.
 */
export class Worker {
  readonly options: ResolvedWorkerOptions;
  readonly #events: WorkerEvents;
  readonly #logger: Logger;
  readonly #telemetry: WorkerTelemetry;
  #state: WorkerState = 'idle';
  #stopping: Promise<void> | undefined;
  readonly #inFlight = new Set<InFlightJob>();
  /** In-flight jobs whose handler has not finished yet: what `concurrency` bounds (settles run outside it). */
  #handling = 0;
  #reserved = 0;
  #slotWaiters: Array<() => void> = [];
  #pollAbort = new AbortController();
  #pollers: Promise<void>[] = [];
  #deleter: DeleteBatcher | undefined;
  #runner: JobRunner | undefined;
  #received = 0;
  #ready = false;
  #depthObserver: { stop(): void } | undefined;
  #store: StoreLink | undefined;
  #scheduler: { stop(): Promise<void> } | undefined;
  #keyGate: KeyGate | undefined;
  #keysHeldGauge: { stop(): void } | undefined;

  constructor(options: WorkerOptions & { queueDepthIntervalMs?: number }, defaultTelemetry?: WorkerTelemetryFactory) {
    this.options = resolveWorkerOptions(options);
    this.#logger = this.options.logger ?? createLogger();
    this.#events = new WorkerEvents(this.#logger);
    const { queueName, dlqName, clock } = this.options;
    this.#telemetry = this.options.telemetry ?? defaultTelemetry?.({ queueName, dlqName, clock }) ?? noopWorkerTelemetry;
    this.#queueDepthIntervalMs = options.queueDepthIntervalMs;
  }

  readonly #queueDepthIntervalMs: number | undefined;

  get state(): WorkerState {
    return this.#state;
  }

  get stats(): WorkerStats {
    const storeReady = this.#store?.healthy ?? true;
    return {
      state: this.#state,
      inFlight: this.#inFlight.size,
      received: this.#received,
      ready: this.#ready && storeReady && this.#state === 'running',
    };
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
    const sender = new SendBatcher({
      transport: options.transport,
      clock: options.clock,
      flushMs: options.deleteFlushMs,
      maxMessageBytes: options.maxMessageBytes,
      retry: SETTLE_SEND_RETRY,
    });
    if (options.store) {
      this.#store = new StoreLink({
        store: options.store,
        clock: options.clock,
        // A third of the visibility timeout: a claim renewed just before its lease was extended is
        // renewed again well before it runs out, and a cancel reaches a running job within one lease.
        renewEveryMs: (options.visibilityTimeoutSeconds * 1000) / 3,
        logger: this.#logger,
        onError: (error, during) => this.#events.emit('worker:error', { error, during }),
      });
      this.#store.start();
      this.#keyGate = new KeyGate({ clock: options.clock, random: options.random, concurrency: options.concurrency });
      this.#keysHeldGauge = this.#telemetry.observeKeysHeld?.(() => this.#keyGate?.keysHeld ?? 0);
    } else {
      warnKeysWithoutStore(options.jobs, this.#logger);
    }
    const store = this.#store;
    const keyGate = this.#keyGate;
    const deps = { deleter: this.#deleter, sender, events: this.#events, telemetry: this.#telemetry, logger: this.#logger, store };
    const executor = new ActionExecutor(options, deps);
    this.#runner = new JobRunner(options, {
      executor,
      events: this.#events,
      telemetry: this.#telemetry,
      logger: this.#logger,
      store,
      keyGate,
    });
    this.#setState('running');
    for (let i = 0; i < options.pollers; i++) this.#pollers.push(this.#poll());
    this.#scheduler = startWorkerScheduler(options, {
      logger: this.#logger,
      telemetry: this.#telemetry,
      onError: (error, during) => this.#events.emit('worker:error', { error, during }),
    });
    if (this.#queueDepthIntervalMs !== undefined && this.#queueDepthIntervalMs > 0) {
      this.#depthObserver = this.#telemetry.observeQueueDepth(
        (queue) => options.transport.depth(queue === 'main' ? options.queueUrl : options.dlqUrl),
        { intervalMs: this.#queueDepthIntervalMs },
      );
    }
    this.#logger.info(
      { queue: options.queueName, concurrency: options.concurrency, pollers: options.pollers, jobs: options.jobs.map((j) => j.type) },
      'worker started',
    );
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
    const { clock } = this.options;
    const graceEnds = clock.now() + graceMs;
    const hardEnds = graceEnds + STOP_HARD_LIMIT_MS;
    const until = (at: number): { wait: Promise<void>; cancel(): void } => {
      if (at <= clock.now()) return { wait: Promise.resolve(), cancel: () => undefined };
      const cancel = new AbortController();
      return { wait: sleep(at - clock.now(), clock, cancel.signal).catch(() => undefined), cancel: () => cancel.abort() };
    };
    /** Waits for `work`, at most until `at`; true when it finished. */
    const within = async (work: Promise<unknown>, at: number): Promise<boolean> => {
      const timer = until(at);
      let finished = false;
      await Promise.race([
        work.then(
          () => (finished = true),
          () => (finished = true),
        ),
        timer.wait,
      ]);
      timer.cancel();
      return finished;
    };
    try {
      this.#setState('draining');
      // No new ticks from here; the pass under way finishes (its sends and advance) before the store stops.
      const schedulerStopped = this.#scheduler?.stop() ?? Promise.resolve();
      // Parked jobs are re-sent for later (their keys still hold them back), not kept waiting.
      this.#keyGate?.stop();
      for (const wake of this.#slotWaiters.splice(0)) wake();
      const polls = Promise.all(this.#pollers);
      // An aborted long poll can still be handed messages by the server, which come back later with
      // a receive count of 2 and would be charged as lost: let the receives in flight finish within
      // the grace period (their messages are given back uncharged), and abort only what outlasts it.
      if (this.options.transport.receiveAbortLosesNothing === true) this.#pollAbort.abort();
      const running = (): Promise<unknown> => Promise.all([...this.#inFlight].map((job) => job.done));
      if (this.#inFlight.size > 0) this.#logger.info({ inFlight: this.#inFlight.size, graceMs }, 'draining: waiting for running jobs');
      await within(Promise.all([polls, running()]), graceEnds);
      this.#pollAbort.abort();
      await within(polls, hardEnds);
      const left = [...this.#inFlight];
      if (left.length > 0) {
        this.#logger.warn({ released: left.length }, 'grace period over: aborting and releasing running jobs');
        // One failed release must not stop the others, the delete flush or the state change.
        const releases = left.map((job) =>
          job
            .release()
            .catch((error: unknown) => this.#events.emit('worker:error', { error: toError(error), during: 'releasing a job on stop' })),
        );
        await within(Promise.all(releases), hardEnds);
      }
      // Settles still under way (past the grace period) are awaited, bounded by the hard limit.
      if (!(await within(running(), hardEnds))) {
        this.#logger.warn(
          { inFlight: this.#inFlight.size },
          'stop: jobs still settling at the hard limit; their messages come back after their visibility timeout',
        );
      }
      if (!(await within(schedulerStopped, hardEnds))) this.#logger.warn('stop: the scheduler pass was still sending at the hard limit');
      if (this.#store && !(await within(this.#store.stop(), hardEnds))) {
        this.#logger.warn('stop: job store writes still pending at the hard limit; their messages come back');
      }
      if (this.#deleter && !(await within(this.#deleter.flush(), hardEnds))) {
        this.#logger.warn('stop: deletes still pending at the hard limit; their messages come back and are counted once as lost');
      }
    } catch (error) {
      this.#events.emit('worker:error', { error: toError(error), during: 'stop' });
    } finally {
      this.#depthObserver?.stop();
      this.#keysHeldGauge?.stop();
      this.#setState('stopped');
      this.#logger.info('worker stopped');
    }
  }

  #setState(state: WorkerState): void {
    this.#state = state;
    this.#events.emit('worker:state', { state });
  }

  /**
   * Slots to receive into: `concurrency` counts attempts up to the end of their handler; a finished
   * handler's settle (the store's commit, the delete) runs outside it, so a slow settle does not idle
   * a slot. At most `concurrency` more may be settling at once, which bounds the messages held.
   */
  #free(): number {
    const { concurrency } = this.options;
    return Math.min(concurrency - this.#handling, 2 * concurrency - this.#inFlight.size) - this.#reserved;
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
        const timer =
          free > 0
            ? this.options.clock.setTimeout(
                () => {
                  this.#slotWaiters = this.#slotWaiters.filter((w) => w !== waiter);
                  resolve();
                },
                Math.max(0, (windowEnds ?? now) - now),
              )
            : undefined;
        this.#slotWaiters.push(waiter);
      });
    }
    return 0;
  }

  async #poll(): Promise<void> {
    const options = this.options;
    let failures = 0;
    while (this.#state === 'running') {
      if (this.#store && !this.#store.healthy && !(await this.#awaitStore())) break;
      const slots = await this.#acquire();
      if (slots === 0) break;
      let messages: ReceivedMessage[] = [];
      const requestedAt = options.clock.now();
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
        const delayMs = backoffDelay(failures, RECEIVE_BACKOFF, options.random);
        this.#events.emit('worker:error', { error: toError(error), during: 'ReceiveMessage' });
        this.#logger.warn({ err: error, failures, retryInMs: Math.round(delayMs) }, 'receive failed; backing off');
        await sleep(delayMs, options.clock, this.#pollAbort.signal).catch(() => undefined);
        continue;
      }
      this.#reserved -= slots;
      this.#received += messages.length;
      // SQS started each visibility timeout when it picked the message: no earlier than the request,
      // and (a long poll answers as soon as a message comes) close before the response.
      const receivedAt = Math.max(requestedAt, options.clock.now() - RESPONSE_SLACK_MS);
      if (this.#state !== 'running') {
        // Received while stopping: no job starts; give the messages back uncharged.
        for (const message of messages) this.#track(this.#runner!.giveBack(message, receivedAt));
        break;
      }
      for (const job of this.#runner!.startBatch(messages, receivedAt)) this.#trackJob(job);
      if (messages.length < slots) this.#wakeOne();
    }
  }

  /**
   * The store failed a claim: receive nothing (a job never runs unclaimed, and every receive would
   * raise the messages' receive counts toward the queue's redrive limit) until it answers a ping,
   * backing off as the receive loop does. False when the worker stopped meanwhile.
   */
  async #awaitStore(): Promise<boolean> {
    const store = this.#store!;
    const { clock, random } = this.options;
    while (this.#state === 'running' && !store.healthy) {
      const delayMs = backoffDelay(Math.max(1, store.claimFailures), RECEIVE_BACKOFF, random);
      await sleep(delayMs, clock, this.#pollAbort.signal).catch(() => undefined);
      if (this.#state !== 'running') return false;
      if (await store.probe()) return true;
    }
    return this.#state === 'running';
  }

  /** Keeps a give-back among the in-flight work that stop() awaits. */
  #track(work: Promise<void>): void {
    const job: InFlightJob = { messageId: 'give-back', done: work, handled: Promise.resolve(), release: async () => undefined };
    this.#inFlight.add(job);
    void work.finally(() => this.#inFlight.delete(job));
  }

  #trackJob(job: InFlightJob): void {
    this.#inFlight.add(job);
    this.#handling++;
    void job.handled.finally(() => {
      this.#handling--;
      this.#wakeOne();
    });
    void job.done.finally(() => {
      this.#inFlight.delete(job);
      this.#wakeOne();
    });
  }
}

/** After a failed receive: 200 ms, doubling, at most 5 s, each wait drawn from its upper half. */
const RECEIVE_BACKOFF: Backoff = { baseMs: 200, capMs: 5_000, jitter: 'equal' };

/** How much earlier than the receive's response SQS is assumed to have picked a message. */
const RESPONSE_SLACK_MS = 250;

/**
 * Creates a worker (not started) that records no telemetry unless `options.telemetry` is given; the
 * package's `createWorker` (src/telemetry/instrumented.ts) defaults to OpenTelemetry.
 */
export function createWorker(options: WorkerOptions & { queueDepthIntervalMs?: number }): Worker {
  return new Worker(options);
}
