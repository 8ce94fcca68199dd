/**
 * Terminal output for long-running commands: a progress bar and a block of lines redrawn in place.
 * Both draw only on a TTY; elsewhere the bar is silent and the block is appended as new lines, so logs
 * and pipes get plain text.
 */

/** The part of a stream these helpers use (`process.stdout`, `process.stderr`, a test double). */
export interface TerminalStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** ANSI: cursor up one line, then clear that whole line. */
const UP_AND_CLEAR = '\x1b[1A\x1b[2K';
const CLEAR_LINE = '\r\x1b[2K';

export interface Progress {
  /** Records progress; redraws at most every `intervalMs`. `total` may grow (or become known) later. */
  update(done: number, total?: number): void;
  /** Clears the bar (on a TTY). Idempotent. */
  finish(): void;
}

export interface ProgressOptions {
  label: string;
  total?: number;
  /** @defaultValue process.stderr */
  stream?: TerminalStream;
  /** @defaultValue 100 */
  intervalMs?: number;
  /** @defaultValue Date.now */
  now?: () => number;
}

/** `label [██████░░░░░░] 600/1000` on a TTY (stderr by default); nothing otherwise. */
export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  const intervalMs = options.intervalMs ?? 100;
  let total = options.total;
  let lastDraw = -Infinity;
  let drawn = false;
  let finished = false;
  const draw = (done: number): void => {
    const width = 30;
    const known = total !== undefined && total > 0;
    const ratio = known ? Math.min(1, done / total!) : 0;
    const filled = Math.round(ratio * width);
    const bar = known ? `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ` : '';
    stream.write(`${CLEAR_LINE}${options.label} ${bar}${done}${known ? `/${total}` : ''}`);
    drawn = true;
  };
  return {
    update(done, newTotal) {
      if (newTotal !== undefined) total = Math.max(newTotal, done);
      if (finished || !stream.isTTY) return;
      const at = now();
      if (at - lastDraw < intervalMs) return;
      lastDraw = at;
      draw(done);
    },
    finish() {
      if (finished) return;
      finished = true;
      if (drawn) stream.write(CLEAR_LINE);
    },
  };
}

/** A block of lines that replaces itself on every `render` on a TTY, and is appended otherwise. */
export interface LiveBlock {
  render(lines: readonly string[]): void;
}

export function createLiveBlock(stream: TerminalStream = process.stdout): LiveBlock {
  let previous = 0;
  return {
    render(lines) {
      if (stream.isTTY && previous > 0) stream.write(`${UP_AND_CLEAR.repeat(previous)}\r`);
      stream.write(lines.map((line) => `${line}\n`).join(''));
      previous = lines.length;
    },
  };
}
