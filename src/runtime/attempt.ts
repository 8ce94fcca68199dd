/**
 * The life of one received message in this worker, from the receive to the confirmed settle. The
 * attempt orchestrates the pieces: the intake (message-intake.ts) says whether the message is a job;
 * the machine is restored from the envelope and fed its first events (a lost attempt, lost-attempt.ts,
 * then START or INVALID) through the stepper; the handler runs with its `ctx` (job-context.ts) to an
 * outcome (handler-run.ts); every event's actions go to the {@link ActionExecutor}, one event at a
 * time. The message's {@link Lease} is extended from the receive until the settle is confirmed.
 */
import type { Logger } from 'pino';
import type { SnapshotFrom } from 'xstate';
import type { JobDefinition } from '../machines/define-job.js';
import { restoreJob, type JobAction, type JobMachine, type JobMachineEvent } from '../machines/job-machine.js';
import type { JobStepper } from '../machines/job-stepper.js';
import type { Envelope } from '../queue/envelope.js';
import type { ReceivedMessage } from '../queue/transport.js';
import { toError } from '../shared/errors.js';
import type { ActionExecutor } from './action-executor.js';
import { attemptInfo, type AttemptTelemetry, type WorkerTelemetry } from './attempt-telemetry.js';
import type { WorkerEvents } from './events.js';
import { attemptTimeoutMs, runHandler } from './handler-run.js';
import { AttemptAbort, createJobContext, lazyLogger } from './job-context.js';
import { CheckpointSavedError, classifyFailure, JobCancelledError, WorkerStoppingError } from './job-error.js';
import type { Lease } from './lease.js';
import { wasAttemptLost } from './lost-attempt.js';
import { jobInput, takeIn, type Intake, type IntakeRules } from './message-intake.js';
import type { ResolvedWorkerOptions } from './worker-options.js';
import type { ClaimRequest, ClaimResult } from '../store/job-store.js';
import { RateLimitedError } from '../machines/errors.js';
import type { HoldReason } from '../machines/job-machine.js';
import type { KeyGate } from './key-gate.js';
import type { KnownJob } from './message-intake.js';
import type { ClaimRef } from './action-executor.js';
import type { HeldClaim, StoreLink } from './store-link.js';

type Snapshot = SnapshotFrom<JobMachine>;

/** What every attempt needs, handed over by the runner once. */
export interface AttemptDeps {
  options: Pick<ResolvedWorkerOptions, 'clock' | 'random' | 'visibilityTimeoutSeconds' | 'logPayloads' | 'transport' | 'queueUrl'>;
  intake: IntakeRules;
  executor: ActionExecutor;
  events: WorkerEvents;
  telemetry: WorkerTelemetry;
  logger: Logger;
  /** The job store's side of the worker, when there is a store. */
  store?: StoreLink | undefined;
  /** Parks or re-sends jobs their keys hold back (with a store). */
  keyGate?: KeyGate | undefined;
}

/** What the runner already knows of the message: its intake, and (with a store) its batch's claim. */
export interface AttemptStart {
  intake: Intake;
  /** Resolves to this message's claim, or `undefined` when the store could not be asked. */
  claim?: Promise<ClaimResult | undefined> | undefined;
  /** The claim as asked: a job held back by its keys asks again with it. */
  request?: ClaimRequest | undefined;
}

