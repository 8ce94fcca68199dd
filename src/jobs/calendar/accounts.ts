/**
 * CalDAV accounts and their credentials. Payloads carry an `accountId`; the worker resolves it here from
 * `CALSYNC_ACCOUNTS` (JSON) or the JSON file named by `CALSYNC_ACCOUNTS_FILE`.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { NonRetryableError } from '../../machines/errors.js';
import { ConfigError } from '../../shared/errors.js';

/** Where an account's calendars live and how to log in. Never logged, never in a payload. */
export interface CalDavAccount {
  readonly id: string;
  /** Base URL that calendar paths are resolved against, with a trailing slash (`https://dav.example.com/alice/`). */
  readonly serverUrl: string;
  readonly username: string;
  readonly password: string;
}

/** Looks an account up; throws `NonRetryableError` (reason `unknown_account`) for an unknown id. */
export interface AccountResolver {
  resolve(accountId: string): CalDavAccount | Promise<CalDavAccount>;
}

const accountEntrySchema = z.object({
  serverUrl: z.url({ protocol: /^https?$/ }),
  username: z.string().min(1),
  password: z.string(),
});

const accountsSchema = z.record(z.string().min(1), accountEntrySchema);

/**
 * Validates a parsed accounts object. `source` prefixes the setting named by a `ConfigError`
 * (`CALSYNC_ACCOUNTS.alice.serverUrl`).
 */
export function parseAccounts(value: unknown, source = 'CALSYNC_ACCOUNTS'): Map<string, CalDavAccount> {
  const parsed = accountsSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = (issue?.path ?? []).map(String);
    throw new ConfigError([source, ...path].join('.'), issue?.message ?? 'invalid');
  }
  const accounts = new Map<string, CalDavAccount>();
  for (const [id, entry] of Object.entries(parsed.data)) {
    const serverUrl = entry.serverUrl.endsWith('/') ? entry.serverUrl : `${entry.serverUrl}/`;
    accounts.set(id, { id, serverUrl, username: entry.username, password: entry.password });
  }
  return accounts;
}

/** A resolver over a fixed set of accounts. */
export function staticAccounts(accounts: Map<string, CalDavAccount> | Record<string, Omit<CalDavAccount, 'id'>>): AccountResolver {
  const map = accounts instanceof Map ? accounts : parseAccounts(accounts);
  return {
    resolve(accountId) {
      const account = map.get(accountId);
      if (account === undefined) {
        throw new NonRetryableError(`unknown account ${JSON.stringify(accountId)}: it is not configured in CALSYNC_ACCOUNTS`, {
          reason: 'unknown_account',
        });
      }
      return account;
    },
  };
}

/**
 * Reads the accounts from the environment once: `CALSYNC_ACCOUNTS` (JSON text) or `CALSYNC_ACCOUNTS_FILE`
 * (path of a JSON file), not both. Throws `ConfigError` naming the variable or the bad entry.
 */
export function accountsFromEnv(env: NodeJS.ProcessEnv = process.env): AccountResolver {
  const inline = env.CALSYNC_ACCOUNTS;
  const file = env.CALSYNC_ACCOUNTS_FILE;
  if (inline && file) throw new ConfigError('CALSYNC_ACCOUNTS_FILE', 'set either CALSYNC_ACCOUNTS or CALSYNC_ACCOUNTS_FILE, not both');
  if (!inline && !file) {
    throw new ConfigError(
      'CALSYNC_ACCOUNTS',
      'not set: expected JSON like {"alice":{"serverUrl":"https://dav.example.com/alice/","username":"alice","password":"..."}} or CALSYNC_ACCOUNTS_FILE',
    );
  }
  const setting = inline ? 'CALSYNC_ACCOUNTS' : 'CALSYNC_ACCOUNTS_FILE';
  let text: string;
  if (inline) {
    text = inline;
  } else {
    try {
      text = readFileSync(file as string, 'utf8');
    } catch (error) {
      throw new ConfigError('CALSYNC_ACCOUNTS_FILE', `cannot read ${file}: ${(error as Error).message}`);
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(setting, `not valid JSON: ${(error as Error).message}`);
  }
  return staticAccounts(parseAccounts(json, setting));
}
