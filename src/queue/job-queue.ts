/**
 * The producer side: `enqueue` / `enqueueMany` (with whether each job was a duplicate) and the id-only
 * `enqueueJob` / `enqueueJobs`. Used by the API process and by the worker (retries go through the
 * runtime, but any process that enqueues uses this module), so both share one wire format; its sends
 * and the runtime's go through the same {@link SendBatcher}.
 *
 * With a {@link JobRecorder} (the job store behind a port: this layer may not import the store), every
 * job is recorded before it is sent: a job whose idempotency key (per type) is already recorded is not
 * sent, and the first job's id is returned for it. A recorded job whose send then fails is forgotten, so
 * a later retry with the same key sends it.
 */
import type { ZodType } from 'zod';
import { systemClock, type Clock } from '../shared/clock.js';
import { delaySecondsFor, notBeforeFor } from './delay.js';
import { encodeEnvelope, formatIssues, newEnvelope, type Envelope } from './envelope.js';
import { ATTRIBUTE_ROOM_BYTES, fitEnvelope } from './envelope-fit.js';
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
  /**
   * The job's id (a UUID), for a producer that derives it (a schedule's tick: one id per tick, so a tick
   * sent twice is one job to the store). @defaultValue a random UUID
   */
  id?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** What {@link JobQueue.enqueue} resolves to: the job's id, and whether a job with its idempotency key already existed. */
export interface EnqueueResult {
  id: string;
  /** True when nothing was sent: `id` is the existing job's (only with a {@link JobRecorder}). */
  deduplicated: boolean;
}

/** A job as the producer records it before sending. Times are epoch milliseconds. */
export interface RecordedJob {
  id: string;
  type: string;
  idempotencyKey?: string | undefined;
  createdAt: number;
  /** Not before this time (a delayed enqueue). */
  scheduledAt?: number | undefined;
  /** As enqueued; the recorder applies its own payload policy (redaction, size cap). */
  payload: unknown;
  /** The job type's `coalesce` key of this payload: while a pending job holds it, this one is not recorded. */
  coalesceKey?: string | undefined;
  /** The payload's concurrency and rate keys, so their rows are ready for its claims. */
  keys?: readonly string[] | undefined;
}

/**
 * Where the producer records jobs before sending them (src/ops/job-recorder.ts adapts a `JobStore`).
 * `record` is one round trip for a whole call, one result per job in order: `created: false` means the
 * job's type and idempotency key (or its id) were recorded already, and `id` is that job's.
 */
export interface JobRecorder {
  record(jobs: readonly RecordedJob[]): Promise<Array<{ id: string; created: boolean }>>;
  /** Removes recorded jobs that could not be sent (best effort: the producer rethrows the send's error). */
  forget(ids: readonly string[]): Promise<void>;
}

/** A key of a payload (a job definition's key function). */
type PayloadKey = (payload: any) => string;

/** The minimum a registered job type offers for validation (a `JobDefinition` fits). */
export interface JobSchemaEntry {
  type: string;
  schema: ZodType;
  /** Its per-key options (a `JobDefinition`'s `keys`, docs/keys.md): what the producer computes from a payload. */
  keys?: {
    readonly concurrency?: { readonly key: PayloadKey } | undefined;
    readonly rateLimit?: { readonly key: PayloadKey } | undefined;
    readonly coalesce?: { readonly key: PayloadKey } | undefined;
    readonly fairnessKey?: PayloadKey | undefined;
  };
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
  /** Records each job before it is sent, and dedups by idempotency key. @defaultValue none: every job is sent */
  recorder?: JobRecorder;
  /** SendMessageBatch requests one call keeps in flight (the scheduler sends hundreds of ticks at once). @defaultValue 1 */
  maxSendsInFlight?: number;
}

/** The producer's sends: 3 tries, retried at once (the caller is waiting; the SDK has already backed off). */
const PRODUCER_SEND_RETRY: SendRetry = { tries: 3, backoff: { baseMs: 0 } };

export interface PreparedJob {
  envelope: Envelope;
  body: string;
  delaySeconds: number;
  attributes: Record<string, string>;
  /** What a {@link JobRecorder} records of it. */
  record: RecordedJob;
  /** The SQS MessageGroupId (the type's `fairnessKey`). */
  groupId?: string | undefined;
}

/** Sends jobs to one queue. Construct once per process; it holds no connections of its own. */
export class JobQueue {
  readonly queueUrl: string;
  readonly queueName: string;
  readonly #transport: JobTransport;
  readonly #schemas: Map<string, ZodType> | undefined;
  readonly #keys: Map<string, NonNullable<JobSchemaEntry['keys']>>;
  readonly #maxBytes: number;
  readonly #clock: Clock;
  readonly #attributes: AttributeHook | undefined;
  readonly #traceSend: SendTracer;
  readonly #recorder: JobRecorder | undefined;
  readonly #maxSendsInFlight: number;

