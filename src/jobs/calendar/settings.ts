/**
 * The calendar jobs' settings: what `createCalendarJobs` takes, and the zod schemas that read them from an
 * environment the edge hands in (src/jobs/index.ts gives this process's). Each job asks for its own part
 * on its first run, never at import. A bad value is one `ConfigError` line naming the setting:
 * `CALSYNC_SYNC_BATCH_SIZE: expected an integer from 1 to 1000, got "lots"`, `CALSYNC_ACCOUNTS.alice.serverUrl: Invalid URL`.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { accountsSchema, staticAccounts, type AccountResolver } from './accounts.js';
import { parseSettings } from './schemas.js';

export const DEFAULT_SYNC_BATCH_SIZE = 50;
export const MAX_SYNC_BATCH_SIZE = 1000;
/** `calendar.write` starts per account per second, on all workers together (`CALSYNC_CALDAV_RATE`). */
export const DEFAULT_CALDAV_RATE = 10;
export const MAX_CALDAV_RATE = 1000;

/** Environment variables by name, as `process.env` holds them. */
export type SettingsEnv = Readonly<Record<string, string | undefined>>;

/** What `calendar.write` needs: `CALSYNC_ACCOUNTS` or `CALSYNC_ACCOUNTS_FILE`, and `CALSYNC_CALDAV_RATE`. */
export interface CalendarWriteSettings {
  readonly accounts: AccountResolver;
}

/** What `calendar.sync` needs: the accounts, `CALSYNC_DATABASE_URL` and `CALSYNC_SYNC_BATCH_SIZE`. */
export interface CalendarSyncSettings extends CalendarWriteSettings {
  /** A PostgreSQL connection string (`postgres://user:password@host:5432/db`). */
  readonly databaseUrl: string;
  /** Objects per calendar-multiget and per transaction, 1–1000. */
  readonly batchSize: number;
}

/** Each calendar job's settings, asked for on the job's first run (and again after a failure). */
export interface CalendarSettings {
  write(): CalendarWriteSettings;
  sync(): CalendarSyncSettings;
  /**
   * `CALSYNC_CALDAV_RATE` for `calendar.write`'s definition, which is made before any job runs: the
   * default when the value is bad (the first write then fails on it with the setting's name, as every
   * calendar setting does).
   */
  caldavRate(): number;
}

/** An optional setting: trimmed, `undefined` when unset or empty. */
const optionalText = z
  .string()
  .optional()
  .transform((text) => (text === undefined || text.trim() === '' ? undefined : text.trim()));

const required = (expected: string) => {
  const message = `not set: expected ${expected}`;
  return z.string({ error: message }).trim().min(1, message);
};

const integer = (min: number, max: number, fallback: number) =>
  z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined || text.trim() === '') return fallback;
      const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
      if (value >= min && value <= max) return value;
      ctx.addIssue({ code: 'custom', message: `expected an integer from ${min} to ${max}, got ${JSON.stringify(text)}` });
      return z.NEVER;
    });

const accountsFields = { CALSYNC_ACCOUNTS: optionalText, CALSYNC_ACCOUNTS_FILE: optionalText };

/** `CALSYNC_ACCOUNTS` (JSON text) or `CALSYNC_ACCOUNTS_FILE` (the path of a JSON file), not both. */
function readAccounts(env: { CALSYNC_ACCOUNTS?: string | undefined; CALSYNC_ACCOUNTS_FILE?: string | undefined }, ctx: z.RefinementCtx) {
  const fail = (path: (string | number)[], message: string): never => {
    ctx.addIssue({ code: 'custom', path, message });
    return z.NEVER;
  };
  const { CALSYNC_ACCOUNTS: inline, CALSYNC_ACCOUNTS_FILE: file } = env;
  if (inline !== undefined && file !== undefined)
    return fail(['CALSYNC_ACCOUNTS_FILE'], 'set either CALSYNC_ACCOUNTS or CALSYNC_ACCOUNTS_FILE, not both');
  if (inline === undefined && file === undefined) {
    return fail(
      ['CALSYNC_ACCOUNTS'],
      'not set: expected JSON like {"alice":{"serverUrl":"https://dav.example.com/alice/","username":"alice","password":"..."}} or CALSYNC_ACCOUNTS_FILE',
    );
  }
  const setting = inline !== undefined ? 'CALSYNC_ACCOUNTS' : 'CALSYNC_ACCOUNTS_FILE';
  let text: string;
  try {
    text = inline ?? readFileSync(file as string, 'utf8');
  } catch (error) {
    return fail([setting], `cannot read ${file}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return fail([setting], `not valid JSON: ${(error as Error).message}`);
  }
  const accounts = accountsSchema.safeParse(json);
  if (!accounts.success) {
    for (const issue of accounts.error.issues) fail([setting, ...issue.path.map(String)], issue.message);
    return z.NEVER;
  }
  return staticAccounts(accounts.data);
}

const caldavRate = integer(1, MAX_CALDAV_RATE, DEFAULT_CALDAV_RATE);

/** `calendar.write`'s settings from the environment. */
const calendarWriteSettingsSchema = z
  .object({ CALSYNC_CALDAV_RATE: caldavRate, ...accountsFields })
  // CALSYNC_CALDAV_RATE is checked here (a bad value fails the first write, naming it); the definition reads it through caldavRate().
  .transform((env, ctx): CalendarWriteSettings => ({ accounts: readAccounts(env, ctx) }));

/** `calendar.sync`'s settings from the environment; the settings are checked in this order. */
const calendarSyncSettingsSchema = z
  .object({
    CALSYNC_DATABASE_URL: required('postgres://user:password@host:5432/db'),
    CALSYNC_SYNC_BATCH_SIZE: integer(1, MAX_SYNC_BATCH_SIZE, DEFAULT_SYNC_BATCH_SIZE),
    ...accountsFields,
  })
  .transform(
    (env, ctx): CalendarSyncSettings => ({
      accounts: readAccounts(env, ctx),
      databaseUrl: env.CALSYNC_DATABASE_URL,
      batchSize: env.CALSYNC_SYNC_BATCH_SIZE,
    }),
  );

/** The settings read from `env()` when a job asks for them: the edge hands in the environment, lazily. */
export function calendarSettingsFromEnv(env: () => SettingsEnv): CalendarSettings {
  return {
    write: () => parseSettings(calendarWriteSettingsSchema, env()),
    sync: () => parseSettings(calendarSyncSettingsSchema, env()),
    caldavRate: () => {
      const parsed = caldavRate.safeParse(env().CALSYNC_CALDAV_RATE);
      return parsed.success ? parsed.data : DEFAULT_CALDAV_RATE;
    },
  };
}
