/**
 * What of a job's payload the store may keep (docs/store.md, "Payloads"): nothing when the setting is
 * off; otherwise the payload with the logger's redaction paths applied, left out when it is still
 * over the cap. The paths come in as an argument (the logger lives in runtime/, above this layer), in
 * pino's syntax over the object `{ payload }`, exactly as a log line carries it: `payload.token`,
 * `*.password`. @pinojs/redact (pino's own redactor) does the matching; it copies what it censors, so
 * the caller's payload is never changed.
 */
import redact from '@pinojs/redact';

/** The cap on a stored payload: UTF-8 bytes of its JSON, after redaction. */
export const STORE_PAYLOAD_MAX_BYTES = 16_384;

const CENSOR = '[redacted]';

export interface PayloadPolicy {
  /** `CALSYNC_STORE_PAYLOADS`. */
  enabled: boolean;
  /** The logger's paths (its defaults plus `CALSYNC_LOG_REDACT`), pino syntax, over `{ payload }`. */
  redactPaths: readonly string[];
  /** @defaultValue {@link STORE_PAYLOAD_MAX_BYTES} */
  maxBytes?: number;
}

export interface StoredPayload {
  payload?: unknown;
  payloadOmitted?: 'disabled' | 'too_large';
}

type Redactor = (input: { payload: unknown }) => { payload: unknown };

/** Compiling the paths is the costly part; a policy's array is built once per process, so key on it. */
const redactors = new WeakMap<readonly string[], Redactor>();

function redactorFor(paths: readonly string[]): Redactor {
  let redactor = redactors.get(paths);
  if (redactor === undefined) {
    // With serialize: false it returns the censored copy, never the string its typings also allow.
    redactor = redact({ paths: [...paths], censor: CENSOR, serialize: false, strict: false }) as Redactor;
    redactors.set(paths, redactor);
  }
  return redactor;
}

/**
 * The payload fields of a `NewJob` under `policy`: `{ payload }` (redacted, as plain JSON data), or
 * `{ payloadOmitted }` saying why not. An undefined payload gives `{}`.
 */
export function storedPayload(payload: unknown, policy: PayloadPolicy): StoredPayload {
  if (!policy.enabled) return { payloadOmitted: 'disabled' };
  if (payload === undefined) return {};
  const redacted = policy.redactPaths.length === 0 ? { payload } : redactorFor(policy.redactPaths)({ payload });
  // The JSON is both the measure and a detached copy: the row never shares objects with the caller.
  const json = JSON.stringify(redacted.payload);
  if (json === undefined) return {};
  if (Buffer.byteLength(json, 'utf8') > (policy.maxBytes ?? STORE_PAYLOAD_MAX_BYTES)) return { payloadOmitted: 'too_large' };
  return { payload: JSON.parse(json) };
}