  constructor(options: JobQueueOptions) {
    this.#transport = options.transport;
    this.queueUrl = options.queueUrl;
    this.queueName = options.queueName ?? options.queueUrl.split('/').pop() ?? options.queueUrl;
    const entries = options.jobs ? [...options.jobs] : undefined;
    this.#schemas = entries ? new Map(entries.map((job) => [job.type, job.schema])) : undefined;
    this.#keys = new Map(entries?.flatMap((job) => (job.keys ? [[job.type, job.keys] as const] : [])) ?? []);
    this.#maxBytes = options.maxMessageBytes ?? SQS_LIMITS.maxMessageBytes;
    this.#clock = options.clock ?? systemClock;
    this.#attributes = options.attributes;
    this.#traceSend = options.traceSend ?? untracedSend;
    this.#recorder = options.recorder;
    this.#maxSendsInFlight = options.maxSendsInFlight ?? 1;
  }

  /** Validates and sends one job; resolves to its id. Bad input throws `InvalidJobError` before any request. */
  async enqueueJob<Payload>(job: JobRequest<Payload>, signal?: AbortSignal): Promise<string> {
    return (await this.enqueue(job, signal)).id;
  }

  /** Like {@link enqueueMany}; resolves to the ids in order. */
  async enqueueJobs(jobs: ReadonlyArray<JobRequest>, signal?: AbortSignal): Promise<string[]> {
    return (await this.enqueueMany(jobs, signal)).map((result) => result.id);
  }

  /** Validates and sends one job (unless it is a duplicate); resolves to its id and whether it was a duplicate. */
  async enqueue<Payload>(job: JobRequest<Payload>, signal?: AbortSignal): Promise<EnqueueResult> {
    const [result] = await this.enqueueMany([job], signal);
    return result!;
  }

  /**
   * Validates every job first (nothing is recorded or sent if one is bad); with a recorder, records
   * them all (one call) and keeps only the new ones; then sends them through a {@link SendBatcher}:
   * SendMessageBatch of up to 10, each under the batch byte limit, one request at a time. Resolves to
   * one result per job, in order. Entries that fail transiently are retried; if any job still fails,
   * its record is forgotten and one `TransportError` is thrown with the first failure's code
   * (retryable only when every failure was).
   */
  async enqueueMany(jobs: ReadonlyArray<JobRequest>, signal?: AbortSignal): Promise<EnqueueResult[]> {
    const prepared = jobs.map((job, index) => this.prepare(job, jobs.length > 1 ? `jobs[${index}].` : ''));
    const recorded = this.#recorder ? await this.#recorder.record(prepared.map((job) => job.record)) : undefined;
    const results = prepared.map((job, index): EnqueueResult => {
      const record = recorded?.[index];
      return record === undefined ? { id: job.envelope.id, deduplicated: false } : { id: record.id, deduplicated: !record.created };
    });
    const toSend = prepared.filter((_, index) => !results[index]!.deduplicated);
    const failed = await this.#send(toSend, signal);
    if (failed.length > 0) {
      if (this.#recorder) await this.#recorder.forget(failed.map((f) => f.job.envelope.id)).catch(() => undefined);
      throw enqueueError(failed.map((f) => f.error));
    }
    return results;
  }

  /**
   * Sends an envelope built elsewhere (`jobs retry`: the job's own id and history), its history trimmed
   * to fit as a retry's is, with the same attributes, size check and send path as an enqueue; nothing
   * is recorded. Resolves when SQS has it.
   */
  async sendEnvelope(envelope: Envelope, signal?: AbortSignal): Promise<void> {
    const fitted = fitEnvelope(envelope, this.#maxBytes - ATTRIBUTE_ROOM_BYTES)?.envelope ?? envelope;
    const failed = await this.#send([this.#finish(fitted, 0, '')], signal);
    if (failed.length > 0) throw enqueueError(failed.map((f) => f.error));
  }

  /** Sends prepared jobs through one batcher; resolves to the ones that failed. */
  async #send(prepared: readonly PreparedJob[], signal: AbortSignal | undefined): Promise<Array<{ job: PreparedJob; error: unknown }>> {
    if (prepared.length === 0) return [];
    const sender = new SendBatcher({
      transport: this.#transport,
      clock: this.#clock,
      maxMessageBytes: this.#maxBytes,
      retry: PRODUCER_SEND_RETRY,
      alwaysBatch: true,
      maxInFlight: this.#maxSendsInFlight,
      ...(signal ? { signal } : {}),
    });
    const sends = prepared.map((job) =>
      this.#traceSend(
        {
          destination: this.queueName,
          jobId: job.envelope.id,
          jobType: job.envelope.type,
          attempt: job.envelope.attempt,
          operation: 'send',
        },
        // Called at once: every job is queued before the flush below.
        (carrier) =>
          sender.send(this.queueUrl, {
            body: job.body,
            delaySeconds: job.delaySeconds,
            attributes: { ...carrier, ...job.attributes },
            ...(job.groupId === undefined ? {} : { groupId: job.groupId }),
          }),
      ),
    );
    sender.flush(this.queueUrl);
    const settled = await Promise.allSettled(sends);
    return settled.flatMap((r, index) => (r.status === 'rejected' ? [{ job: prepared[index]!, error: r.reason as unknown }] : []));
  }

