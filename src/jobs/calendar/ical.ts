/**
 * iCalendar objects of the calendar jobs, built and read with ical.js (no hand-written ICS).
 */
import ICAL from 'ical.js';
import type { CalendarEvent } from './schemas.js';

const PRODID = '-//calsync-jobs//calendar.write//EN';

/** One VCALENDAR with one VEVENT; `stamp` becomes DTSTAMP. */
export function buildEventIcs(event: CalendarEvent, stamp: Date): string {
  const calendar = new ICAL.Component('vcalendar');
  calendar.addPropertyWithValue('version', '2.0');
  calendar.addPropertyWithValue('prodid', PRODID);
  calendar.addSubcomponent(buildVevent(event, stamp));
  return calendar.toString();
}

/** Many events in one VCALENDAR (what a whole-calendar upload sends). */
export function buildCalendarIcs(events: readonly CalendarEvent[], stamp: Date): string {
  const calendar = new ICAL.Component('vcalendar');
  calendar.addPropertyWithValue('version', '2.0');
  calendar.addPropertyWithValue('prodid', PRODID);
  for (const event of events) calendar.addSubcomponent(buildVevent(event, stamp));
  return calendar.toString();
}

function buildVevent(event: CalendarEvent, stamp: Date): ICAL.Component {
  const vevent = new ICAL.Component('vevent');
  vevent.addPropertyWithValue('uid', event.uid);
  vevent.addPropertyWithValue('dtstamp', ICAL.Time.fromJSDate(stamp, true));
  vevent.addPropertyWithValue('dtstart', ICAL.Time.fromJSDate(new Date(event.start), true));
  vevent.addPropertyWithValue('dtend', ICAL.Time.fromJSDate(new Date(event.end), true));
  vevent.addPropertyWithValue('summary', event.summary);
  if (event.description !== undefined) vevent.addPropertyWithValue('description', event.description);
  if (event.location !== undefined) vevent.addPropertyWithValue('location', event.location);
  return vevent;
}

/** The fields the jobs care about, read from an iCalendar object's first VEVENT. */
export interface ParsedEvent {
  uid: string | undefined;
  summary: string | undefined;
  /** `undefined` when absent. */
  startsAt: Date | undefined;
  endsAt: Date | undefined;
  description: string | undefined;
  location: string | undefined;
}

export function parseEventIcs(ics: string): ParsedEvent {
  const calendar = new ICAL.Component(ICAL.parse(ics));
  const vevent = calendar.name === 'vevent' ? calendar : calendar.getFirstSubcomponent('vevent');
  if (vevent === null)
    return { uid: undefined, summary: undefined, startsAt: undefined, endsAt: undefined, description: undefined, location: undefined };
  const event = new ICAL.Event(vevent);
  const text = (name: string): string | undefined => {
    const value = vevent.getFirstPropertyValue(name);
    return value === null || value === undefined ? undefined : String(value);
  };
  const start = vevent.hasProperty('dtstart') ? event.startDate : null;
  const end = vevent.hasProperty('dtend') || vevent.hasProperty('duration') ? event.endDate : null;
  return {
    uid: text('uid'),
    summary: text('summary'),
    startsAt: start ? start.toJSDate() : undefined,
    endsAt: end ? end.toJSDate() : undefined,
    description: text('description'),
    location: text('location'),
  };
}

/** Whether a stored object already says what `event` says (DTSTAMP and formatting aside). */
export function sameEvent(stored: ParsedEvent, event: CalendarEvent): boolean {
  return (
    stored.uid === event.uid &&
    stored.summary === event.summary &&
    stored.startsAt?.getTime() === Date.parse(event.start) &&
    stored.endsAt?.getTime() === Date.parse(event.end) &&
    stored.description === event.description &&
    stored.location === event.location
  );
}
