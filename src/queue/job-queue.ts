/**
 * The producer side: `enqueueJob` / `enqueueJobs`. Used by the API process and by the worker (retries go
 * through the runtime, but any process that enqueues uses this module), so both share one wire format.
 */
import type { ZodType } from 'zod';
import { systemClock, type Clock } from '../shared/clock.js';
import { delaySecondsFor, notBeforeFor } from './delay.js';
import { encodeEnvelope, formatIssues, newEnvelope, type Envelope } from './envelope.js';
import { InvalidJobError, TransportError } from '../shared/errors.js';
import { messageBytes } from './limits.js';
import { withProducerSpan } from './tracing.js';
import { SQS_LIMITS, type JobTransport, type OutgoingBatchEntry } from './transport.js';

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

/** Adds attributes to an outgoing message (message signing plugs in here). */
export type AttributeHook = (body: string, jobType: string) => Record<string, string>;

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
}

const BATCH_BYTES = 1_048_576;
const SEND_ATTEMPTS = 3;

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

  constructor(options: JobQueueOptions) {
    this.#transport = options.transport;
    this.queueUrl = options.queueUrl;
    this.queueName = options.queueName ?? options.queueUrl.split('/').pop() ?? options.queueUrl;
    this.#schemas = options.jobs ? new Map([...options.jobs].map((job) => [job.type, job.schema])) : undefined;
    this.#maxBytes = options.maxMessageBytes ?? SQS_LIMITS.maxMessageBytes;
    this.#clock = options.clock ?? systemClock;
    this.#attributes = options.attributes;
  }

  /** Validates and sends one job; resolves to its id. Bad input throws `InvalidJobError` before any request. */
  async enqueueJob<Payload>(job: JobRequest<Payload>, signal?: AbortSignal): Promise<string> {
    const [id] = await this.enqueueJobs([job], signal);
    return id!;
  }

  /**
   * Validates every job first (nothing is sent if one is bad), then sends them in batches of 10, each
   * under the 1 MiB batch limit. Resolves to the ids in order. Entries that fail transiently are retried.
   */
  async enqueueJobs(jobs: ReadonlyArray<JobRequest>, signal?: AbortSignal): Promise<string[]> {
    const prepared = jobs.map((job, index) => this.prepare(job, jobs.length > 1 ? `jobs[${index}].` : ''));
    for (const batch of chunk(prepared, this.#maxBytes)) await this.#sendBatch(batch, signal);
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
    const attributes = { 'job-type': envelope.type, ...this.#attributes?.(body, envelope.type) };
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

  async #sendBatch(batch: PreparedJob[], signal: AbortSignal | undefined): Promise<void> {
    let release!: () => void;
    const ready = new Promise<void>((resolve) => (release = resolve));
    const entries: OutgoingBatchEntry[] = [];
    let outcome: Promise<Map<string, string>> | undefined;
    const spans = batch.map((job, index) =>
      withProducerSpan(
        { destination: this.queueName, jobId: job.envelope.id, jobType: job.envelope.type, attempt: 1, operation: 'send' },
        async (carrier) => {
          entries[index] = {
            id: String(index),
            body: job.body,
            delaySeconds: job.delaySeconds,
            attributes: { ...carrier, ...job.attributes },
          };
          await ready;
          const ids = await outcome!;
          return { messageId: ids.get(String(index)) ?? '' };
        },
      ),
    );
    outcome = this.#sendWithRetry(entries, signal);
    release();
    const results = await Promise.allSettled(spans);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  async #sendWithRetry(entries: OutgoingBatchEntry[], signal: AbortSignal | undefined): Promise<Map<string, string>> {
    const ids = new Map<string, string>();
    let pending = entries;
    for (let attempt = 1; pending.length > 0; attempt++) {
      const result = await this.#transport.sendBatch(this.queueUrl, pending, signal);
      for (const ok of result.successful) ids.set(ok.id, ok.messageId ?? '');
      const fatal = result.failed.filter((f) => f.senderFault);
      if (fatal.length > 0 || (result.failed.length > 0 && attempt >= SEND_ATTEMPTS)) {
        const first = result.failed[0]!;
        throw new TransportError(`could not enqueue ${result.failed.length} job(s): ${first.code}: ${first.message}`, {
          code: first.code,
          retryable: fatal.length === 0,
        });
      }
      const retry = new Set(result.failed.map((f) => f.id));
      pending = pending.filter((e) => retry.has(e.id));
    }
    return ids;
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

/** Splits into SQS batches: at most 10 entries and at most 1 MiB of messages each. */
function chunk(jobs: PreparedJob[], maxMessageBytes: number): PreparedJob[][] {
  const batches: PreparedJob[][] = [];
  let current: PreparedJob[] = [];
  let bytes = 0;
  const limit = Math.min(BATCH_BYTES, maxMessageBytes);
  for (const job of jobs) {
    const size = messageBytes({ body: job.body, attributes: job.attributes }) + 200;
    if (current.length === SQS_LIMITS.maxBatchEntries || (current.length > 0 && bytes + size > limit)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(job);
    bytes += size;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
