/**
 * A VTIMEZONE for an IANA zone, computed from `Intl` (no tz database of our own), for the objects
 * `calendar.write` sends with `TZID=<zone>`. Readers that know the zone (Nextcloud, Thunderbird,
 * python-icalendar, this project) read the TZID by its name; the VTIMEZONE serves the others.
 *
 * The transitions from the year before the event's to `years` years after are found by scanning offsets day by day and
 * bisecting to the second. When every year has one transition each way on the same rule (the n-th or
 * last weekday of a month, at the same local time) the observances are two, with a yearly RRULE;
 * otherwise there is one observance per transition, each with its own DTSTART (never an RDATE list:
 * Radicale 3.1 keeps only the first value of one).
 */
import ICAL from 'ical.js';
import { offsetMsAt, type WallTime, wallTimeAt } from './zones.js';

const DAY_MS = 86_400_000;
const WEEKDAYS = ['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA'] as const;

interface Transition {
  /** First instant of the new offset. */
  at: number;
  from: number;
  to: number;
}

function transitions(zone: string, fromMs: number, toMs: number): Transition[] {
  const found: Transition[] = [];
  let previous = offsetMsAt(zone, fromMs);
  for (let t = fromMs + DAY_MS; t <= toMs; t += DAY_MS) {
    const offset = offsetMsAt(zone, t);
    if (offset === previous) continue;
    let low = t - DAY_MS;
    let high = t;
    while (high - low > 1000) {
      const middle = Math.floor((low + high) / 2000) * 1000;
      if (offsetMsAt(zone, middle) === previous) low = middle;
      else high = middle;
    }
    found.push({ at: high, from: previous, to: offset });
    previous = offset;
  }
  return found;
}

function icalWall(wall: WallTime): ICAL.Time {
  return ICAL.Time.fromData({ ...wall, isDate: false });
}

/** The local time (in the offset before it) at which a transition happens. */
function localStart(transition: Transition): WallTime {
  return wallTimeAt('UTC', transition.at + transition.from);
}

/** `-1SU` (last Sunday) or `2SU` (second Sunday) when the rule says so, for one transition. */
function byDay(wall: WallTime): { nth: number; last: boolean; weekday: string } {
  const date = new Date(Date.UTC(wall.year, wall.month - 1, wall.day));
  const weekday = WEEKDAYS[date.getUTCDay()]!;
  const daysInMonth = new Date(Date.UTC(wall.year, wall.month, 0)).getUTCDate();
  return { nth: Math.ceil(wall.day / 7), last: wall.day + 7 > daysInMonth, weekday };
}

/** The yearly RRULE shared by all of `group` (one per year, consecutive), or undefined. */
function yearlyRule(group: readonly Transition[]): string | undefined {
  if (group.length < 2) return undefined;
  const walls = group.map(localStart);
  const first = walls[0]!;
  const days = walls.map(byDay);
  const sameClock = walls.every(
    (w, i) =>
      w.month === first.month &&
      w.hour === first.hour &&
      w.minute === first.minute &&
      w.second === first.second &&
      w.year === first.year + i,
  );
  if (!sameClock || !days.every((d) => d.weekday === days[0]!.weekday)) return undefined;
  if (days.every((d) => d.last)) return `FREQ=YEARLY;BYMONTH=${first.month};BYDAY=-1${days[0]!.weekday}`;
  if (days.every((d) => d.nth === days[0]!.nth)) return `FREQ=YEARLY;BYMONTH=${first.month};BYDAY=${days[0]!.nth}${days[0]!.weekday}`;
  return undefined;
}

function observance(transition: Transition, rrule?: string): ICAL.Component {
  const component = new ICAL.Component(transition.to > transition.from ? 'daylight' : 'standard');
  component.addPropertyWithValue('dtstart', icalWall(localStart(transition)));
  component.addPropertyWithValue('tzoffsetfrom', ICAL.UtcOffset.fromSeconds(transition.from / 1000));
  component.addPropertyWithValue('tzoffsetto', ICAL.UtcOffset.fromSeconds(transition.to / 1000));
  if (rrule !== undefined) component.addPropertyWithValue('rrule', ICAL.Recur.fromString(rrule));
  return component;
}

/**
 * The VTIMEZONE of `zone` (an IANA name) for events from `fromYear` on: transitions of `years` years,
 * as two yearly rules when the zone follows one, else one observance per transition.
 */
export function buildVtimezone(zone: string, fromYear: number, years = 10): ICAL.Component {
  const vtimezone = new ICAL.Component('vtimezone');
  vtimezone.addPropertyWithValue('tzid', zone);
  // From the year before: readers such as ical.js give times before the first observance offset 0.
  const start = Date.UTC(fromYear - 1, 0, 1);
  const found = transitions(zone, start, Date.UTC(fromYear + years, 0, 1));
  if (found.length === 0) {
    const offset = offsetMsAt(zone, start);
    vtimezone.addSubcomponent(observance({ at: Date.UTC(1970, 0, 1) - offset, from: offset, to: offset }));
    return vtimezone;
  }
  const up = found.filter((t) => t.to > t.from);
  const down = found.filter((t) => t.to <= t.from);
  const upRule = yearlyRule(up);
  const downRule = yearlyRule(down);
  const sameOffsets = (group: readonly Transition[]): boolean => group.every((t) => t.from === group[0]!.from && t.to === group[0]!.to);
  if (upRule !== undefined && downRule !== undefined && sameOffsets(up) && sameOffsets(down)) {
    vtimezone.addSubcomponent(observance(up[0]!, upRule));
    vtimezone.addSubcomponent(observance(down[0]!, downRule));
    return vtimezone;
  }
  for (const transition of found) vtimezone.addSubcomponent(observance(transition));
  return vtimezone;
}
