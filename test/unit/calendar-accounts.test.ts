import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calendarSettingsFromEnv, type SettingsEnv } from '../../src/jobs/calendar/settings.js';
import { NonRetryableError } from '../../src/machines/errors.js';
import { ConfigError } from '../../src/shared/errors.js';

const accountsFromEnv = (env: SettingsEnv) => calendarSettingsFromEnv(() => env).write().accounts;
const syncSettings = (env: SettingsEnv) => calendarSettingsFromEnv(() => env).sync();

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

describe('calendar settings: the accounts', () => {
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

describe('calendar settings: calendar.sync', () => {
  const accounts = JSON.stringify(good);

  it('reads CALSYNC_DATABASE_URL and CALSYNC_SYNC_BATCH_SIZE (default 50) with the accounts', async () => {
    const settings = syncSettings({ CALSYNC_DATABASE_URL: 'postgres://u:p@db:5432/x', CALSYNC_ACCOUNTS: accounts });
    expect(settings).toMatchObject({ databaseUrl: 'postgres://u:p@db:5432/x', batchSize: 50 });
    expect((await settings.accounts.resolve('alice')).username).toBe('alice');
    expect(
      syncSettings({ CALSYNC_DATABASE_URL: 'postgres://db/x', CALSYNC_SYNC_BATCH_SIZE: ' 1000 ', CALSYNC_ACCOUNTS: accounts }).batchSize,
    ).toBe(1000);
    expect(
      syncSettings({ CALSYNC_DATABASE_URL: 'postgres://db/x', CALSYNC_SYNC_BATCH_SIZE: '', CALSYNC_ACCOUNTS: accounts }).batchSize,
    ).toBe(50);
  });

  it.each([
    [{ CALSYNC_ACCOUNTS: '{alice' }, 'CALSYNC_DATABASE_URL: not set: expected postgres://user:password@host:5432/db'],
    [
      { CALSYNC_DATABASE_URL: ' ', CALSYNC_ACCOUNTS: accounts },
      'CALSYNC_DATABASE_URL: not set: expected postgres://user:password@host:5432/db',
    ],
    [
      { CALSYNC_DATABASE_URL: 'postgres://db/x', CALSYNC_SYNC_BATCH_SIZE: 'lots' },
      'CALSYNC_SYNC_BATCH_SIZE: expected an integer from 1 to 1000, got "lots"',
    ],
    [
      { CALSYNC_DATABASE_URL: 'postgres://db/x', CALSYNC_SYNC_BATCH_SIZE: '0', CALSYNC_ACCOUNTS: accounts },
      'CALSYNC_SYNC_BATCH_SIZE: expected an integer from 1 to 1000, got "0"',
    ],
    [
      { CALSYNC_DATABASE_URL: 'postgres://db/x', CALSYNC_SYNC_BATCH_SIZE: '1001', CALSYNC_ACCOUNTS: accounts },
      'CALSYNC_SYNC_BATCH_SIZE: expected an integer from 1 to 1000, got "1001"',
    ],
    [{ CALSYNC_DATABASE_URL: 'postgres://db/x' }, 'CALSYNC_ACCOUNTS: not set: expected JSON like'],
  ])('%j fails with one line: %s', (env, message) => {
    const error = configErrorOf(() => syncSettings(env));
    expect(error.message.startsWith(message)).toBe(true);
    expect(error.message).not.toContain('\n');
  });

  it('is read from the environment when a job asks, not when the settings are made', () => {
    let reads = 0;
    const settings = calendarSettingsFromEnv(() => {
      reads++;
      return { CALSYNC_ACCOUNTS: accounts };
    });
    expect(reads).toBe(0);
    settings.write();
    expect(reads).toBe(1);
  });
});

describe('calendar settings: CALSYNC_CALDAV_RATE (calendar.write per account per second)', () => {
  const accounts = JSON.stringify(good);
  const rate = (value: string | undefined) => calendarSettingsFromEnv(() => ({ CALSYNC_CALDAV_RATE: value, CALSYNC_ACCOUNTS: accounts }));

  it('defaults to 10 and reads 1–1000', () => {
    expect(rate(undefined).caldavRate()).toBe(10);
    expect(rate('').caldavRate()).toBe(10);
    expect(rate(' 600 ').caldavRate()).toBe(600);
    expect(rate('1000').caldavRate()).toBe(1000);
    expect(() => rate('25').write()).not.toThrow();
  });

  it.each(['fast', '0', '1001', '2.5'])('%j: the definition falls back to 10, the first write fails with one line naming it', (value) => {
    expect(rate(value).caldavRate()).toBe(10);
    const error = configErrorOf(() => rate(value).write());
    expect(error.message).toBe(`CALSYNC_CALDAV_RATE: expected an integer from 1 to 1000, got ${JSON.stringify(value)}`);
  });
});
