/**
 * Starts an {@link Attempt} for each received message, with the message's {@link Lease} (kept from
 * the receive until the settle is confirmed), and gives back messages received while the worker
 * stops. It builds each job type's machine and stepper once (message-intake.ts) and hands every
 * attempt the same dependencies.
 */
import type { Logger } from 'pino';
import { hostname } from 'node:os';
import type { Envelope } from '../queue/envelope.js';
import type { ReceivedMessage } from '../queue/transport.js';
import { toError } from '../shared/errors.js';
import type { ClaimRequest, ClaimResult } from '../store/job-store.js';
import { storedPayload } from '../store/payload-policy.js';
import type { PayloadKeys } from '../machines/job-keys.js';
import type { ActionExecutor } from './action-executor.js';
import { Attempt, type AttemptDeps } from './attempt.js';
import type { WorkerEvents } from './events.js';
import { Lease } from './lease.js';
import { knownJobs, takeIn, type Intake } from './message-intake.js';
import { DEFAULT_REDACT_PATHS } from './logger.js';
import type { StoreLink } from './store-link.js';
import type { ResolvedWorkerOptions } from './worker-options.js';

/** A payload's concurrency and rate keys as its claim carries them (key-gate.ts, docs/keys.md). */
function claimKeys(keys: PayloadKeys | undefined): Pick<ClaimRequest, 'concurrency' | 'rate'> {
  return { ...(keys?.concurrency ? { concurrency: keys.concurrency } : {}), ...(keys?.rate ? { rate: keys.rate } : {}) };
}

/** One message being processed; the worker keeps these to release them on a forced stop. */
export interface InFlightJob {
  readonly messageId: string;
  /** Settles when the message is acked, re-sent, dead-lettered or released. */
  readonly done: Promise<void>;
  /** Settles when no handler runs for it any more (its settle may still be under way); never later than `done`. */
  readonly handled: Promise<void>;
  /** Aborts the handler and gives the job back to the queue at once, unless it already settled. */
  release(): Promise<void>;
}

export class JobRunner {
  readonly #options: ResolvedWorkerOptions;
  readonly #attemptDeps: AttemptDeps;
  readonly #executor: ActionExecutor;
  readonly #events: WorkerEvents;
  readonly #logger: Logger;
  readonly #store: StoreLink | undefined;
  readonly #worker = `${hostname()}:${process.pid}`;

  constructor(
    options: ResolvedWorkerOptions,
    /** What each attempt is given, but the options and intake rules (made here from `options`). */
    deps: Omit<AttemptDeps, 'options' | 'intake'>,
  ) {
    this.#options = options;
    this.#store = deps.store;
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
    return this.#begin(new Attempt(this.#attemptDeps, message, this.#lease(message, receivedAt)), message);
  }

  /**
   * Starts a receive batch. With a store, every message that is a job is claimed first, the whole
   * batch in one round trip; each attempt waits for its own answer before anything runs.
   */
  startBatch(messages: readonly ReceivedMessage[], receivedAt: number): InFlightJob[] {
    const store = this.#store;
    if (!store) return messages.map((message) => this.start(message, receivedAt));
    const leases = messages.map((message) => this.#lease(message, receivedAt));
    const intakes = messages.map((message) => takeIn(message, this.#attemptDeps.intake));
    const requests: ClaimRequest[] = [];
    const slot = new Map<number, number>();
    intakes.forEach((intake, index) => {
      if (!intake.ok) return;
      slot.set(index, requests.length);
      const keys = intake.payload.valid ? intake.payload.keys : undefined;
      requests.push({ ...this.#claimRequest(messages[index]!, intake.envelope, leases[index]!.expiresAt), ...claimKeys(keys) });
    });
    const claims: Promise<ClaimResult[] | undefined> =
      requests.length === 0 ? Promise.resolve([]) : store.claim(requests).catch(() => undefined);
    return messages.map((message, index) => {
      const at = slot.get(index);
      const claim = at === undefined ? undefined : claims.then((results) => results?.[at]);
      const request = at === undefined ? undefined : requests[at];
      return this.#begin(
        new Attempt(this.#attemptDeps, message, leases[index]!, { intake: intakes[index] as Intake, claim, request }),
        message,
      );
    });
  }

  #claimRequest(message: ReceivedMessage, envelope: Envelope, leaseEnds: number): ClaimRequest {
    const policy = this.#options.storePayloads ?? { enabled: true, redactPaths: DEFAULT_REDACT_PATHS };
    const traceparent = message.attributes.traceparent;
    const traceId = traceparent?.split('-')[1];
    return {
      jobId: envelope.id,
      type: envelope.type,
      attempt: envelope.attempt,
      messageId: message.messageId,
      leaseMs: Math.max(1, leaseEnds - this.#options.clock.now()),
      worker: this.#worker,
      row: {
        id: envelope.id,
        type: envelope.type,
        idempotencyKey: envelope.idempotencyKey,
        createdAt: Date.parse(envelope.createdAt),
        scheduledAt: envelope.notBefore === undefined ? undefined : Date.parse(envelope.notBefore),
        ...storedPayload(envelope.payload, policy),
        ...(traceId && /^[0-9a-f]{32}$/.test(traceId) ? { traceId } : {}),
      },
    };
  }

  #begin(attempt: Attempt, message: ReceivedMessage): InFlightJob {
    const done = attempt.run().catch((error: unknown) => {
      this.#events.emit('worker:error', { error: toError(error), during: `processing message ${message.messageId}` });
      this.#logger.error({ err: error, messageId: message.messageId }, 'processing a message failed; it will be redelivered');
    });
    return { messageId: message.messageId, done, handled: attempt.handled, release: () => attempt.release() };
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
