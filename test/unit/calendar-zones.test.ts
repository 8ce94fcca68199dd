/** Wall time ↔ instant by IANA zone (Intl), and the VTIMEZONEs calendar.write builds from it. */
import ICAL from 'ical.js';
import { describe, expect, it } from 'vitest';
import { buildVtimezone } from '../../src/jobs/calendar/vtimezone.js';
import { isIanaZone, offsetMsAt, wallTimeAt, wallTimeToInstant, type WallTime } from '../../src/jobs/calendar/zones.js';

const wall = (text: string): WallTime => {
  const [d, t] = text.split('T') as [string, string];
  const [year, month, day] = d.split('-').map(Number) as [number, number, number];
  const [hour, minute, second = 0] = t.split(':').map(Number) as [number, number, number?];
  return { year, month, day, hour, minute, second };
};

describe('wallTimeToInstant', () => {
  it.each([
    ['2027-06-07T09:00', 'America/New_York', '2027-06-07T13:00:00.000Z'],
    ['2027-01-15T09:00', 'America/Chicago', '2027-01-15T15:00:00.000Z'],
    ['2027-03-13T09:00', 'America/New_York', '2027-03-13T14:00:00.000Z'], // the day before DST starts
    ['2027-03-15T09:00', 'America/New_York', '2027-03-15T13:00:00.000Z'], // the day after
    ['2027-03-28T01:30', 'Europe/Berlin', '2027-03-28T00:30:00.000Z'],
    ['2027-03-28T03:30', 'Europe/Berlin', '2027-03-28T01:30:00.000Z'],
    ['2027-03-10T08:30', 'Asia/Tokyo', '2027-03-09T23:30:00.000Z'],
    ['2027-03-10T08:30', 'Asia/Kolkata', '2027-03-10T03:00:00.000Z'],
    ['2027-04-04T02:30', 'Australia/Sydney', '2027-04-03T15:30:00.000Z'], // twice (DST ends 03:00 → 02:00): the first
    ['2027-03-14T02:30', 'America/New_York', '2027-03-14T07:30:00.000Z'], // skipped: the offset before the gap (= 03:30 EDT)
    ['2027-11-07T01:30', 'America/New_York', '2027-11-07T05:30:00.000Z'], // twice: the first (EDT)
    ['2027-07-01T12:00', 'UTC', '2027-07-01T12:00:00.000Z'],
  ])('%s in %s is %s', (local, zone, expected) => {
    expect(wallTimeToInstant(wall(local), zone).toISOString()).toBe(expected);
  });

  it('round-trips with wallTimeAt on every hour of a year in a zone with DST (skipped hours aside)', () => {
    const zone = 'Europe/Berlin';
    for (let t = Date.UTC(2027, 0, 1); t < Date.UTC(2028, 0, 1); t += 3_600_000) {
      const local = wallTimeAt(zone, t);
      const back = wallTimeToInstant(local, zone).getTime();
      // The repeated hour (DST end) reads as its first occurrence.
      expect(back === t || back === t - 3_600_000).toBe(true);
    }
  });

  it('isIanaZone knows zone names, not offsets or Windows names', () => {
    expect(isIanaZone('Europe/Berlin')).toBe(true);
    expect(isIanaZone('UTC')).toBe(true);
    expect(isIanaZone('W. Europe Standard Time')).toBe(false);
    expect(isIanaZone('+01:00')).toBe(false);
    expect(isIanaZone('Mars/Olympus_Mons')).toBe(false);
  });
});

describe('buildVtimezone', () => {
  /** Reads `local` with ical.js and only the VTIMEZONE (under another TZID, so no zone name can help). */
  function readByVtimezone(vtimezone: ICAL.Component, local: WallTime): number {
    const copy = new ICAL.Component(vtimezone.toJSON());
    copy.updatePropertyWithValue('tzid', 'Only-The-Vtimezone');
    const zone = new ICAL.Timezone(copy);
    return ICAL.Time.fromData({ ...local, isDate: false }, zone).toUnixTime() * 1000;
  }

  it.each([
    ['Europe/Berlin', 2027, 'RRULE'],
    ['America/New_York', 2027, 'RRULE'],
    ['Australia/Sydney', 2027, 'RRULE'],
    ['Asia/Kolkata', 2027, 'none'],
    ['America/Sao_Paulo', 2017, 'each'], // DST abolished in 2019: no yearly rule holds for ten years
  ])('%s from %i: ical.js reading only the VTIMEZONE agrees with Intl (%s)', (zone, year, shape) => {
    const vtimezone = buildVtimezone(zone, year);
    const text = vtimezone.toString();
    if (shape === 'RRULE') expect(text.match(/RRULE:/g)).toHaveLength(2);
    if (shape === 'none') expect(vtimezone.getAllSubcomponents()).toHaveLength(1);
    if (shape === 'each') expect(text).not.toContain('RRULE');
    expect(text).not.toContain('RDATE');
    for (let t = Date.UTC(year, 0, 1, 0, 17); t < Date.UTC(year + 9, 11, 1); t += 5 * 86_400_000 + 3_600_000) {
      const local = wallTimeAt(zone, t);
      const expected = wallTimeToInstant(local, zone).getTime();
      expect(readByVtimezone(vtimezone, local), `${zone} ${JSON.stringify(local)}`).toBe(expected);
    }
    expect(offsetMsAt(zone, Date.UTC(year, 6, 1))).toBe(offsetMsAt(zone, Date.UTC(year, 6, 1)));
  });
});
