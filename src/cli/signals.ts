/**
 * SIGINT and SIGTERM, handled the same way by every command that runs until stopped (`worker`, `dev`,
 * `api`, `stats --watch`, the `dlq` scans): the first signal runs the command's handler, once (drain,
 * close the server, abort the scan); a second one exits at once with 128 + the signal's number
 * (SIGINT 130, SIGTERM 143), what a shell reports for a process the signal killed.
 */
import type { Logger } from 'pino';

export type ShutdownSignal = 'SIGINT' | 'SIGTERM';

const EXIT_CODES: Readonly<Record<ShutdownSignal, number>> = { SIGINT: 130, SIGTERM: 143 };

/** Where signals arrive: `process`, or an event emitter in tests. */
interface SignalSource {
  on(signal: ShutdownSignal, listener: () => void): unknown;
  off(signal: ShutdownSignal, listener: () => void): unknown;
}

export interface ShutdownSignalOptions {
  /** Logs the first signal at info (`stopping`) and a second at warn (`exiting`), each with `{ signal }`. */
  logger?: Pick<Logger, 'info' | 'warn'>;
  /** @defaultValue 'stopping' */
  stopping?: string;
  /** @defaultValue 'second signal: exiting now' */
  exiting?: string;
  /** @defaultValue process */
  source?: SignalSource;
  /** @defaultValue process.exit */
  exit?: (code: number) => void;
}

/**
 * Runs `handler` on the first SIGINT or SIGTERM; on a second, exits (130 / 143). Returns a disposer
 * that removes both listeners (a signal after it gets Node's default: the process dies of it).
 */
export function onShutdownSignals(handler: (signal: ShutdownSignal) => void, options: ShutdownSignalOptions = {}): () => void {
  const source: SignalSource = options.source ?? process;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let received = false;
  const listeners = (['SIGINT', 'SIGTERM'] as const).map((signal) => {
    const listener = (): void => {
      if (received) {
        options.logger?.warn({ signal }, options.exiting ?? 'second signal: exiting now');
        exit(EXIT_CODES[signal]);
        return;
      }
      received = true;
      options.logger?.info({ signal }, options.stopping ?? 'stopping');
      handler(signal);
    };
    source.on(signal, listener);
    return { signal, listener };
  });
  return () => {
    for (const { signal, listener } of listeners) source.off(signal, listener);
  };
}

/** An AbortSignal that the first SIGINT / SIGTERM aborts, until `dispose`. */
export function interruptSignal(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const dispose = onShutdownSignals(() => controller.abort());
  return { signal: controller.signal, dispose };
}
