/**
 * Durations as operators type them: `500ms`, `30s`, `15m`, `12h`, `7d` (one number, one unit; a
 * fraction is allowed, `1.5h`). The settings schema's duration rule (`CALSYNC_STORE_RETENTION`, `jobs
 * list --since 1h`, `jobs prune --older-than 7d`) is built on {@link durationMs}.
 */
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** The words an error uses for what a duration looks like. */
export const DURATION_EXPECTED = 'a duration like 500ms, 30s, 15m, 12h or 7d';

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/** Milliseconds in `text`, or undefined when it is not a duration (no unit, an unknown unit, negative). */
export function durationMs(text: string): number | undefined {
  const match = DURATION.exec(text.trim().toLowerCase());
  if (!match) return undefined;
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
  return Number.isSafeInteger(ms) ? ms : undefined;
}
