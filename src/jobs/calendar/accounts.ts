/**
 * CalDAV accounts and their credentials. Payloads carry an `accountId`; the jobs resolve it here, from the
 * accounts their settings hold (`CALSYNC_ACCOUNTS` or `CALSYNC_ACCOUNTS_FILE`, read in settings.ts).
 */
import { z } from 'zod';
import { NonRetryableError } from '../../machines/errors.js';
import { parseSettings } from './schemas.js';

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

/** The accounts JSON (`{ "alice": { serverUrl, username, password } }`), by id, `serverUrl` ending in `/`. */
export const accountsSchema = z.record(z.string().min(1), accountEntrySchema).transform((entries) => {
  const accounts = new Map<string, CalDavAccount>();
  for (const [id, entry] of Object.entries(entries)) {
    const serverUrl = entry.serverUrl.endsWith('/') ? entry.serverUrl : `${entry.serverUrl}/`;
    accounts.set(id, { id, serverUrl, username: entry.username, password: entry.password });
  }
  return accounts;
});

/** A resolver over a fixed set of accounts; a bad entry of a plain object is a `ConfigError` naming it. */
export function staticAccounts(accounts: Map<string, CalDavAccount> | Record<string, Omit<CalDavAccount, 'id'>>): AccountResolver {
  const map = accounts instanceof Map ? accounts : parseSettings(accountsSchema, accounts, ['CALSYNC_ACCOUNTS']);
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
