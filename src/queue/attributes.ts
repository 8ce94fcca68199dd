/**
 * The MessageAttributes a job message carries, named once. Every sender builds them with
 * {@link jobAttributes}: the producer, the runtime's settles and the DLQ redrive.
 *
 * | attribute | what |
 * |---|---|
 * | `job-type` | the envelope's `type`: the runtime routes on it, and the signature covers it |
 * | `traceparent`, `tracestate` | W3C trace context from the send hook (`send-tracing.ts`; OpenTelemetry's PRODUCER span), not signed |
 * | `calsync-signature` | HMAC of the body and the job type (`signing.ts`), when keys are set |
 */

export const ATTRIBUTES = {
  jobType: 'job-type',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  signature: 'calsync-signature',
} as const;

/** Adds attributes to an outgoing message (message signing plugs in here). */
export type AttributeHook = (body: string, jobType: string) => Record<string, string>;

/** A job message's attributes: the trace `carrier`, the job type, then what `sign` adds (the signature). */
export function jobAttributes(
  body: string,
  jobType: string,
  sign: AttributeHook | undefined,
  carrier: Readonly<Record<string, string>> = {},
): Record<string, string> {
  return { ...carrier, [ATTRIBUTES.jobType]: jobType, ...sign?.(body, jobType) };
}
