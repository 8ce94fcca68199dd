/**
 * `calsync-jobs console` as a process: it refuses to start beyond loopback without a token (one line
 * naming CALSYNC_CONSOLE_TOKEN, exit 2, nothing touched), refuses without a store, and with both it
 * serves the console at the URL it prints until SIGTERM, with the sign-in the token asks for.
 */
import { describe, expect, it } from 'vitest';
import { waitFor, spawnPeer } from '../support/process.js';
import { BIN, runCli } from './cli-harness.js';
import { useStoreCli } from './store-cli-harness.js';

const TOKEN = 'cli-console-token-0123456789';

describe('calsync-jobs console', () => {
  const servers = useStoreCli();

  it('refuses to listen beyond loopback without CALSYNC_CONSOLE_TOKEN, in one line, before touching anything', async () => {
    const run = await runCli(['console', '--host', '0.0.0.0', '--port', '0'], {
      ...servers.env,
      CALSYNC_STORE_URL: 'postgres://nobody@127.0.0.1:1/none',
    });
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toEqual([
      'calsync-jobs console: config: CALSYNC_CONSOLE_TOKEN: is required when the console listens on 0.0.0.0 (beyond loopback): set it to a secret of 16 or more characters, or listen on 127.0.0.1',
    ]);
  });

  it('refuses a token too short to be a secret, and a console without a store', async () => {
    const short = await runCli(['console', '--port', '0'], { ...servers.env, CALSYNC_CONSOLE_TOKEN: 'short' });
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('CALSYNC_CONSOLE_TOKEN: expected 16 to 512 printable characters without spaces');
    expect(short.stderr).not.toContain('short"');
    const { CALSYNC_STORE_URL: _unused, ...noStore } = servers.env;
    const none = await runCli(['console', '--port', '0'], noStore);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no job store is configured');
  });

  it('serves the console at the URL it prints, asks for the token, and stops on SIGTERM', async () => {
    const peer = spawnPeer('console', process.execPath, [BIN, 'console', '--port', '0'], {
      env: { ...servers.env, CALSYNC_CONSOLE_TOKEN: TOKEN, CALSYNC_LOG_LEVEL: 'warn' },
    });
    try {
      const url = await waitFor('the console URL', () => /^(http:\/\/127\.0\.0\.1:\d+)$/m.exec(peer.output())?.[1], { timeoutMs: 30_000 });
      const signIn = await fetch(`${url}/`, { redirect: 'manual' });
      expect(signIn.status).toBe(303);
      const overview = await fetch(`${url}/`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(overview.status).toBe(200);
      const page = await overview.text();
      expect(page).toContain(servers.queues.mainQueueName);
      expect(page).toContain(servers.queues.dlqName);
    } finally {
      await peer.stop();
    }
    expect(peer.child.exitCode).toBe(0);
  });
});
