/**
 * Reads an iCalendar object's first VEVENT into the columns the store keeps, with ical.js as the parser
 * and our own rules for what its times mean (ical.js reads an unknown TZID in the host's zone, and a
 * VTIMEZONE's RDATE list only by its first value):
 *
 * - `VALUE=DATE`: a date, kept as `YYYY-MM-DD` with `allDay` (no instant: the same row on every host).
 * - `...Z`: UTC.
 * - `TZID=<IANA zone>`: read by that zone with `Intl`, whatever VTIMEZONE comes along.
 * - `TZID=<other name>` (Outlook's `W. Europe Standard Time`, custom ids): by the object's VTIMEZONE.
 * - no TZID, no `Z` (floating), or a TZID that is neither: in the calendar's zone (`X-WR-TIMEZONE`,
 *   else the collection's `calendar-timezone`), else kept floating (wall time only, no instant).
 */
import ICAL from 'ical.js';
import { isIanaZone, type WallTime, wallTimeToInstant } from './zones.js';

export interface ParsedAttendee {
  email: string;
  name: string | undefined;
  /** `chair`, `required`, `optional`, `non-participant` (ROLE, lower-cased and shortened). */
  role: string | undefined;
  /** `needs-action`, `accepted`, ... (PARTSTAT, lower-cased). */
  status: string | undefined;
}

export interface ParsedReminder {
  /** Minutes before the start (negative: after it); undefined for an absolute TRIGGER. */
  minutesBefore: number | undefined;
  /** `display`, `audio`, `email`. */
  action: string;
}

/** The fields the jobs care about, read from an iCalendar object's first VEVENT. */
export interface ParsedEvent {
  uid: string | undefined;
  summary: string | undefined;
  /** The instants; `undefined` for an all-day event, a floating time with no calendar zone, or when absent. */
  startsAt: Date | undefined;
  endsAt: Date | undefined;
  description: string | undefined;
  location: string | undefined;
  /** DTSTART is a DATE. */
  allDay: boolean;
  /** `YYYY-MM-DD` of an all-day event; `endDate` is exclusive (the day after the last). */
  startDate: string | undefined;
  endDate: string | undefined;
  /** The zone the times are read in: the IANA zone, another TZID as written, or the calendar's zone for floating times. */
  timeZone: string | undefined;
  /** DTSTART has no zone (no TZID, no `Z`); read in the calendar's zone when it has one. */
  floating: boolean;
  /** Wall-clock times as written (`2027-06-07T09:00:00`); undefined for all-day events and UTC times. */
  startLocal: string | undefined;
  endLocal: string | undefined;
  /** The RRULE value (`FREQ=WEEKLY;BYDAY=MO`). */
  rrule: string | undefined;
  /** EXDATE values: ISO instants (`...Z`), dates, or wall times of a floating event with no zone. */
  exdates: string[];
  attendees: ParsedAttendee[];
  reminders: ParsedReminder[];
}

/** What a read needs beyond the text: the calendar collection's own zone (`calendar-timezone`), if any. */
export interface ReadOptions {
  calendarZone?: string | undefined;
}

/** The columns of an object with no VEVENT (or one ical.js cannot read): empty. */
export const EMPTY_EVENT: ParsedEvent = {
  uid: undefined,
  summary: undefined,
  startsAt: undefined,
  endsAt: undefined,
  description: undefined,
  location: undefined,
  allDay: false,
  startDate: undefined,
  endDate: undefined,
  timeZone: undefined,
  floating: false,
  startLocal: undefined,
  endLocal: undefined,
  rrule: undefined,
  exdates: [],
  attendees: [],
  reminders: [],
};

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** `2027-03-19` of an ICAL.Time or a wall time. */
export function formatDate(time: { year: number; month: number; day: number }): string {
  return `${pad(time.year, 4)}-${pad(time.month)}-${pad(time.day)}`;
}

/** `2027-06-07T09:00:00`: a wall time as ISO text without a zone. */
export function formatWall(time: WallTime): string {
  return `${formatDate(time)}T${pad(time.hour)}:${pad(time.minute)}:${pad(time.second)}`;
}

