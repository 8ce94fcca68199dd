/**
 * Runs one received message through its job machine: decode, restore the machine from the envelope,
 * feed it events with a pure transition (XState's `transition()` semantics, see job-stepper.ts), run
 * the handler, and execute the actions the machine returns against the queue (see
 * {@link ActionExecutor}). The message's {@link Lease} is kept from the receive until the settle is
 * confirmed.
 */
import type { Logger } from 'pino';
import type { SnapshotFrom } from 'xstate';
import type { JobContext, JobDefinition } from '../machines/define-job.js';
import { createJobMachine, restoreJob, type JobMachine, type JobMachineEvent } from '../machines/job-machine.js';
import { createJobStepper, type JobActions, type JobStepper } from '../machines/job-stepper.js';
import { decodeEnvelope, formatIssues, type Envelope } from '../queue/envelope.js';
import { toError } from '../shared/errors.js';
import type { ReceivedMessage } from '../queue/transport.js';
import type { ActionExecutor } from './action-executor.js';
import { Lease, maxAttemptMs } from './lease.js';
import type { WorkerEvents } from './events.js';
import { AttemptTimeoutError, CheckpointNotSavedError, CheckpointSavedError, classifyFailure, WorkerStoppingError } from './job-error.js';
import type { AttemptTelemetry, WorkerTelemetry } from './attempt-telemetry.js';
import type { ResolvedWorkerOptions } from './worker-options.js';

type Snapshot = SnapshotFrom<JobMachine>;
type Actions = JobActions;

interface DefinitionEntry {
  definition: JobDefinition<any, any>;
  machine: JobMachine;
  stepper: JobStepper;
}

/** One message being processed; the worker keeps these to release them on a forced stop. */
export interface InFlightJob {
  readonly messageId: string;
  /** Settles when the message is acked, re-sent, dead-lettered or released. */
  readonly done: Promise<void>;
  /** Aborts the handler and gives the job back to the queue at once, unless it already settled. */
  release(): Promise<void>;
}

export class JobRunner {
  readonly #options: ResolvedWorkerOptions;
  readonly #definitions: Map<string, DefinitionEntry>;
  readonly #executor: ActionExecutor;
  readonly #events: WorkerEvents;
  readonly #telemetry: WorkerTelemetry;
  readonly #logger: Logger;

  constructor(
    options: ResolvedWorkerOptions,
    deps: { executor: ActionExecutor; events: WorkerEvents; telemetry: WorkerTelemetry; logger: Logger },
  ) {
    this.#options = options;
    this.#definitions = new Map(
      options.jobs.map((definition) => {
        const machine = createJobMachine(definition.type);
        return [definition.type, { definition, machine, stepper: createJobStepper(machine) }];
      }),
    );
    this.#executor = deps.executor;
    this.#events = deps.events;
    this.#telemetry = deps.telemetry;
    this.#logger = deps.logger;
  }

  /**
   * Starts processing; the returned job settles on its own. Never throws. `receivedAt` is when SQS
   * started the message's visibility timeout (a conservative estimate, epoch ms).
   */
  start(message: ReceivedMessage, receivedAt: number): InFlightJob {
    const attempt = new Attempt(this, message, this.#lease(message, receivedAt));
    const done = attempt.run().catch((error: unknown) => {
      this.#events.emit('worker:error', { error: toError(error), during: `processing message ${message.messageId}` });
      this.#logger.error({ err: error, messageId: message.messageId }, 'processing a message failed; it will be redelivered');
    });
    return { messageId: message.messageId, done, release: () => attempt.release() };
  }

  /** Gives back a message received while stopping, before any job ran (no attempt is charged). */
  async giveBack(message: ReceivedMessage, receivedAt: number): Promise<void> {
    const lease = this.#lease(message, receivedAt);
    try {
      await this.#executor.giveBack(message, lease);
    } catch (error) {
      this.#logger.warn(
        { err: error, messageId: message.messageId },
        'could not give back a message received while stopping; it comes back after its visibility timeout',
      );
    }
  }

  #lease(message: ReceivedMessage, receivedAt: number): Lease {
    return new Lease({
      transport: this.#options.transport,
      queueUrl: this.#options.queueUrl,
      receiptHandle: message.receiptHandle,
      messageId: message.messageId,
      clock: this.#options.clock,
      visibilityTimeoutSeconds: this.#options.visibilityTimeoutSeconds,
      receivedAt,
      logger: this.#logger,
      onError: (error, during) => this.#events.emit('worker:error', { error, during }),
    });
  }

  /** @internal */ get options(): ResolvedWorkerOptions {
    return this.#options;
  }
  /** @internal */ get executor(): ActionExecutor {
    return this.#executor;
  }
  /** @internal */ get events(): WorkerEvents {
    return this.#events;
  }
  /** @internal */ get telemetry(): WorkerTelemetry {
    return this.#telemetry;
  }
  /** @internal */ get logger(): Logger {
    return this.#logger;
  }
  /** @internal */ lookup(type: string): DefinitionEntry | undefined {
    return this.#definitions.get(type);
  }
}

