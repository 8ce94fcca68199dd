import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/** Paths always redacted, whatever else is configured: credentials never reach the logs. */
export const DEFAULT_REDACT_PATHS = [
  'password',
  '*.password',
  'payload.password',
  'payload.token',
  'payload.accessToken',
  'credentials',
  '*.credentials',
  'authorization',
  '*.authorization',
  'headers.authorization',
] as const;

export interface LoggerSettings {
  /** pino level. @defaultValue 'info' */
  level?: LoggerOptions['level'];
  /** Extra paths to redact (pino redact syntax), e.g. `payload.event.description`. */
  redact?: readonly string[];
  /** Bound fields on every line. @defaultValue `{ name: 'calsync-jobs' }` */
  base?: Record<string, unknown>;
  destination?: DestinationStream;
}

/** A pino JSON logger with credentials redacted. Logs go to stdout unless a destination is given. */
export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    base: settings.base ?? { name: 'calsync-jobs' },
    redact: { paths: [...DEFAULT_REDACT_PATHS, ...(settings.redact ?? [])], censor: '[redacted]' },
  };
  return settings.destination ? pino(options, settings.destination) : pino(options);
}
