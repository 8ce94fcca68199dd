/**
 * `npm test` sets up its own peers (scripts/peers/setup.sh): warm, it is a quick no-op; where it cannot
 * install something itself it stops with the exact command to run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/process.js';

const SETUP = join(REPO_ROOT, 'scripts', 'peers', 'setup.sh');

describe('scripts/peers/setup.sh', () => {
  it('is a quick no-op once the peers are cached', () => {
    spawnSync('bash', [SETUP], { encoding: 'utf8' }); // a cold cache is filled here (the suite needs it anyway)
    const startedAt = Date.now();
    const run = spawnSync('bash', [SETUP], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/peers setup: ready in /);
    expect(Date.now() - startedAt).toBeLessThan(30_000);
  });

  it('names the exact command when a toolchain is missing', () => {
    // A PATH with bash and coreutils but no java.
    const bin = mkdtempSync(join(tmpdir(), 'calsync-path-'));
    try {
      for (const tool of ['bash', 'dirname', 'mkdir', 'date', 'tail', 'cat']) {
        const found = spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
        if (found) symlinkSync(found, join(bin, tool));
      }
      const run = spawnSync(join(bin, 'bash'), [SETUP], { encoding: 'utf8', env: { PATH: bin, HOME: process.env.HOME ?? '/root' } });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain('java is not installed: apt-get install -y openjdk-17-jre-headless');
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('chromium.sh check names the package when the browser is missing', () => {
    const run = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'peers', 'chromium.sh'), 'check'], {
      encoding: 'utf8',
      env: { ...process.env, CALSYNC_CHROMIUM: '/nonexistent/chromium' },
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('chromium is not installed: apt-get install chromium');
  });
});