  /** Builds the envelope, body and attributes for a job, or throws `InvalidJobError` naming the field. */
  prepare(job: JobRequest, prefix = ''): PreparedJob {
    if (typeof job?.type !== 'string' || job.type.length === 0) {
      throw new InvalidJobError('invalid_option', `${prefix}type`, `${prefix}type: expected a non-empty string`);
    }
    const parsed = this.#schemas ? validateJob(this.#schemas, job, prefix) : job.payload;
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
    if (job.id !== undefined && (typeof job.id !== 'string' || !UUID.test(job.id))) {
      throw new InvalidJobError('invalid_option', `${prefix}id`, `${prefix}id: expected a UUID, got ${JSON.stringify(job.id)}`);
    }
    const now = this.#clock.now();
    const envelope = newEnvelope({
      ...(job.id === undefined ? {} : { id: job.id }),
      type: job.type,
      payload,
      idempotencyKey: job.idempotencyKey,
      notBefore: notBeforeFor(delayMs, now),
      now,
    });
    const prepared = this.#finish(envelope, delaySecondsFor(delayMs), prefix, delayMs > 0 ? now + delayMs : undefined);
    return this.#withKeys(prepared, parsed, prefix);
  }

  /** The job's keys (docs/keys.md): coalescing and key rows for the recorder, the fairness key as MessageGroupId. */
  #withKeys(prepared: PreparedJob, parsed: unknown, prefix: string): PreparedJob {
    const keys = this.#keys.get(prepared.envelope.type);
    if (!keys) return prepared;
    const value = (fn: PayloadKey | undefined, name: string): string | undefined => {
      if (fn === undefined) return undefined;
      let key: unknown;
      try {
        key = fn(parsed);
      } catch (error) {
        throw new InvalidJobError('invalid_payload', `${prefix}payload`, `${prefix}payload: ${name} threw: ${(error as Error)?.message}`);
      }
      if (typeof key !== 'string' || key.length === 0 || key.length > 128) {
        throw new InvalidJobError(
          'invalid_payload',
          `${prefix}payload`,
          `${prefix}payload: ${name}: expected a non-empty string of at most 128 characters, got ${JSON.stringify(key)}`,
        );
      }
      return key;
    };
    const coalesceKey = value(keys.coalesce?.key, 'coalesce.key');
    const rowKeys = [value(keys.concurrency?.key, 'concurrency.key'), value(keys.rateLimit?.key, 'rateLimit.key')].filter(
      (key): key is string => key !== undefined,
    );
    const groupId = value(keys.fairnessKey, 'fairnessKey');
    return {
      ...prepared,
      record: { ...prepared.record, ...(coalesceKey ? { coalesceKey } : {}), ...(rowKeys.length > 0 ? { keys: rowKeys } : {}) },
      ...(groupId ? { groupId } : {}),
    };
  }

  #finish(envelope: Envelope, delaySeconds: number, prefix: string, scheduledAt?: number): PreparedJob {
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
    const record: RecordedJob = {
      id: envelope.id,
      type: envelope.type,
      idempotencyKey: envelope.idempotencyKey,
      createdAt: Date.parse(envelope.createdAt),
      scheduledAt,
      payload: envelope.payload,
    };
    return { envelope, body, delaySeconds, attributes, record };
  }
}

/**
 * Checks a job against the registered schemas: an unknown type or a payload that fails its schema
 * throws `InvalidJobError` naming the field (`payload.calendarId: expected string, received number`).
 * Returns the parsed payload.
 */
export function validateJob(schemas: ReadonlyMap<string, ZodType>, job: JobRequest, prefix = ''): unknown {
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
  return result.data;
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
