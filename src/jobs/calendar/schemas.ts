/**
 * Payload schemas of the calendar jobs, shared by the job definitions and the HTTP API so both reject
 * the same input with the same field names. Payloads name an account and a calendar, never credentials.
 * Also the one way a calendar setting's schema reports a bad value (`parseSettings`).
 */
import ICAL from 'ical.js';
import { z } from 'zod';
import { ConfigError } from '../../shared/errors.js';
import { isIanaZone } from './zones.js';

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

const isoDateTime = z.iso.datetime({ offset: true, local: true });
const isoDate = z.iso.date();

/** `2027-03-19`: an all-day event's day (iCalendar `VALUE=DATE`). */
export const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
/** An ISO date-time with `Z` or an offset (without: a local time, read in `timeZone`). */
export const HAS_OFFSET = /(Z|[+-]\d{2}:?\d{2})$/i;

/** A moment of an event: a date (all-day) or a date-time (with `Z`/an offset, or local with `timeZone`). */
const eventTimeSchema = z.union([isoDate, isoDateTime], { error: 'expected a date (2027-03-19) or an ISO date-time' });

const RRULE_PARTS = new Set([
  'FREQ',
  'UNTIL',
  'COUNT',
  'INTERVAL',
  'BYSECOND',
  'BYMINUTE',
  'BYHOUR',
  'BYDAY',
  'BYMONTHDAY',
  'BYYEARDAY',
  'BYWEEKNO',
  'BYMONTH',
  'BYSETPOS',
  'WKST',
]);
const FREQUENCIES = new Set(['SECONDLY', 'MINUTELY', 'HOURLY', 'DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY']);

/** An RFC 5545 RRULE value (`FREQ=WEEKLY;BYDAY=MO;COUNT=10`), checked by ical.js's parser. */
const rruleSchema = z
  .string()
  .min(1)
  .max(1024)
  .superRefine((value, ctx) => {
    const parts = value.replace(/^RRULE:/i, '').split(';');
    const names = parts.map((part) => part.split('=')[0]?.toUpperCase() ?? '');
    const unknown = names.filter((name) => !RRULE_PARTS.has(name));
    if (unknown.length > 0) {
      ctx.addIssue({ code: 'custom', message: `unknown RRULE part ${unknown.map((name) => JSON.stringify(name)).join(', ')}` });
      return;
    }
    try {
      const recur = ICAL.Recur.fromString(value.replace(/^RRULE:/i, ''));
      if (recur.freq === null || !FREQUENCIES.has(String(recur.freq)))
        ctx.addIssue({ code: 'custom', message: 'expected FREQ=DAILY, WEEKLY, MONTHLY, YEARLY, ...' });
      if (recur.count !== null && recur.until !== null) ctx.addIssue({ code: 'custom', message: 'COUNT and UNTIL cannot both be set' });
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : 'not an RRULE' });
    }
  });

/** An IANA time zone name that Node's `Intl` knows (`Europe/Berlin`). */
export const timeZoneSchema = z.string().min(1).max(64).refine(isIanaZone, 'expected an IANA time zone such as "Europe/Berlin"');

/** ATTENDEE: ROLE and PARTSTAT, lower-case (`required` is REQ-PARTICIPANT, `needs-action` NEEDS-ACTION). */
export const attendeeSchema = z.strictObject({
  email: z.email(),
  name: z.string().min(1).max(256).optional(),
  role: z.enum(['chair', 'required', 'optional', 'non-participant']).optional(),
  status: z.enum(['needs-action', 'accepted', 'declined', 'tentative', 'delegated']).optional(),
});

/** One VALARM: `minutesBefore` the start (0 = at the start), shown (`display`, the default), played or mailed. */
export const reminderSchema = z.strictObject({
  minutesBefore: z.number().int().min(0).max(40_320),
  action: z.enum(['display', 'audio', 'email']).optional(),
});