/** The life of one message in this worker. */
class Attempt {
  readonly #runner: JobRunner;
  readonly #message: ReceivedMessage;
  readonly #lease: Lease;
  #snapshot: Snapshot | undefined;
  #stepper: JobStepper | undefined;
  #envelope: Envelope | undefined;
  #telemetry: AttemptTelemetry | undefined;
  /** Created on first use: most handlers never read ctx.signal, and an AbortController per job shows in profiles. */
  #controller: AbortController | undefined;
  #abortReason: unknown;
  #settle: ((outcome: 'released') => void) | undefined;
  #released = false;
  /** Serialises transitions: a heartbeat's extension must not interleave with a settle's actions. */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(runner: JobRunner, message: ReceivedMessage, lease: Lease) {
    this.#runner = runner;
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
    const { options, executor } = this.#runner;
    const message = this.#message;
    const lease = this.#lease;
    const signatureProblem = options.verifyMessage ? safeVerify(options.verifyMessage, message) : undefined;
    if (signatureProblem !== undefined) {
      return await executor.deadLetterInvalid(message, lease, 'bad_signature', `signature check failed: ${signatureProblem}`);
    }
    const decoded = decodeEnvelope(message.body, { maxBytes: options.maxMessageBytes });
    if (!decoded.ok) return await executor.deadLetterInvalid(message, lease, decoded.reason, decoded.message);
    const envelope = decoded.envelope;
    this.#envelope = envelope;
    const entry = this.#runner.lookup(envelope.type);
    if (!entry)
      return await executor.deadLetterInvalid(message, lease, 'unknown_type', `type: unknown job type "${envelope.type}"`, envelope);
    const { definition, machine } = entry;
    this.#stepper = entry.stepper;
    const clock = options.clock;

    let snapshot: Snapshot = restoreJob(machine, {
      attempt: envelope.attempt,
      history: envelope.history,
      checkpoint: envelope.checkpoint,
      createdAtMs: Date.parse(envelope.createdAt),
      notBeforeMs: envelope.notBefore === undefined ? undefined : Date.parse(envelope.notBefore),
      policy: definition.retry,
      deadlineMs: definition.deadlineMs,
    });
    this.#snapshot = snapshot;
    const parsed = safeParsePayload(definition, envelope.payload);
    const validation: JobMachineEvent = parsed.success ? { type: 'START', now: clock.now() } : { type: 'INVALID', message: parsed.message };
    // A message received again means a worker took it and never settled it: one lost attempt, whatever
    // the count says (a dead worker's long poll left open can be handed the message too, so the count
    // over-states). The machine re-sends the job as the next attempt, so each message is lost once.
    // Nothing was lost if the handler could not have run: a payload that fails its schema, or a hop
    // message whose notBefore is still ahead — or was still ahead when the one earlier receive of it
    // happened (ApproximateFirstReceiveTimestamp), so that receive could only have deferred it.
    const notBeforeMs = envelope.notBefore === undefined ? undefined : Date.parse(envelope.notBefore);
    const tooEarly = notBeforeMs !== undefined && notBeforeMs > clock.now();
    const earlierReceiveTooEarly =
      notBeforeMs !== undefined &&
      message.receiveCount === 2 &&
      message.firstReceivedAt !== undefined &&
      message.firstReceivedAt < notBeforeMs;
    const lost: JobMachineEvent[] =
      message.receiveCount > 1 && parsed.success && !tooEarly && !earlierReceiveTooEarly
        ? [{ type: 'WORKER_LOST', now: clock.now(), random: options.random() }]
        : [];
    if (lost.length > 0) {
      this.#runner.logger.warn(
        { jobId: envelope.id, type: envelope.type, attempt: envelope.attempt, receiveCount: message.receiveCount },
        `received again unsettled: attempt ${envelope.attempt} was lost with its worker (worker_lost)`,
      );
    }
    for (const event of [...lost, validation]) {
      const [next, actions]: [Snapshot, Actions] = entry.stepper.step(snapshot, event);
      this.#snapshot = snapshot = next;
      if (next.status === 'done' || actions.length > 0) {
        this.#telemetry ??= this.#startTelemetry(envelope, next.context.attempt);
        await this.#execute(actions, 0);
        return;
      }
    }
    if (snapshot.value !== 'running') return;
    this.#telemetry = this.#startTelemetry(envelope, snapshot.context.attempt);
    await this.#runHandler(definition, envelope, parsed.success ? parsed.data : undefined);
  }

  /**
   * The attempt's time limit: `attemptTimeoutMs`, but never past SQS's 12-hour cap on the message's
   * visibility (less one visibility period for the settle), counted from the receive.
   */
  #timeoutMs(definition: JobDefinition<any, any>): number {
    const { options } = this.#runner;
    const sinceReceive = options.clock.now() - this.#lease.receivedAt;
    return Math.max(0, Math.min(definition.attemptTimeoutMs, maxAttemptMs(options.visibilityTimeoutSeconds) - sinceReceive));
  }

  #startTelemetry(envelope: Envelope, attempt: number): AttemptTelemetry {
    return this.#runner.telemetry.startAttempt({
      jobType: envelope.type,
      jobId: envelope.id,
      attempt,
      messageId: this.#message.messageId,
      attributes: this.#message.attributes,
      ...(attempt === 1 && envelope.checkpoint === undefined ? { enqueuedAtMs: this.#message.sentTimestamp } : {}),
    });
  }

  async #runHandler(definition: JobDefinition<any, any>, envelope: Envelope, payload: unknown): Promise<void> {
    const { options, events } = this.#runner;
    const { clock } = options;
    const telemetry = this.#telemetry!;
    const attempt = this.#snapshot!.context.attempt;
    const base = { jobId: envelope.id, type: envelope.type, attempt, messageId: this.#message.messageId };
    // The per-attempt logger is built when first used (a pino child with redaction costs a few µs).
    let attemptLogger: Logger | undefined;
    const logger = (): Logger =>
      (attemptLogger ??= this.#runner.logger.child({
        jobId: envelope.id,
        type: envelope.type,
        attempt,
        trace_id: telemetry.traceId,
        span_id: telemetry.spanId,
        ...(options.logPayloads ? { payload } : {}),
      }));
    const attemptSignal = (): AbortSignal => this.#signal();
    const startedAt = clock.now();
    events.emit('job:started', base);
    if (this.#runner.logger.isLevelEnabled('debug')) logger().debug('attempt started');

    // The lease is extended by this.#lease from the receive to the confirmed settle.
    let timeoutTimer: unknown;
    const timeoutMs = this.#timeoutMs(definition);
    const outcome = await new Promise<{ kind: 'ok' } | { kind: 'error'; error: unknown } | { kind: 'released' }>((resolve) => {
      this.#settle = () => resolve({ kind: 'released' });
      timeoutTimer = clock.setTimeout(() => {
        const error = new AttemptTimeoutError(timeoutMs);
        this.#abort(error);
        resolve({ kind: 'error', error });
      }, timeoutMs);
      const ctx: JobContext<unknown> = {
        jobId: envelope.id,
        type: envelope.type,
        attempt,
        get signal() {
          return attemptSignal();
        },
        get logger() {
          return logger();
        },
        idempotencyKey: envelope.idempotencyKey,
        checkpoint: envelope.checkpoint,
        saveCheckpoint: async (state) => {
          if (!this.#isRunning()) throw new CheckpointSavedError();
          // Resolves only once the continuation is in the queue: an event queued behind a terminal one,
          // or a continuation that could not be sent, rejects.
          const result = await this.#send({ type: 'CHECKPOINT', state });
          if (!result.checkpointed) throw new CheckpointNotSavedError();
          events.emit('job:checkpointed', base);
          // Continue-as-new: the continuation is already in the queue; stop this run at once.
          this.#abort(new CheckpointSavedError());
        },
        heartbeat: async () => {
          if (this.#isRunning()) await this.#send({ type: 'LEASE_DUE' });
        },
      };
      const running = telemetry.run(async () => await definition.handler(payload, ctx));
      running.then(
        () => resolve({ kind: 'ok' }),
        (error: unknown) => resolve({ kind: 'error', error }),
      );
    });
    clock.clearTimeout(timeoutTimer);
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

  #signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#abortReason !== undefined) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  #abort(reason: unknown): void {
    if (this.#abortReason !== undefined) return;
    this.#abortReason = reason;
    this.#controller?.abort(reason);
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

  async #execute(actions: Actions, durationMs: number): Promise<{ checkpointed: boolean }> {
    return await this.#runner.executor.execute(actions, {
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
    this.#abort(new WorkerStoppingError());
    await this.#send({ type: 'RELEASE' });
    this.#settle?.('released');
  }
}

/** A schema whose refine or transform throws (e.g. `new URL(x)`) is an invalid payload, not a crash. */
function safeParsePayload(
  definition: JobDefinition<any, any>,
  payload: unknown,
): { success: true; data: unknown } | { success: false; message: string } {
  try {
    const parsed = definition.schema.safeParse(payload);
    return parsed.success ? { success: true, data: parsed.data } : { success: false, message: formatIssues(parsed.error, 'payload') };
  } catch (error) {
    const thrown = toError(error);
    return { success: false, message: `payload: the schema threw ${thrown.name}: ${thrown.message}`.slice(0, 2000) };
  }
}

function safeVerify(
  verify: (body: string, attributes: Record<string, string>) => string | undefined,
  message: ReceivedMessage,
): string | undefined {
  try {
    return verify(message.body, message.attributes);
  } catch (error) {
    return `verifier threw: ${(error as Error).message}`;
  }
}