/** Thunderbird's old `/mozilla.org/20050126_1/Europe/Berlin` and the like: the IANA name at the end. */
function ianaName(tzid: string): string | undefined {
  if (isIanaZone(tzid)) return tzid;
  const tail = tzid.split('/').filter((part) => part.length > 0);
  for (let i = Math.max(0, tail.length - 3); i < tail.length - 1; i++) {
    const candidate = tail.slice(i).join('/');
    if (isIanaZone(candidate)) return candidate;
  }
  return undefined;
}

/** How the times of one VEVENT are read: by zone name, by the object's VTIMEZONE, or floating. */
export interface TimeReader {
  zone: string | undefined;
  floating: boolean;
  /** The instant of a wall time as written with this property's TZID; undefined when floating with no zone. */
  instant(time: ICAL.Time): Date | undefined;
}

/** The reader for a DATE-TIME property (DTSTART, DTEND, EXDATE, RECURRENCE-ID). */
export function timeReader(property: ICAL.Property, calendarZone: string | undefined): TimeReader {
  const value = property.getFirstValue() as ICAL.Time;
  const tzid = property.getParameter('tzid');
  const tzidText = typeof tzid === 'string' ? tzid : undefined;
  if (value.zone === ICAL.Timezone.utcTimezone && tzidText === undefined)
    return {
      zone: undefined,
      floating: false,
      instant: (time) => new Date(Date.UTC(time.year, time.month - 1, time.day, time.hour, time.minute, time.second)),
    };
  if (tzidText !== undefined) {
    const iana = ianaName(tzidText);
    if (iana !== undefined) return { zone: iana, floating: false, instant: (time) => wallTimeToInstant(time, iana) };
    // Not an IANA name: the VTIMEZONE ical.js found for it (not floating), read as ical.js reads it.
    if (value.zone !== undefined && value.zone !== ICAL.Timezone.localTimezone && value.zone.tzid === tzidText)
      return { zone: tzidText, floating: false, instant: (time) => instantByVtimezone(time, value.zone as ICAL.Timezone) };
  }
  if (calendarZone !== undefined) return { zone: calendarZone, floating: true, instant: (time) => wallTimeToInstant(time, calendarZone) };
  return { zone: undefined, floating: true, instant: () => undefined };
}

function instantByVtimezone(time: ICAL.Time, zone: ICAL.Timezone): Date {
  const zoned = ICAL.Time.fromData(
    { year: time.year, month: time.month, day: time.day, hour: time.hour, minute: time.minute, second: time.second },
    zone,
  );
  return new Date(zoned.toUnixTime() * 1000);
}

/** The calendar's zone for floating times: X-WR-TIMEZONE of the VCALENDAR when it names an IANA zone, else `fallback`. */
export function calendarZoneOf(calendar: ICAL.Component, fallback: string | undefined): string | undefined {
  const declared = calendar.name === 'vcalendar' ? calendar.getFirstPropertyValue('x-wr-timezone') : null;
  const name = typeof declared === 'string' ? ianaName(declared.trim()) : undefined;
  return name ?? fallback;
}

const ROLES: Record<string, string> = {
  CHAIR: 'chair',
  'REQ-PARTICIPANT': 'required',
  'OPT-PARTICIPANT': 'optional',
  'NON-PARTICIPANT': 'non-participant',
};

function readAttendee(property: ICAL.Property): ParsedAttendee {
  const value = String(property.getFirstValue() ?? '');
  const param = (name: string): string | undefined => {
    const p = property.getParameter(name);
    return typeof p === 'string' ? p : undefined;
  };
  const role = param('role')?.toUpperCase();
  return {
    email: value.replace(/^mailto:/i, ''),
    name: param('cn'),
    role: role === undefined ? undefined : (ROLES[role] ?? role.toLowerCase()),
    status: param('partstat')?.toLowerCase(),
  };
}

function readReminder(valarm: ICAL.Component): ParsedReminder {
  const action = String(valarm.getFirstPropertyValue('action') ?? 'DISPLAY').toLowerCase();
  const trigger = valarm.getFirstPropertyValue('trigger');
  const minutesBefore = trigger instanceof ICAL.Duration ? -Math.round(trigger.toSeconds() / 60) : undefined;
  return { action, minutesBefore: minutesBefore === 0 ? 0 : minutesBefore };
}

