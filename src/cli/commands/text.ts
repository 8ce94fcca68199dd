/** Text the commands print alike: padded columns, cut cells, an attempt history. */
import type { HistoryEntry } from '../../queue/envelope.js';

/** Rows as columns padded to their widest cell; the last column is not padded. */
export function columns(rows: readonly string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** `text` cut to `max` characters with an ellipsis; `-` for null. */
export const cut = (text: string | null, max: number): string =>
  text === null ? '-' : text.length > max ? `${text.slice(0, max - 1)}…` : text;

/** One line per failed attempt: number, end, kind, duration, error. */
export function historyLines(history: readonly HistoryEntry[]): string[] {
  if (history.length === 0) return ['  (no failed attempts recorded)'];
  return history.map(
    (entry) =>
      `  #${entry.attempt}  ${entry.at}  ${entry.kind.padEnd(11)} ${String(entry.durationMs).padStart(7)} ms  ${entry.error.name}: ${entry.error.message}${entry.error.reason ? ` (reason ${entry.error.reason})` : ''}`,
  );
}
