/**
 * Starts an {@link Attempt} for each received message, with the message's {@link Lease} (kept from
 * the receive until the settle is confirmed), and gives back messages received while the worker
 * stops. It builds each job type's machine and stepper once (message-intake.ts) and hands every
 * attempt the same dependencies.
 */
import type { Logger } from 'pino';
import type { ReceivedMessage } from '../queue/transport.js';
import { toError } from '../shared/errors.js';
import type { ActionExecutor } from './action-executor.js';
import { Attempt, type AttemptDeps } from './attempt.js';
import type { WorkerTelemetry } from './attempt-telemetry.js';
import type { WorkerEvents } from './events.js';
import { Lease } from './lease.js';
import { knownJobs } from './message-intake.js';
import type { ResolvedWorkerOptions } from './worker-options.js';

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
  readonly #attemptDeps: AttemptDeps;
  readonly #executor: ActionExecutor;
  readonly #events: WorkerEvents;
  readonly #logger: Logger;

  constructor(
    options: ResolvedWorkerOptions,
    deps: { executor: ActionExecutor; events: WorkerEvents; telemetry: WorkerTelemetry; logger: Logger },
  ) {
    this.#options = options;
    this.#executor = deps.executor;
    this.#events = deps.events;
    this.#logger = deps.logger;
    this.#attemptDeps = { options, intake: { options, jobs: knownJobs(options.jobs) }, ...deps };
  }

  /**
   * Starts processing; the returned job settles on its own. Never throws. `receivedAt` is when SQS
   * started the message's visibility timeout (a conservative estimate, epoch ms).
   */
  start(message: ReceivedMessage, receivedAt: number): InFlightJob {
    const attempt = new Attempt(this.#attemptDeps, message, this.#lease(message, receivedAt));
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
}