export class Attempt {
  readonly #deps: AttemptDeps;
  readonly #message: ReceivedMessage;
  readonly #lease: Lease;
  readonly #abort = new AttemptAbort();
  #snapshot: Snapshot | undefined;
  #stepper: JobStepper | undefined;
  #envelope: Envelope | undefined;
  #telemetry: AttemptTelemetry | undefined;
  #settle: (() => void) | undefined;
  #released = false;
  #claim: ClaimRef | undefined;
  #held: HeldClaim | undefined;
  /** Cancelled in the store while running: the handler's outcome is not the job's. */
  #cancelled = false;
  /** The attempt ended outside the machine (cancelled): no further event is fed to it. */
  #over = false;
  readonly #start: AttemptStart | undefined;
  /** Serialises transitions: a heartbeat's extension must not interleave with a settle's actions. */
  #chain: Promise<unknown> = Promise.resolve();
  #markHandled!: () => void;
  /**
   * Resolves once no handler runs for this attempt any more: the handler returned (its settle may
   * still be under way), or it was never to run (a duplicate, an invalid message, a give-back). The
   * worker's `concurrency` counts attempts until then; the settle runs outside it.
   */
  readonly handled = new Promise<void>((resolve) => {
    this.#markHandled = resolve;
  });
  /** The concurrency key this attempt holds in the key gate, released when its settle is done. */
  #heldKey: string | undefined;
  /** RateLimitedErrors the job threw before this attempt (from its claim). */
  #throttles = 0;
  /** The job's fairness key (its successors' MessageGroupId). */
  #groupId: string | undefined;

  constructor(deps: AttemptDeps, message: ReceivedMessage, lease: Lease, start?: AttemptStart) {
    this.#deps = deps;
    this.#message = message;
    this.#lease = lease;
    this.#start = start;
  }

