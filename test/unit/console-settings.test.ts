/**
 * The console's settings and sessions: beyond loopback a token is required (one line naming
 * CALSYNC_CONSOLE_TOKEN), a bad token is never echoed, and a session cookie holds for its lifetime
 * only and only with its signature.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { ConsoleAccess, SESSION_MS } from '../../src/console/access.js';
import { isLoopbackHost, loadConsoleSettings } from '../../src/config/config.js';

describe('loadConsoleSettings', () => {
  it.each(['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])('%s is loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });

  it.each(['0.0.0.0', '::', '10.0.0.5', 'console.internal', '128.0.0.1'])('%s is not', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });

  it('defaults to 127.0.0.1:8081, writable, without a token', () => {
    expect(loadConsoleSettings({})).toEqual({ port: 8081, host: '127.0.0.1', token: undefined, readonly: false, jaegerUrl: undefined });
  });

  it('reads the environment; flags win', () => {
    const env = {
      CALSYNC_CONSOLE_PORT: '9000',
      CALSYNC_CONSOLE_HOST: '0.0.0.0',
      CALSYNC_CONSOLE_TOKEN: 'a-long-enough-token-1234',
      CALSYNC_CONSOLE_READONLY: 'true',
      CALSYNC_JAEGER_URL: 'http://jaeger:16686/',
    };
    expect(loadConsoleSettings(env, { consolePort: '9001' })).toEqual({
      port: 9001,
      host: '0.0.0.0',
      token: 'a-long-enough-token-1234',
      readonly: true,
      jaegerUrl: 'http://jaeger:16686',
    });
  });

  it('refuses to listen beyond loopback without a token', () => {
    expect(() => loadConsoleSettings({}, { consoleHost: '0.0.0.0' })).toThrow(
      /^CALSYNC_CONSOLE_TOKEN: is required when the console listens on 0\.0\.0\.0 \(beyond loopback\)/,
    );
  });

  it('names a bad setting without echoing a token', () => {
    expect(() => loadConsoleSettings({ CALSYNC_CONSOLE_TOKEN: 'has a space but long' })).toThrow(
      'CALSYNC_CONSOLE_TOKEN: expected 16 to 512 printable characters without spaces, got a value of 20 character(s) (not shown: it is a secret)',
    );
    expect(() => loadConsoleSettings({ CALSYNC_CONSOLE_READONLY: 'maybe' })).toThrow(
      'CALSYNC_CONSOLE_READONLY: expected true or false, got "maybe"',
    );
    expect(() => loadConsoleSettings({}, { consolePort: '70000' })).toThrow('--port: expected a port from 0 to 65535, got "70000"');
  });
});

describe('ConsoleAccess sessions', () => {
  it('a session holds for its lifetime, under the token that signed it', async () => {
    let now = 1_700_000_000_000;
    const access = new ConsoleAccess('token-one-0123456789', () => now);
    const cookie = access.session('alice');
    // Who a request with that cookie is, as a Hono route sees it.
    const ask = async (who: ConsoleAccess, value: string) => {
      const app = new Hono().get('/', (c) => c.json(who.actor(c) ?? null));
      return await (await app.request('/', { headers: { cookie: `calsync_console_session=${value}` } })).json();
    };
    expect(await ask(access, cookie)).toMatchObject({ name: 'alice', via: 'session' });
    // The same token after a restart: still signed in. Another token: not.
    expect(await ask(new ConsoleAccess('token-one-0123456789', () => now), cookie)).toMatchObject({ name: 'alice' });
    expect(await ask(new ConsoleAccess('token-two-0123456789', () => now), cookie)).toBeNull();
    expect(await ask(access, `${cookie.split('.')[0]}.${'A'.repeat(43)}`)).toBeNull();
    now += SESSION_MS + 1;
    expect(await ask(access, cookie)).toBeNull();
  });
});
