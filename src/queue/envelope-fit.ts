/**
 * Keeps a successor or a dead letter within the server's size limit. History grows by one entry per
 * failed attempt (up to 2,000 characters of error message each, which JSON escaping can double), so a
 * long-failing job would outgrow the limit: the history is trimmed to its first entry and the latest
 * ones, and `historyOmitted` counts what was left out. When even that does not fit (the payload alone
 * is too big), the caller dead-letters a minimal record instead (reason `oversize`).
 */
import { encodeEnvelope, type Envelope } from './envelope.js';

/** Bytes kept free for message attributes (traceparent, tracestate, job-type, signature). */
export const ATTRIBUTE_ROOM_BYTES = 1_024;
/** Retries carry at most this many history entries (the first, then the latest). */
export const MAX_HISTORY = 100;

export function bodyBytes(body: string): number {
  return Buffer.byteLength(body, 'utf8');
}

/**
 * The envelope with its history trimmed (the first entry and as many of the latest as fit, at most
 * {@link MAX_HISTORY} in all), encoded with `encode`, so the body fits `maxBodyBytes`; `undefined`
 * when it cannot fit even with one entry.
 */
export function fitEnvelope(
  envelope: Envelope,
  maxBodyBytes: number,
  encode: (envelope: Envelope) => string = encodeEnvelope,
): { envelope: Envelope; body: string } | undefined {
  const history = envelope.history ?? [];
  const fits = (candidate: Envelope): { envelope: Envelope; body: string } | undefined => {
    const body = encode(candidate);
    return bodyBytes(body) <= maxBodyBytes ? { envelope: candidate, body } : undefined;
  };
  if (history.length <= MAX_HISTORY) {
    const whole = fits(envelope);
    if (whole) return whole;
  }
  if (history.length === 0) return undefined;
  const [first, ...rest] = history;
  // Keep the first entry (how it began) and the latest `keep` (how it is going); halve until it fits.
  for (let keep = Math.min(rest.length, MAX_HISTORY - 1); ; keep = Math.floor(keep / 2)) {
    const kept = [first!, ...rest.slice(rest.length - keep)];
    const omitted = (envelope.historyOmitted ?? 0) + history.length - kept.length;
    const { historyOmitted: _old, ...base } = envelope;
    const candidate = fits({ ...base, history: kept, ...(omitted > 0 ? { historyOmitted: omitted } : {}) });
    if (candidate) return candidate;
    if (keep === 0) return undefined;
  }
}
