import { SQS_LIMITS } from './transport.js';

/** SQS DelaySeconds for a wait in milliseconds: rounded up (never early), capped at 900 s. */
export function delaySecondsFor(delayMs: number): number {
  if (!(delayMs > 0)) return 0;
  return Math.min(SQS_LIMITS.maxDelaySeconds, Math.ceil(delayMs / 1000));
}

/** `notBefore` for a wait longer than SQS can delay (900 s): the message hops until then. */
export function notBeforeFor(delayMs: number, now: number): Date | undefined {
  return delayMs > SQS_LIMITS.maxDelaySeconds * 1000 ? new Date(now + delayMs) : undefined;
}