const eventFields = {
  /** The iCalendar UID; the object is stored as `<uid>.ics` in the calendar. */
  uid: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[A-Za-z0-9._@+-]+$/, 'expected letters, digits, ".", "_", "@", "+" or "-"'),
  summary: z.string().max(1024),
  /** A date (all-day) or an ISO 8601 date-time with `Z` or an offset (local only with `timeZone`). */
  start: eventTimeSchema,
  /** Of the same kind as `start`; an all-day event's `end` is the day after its last (exclusive). */
  end: eventTimeSchema,
  description: z.string().max(65_536).optional(),
  location: z.string().max(1024).optional(),
  /** IANA zone the times are written in (`DTSTART;TZID=...` with a VTIMEZONE); without it, UTC. */
  timeZone: timeZoneSchema.optional(),
  /** RRULE value: `FREQ=WEEKLY;BYDAY=MO;COUNT=10`. */
  rrule: rruleSchema.optional(),
  /** Occurrences left out (EXDATE), of the same kind as `start`. Only with `rrule`. */
  exdates: z.array(eventTimeSchema).max(1000).optional(),
  attendees: z.array(attendeeSchema).max(500).optional(),
  reminders: z.array(reminderSchema).max(20).optional(),
};

function kindOf(value: string): 'date' | 'offset' | 'local' {
  return DATE_ONLY.test(value) ? 'date' : HAS_OFFSET.test(value) ? 'offset' : 'local';
}

/** The instant (or UTC midnight of a date) a valid time names, to order start and end. Local times as UTC. */
function sortKey(value: string): number {
  const kind = kindOf(value);
  return Date.parse(kind === 'offset' ? value : kind === 'date' ? `${value}T00:00:00Z` : `${value}Z`);
}

/**
 * An event to upsert. Strict: a field it does not know is refused by name (`event: Unrecognized key: "colour"`).
 * All-day when `start` is a date; a local date-time needs `timeZone`; `end` is after `start`.
 */
export const calendarEventSchema = z.strictObject(eventFields).superRefine((event, ctx) => {
  const start = kindOf(event.start);
  const end = kindOf(event.end);
  if ((start === 'date') !== (end === 'date')) {
    ctx.addIssue({ code: 'custom', path: ['end'], message: 'must be a date when event.start is a date, a date-time when it is one' });
    return;
  }
  if (start === 'date' && event.timeZone !== undefined)
    ctx.addIssue({ code: 'custom', path: ['timeZone'], message: 'not allowed on an all-day event (dates have no zone)' });
  for (const [field, kind] of [
    ['start', start],
    ['end', end],
  ] as const) {
    if (kind === 'local' && event.timeZone === undefined)
      ctx.addIssue({ code: 'custom', path: [field], message: 'a date-time without Z or an offset needs event.timeZone' });
  }
  if (!(sortKey(event.end) > sortKey(event.start))) ctx.addIssue({ code: 'custom', path: ['end'], message: 'must be after event.start' });
  if (event.exdates !== undefined) {
    if (event.rrule === undefined) ctx.addIssue({ code: 'custom', path: ['exdates'], message: 'only with event.rrule' });
    event.exdates.forEach((value, index) => {
      const kind = kindOf(value);
      if ((kind === 'date') !== (start === 'date') || (kind === 'local' && event.timeZone === undefined))
        ctx.addIssue({ code: 'custom', path: ['exdates', index], message: 'must be of the same kind as event.start' });
    });
  }
});

export type CalendarEvent = z.output<typeof calendarEventSchema>;

/** What a delete names: the event's uid; the other event fields may come along and are ignored. */
export const calendarEventRefSchema = z.strictObject({
  ...Object.fromEntries(Object.entries(eventFields).map(([name, schema]) => [name, schema.optional()])),
  uid: eventFields.uid,
}) as unknown as z.ZodType<{ uid: string } & Partial<CalendarEvent>>;

/** Payload of `calendar.write`: an upsert carries the whole event, a delete its uid. */
export const calendarWritePayloadSchema = z.discriminatedUnion('op', [
  z.strictObject({ accountId: accountIdSchema, calendar: calendarPathSchema, op: z.literal('upsert'), event: calendarEventSchema }),
  z.strictObject({ accountId: accountIdSchema, calendar: calendarPathSchema, op: z.literal('delete'), event: calendarEventRefSchema }),
]);

/** The body of `POST .../events`: `{ op, event }` and nothing else. */
export const calendarEventsBodySchema = z.strictObject({ op: z.unknown(), event: z.unknown() });

export type CalendarWritePayload = z.output<typeof calendarWritePayloadSchema>;

/** A `calendar.write` upsert: the whole event. */
export type CalendarUpsertPayload = Extract<CalendarWritePayload, { op: 'upsert' }>;

/** Payload of `calendar.sync`. */
export const calendarSyncPayloadSchema = z.strictObject({
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
