/**
 * The producer's tracing port: a hook around every SendMessage of a job envelope (the producer's
 * enqueue, the runtime's settles, the DLQ redrive). It hands the send a carrier to copy into the
 * message's attributes (`traceparent` / `tracestate`). The queue layer may not import telemetry/
 * (docs/architecture.md, "Layers"), so it defaults to {@link untracedSend}; `withProducerSpan`
 * (src/telemetry/tracing.ts) is the OpenTelemetry implementation, and the package's `JobQueue` and
 * worker plug it in by default.
 */

/** What a send is for; becomes the `job.operation` attribute. */
export type ProducerOperation = 'send' | 'retry' | 'dead_letter' | 'checkpoint' | 'defer' | 'release' | 'redrive';

export interface SendSpanInfo {
  /** Queue name (not URL); the span is named `send <destination>`. */
  destination: string;
  jobId: string;
  jobType: string;
  /** Attempt number carried by the envelope being sent (1 for a new job). */
  attempt: number;
  operation: ProducerOperation;
  /** Extra span attributes (e.g. `job.delay_ms`); they may override none of the standard ones. */
  attributes?: Record<string, string | number | boolean>;
}

/**
 * Runs `send` (traced) with a carrier of trace attributes and resolves to its result (a `messageId`
 * in it names the sent message). `send` must be called synchronously, before the tracer first
 * yields, so a batch sender can queue every entry and only then flush one SendMessageBatch.
 */
export type SendTracer = <T extends { messageId?: string }>(
  info: SendSpanInfo,
  send: (carrier: Record<string, string>) => Promise<T>,
) => Promise<T>;

/** No tracing: `send` gets an empty carrier, at once. */
export const untracedSend: SendTracer = async (_info, send) => await send({});
