/**
 * Time zones by their IANA names, with Node's `Intl` (its ICU carries the tz database): whether a name is
 * an IANA zone, a zone's UTC offset at an instant, and a zone's wall-clock time ↔ the instant. A TZID that
 * names an IANA zone is read this way, not by the VTIMEZONE beside it (docs/calendar.md, "Time zones").
 */

/** A wall-clock time: what a clock in some zone shows (month 1–12). */
export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let format = formatters.get(zone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(zone, format);
  }
  return format;
}

/** Whether `name` is a time zone `Intl` knows by name (`Europe/Berlin`, `UTC`), not an offset like `+01:00`. */
export function isIanaZone(name: string): boolean {
  if (name.length === 0 || /^[+-]/.test(name)) return false;
  try {
    formatter(name);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock time in `zone` at the instant `epochMs`. */
export function wallTimeAt(zone: string, epochMs: number): WallTime {
  const parts = formatter(zone).formatToParts(new Date(epochMs));
  const get = (type: Intl.DateTimeFormatPartTypes): number => Number(parts.find((part) => part.type === type)?.value);
  const era = parts.find((part) => part.type === 'era')?.value;
  const year = era === 'BC' || era === 'B' ? 1 - get('year') : get('year');
  return { year, month: get('month'), day: get('day'), hour: get('hour'), minute: get('minute'), second: get('second') };
}

/** `wall` read as if it were UTC, in epoch ms. */
export function wallAsUtcMs(wall: WallTime): number {
  const date = new Date(0);
  date.setUTCFullYear(wall.year, wall.month - 1, wall.day);
  date.setUTCHours(wall.hour, wall.minute, wall.second, 0);
  return date.getTime();
}

/** The zone's offset from UTC at the instant `epochMs`, in ms (Berlin in summer: 7,200,000). */
export function offsetMsAt(zone: string, epochMs: number): number {
  const whole = Math.floor(epochMs / 1000) * 1000;
  return wallAsUtcMs(wallTimeAt(zone, whole)) - whole;
}

const DAY_MS = 86_400_000;

/**
 * The instant a clock in `zone` shows `wall`. As RFC 5545 §3.3.5 says: a time that occurs twice (the
 * hour after a DST end) is its first occurrence; a time that does not exist (skipped at a DST start) is
 * read with the offset before the gap (02:30 on a spring-forward night is 03:30 daylight time).
 */
export function wallTimeToInstant(wall: WallTime, zone: string): Date {
  const local = wallAsUtcMs(wall);
  const before = offsetMsAt(zone, local - DAY_MS);
  const after = offsetMsAt(zone, local + DAY_MS);
  const valid = [...new Set([before, after])].map((offset) => local - offset).filter((t) => offsetMsAt(zone, t) === local - t);
  if (valid.length > 0) return new Date(Math.min(...valid));
  return new Date(local - before);
}
