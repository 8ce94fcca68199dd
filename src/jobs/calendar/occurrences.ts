/**
 * The occurrences of a stored event within a window, from its iCalendar text (the `ical` column): ical.js's
 * recurrence iterator (RRULE, RDATE, EXDATE) over the master VEVENT, with the object's RECURRENCE-ID
 * overrides applied, each occurrence's times read as `ical-read.ts` reads them (IANA zones by `Intl`,
 * dates as dates), so the answer does not depend on the host's zone.
 */
import ICAL from 'ical.js';
import { calendarZoneOf, endTime, formatDate, masterEvent, timeReader, wallClone } from './ical-read.js';
import { wallAsUtcMs } from './zones.js';

export interface Occurrence {
  /** The occurrence's RECURRENCE-ID: its start as the rule gives it (instant ISO text, a date, or a wall time). */
  recurrenceId: string;
  /** Instants of a timed occurrence (`undefined` when floating with no calendar zone). */
  start: Date | undefined;
  end: Date | undefined;
  /** `YYYY-MM-DD` of an all-day occurrence (`endDate` exclusive). */
  startDate: string | undefined;
  endDate: string | undefined;
  /** Whether a RECURRENCE-ID VEVENT of the object replaced this occurrence. */
  overridden: boolean;
  summary: string | undefined;
}

export interface OccurrenceWindow {
  /** Occurrences that end after `from`... */
  from: Date;
  /** ...and start before `to`. All-day ones count by the UTC midnights of their dates. */
  to: Date;
  /** The calendar's zone for floating times (the row's `time_zone` when `floating`). */
  calendarZone?: string | undefined;
  /** At most this many. @defaultValue 1000 */
  limit?: number;
}

/** Steps of the iterator before it gives up on a window far from the rule's start. */
const MAX_STEPS = 100_000;

function dayMs(time: ICAL.Time): number {
  return Date.UTC(time.year, time.month - 1, time.day);
}

/**
 * The occurrences of the object's event within the window, in order. A non-recurring event is its one
 * occurrence when it overlaps the window.
 */
export function expandOccurrences(ics: string, window: OccurrenceWindow): Occurrence[] {
  const calendar = new ICAL.Component(ICAL.parse(ics));
  const master = masterEvent(calendar);
  const dtstart = master?.getFirstProperty('dtstart') ?? null;
  if (master === null || dtstart === null) return [];
  const zone = calendarZoneOf(calendar, window.calendarZone);
  const event = new ICAL.Event(master);
  for (const vevent of calendar.getAllSubcomponents('vevent')) {
    if (vevent !== master && vevent.hasProperty('recurrence-id')) event.relateException(vevent);
  }
  const limit = window.limit ?? 1000;
  const from = window.from.getTime();
  const to = window.to.getTime();
  const masterStart = dtstart.getFirstValue() as ICAL.Time;
  const found: Occurrence[] = [];
  const iterator = event.iterator();
  for (let step = 0; step < MAX_STEPS && found.length < limit; step++) {
    const next = iterator.next();
    if (next === null || next === undefined) break;
    const details = event.getOccurrenceDetails(next);
    const item = details.item;
    const itemStart = item.component.getFirstProperty('dtstart');
    const startProperty = item.isRecurrenceException() && itemStart !== null ? itemStart : dtstart;
    const start = wallClone(details.startDate);
    const end = item.isRecurrenceException() ? wallClone(details.endDate) : wallClone(occurrenceEnd(master, masterStart, start));
    const summary = item.component.getFirstPropertyValue('summary');
    const base = { overridden: item.isRecurrenceException(), summary: summary === null ? undefined : String(summary) };
    if (start.isDate) {
      if (dayMs(start) >= to) break;
      if (dayMs(end) <= from) continue;
      found.push({
        ...base,
        recurrenceId: formatDate(next),
        start: undefined,
        end: undefined,
        startDate: formatDate(start),
        endDate: formatDate(end),
      });
      continue;
    }
    const reader = timeReader(startProperty, zone);
    const startAt = reader.instant(start);
    const endAt = reader.instant(end);
    const recurrenceId = timeReader(dtstart, zone).instant(wallClone(next));
    // A floating time with no zone is compared by its wall clock read as UTC.
    const startMs = startAt?.getTime() ?? wallAsUtcMs(start);
    const endMs = endAt?.getTime() ?? wallAsUtcMs(end);
    if (startMs >= to && !item.isRecurrenceException()) break;
    if (startMs >= to || endMs <= from) continue;
    found.push({
      ...base,
      recurrenceId: recurrenceId?.toISOString() ?? next.toString(),
      start: startAt,
      end: endAt,
      startDate: undefined,
      endDate: undefined,
    });
  }
  return found;
}

/** An occurrence's end: its start plus the master's length in wall time (DTEND − DTSTART, or DURATION). */
function occurrenceEnd(master: ICAL.Component, masterStart: ICAL.Time, start: ICAL.Time): ICAL.Time {
  const masterEnd = endTime(master, masterStart);
  const length = wallClone(masterEnd).subtractDate(wallClone(masterStart));
  const end = wallClone(start);
  end.addDuration(length);
  return end;
}