  /** Processes the message; the lease is kept until whatever settles it is confirmed (or fails). */
  async run(): Promise<void> {
    this.#lease.start();
    try {
      await this.#process();
    } finally {
      this.#markHandled();
      this.#lease.stop();
      if (this.#held) this.#deps.store?.release(this.#held);
      this.#releaseKey();
    }
  }

  /** The key gate hears once that this attempt's key is free (at its settle's store write, or at the end). */
  #releaseKey(): void {
    if (this.#heldKey === undefined) return;
    const key = this.#heldKey;
    this.#heldKey = undefined;
    this.#deps.keyGate?.release(key);
  }

  async #process(): Promise<void> {
    const { options, executor, logger } = this.#deps;
    const message = this.#message;
    const intake = this.#start?.intake ?? takeIn(message, this.#deps.intake);
    if (!intake.ok) return await executor.deadLetterInvalid(message, this.#lease, intake.reason, intake.text, intake.envelope);
    const { envelope, job, payload } = intake;
    this.#groupId = payload.valid ? payload.keys?.fairness : undefined;
    let lostByClaim: boolean | undefined;
    if (this.#start?.claim) {
      const first = await this.#start.claim;
      const claim = first?.kind === 'held' ? await this.#whileHeld(first, job, envelope) : first;
      if (claim === 'done') return;
      if (claim === undefined) return await this.#giveBackUnclaimed(envelope);
      // #whileHeld returns only once the answer is no longer `held`.
      if (claim.kind === 'held') return;
      if (claim.kind === 'drop') {
        // The earlier receive of this very message still holds the attempt (its worker may be running
        // it): leave the message alone; it comes back once that claim has expired.
        if (claim.sameMessage) return;
        if (claim.reason === 'terminal' && claim.state === 'dead')
          return await executor.deadLetterFromStore(message, this.#lease, envelope, claim.deadLetterReason ?? 'dead');
        return await executor.dropDuplicate(message, this.#lease, envelope, claim.reason);
      }
      this.#claim = { jobId: envelope.id, attempt: envelope.attempt, messageId: message.messageId };
      this.#held = { ...this.#claim, lease: this.#lease, onCancelled: () => this.#cancel() };
      this.#deps.store?.hold(this.#held);
      lostByClaim = claim.lost;
      this.#throttles = claim.throttles ?? 0;
      const key = this.#start.request?.concurrency?.key;
      if (key !== undefined) {
        this.#heldKey = key;
        this.#deps.keyGate?.hold(key);
      }
    }
    const { definition, stepper } = job;
    this.#envelope = envelope;
    this.#stepper = stepper;
    const { clock } = options;
    const input = jobInput(envelope, definition);
    let snapshot: Snapshot = restoreJob(job.machine, input);
    this.#snapshot = snapshot;
    const events: JobMachineEvent[] = [payload.valid ? { type: 'START', now: clock.now() } : { type: 'INVALID', message: payload.message }];
    // With a store, an attempt was lost only if a claim for it existed and expired; a message merely
    // swallowed by an aborted long poll (received twice, never claimed) is charged nothing.
    const lost =
      lostByClaim === undefined ? wasAttemptLost(message, input.notBeforeMs, payload.valid, clock.now()) : lostByClaim && payload.valid;
    if (lost) {
      events.unshift({ type: 'WORKER_LOST', now: clock.now(), random: options.random() });
      logger.warn(
        { jobId: envelope.id, type: envelope.type, attempt: envelope.attempt, receiveCount: message.receiveCount },
        `received again unsettled: attempt ${envelope.attempt} was lost with its worker (worker_lost)`,
      );
    }
    for (const event of events) {
      const [next, actions] = stepper.step(snapshot, event);
      this.#snapshot = snapshot = next;
      if (next.status === 'done' || actions.length > 0) {
        this.#telemetry ??= this.#startTelemetry(envelope, next.context.attempt);
        await this.#execute(actions, 0);
        return;
      }
    }
    if (snapshot.value !== 'running') return;
    this.#telemetry = this.#startTelemetry(envelope, snapshot.context.attempt);
    await this.#runHandler(definition, envelope, payload.valid ? payload.data : undefined);
  }

  /**
   * Held back by its keys: park and ask again (key-gate.ts) until claimed, or re-send the job for later
   * (`HELD`, no attempt counted; dead instead when past its deadline). Resolves to the claim that came,
   * `undefined` when the store could not be asked, or `done` when the message was settled here.
   */
  async #whileHeld(
    first: Extract<ClaimResult, { kind: 'held' }>,
    job: KnownJob,
    envelope: Envelope,
  ): Promise<ClaimResult | undefined | 'done'> {
    const { keyGate: gate, store, telemetry, options } = this.#deps;
    const request = this.#start?.request;
    telemetry.recordHeld?.(first.reason === 'concurrency' ? 'concurrency' : 'rate', envelope.type);
    let claim: ClaimResult | undefined = first;
    let parkedMs = 0;
    let polls = 0;
    while (claim?.kind === 'held') {
      const held: Extract<ClaimResult, { kind: 'held' }> = claim;
      const plan = gate && request ? gate.plan(held, { concurrencyKey: request.concurrency?.key, parkedMs, polls }) : undefined;
      if (plan === undefined || plan.kind === 'resend') {
        await this.#holdBack(job, envelope, held.reason, plan?.delayMs ?? gate?.resendDelay(held) ?? held.retryAfterMs ?? 1_000);
        return 'done';
      }
      const started = options.clock.now();
      const end = await gate!.park(plan);
      parkedMs += options.clock.now() - started;
      if (plan.key === undefined && held.reason === 'concurrency') polls++;
      // The lease ran out while parked: the message comes back (nothing was claimed, nothing is charged).
      if (!this.#lease.held) return 'done';
      if (end === 'stopping') {
        await this.#holdBack(job, envelope, held.reason, gate!.resendDelay(held));
        return 'done';
      }
      const leaseMs = Math.max(1, this.#lease.expiresAt - options.clock.now());
      claim = await store!
        .claim([{ ...request!, leaseMs }])
        .then((results) => results[0])
        .catch(() => undefined);
    }
    return claim;
  }

  /** Feeds `HELD` to the machine: the job is re-sent after `delayMs` (or dead past its deadline). */
  async #holdBack(job: KnownJob, envelope: Envelope, reason: HoldReason, delayMs: number): Promise<void> {
    const { clock } = this.#deps.options;
    this.#envelope = envelope;
    this.#stepper = job.stepper;
    const snapshot = restoreJob(job.machine, jobInput(envelope, job.definition));
    const [next, actions] = job.stepper.step(snapshot, { type: 'HELD', now: clock.now(), reason, delayMs });
    this.#snapshot = next;
    if (next.value === 'dead' && !(await this.#claimToEnd(envelope))) return;
    this.#telemetry = this.#startTelemetry(envelope, next.context.attempt);
    this.#deps.logger.debug({ jobId: envelope.id, type: envelope.type, reason, delayMs }, 'held back by its keys: re-sent for later');
    await this.#execute(actions, 0);
  }

  /**
   * A held job past its deadline is written dead like any other: that needs its claim, so it is
   * claimed without its keys (it will not run). False when the store says it must not be (dropped here)
   * or could not be asked (the message comes back).
   */
  async #claimToEnd(envelope: Envelope): Promise<boolean> {
    const { store, options, executor } = this.#deps;
    const request = this.#start?.request;
    if (!store || !request) return true;
    const { concurrency: _c, rate: _r, ...plain } = request;
    const claim = await store
      .claim([{ ...plain, leaseMs: Math.max(1, this.#lease.expiresAt - options.clock.now()) }])
      .then((results) => results[0])
      .catch(() => undefined);
    if (claim === undefined || claim.kind === 'held') return false;
    if (claim.kind === 'drop') {
      if (!claim.sameMessage) await executor.dropDuplicate(this.#message, this.#lease, envelope, claim.reason);
      return false;
    }
    this.#claim = { jobId: envelope.id, attempt: envelope.attempt, messageId: this.#message.messageId };
    return true;
  }

  #startTelemetry(envelope: Envelope, attempt: number): AttemptTelemetry {
    return this.#deps.telemetry.startAttempt(attemptInfo(this.#message, envelope, attempt));
  }

  async #runHandler(definition: JobDefinition<any, any>, envelope: Envelope, payload: unknown): Promise<void> {
    const { options, events } = this.#deps;
    const { clock } = options;
    const telemetry = this.#telemetry!;
    const attempt = this.#snapshot!.context.attempt;
    const base = { jobId: envelope.id, type: envelope.type, attempt, messageId: this.#message.messageId };
    const logger = lazyLogger(this.#deps.logger, {
      jobId: envelope.id,
      type: envelope.type,
      attempt,
      trace_id: telemetry.traceId,
      span_id: telemetry.spanId,
      ...(options.logPayloads ? { payload } : {}),
    });
    const ctx = createJobContext({
      envelope,
      attempt,
      abort: this.#abort,
      logger,
      isRunning: () => this.#isRunning(),
      send: (event) => this.#send(event),
      onCheckpointed: () => events.emit('job:checkpointed', base),
    });
    const startedAt = clock.now();
    events.emit('job:started', base);
    if (this.#deps.logger.isLevelEnabled('debug')) logger().debug('attempt started');

    const outcome = await runHandler({
      start: () => telemetry.run(async () => await definition.handler(payload, ctx)),
      clock,
      timeoutMs: attemptTimeoutMs(definition.attemptTimeoutMs, options.visibilityTimeoutSeconds, this.#lease.receivedAt, clock.now()),
      abort: this.#abort,
      onRelease: (release) => {
        this.#settle = release;
      },
    });
    const durationMs = clock.now() - startedAt;
    this.#markHandled();

    if (this.#cancelled && this.#isRunning()) {
      await this.#endCancelled();
      return;
    }
    if (outcome.kind === 'released' || !this.#isRunning()) {
      if (outcome.kind === 'error' && !this.#released && !CheckpointSavedError.is(outcome.error)) {
        logger().debug({ err: outcome.error }, 'the handler threw after it saved a checkpoint; the job continues from the checkpoint');
      }
      return;
    }
    if (outcome.kind === 'ok') {
      await this.#send({ type: 'SUCCEEDED', now: clock.now() }, durationMs);
    } else if (RateLimitedError.is(outcome.error) && this.#claim) {
      // With a store: the key waits on every worker, the job after it, no attempt counted (to a cap).
      const error = outcome.error;
      const request = this.#start?.request;
      const key = error.key ?? request?.rate?.key ?? request?.concurrency?.key;
      logger().info(
        { retryAfterMs: error.retryAfterMs, key },
        `rate limited: ${key ? `key ${key}` : 'this job'} waits ${error.retryAfterMs} ms`,
      );
      await this.#send(
        {
          type: 'THROTTLED',
          now: clock.now(),
          retryAfterMs: error.retryAfterMs,
          throttles: this.#throttles + 1,
          key,
          error: classifyFailure(error).error,
          durationMs,
          random: options.random(),
        },
        durationMs,
      );
      if (this.#snapshot?.value === 'held') this.#deps.telemetry.recordHeld?.('rate', envelope.type);
    } else {
      const failure = classifyFailure(outcome.error);
      logger().warn({ err: toError(outcome.error), durationMs }, `attempt failed: ${failure.error.message}`);
      await this.#send({ type: 'FAILED', now: clock.now(), durationMs, random: options.random(), ...failure }, durationMs);
    }
  }

  #isRunning(): boolean {
    return !this.#over && this.#snapshot?.value === 'running' && this.#snapshot.status === 'active';
  }

  /** A renewal found the job cancelled: abort the handler; its outcome is then not written. */
  #cancel(): void {
    if (!this.#isRunning()) return;
    this.#cancelled = true;
    this.#abort.abort(new JobCancelledError());
    this.#deps.logger.info(
      { jobId: this.#envelope?.id, attempt: this.#claim?.attempt },
      'job cancelled in the store: aborting its handler',
    );
  }

  /** Ends a cancelled attempt (after its handler returned): the message is deleted, the machine fed nothing more. */
  #endCancelled(): Promise<void> {
    const step = this.#chain.then(async () => {
      if (!this.#isRunning()) return;
      this.#over = true;
      await this.#deps.executor.settleCancelled(this.#scope(0));
    });
    this.#chain = step.catch(() => undefined);
    return step;
  }

  /** The store could not be asked: run nothing; make the message visible again so it is claimed once the store answers. */
  async #giveBackUnclaimed(envelope: Envelope): Promise<void> {
    const { transport, queueUrl } = this.#deps.options;
    this.#deps.logger.warn(
      { jobId: envelope.id, messageId: this.#message.messageId },
      'not run: the job store could not claim it; it comes back',
    );
    await transport.changeVisibility(queueUrl, this.#message.receiptHandle, 0).catch(() => undefined);
  }

  /** Feeds one event to the machine and executes the actions, one at a time; an event after the end does nothing. */
  #send(event: JobMachineEvent, durationMs = 0): Promise<{ checkpointed: boolean }> {
    const step = this.#chain.then(async () => {
      if (!this.#isRunning()) return { checkpointed: false };
      const [next, actions] = this.#stepper!.step(this.#snapshot!, event);
      this.#snapshot = next;
      return await this.#execute(actions, durationMs);
    });
    this.#chain = step.catch(() => undefined);
    return step;
  }

  async #execute(actions: readonly JobAction[], durationMs: number): Promise<{ checkpointed: boolean }> {
    return await this.#deps.executor.execute(actions, this.#scope(durationMs));
  }

  #scope(durationMs: number): Parameters<ActionExecutor['execute']>[1] {
    return {
      message: this.#message,
      envelope: this.#envelope!,
      snapshot: this.#snapshot!,
      telemetry: this.#telemetry!,
      durationMs,
      lease: this.#lease,
      claim: this.#claim,
      groupId: this.#groupId,
      onStoreSettled: () => this.#releaseKey(),
    };
  }

  /** Forced stop: abort the handler, give the message back at once. */
  async release(): Promise<void> {
    if (!this.#isRunning()) return;
    this.#released = true;
    this.#abort.abort(new WorkerStoppingError());
    await this.#send({ type: 'RELEASE' });
    this.#settle?.();
  }
}
