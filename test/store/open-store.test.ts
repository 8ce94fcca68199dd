/** From a setting to a store: what `CALSYNC_STORE_URL` accepts, and how a store that cannot be reached fails. */
import { createServer, type Socket } from 'node:net';
import { describe, expect, test } from 'vitest';
import { ConfigError } from '../../src/shared/errors.js';
import { maskPassword, openStore, parseStoreUrl } from '../../src/store/open-store.js';
import { PostgresJobStore } from '../../src/store/postgres-store.js';
import { freePort } from '../support/process.js';

describe('parseStoreUrl', () => {
  test('none, embedded and postgres URLs', () => {
    expect(parseStoreUrl('none', 'CALSYNC_STORE_URL')).toEqual({ kind: 'none' });
    expect(parseStoreUrl(' embedded ', 'CALSYNC_STORE_URL')).toEqual({ kind: 'embedded' });
    expect(parseStoreUrl('postgres://u:p@db.example:5432/jobs', '--store')).toEqual({
      kind: 'postgres',
      url: 'postgres://u:p@db.example:5432/jobs',
    });
    expect(parseStoreUrl('postgresql://db/jobs?sslmode=require', '--store')).toEqual({
      kind: 'postgres',
      url: 'postgresql://db/jobs?sslmode=require',
    });
  });

  test.each([
    ['mysql://root:hunter2@db/jobs', '"mysql://root:***@db/jobs"'],
    ['postgres://u:hunter2@/jobs', '"postgres://u:***@/jobs"'],
    ['postgres//u:hunter2@db', '"postgres//u:hunter2@db"'],
    ['', '""'],
    ['Embedded', '"Embedded"'],
  ])('%j is refused in one line naming the setting, its password masked', (text, shown) => {
    const error = (() => {
      try {
        parseStoreUrl(text, 'CALSYNC_STORE_URL');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).setting).toBe('CALSYNC_STORE_URL');
    expect((error as Error).message).toBe(`CALSYNC_STORE_URL: expected none, embedded or a postgres:// URL with a host, got ${shown}`);
  });

  test('masking hides userinfo passwords (even with @ or / in them) and password= parameters', () => {
    expect(maskPassword('postgres://u:p@ss/w@db:5432/x')).toBe('postgres://u:***@db:5432/x');
    expect(maskPassword('postgres://u@db:5432/x')).toBe('postgres://u@db:5432/x');
    expect(maskPassword('postgres://db/x?user=u&password=secret&sslmode=require')).toBe(
      'postgres://db/x?user=u&password=***&sslmode=require',
    );
  });
});

describe('openStore', () => {
  test('none opens nothing', async () => {
    expect(await openStore({ kind: 'none' }, 'CALSYNC_STORE_URL')).toBeUndefined();
  });

  test('a closed port fails at once with one line, the password masked', async () => {
    const port = await freePort();
    const started = performance.now();
    const error = await openStore({ kind: 'postgres', url: `postgres://u:hunter2@127.0.0.1:${port}/jobs` }, '--store').catch(
      (e: unknown) => e,
    );
    expect(performance.now() - started).toBeLessThan(6_000);
    expect(error).toBeInstanceOf(ConfigError);
    const { message } = error as Error;
    expect(message).toMatch(
      new RegExp(`^--store: could not connect to postgres://u:\\*\\*\\*@127\\.0\\.0\\.1:${port}/jobs: .*ECONNREFUSED`),
    );
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('\n');
  });

  test('a server that accepts but never answers fails after the connect timeout', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const started = performance.now();
      const error = await PostgresJobStore.connect(`postgres://u@127.0.0.1:${port}/jobs`, { connectTimeoutMs: 300 }).catch(
        (e: unknown) => e,
      );
      expect(performance.now() - started).toBeLessThan(3_000);
      expect((error as Error).message).toMatch(/timeout/i);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
