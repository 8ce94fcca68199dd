/**
 * RFC 5545 §3.1 content lines: at most 75 octets each (the leading space of a continuation counts),
 * CRLF after every line including `END:VCALENDAR`. ical.js folds by characters and leaves the last
 * line bare, so its output is unfolded and folded again here by UTF-8 octets, never inside a character.
 */

/** Longest content line, in octets, CRLF excluded. */
export const MAX_LINE_OCTETS = 75;

const encoder = new TextEncoder();

/** Unfolds `text` (any line ending, any folding) and folds it again by octets, CRLF-terminated. */
export function foldIcs(text: string): string {
  const unfolded = text.replace(/\r?\n[ \t]/g, '');
  const lines = unfolded.split(/\r?\n/).filter((line) => line.length > 0);
  return lines.map((line) => `${foldLine(line)}\r\n`).join('');
}

function foldLine(line: string): string {
  if (encoder.encode(line).length <= MAX_LINE_OCTETS) return line;
  const parts: string[] = [];
  let current = '';
  let size = 0;
  // The first line holds 75 octets; each continuation 74 after its leading space.
  let limit = MAX_LINE_OCTETS;
  for (const char of line) {
    const octets = encoder.encode(char).length;
    if (size + octets > limit) {
      parts.push(current);
      current = '';
      size = 0;
      limit = MAX_LINE_OCTETS - 1;
    }
    current += char;
    size += octets;
  }
  parts.push(current);
  return parts.join('\r\n ');
}
