/** Content lines of the objects calendar.write sends: ≤ 75 octets, folded by octets, CRLF after every line. */
import { describe, expect, it } from 'vitest';
import { foldIcs, MAX_LINE_OCTETS } from '../../src/jobs/calendar/ics-text.js';
import { buildEventIcs, parseEventIcs } from '../../src/jobs/calendar/ical.js';

const octets = (text: string): Buffer => Buffer.from(text, 'utf8');

/** The lines of `ics` as octet buffers, split at CRLF (the text must end with one). */
function lines(ics: string): Buffer[] {
  const bytes = octets(ics);
  const found: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length - 1; i++) {
    if (bytes[i] === 0x0d && bytes[i + 1] === 0x0a) {
      found.push(bytes.subarray(start, i));
      start = i + 2;
      i++;
    }
  }
  expect(start).toBe(bytes.length);
  return found;
}

describe('iCalendar text', () => {
  const event = {
    uid: 'long-1',
    summary: 'Ünïcödé 東京 ☕ '.repeat(12),
    start: '2027-01-04T09:00:00Z',
    end: '2027-01-04T10:00:00Z',
    description: `${'A'.repeat(200)} ✈️🎉 ${'ß'.repeat(100)}`,
  };

  it('ends every line, END:VCALENDAR included, with CRLF, and no line has a bare LF or CR', () => {
    const ics = buildEventIcs(event, new Date(0));
    const bytes = octets(ics);
    expect(bytes.subarray(-15).toString('latin1')).toBe('END:VCALENDAR\r\n');
    for (const line of lines(ics)) {
      expect(line.includes(0x0a)).toBe(false);
      expect(line.includes(0x0d)).toBe(false);
    }
  });

  it('folds long lines by octets: none longer than 75 octets, continuations start with one space', () => {
    const ics = buildEventIcs(event, new Date(0));
    const all = lines(ics);
    expect(Math.max(...all.map((line) => line.length))).toBeLessThanOrEqual(MAX_LINE_OCTETS);
    // The long SUMMARY and DESCRIPTION were folded, so some lines are exactly full or nearly so.
    expect(all.filter((line) => line[0] === 0x20).length).toBeGreaterThan(4);
    // No fold splits a UTF-8 sequence: every line is valid UTF-8 on its own.
    for (const line of all) expect(() => new TextDecoder('utf-8', { fatal: true }).decode(line)).not.toThrow();
    const parsed = parseEventIcs(ics);
    expect(parsed.summary).toBe(event.summary);
    expect(parsed.description).toBe(event.description);
  });

  it('a line of exactly 75 octets stays whole; 76 octets fold into 75 + (space + 1)', () => {
    const exact = `X-A:${'b'.repeat(71)}`;
    expect(octets(exact).length).toBe(75);
    expect(foldIcs(`${exact}\n`)).toBe(`${exact}\r\n`);
    const over = `${exact}c`;
    expect(foldIcs(over)).toBe(`${exact}\r\n c\r\n`);
  });

  it('a multi-octet character that would cross the limit moves whole to the next line', () => {
    const line = `X-A:${'b'.repeat(70)}é`; // 74 + 2 octets
    const folded = foldIcs(line);
    expect(folded).toBe(`X-A:${'b'.repeat(70)}\r\n é\r\n`);
    expect(lines(folded).map((l) => l.length)).toEqual([74, 3]);
  });

  it('refolds text that was folded by characters (ical.js) or with LF line ends', () => {
    const folded = foldIcs(`BEGIN:VCALENDAR\nX-A:${'é'.repeat(40)}\n ${'é'.repeat(40)}\nEND:VCALENDAR`);
    const all = lines(folded);
    expect(all[0]!.toString()).toBe('BEGIN:VCALENDAR');
    expect(all.at(-1)!.toString()).toBe('END:VCALENDAR');
    expect(Math.max(...all.map((line) => line.length))).toBeLessThanOrEqual(75);
    expect(folded.replace(/\r\n /g, '')).toBe(`BEGIN:VCALENDAR\r\nX-A:${'é'.repeat(80)}\r\nEND:VCALENDAR\r\n`);
  });
});
