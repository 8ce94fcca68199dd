/**
 * The producer side: `enqueueJob` / `enqueueJobs`. Used by the API process and by the worker (retries go
 * through the runtime, but any process that enqueues uses this module), so both share one wire format;
 * its sends and the runtime's go through the same {@link SendBatcher}.
 */
import type { ZodType } from 'zod';
import { systemClock, type Clock } from '../shared/clock.js';
import { delaySecondsFor, notBeforeFor } from './delay.js';
import { encodeEnvelope, formatIssues, newEnvelope, type Envelope } from './envelope.js';
import { InvalidJobError, TransportError } from '../shared/errors.js';
import { jobAttributes, type AttributeHook } from './attributes.js';
import { messageBytes } from './limits.js';
import { SendBatcher, type SendRetry } from './send-batcher.js';
import { type SendTracer, untracedSend } from './send-tracing.js';
import { SQS_LIMITS, type JobTransport } from './transport.js';

/** A job to enqueue. */
export interface JobRequest<Payload = unknown> {
  type: string;
  payload: Payload;
  /** Passed to the handler as `ctx.idempotencyKey`. */
  idempotencyKey?: string;
  /** Wait before the first attempt; over 900 s the message hops (`notBefore`). */
  delayMs?: number;
}

/** The minimum a registered job type offers for validation (a `JobDefinition` fits). */
export interface JobSchemaEntry {
  type: string;
  schema: ZodType;
}

export interface JobQueueOptions {
  transport: JobTransport;
  queueUrl: string;
  /** For telemetry (`messaging.destination.name`). @defaultValue the last path segment of `queueUrl` */
  queueName?: string;
  /** Registered types: their payloads are validated before sending; other types are rejected. */
  jobs?: Iterable<JobSchemaEntry>;
  /** @defaultValue 1 MiB (AWS). Set 262144 for servers that enforce 256 KiB. */
  maxMessageBytes?: number;
  clock?: Clock;
  /** Extra message attributes, e.g. a signature. */
  attributes?: AttributeHook;
  /**
   * Wraps each send (the PRODUCER span hook). @defaultValue no tracing here; the package's `JobQueue`
   * (src/telemetry/instrumented.ts) defaults to OpenTelemetry's `withProducerSpan`.
   */
  traceSend?: SendTracer;
}

/** The producer's sends: 3 tries, retried at once (the caller is waiting; the SDK has already backed off). */
const PRODUCER_SEND_RETRY: SendRetry = { tries: 3, backoff: { baseMs: 0 } };

export interface PreparedJob {
  envelope: Envelope;
  body: string;
  delaySeconds: number;
  attributes: Record<string, string>;
}

/** Sends jobs to one queue. Construct once per process; it holds no connections of its own. */
export class JobQueue {
  readonly queueUrl: string;
  readonly queueName: string;
  readonly #transport: JobTransport;
  readonly #schemas: Map<string, ZodType> | undefined;
  readonly #maxBytes: number;
  readonly #clock: Clock;
  readonly #attributes: AttributeHook | undefined;
  readonly #traceSend: SendTracer;

  constructor(options: JobQueueOptions) {
    this.#transport = options.transport;
    this.queueUrl = options.queueUrl;
    this.queueName = options.queueName ?? options.queueUrl.split('/').pop() ?? options.queueUrl;
    this.#schemas = options.jobs ? new Map([...options.jobs].map((job) => [job.type, job.schema])) : undefined;
    this.#maxBytes = options.maxMessageBytes ?? SQS_LIMITS.maxMessageBytes;
    this.#clock = options.clock ?? systemClock;
    this.#attributes = options.attributes;
    this.#traceSend = options.traceSend ?? untracedSend;
  }

  /** Validates and sends one job; resolves to its id. Bad input throws `InvalidJobError` before any request. */
  async enqueueJob<Payload>(job: JobRequest<Payload>, signal?: AbortSignal): Promise<string> {
    const [id] = await this.enqueueJobs([job], signal);
    return id!;
  }

