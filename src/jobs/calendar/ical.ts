/**
 * iCalendar objects of the calendar jobs, built with ical.js and folded by octets (`ics-text.ts`);
 * reading them is `ical-read.ts`. A timed event without `timeZone` is written in UTC (`...Z`: an offset
 * alone names no zone); with one, as `TZID=<zone>` wall times plus that zone's VTIMEZONE; an all-day
 * event as `VALUE=DATE`.
 */
import ICAL from 'ical.js';
import { foldIcs } from './ics-text.js';
import { type ParsedEvent, parseEventIcs } from './ical-read.js';
import { type CalendarEvent, DATE_ONLY, HAS_OFFSET } from './schemas.js';
import { buildVtimezone } from './vtimezone.js';
import { wallTimeAt, wallTimeToInstant } from './zones.js';

export { parseEventIcs, type ParsedEvent } from './ical-read.js';

const PRODID = '-//calsync-jobs//calendar.write//EN';

const ROLES = { chair: 'CHAIR', required: 'REQ-PARTICIPANT', optional: 'OPT-PARTICIPANT', 'non-participant': 'NON-PARTICIPANT' } as const;

/** One VCALENDAR with one VEVENT (and its VTIMEZONE); `stamp` becomes DTSTAMP. */
export function buildEventIcs(event: CalendarEvent, stamp: Date): string {
  return buildCalendarIcs([event], stamp);
}

/** Many events in one VCALENDAR (what a whole-calendar upload sends), with one VTIMEZONE per zone used. */
export function buildCalendarIcs(events: readonly CalendarEvent[], stamp: Date): string {
  const calendar = new ICAL.Component('vcalendar');
  calendar.addPropertyWithValue('version', '2.0');
  calendar.addPropertyWithValue('prodid', PRODID);
  const zones = new Map<string, number>();
  for (const event of events) {
    if (event.timeZone === undefined) continue;
    const year = wallTimeAt(event.timeZone, timeOf(event.start, event.timeZone).getTime()).year;
    zones.set(event.timeZone, Math.min(zones.get(event.timeZone) ?? year, year));
  }
  for (const [zone, year] of zones) calendar.addSubcomponent(buildVtimezone(zone, year));
  for (const event of events) calendar.addSubcomponent(buildVevent(event, stamp));
  return foldIcs(calendar.toString());
}

/** The instant of a date-time of the payload: with `Z`/an offset as given, a local one in `zone`. */
function timeOf(value: string, zone: string | undefined): Date {
  if (HAS_OFFSET.test(value) || zone === undefined) return new Date(value);
  const [date, time = '00:00:00'] = value.split('T');
  const [year, month, day] = (date ?? '').split('-').map(Number);
  const [hour, minute, second] = time.split(':').map((part) => Math.floor(Number(part)));
  return wallTimeToInstant({ year: year!, month: month!, day: day!, hour: hour ?? 0, minute: minute ?? 0, second: second ?? 0 }, zone);
}

/** A payload time as an ICAL.Time: a DATE, a UTC DATE-TIME, or a wall time in `zone` (TZID added by the caller). */
function icalTime(value: string, zone: string | undefined): ICAL.Time {
  if (DATE_ONLY.test(value)) return ICAL.Time.fromDateString(value);
  const instant = timeOf(value, zone);
  if (zone === undefined) return ICAL.Time.fromJSDate(instant, true);
  const wall = wallTimeAt(zone, instant.getTime());
  return ICAL.Time.fromData({ ...wall, isDate: false });
}

function addTime(vevent: ICAL.Component, name: string, value: string, zone: string | undefined): void {
  const property = new ICAL.Property(name, vevent);
  if (DATE_ONLY.test(value)) property.resetType('date');
  property.setValue(icalTime(value, zone));
  if (!DATE_ONLY.test(value) && zone !== undefined) property.setParameter('tzid', zone);
  vevent.addProperty(property);
}

function buildVevent(event: CalendarEvent, stamp: Date): ICAL.Component {
  const vevent = new ICAL.Component('vevent');
  const zone = DATE_ONLY.test(event.start) ? undefined : event.timeZone;
  vevent.addPropertyWithValue('uid', event.uid);
  vevent.addPropertyWithValue('dtstamp', ICAL.Time.fromJSDate(stamp, true));
  addTime(vevent, 'dtstart', event.start, zone);
  addTime(vevent, 'dtend', event.end, zone);
  vevent.addPropertyWithValue('summary', event.summary);
  if (event.description !== undefined) vevent.addPropertyWithValue('description', event.description);
  if (event.location !== undefined) vevent.addPropertyWithValue('location', event.location);
  if (event.rrule !== undefined) vevent.addPropertyWithValue('rrule', ICAL.Recur.fromString(event.rrule.replace(/^RRULE:/i, '')));
  for (const exdate of event.exdates ?? []) addTime(vevent, 'exdate', exdate, zone);
  for (const attendee of event.attendees ?? []) {
    const property = vevent.addPropertyWithValue('attendee', `mailto:${attendee.email}`);
    if (attendee.name !== undefined) property.setParameter('cn', attendee.name);
    if (attendee.role !== undefined) property.setParameter('role', ROLES[attendee.role]);
    if (attendee.status !== undefined) property.setParameter('partstat', attendee.status.toUpperCase());
  }
  for (const reminder of event.reminders ?? []) {
    const valarm = new ICAL.Component('valarm');
    const action = (reminder.action ?? 'display').toUpperCase();
    valarm.addPropertyWithValue('action', action);
    valarm.addPropertyWithValue('trigger', ICAL.Duration.fromSeconds(-reminder.minutesBefore * 60));
    // RFC 5545 §3.6.6: DISPLAY and EMAIL need a DESCRIPTION, EMAIL a SUMMARY and an ATTENDEE.
    if (action !== 'AUDIO') valarm.addPropertyWithValue('description', event.summary.length > 0 ? event.summary : 'Reminder');
    if (action === 'EMAIL') {
      valarm.addPropertyWithValue('summary', event.summary.length > 0 ? event.summary : 'Reminder');
      for (const attendee of event.attendees ?? []) valarm.addPropertyWithValue('attendee', `mailto:${attendee.email}`);
    }
    vevent.addSubcomponent(valarm);
  }
  return vevent;
}

/** Whether a stored object already says what `event` says (DTSTAMP, VTIMEZONE and formatting aside). */
export function sameEvent(stored: ParsedEvent, event: CalendarEvent): boolean {
  const wanted = parseEventIcs(buildEventIcs(event, new Date(0)));
  return JSON.stringify(comparable(stored)) === JSON.stringify(comparable(wanted));
}

function comparable(event: ParsedEvent): unknown {
  return { ...event, startsAt: event.startsAt?.getTime(), endsAt: event.endsAt?.getTime() };
}
