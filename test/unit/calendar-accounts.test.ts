import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountsFromEnv } from '../../src/jobs/calendar/accounts.js';
import { NonRetryableError } from '../../src/machines/errors.js';
import { ConfigError } from '../../src/shared/errors.js';

const good = { alice: { serverUrl: 'https://dav.example.com/alice', username: 'alice', password: 's3cret' } };

function configErrorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (ConfigError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('accountsFromEnv', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'calsync-accounts-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads CALSYNC_ACCOUNTS JSON and adds the trailing slash to serverUrl', async () => {
    const accounts = accountsFromEnv({ CALSYNC_ACCOUNTS: JSON.stringify(good) });
    expect(await accounts.resolve('alice')).toEqual({
      id: 'alice',
      serverUrl: 'https://dav.example.com/alice/',
      username: 'alice',
      password: 's3cret',
    });
  });

  it('reads the JSON file named by CALSYNC_ACCOUNTS_FILE', async () => {
    const file = join(dir, 'accounts.json');
    await writeFile(file, JSON.stringify(good));
    const accounts = accountsFromEnv({ CALSYNC_ACCOUNTS_FILE: file });
    expect((await accounts.resolve('alice')).username).toBe('alice');
  });

  it('a bad serverUrl is a ConfigError naming CALSYNC_ACCOUNTS.<id>.serverUrl', () => {
    const error = configErrorOf(() =>
      accountsFromEnv({ CALSYNC_ACCOUNTS: JSON.stringify({ alice: { ...good.alice, serverUrl: 'not a url' } }) }),
    );
    expect(error.setting).toBe('CALSYNC_ACCOUNTS.alice.serverUrl');
    expect(error.message.startsWith('CALSYNC_ACCOUNTS.alice.serverUrl: ')).toBe(true);
  });

  it.each([
    [
      'a missing password',
      { CALSYNC_ACCOUNTS: JSON.stringify({ bob: { serverUrl: 'https://x/', username: 'bob' } }) },
      'CALSYNC_ACCOUNTS.bob.password',
    ],
    [
      'a non-http serverUrl',
      { CALSYNC_ACCOUNTS: JSON.stringify({ bob: { serverUrl: 'ftp://x/', username: 'b', password: 'p' } }) },
      'CALSYNC_ACCOUNTS.bob.serverUrl',
    ],
    ['broken JSON', { CALSYNC_ACCOUNTS: '{alice' }, 'CALSYNC_ACCOUNTS'],
    ['nothing set', {}, 'CALSYNC_ACCOUNTS'],
    ['both set', { CALSYNC_ACCOUNTS: '{}', CALSYNC_ACCOUNTS_FILE: '/x.json' }, 'CALSYNC_ACCOUNTS_FILE'],
    ['an unreadable file', { CALSYNC_ACCOUNTS_FILE: '/nonexistent/accounts.json' }, 'CALSYNC_ACCOUNTS_FILE'],
  ])('%s is a ConfigError naming %s', (_name, env, setting) => {
    expect(configErrorOf(() => accountsFromEnv(env)).setting).toBe(setting);
  });

  it('an unknown account is NonRetryableError unknown_account naming the id, never the other accounts', () => {
    const accounts = accountsFromEnv({ CALSYNC_ACCOUNTS: JSON.stringify(good) });
    let caught: unknown;
    try {
      accounts.resolve('mallory');
    } catch (error) {
      caught = error;
    }
    expect(NonRetryableError.is(caught)).toBe(true);
    expect((caught as NonRetryableError).reason).toBe('unknown_account');
    expect((caught as Error).message).toContain('"mallory"');
    expect((caught as Error).message).not.toContain('s3cret');
  });
});