  /**
   * Validates every job first (nothing is sent if one is bad), then sends them through a
   * {@link SendBatcher}: SendMessageBatch of up to 10, each under the batch byte limit, one request
   * at a time. Resolves to the ids in order. Entries that fail transiently are retried; if any job
   * still fails, throws one `TransportError` with the first failure's code (retryable only when every
   * failure was).
   */
  async enqueueJobs(jobs: ReadonlyArray<JobRequest>, signal?: AbortSignal): Promise<string[]> {
    const prepared = jobs.map((job, index) => this.prepare(job, jobs.length > 1 ? `jobs[${index}].` : ''));
    const sender = new SendBatcher({
      transport: this.#transport,
      clock: this.#clock,
      maxMessageBytes: this.#maxBytes,
      retry: PRODUCER_SEND_RETRY,
      alwaysBatch: true,
      maxInFlight: 1,
      ...(signal ? { signal } : {}),
    });
    const sends = prepared.map((job) =>
      this.#traceSend(
        { destination: this.queueName, jobId: job.envelope.id, jobType: job.envelope.type, attempt: 1, operation: 'send' },
        // Called at once: every job is queued before the flush below.
        (carrier) =>
          sender.send(this.queueUrl, { body: job.body, delaySeconds: job.delaySeconds, attributes: { ...carrier, ...job.attributes } }),
      ),
    );
    sender.flush(this.queueUrl);
    const failed = (await Promise.allSettled(sends)).flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (failed.length > 0) throw enqueueError(failed);
    return prepared.map((p) => p.envelope.id);
  }

  /** Builds the envelope, body and attributes for a job, or throws `InvalidJobError` naming the field. */
  prepare(job: JobRequest, prefix = ''): PreparedJob {
    if (typeof job?.type !== 'string' || job.type.length === 0) {
      throw new InvalidJobError('invalid_option', `${prefix}type`, `${prefix}type: expected a non-empty string`);
    }
    if (this.#schemas) validateJob(this.#schemas, job, prefix);
    const payload: unknown = job.payload;
    const delayMs = job.delayMs ?? 0;
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      throw new InvalidJobError(
        'invalid_option',
        `${prefix}delayMs`,
        `${prefix}delayMs: expected a number ≥ 0, got ${String(job.delayMs)}`,
      );
    }
    if (
      job.idempotencyKey !== undefined &&
      (typeof job.idempotencyKey !== 'string' || job.idempotencyKey.length === 0 || job.idempotencyKey.length > 256)
    ) {
      throw new InvalidJobError(
        'invalid_option',
        `${prefix}idempotencyKey`,
        `${prefix}idempotencyKey: expected a string of 1 to 256 characters`,
      );
    }
    const now = this.#clock.now();
    const envelope = newEnvelope({
      type: job.type,
      payload,
      idempotencyKey: job.idempotencyKey,
      notBefore: notBeforeFor(delayMs, now),
      now,
    });
    return this.#finish(envelope, delaySecondsFor(delayMs), prefix);
  }

  #finish(envelope: Envelope, delaySeconds: number, prefix: string): PreparedJob {
    const body = encodeEnvelope(envelope);
    const attributes = jobAttributes(body, envelope.type, this.#attributes);
    // Room for traceparent/tracestate added at send time.
    const bytes = messageBytes({ body, attributes }) + 200;
    if (bytes > this.#maxBytes) {
      throw new InvalidJobError(
        'too_large',
        `${prefix}payload`,
        `${prefix}payload: the message would be ${bytes} bytes, over the ${this.#maxBytes}-byte limit`,
      );
    }
    return { envelope, body, delaySeconds, attributes };
  }
}

/**
 * Checks a job against the registered schemas: an unknown type or a payload that fails its schema
 * throws `InvalidJobError` naming the field (`payload.calendarId: expected string, received number`).
 */
export function validateJob(schemas: ReadonlyMap<string, ZodType>, job: JobRequest, prefix = ''): void {
  const schema = schemas.get(job.type);
  if (!schema) {
    const known = [...schemas.keys()].sort().join(', ');
    throw new InvalidJobError('unknown_type', `${prefix}type`, `${prefix}type: unknown job type "${job.type}" (known: ${known})`);
  }
  const result = schema.safeParse(job.payload);
  if (!result.success) {
    const message = formatIssues(result.error, `${prefix}payload`);
    throw new InvalidJobError('invalid_payload', message.slice(0, message.indexOf(':')), message);
  }
}

/** One error for the jobs that could not be sent: the first failure, counted and kept as the cause. */
function enqueueError(failed: unknown[]): unknown {
  const [first] = failed;
  if (!TransportError.is(first)) return first;
  return new TransportError(`could not enqueue ${failed.length} job(s): ${first.message}`, {
    code: first.code,
    retryable: failed.every((error) => TransportError.is(error) && error.retryable),
    cause: first,
  });
}
