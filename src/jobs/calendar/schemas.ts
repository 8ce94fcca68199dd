/**
 * Payload schemas of the calendar jobs, shared by the job definitions and the HTTP API so both reject
 * the same input with the same field names. Payloads name an account and a calendar, never credentials.
 * Also the one way a calendar setting's schema reports a bad value (`parseSettings`).
 */
import { z } from 'zod';
import { ConfigError } from '../../shared/errors.js';

const SEGMENT = /^[A-Za-z0-9._~@+-]+$/;

/** An account id from `CALSYNC_ACCOUNTS`. */
export const accountIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._@-]+$/, 'expected letters, digits, ".", "_", "@" or "-"');

/**
 * A calendar path relative to the account's `serverUrl`, e.g. `work` or `calendars/work`. No leading
 * slash, no `.` or `..` segment: a payload can never point outside the account's server URL.
 */
export const calendarPathSchema = z
  .string()
  .min(1)
  .max(512)
  .refine((value) => {
    const segments = value.replace(/\/$/, '').split('/');
    return segments.every((segment) => SEGMENT.test(segment) && segment !== '.' && segment !== '..');
  }, 'expected a relative path like "work" or "calendars/work" (no "..", no leading "/")');

const isoDateTime = z.iso.datetime({ offset: true });

export const calendarEventSchema = z
  .object({
    /** The iCalendar UID; the object is stored as `<uid>.ics` in the calendar. */
    uid: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[A-Za-z0-9._@+-]+$/, 'expected letters, digits, ".", "_", "@", "+" or "-"'),
    summary: z.string().max(1024),
    /** ISO 8601 date-time with `Z` or an offset. */
    start: isoDateTime,
    end: isoDateTime,
    description: z.string().max(65_536).optional(),
    location: z.string().max(1024).optional(),
  })
  .refine((event) => Date.parse(event.end) > Date.parse(event.start), {
    message: 'must be after event.start',
    path: ['end'],
  });

export type CalendarEvent = z.output<typeof calendarEventSchema>;

/** Payload of `calendar.write`. */
export const calendarWritePayloadSchema = z.object({
  accountId: accountIdSchema,
  calendar: calendarPathSchema,
  op: z.enum(['upsert', 'delete']),
  event: calendarEventSchema,
});

export type CalendarWritePayload = z.output<typeof calendarWritePayloadSchema>;

/** Payload of `calendar.sync`. */
export const calendarSyncPayloadSchema = z.object({
  accountId: accountIdSchema,
  calendar: calendarPathSchema,
});

export type CalendarSyncPayload = z.output<typeof calendarSyncPayloadSchema>;

/** `event.end` style name of the first failing field of a zod error (`body` when the root failed). */
export function firstIssueField(error: z.ZodError): string {
  const path = error.issues[0]?.path ?? [];
  return path.length === 0 ? 'body' : path.map(String).join('.');
}

/**
 * Parses settings with `schema`. The first issue is one `ConfigError` line naming the setting by its
 * path under `prefix`: `CALSYNC_ACCOUNTS.alice.serverUrl: Invalid URL`.
 */
export function parseSettings<S extends z.ZodType>(schema: S, value: unknown, prefix: readonly string[] = []): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new ConfigError([...prefix, ...(issue?.path ?? []).map(String)].join('.'), issue?.message ?? 'invalid');
}