function text(vevent: ICAL.Component, name: string): string | undefined {
  const value = vevent.getFirstPropertyValue(name);
  return value === null || value === undefined ? undefined : String(value);
}

/** The master VEVENT of an object: the first without RECURRENCE-ID, else the first. */
export function masterEvent(calendar: ICAL.Component): ICAL.Component | null {
  if (calendar.name === 'vevent') return calendar;
  const vevents = calendar.getAllSubcomponents('vevent');
  return vevents.find((vevent) => !vevent.hasProperty('recurrence-id')) ?? vevents[0] ?? null;
}

/** The end of `start` plus DTEND or DURATION (nominal days, RFC 5545 §3.8.2.5); one day for a date, none for a date-time. */
export function endTime(vevent: ICAL.Component, start: ICAL.Time): ICAL.Time {
  const dtend = vevent.getFirstPropertyValue('dtend');
  if (dtend instanceof ICAL.Time) return dtend;
  const end = wallClone(start);
  const duration = vevent.getFirstPropertyValue('duration');
  if (duration instanceof ICAL.Duration) end.addDuration(duration);
  else if (start.isDate) end.adjust(1, 0, 0, 0);
  return end;
}

/** A copy of `time`'s wall clock with no zone (arithmetic in wall time, as RFC 5545 does for days). */
export function wallClone(time: ICAL.Time): ICAL.Time {
  return ICAL.Time.fromData({
    year: time.year,
    month: time.month,
    day: time.day,
    hour: time.hour,
    minute: time.minute,
    second: time.second,
    isDate: time.isDate,
  });
}

/** Reads the object's master VEVENT (see the file's header for how times are read). */
export function parseEventIcs(ics: string, options: ReadOptions = {}): ParsedEvent {
  const calendar = new ICAL.Component(ICAL.parse(ics));
  const vevent = masterEvent(calendar);
  if (vevent === null) return { ...EMPTY_EVENT };
  const base: ParsedEvent = {
    ...EMPTY_EVENT,
    uid: text(vevent, 'uid'),
    summary: text(vevent, 'summary'),
    description: text(vevent, 'description'),
    location: text(vevent, 'location'),
    attendees: vevent.getAllProperties('attendee').map(readAttendee),
    reminders: vevent.getAllSubcomponents('valarm').map(readReminder),
  };
  const rrule = vevent.getFirstPropertyValue('rrule');
  if (rrule instanceof ICAL.Recur) base.rrule = rrule.toString();
  const dtstart = vevent.getFirstProperty('dtstart');
  if (dtstart === null) return base;
  const start = dtstart.getFirstValue() as ICAL.Time;
  const end = endTime(vevent, start);
  const exdateValues = vevent.getAllProperties('exdate').flatMap((property) => property.getValues() as ICAL.Time[]);
  if (start.isDate) {
    return {
      ...base,
      allDay: true,
      startDate: formatDate(start),
      endDate: formatDate(end.isDate ? end : start),
      exdates: exdateValues.map(formatDate),
    };
  }
  const zone = calendarZoneOf(calendar, options.calendarZone);
  const reader = timeReader(dtstart, zone);
  const dtend = vevent.getFirstProperty('dtend');
  const endReader = dtend === null ? reader : timeReader(dtend, zone);
  const utc = reader.zone === undefined && !reader.floating;
  const exdates = vevent.getAllProperties('exdate').flatMap((property) => {
    const exReader = timeReader(property, zone);
    return (property.getValues() as ICAL.Time[]).map((time) =>
      time.isDate ? formatDate(time) : (exReader.instant(time)?.toISOString() ?? formatWall(time)),
    );
  });
  return {
    ...base,
    startsAt: reader.instant(start),
    endsAt: endReader.instant(end),
    timeZone: reader.zone,
    floating: reader.floating,
    startLocal: utc ? undefined : formatWall(start),
    endLocal: utc ? undefined : formatWall(end),
    exdates,
  };
}
