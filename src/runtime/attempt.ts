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
import { CheckpointSavedError, classifyFailure, WorkerStoppingError } from './job-error.js';
import type { Lease } from './lease.js';
import { wasAttemptLost } from './lost-attempt.js';
import { jobInput, takeIn, type IntakeRules } from './message-intake.js';
import type { ResolvedWorkerOptions } from './worker-options.js';

type Snapshot = SnapshotFrom<JobMachine>;

/** What every attempt needs, handed over by the runner once. */
export interface AttemptDeps {
  options: Pick<ResolvedWorkerOptions, 'clock' | 'random' | 'visibilityTimeoutSeconds' | 'logPayloads'>;
  intake: IntakeRules;
  executor: ActionExecutor;
  events: WorkerEvents;
  telemetry: WorkerTelemetry;
  logger: Logger;
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
  /** Serialises transitions: a heartbeat's extension must not interleave with a settle's actions. */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(deps: AttemptDeps, message: ReceivedMessage, lease: Lease) {
    this.#deps = deps;
    this.#message = message;
    this.#lease = lease;
  }

  /** Processes the message; the lease is kept until whatever settles it is confirmed (or fails). */
  async run(): Promise<void> {
    this.#lease.start();
    try {
      await this.#process();
    } finally {
      this.#lease.stop();
    }
  }

  async #process(): Promise<void> {
    const { options, executor, logger } = this.#deps;
    const message = this.#message;
    const intake = takeIn(message, this.#deps.intake);
    if (!intake.ok) return await executor.deadLetterInvalid(message, this.#lease, intake.reason, intake.text, intake.envelope);
    const { envelope, job, payload } = intake;
    const { definition, stepper } = job;
    this.#envelope = envelope;
    this.#stepper = stepper;
    const { clock } = options;
    const input = jobInput(envelope, definition);
    let snapshot: Snapshot = restoreJob(job.machine, input);
    this.#snapshot = snapshot;
    const events: JobMachineEvent[] = [payload.valid ? { type: 'START', now: clock.now() } : { type: 'INVALID', message: payload.message }];
    if (wasAttemptLost(message, input.notBeforeMs, payload.valid, clock.now())) {
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

    if (outcome.kind === 'released' || !this.#isRunning()) {
      if (outcome.kind === 'error' && !this.#released && !CheckpointSavedError.is(outcome.error)) {
        logger().debug({ err: outcome.error }, 'the handler threw after it saved a checkpoint; the job continues from the checkpoint');
      }
      return;
    }
    if (outcome.kind === 'ok') {
      await this.#send({ type: 'SUCCEEDED', now: clock.now() }, durationMs);
    } else {
      const failure = classifyFailure(outcome.error);
      logger().warn({ err: toError(outcome.error), durationMs }, `attempt failed: ${failure.error.message}`);
      await this.#send({ type: 'FAILED', now: clock.now(), durationMs, random: options.random(), ...failure }, durationMs);
    }
  }

  #isRunning(): boolean {
    return this.#snapshot?.value === 'running' && this.#snapshot.status === 'active';
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
    return await this.#deps.executor.execute(actions, {
      message: this.#message,
      envelope: this.#envelope!,
      snapshot: this.#snapshot!,
      telemetry: this.#telemetry!,
      durationMs,
      lease: this.#lease,
    });
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
