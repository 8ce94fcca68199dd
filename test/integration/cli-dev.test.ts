/**
 * `npm start -- --once`, the README's first command, as a user runs it: a child process with an
 * embedded SQS server and the embedded job store (PGlite), the demo jobs, their outcomes printed,
 * where to look them up, exit code 0. With CALSYNC_STORE_DIR the store outlives the process and
 * `calsync-jobs jobs list --store embedded` reads the demo's jobs back.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/process.js';
import { runCli } from './cli-harness.js';

const BIN = join(REPO_ROOT, 'bin', 'calsync-jobs.js');

/** The environment of a user with nothing configured. */
function bareEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of [
    'AWS_ENDPOINT_URL_SQS',
    'AWS_ENDPOINT_URL',
    'CALSYNC_QUEUE_URL',
    'CALSYNC_LOG_LEVEL',
    'CALSYNC_STORE_URL',
    'CALSYNC_STORE_DIR',
    'CALSYNC_API_PORT',
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    'OTEL_TRACES_EXPORTER',
  ])
    delete env[name];
  return env;
}

/** `dev --once` as a child process, without blocking this one (the two demo runs below go side by side). */
async function runDev(env: NodeJS.ProcessEnv) {
  const run = await runCli(['dev', '--once', '--metrics-port', '0'], env, 90_000);
  return { ...run, status: run.code };
}

describe('calsync-jobs dev --once (npm start)', () => {
  it.concurrent('runs the demo to the end, says where to look the jobs up, and exits 0', async () => {
    const run = await runDev(bareEnv());
    const output = `${run.stdout}\n${run.stderr}`;
    expect(run.status, output).toBe(0);
    expect(run.stdout).toContain('  store   embedded PGlite (in memory)');
    expect(run.stdout).toMatch(/ {2}jobs {4}http:\/\/127\.0\.0\.1:\d+\/jobs/);
    expect(run.stdout).toMatch(/ {2}console http:\/\/127\.0\.0\.1:\d+\//);
    // --once exits, and its in-memory store with it: it says how to keep the jobs and read them back.
    expect(run.stdout).not.toMatch(/^look a job up: curl/m);
    expect(run.stdout).toMatch(
      /^the demo's jobs were in an in-memory store, gone with this process; to keep them: CALSYNC_STORE_DIR=\.calsync-store npm start -- --once, then: CALSYNC_STORE_DIR=\.calsync-store npx calsync-jobs jobs list --store embedded$/m,
    );
    expect(run.stdout).toMatch(/embedded SQS at http:\/\/127\.0\.0\.1:\d+/);
    expect(run.stdout).toMatch(/✔ demo\.hello .* succeeded on attempt 1/);
    expect(run.stdout).toMatch(/↻ demo\.flaky .* attempt 1 failed: .* retrying in 1\.0 s/);
    expect(run.stdout).toMatch(/↻ demo\.flaky .* attempt 2 failed: .* retrying in 2\.0 s/);
    expect(run.stdout).toMatch(/✔ demo\.flaky .* succeeded on attempt 3/);
    expect(run.stdout).toMatch(/✖ demo\.poison .* dead after attempt 1: non_retryable/);
    expect(run.stdout).toMatch(/✖ message \w+ is not a job: invalid_envelope/);
    expect(run.stdout).toMatch(/✔ demo\.slow .* succeeded on attempt 1/);
    expect(run.stdout).toContain('demo settled: main queue 0 message(s), DLQ 2 message(s)');
    // The CLI's own output stays clean: no SDK version warning, no stack traces.
    expect(run.stderr).not.toMatch(/NodeVersionSupportWarning|Error:/);
  }, 120_000);

  it.concurrent('with CALSYNC_STORE_DIR the jobs outlive the process: jobs list --store embedded reads them back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'calsync-dev-store-'));
    try {
      const env = { ...bareEnv(), CALSYNC_STORE_DIR: dir };
      const run = await runDev(env);
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      expect(run.stdout).toContain(`  store   embedded PGlite in ${dir}`);
      expect(run.stdout).toContain(`after this process exits: CALSYNC_STORE_DIR=${dir} calsync-jobs jobs list --store embedded`);
      const list = await runCli(['jobs', 'list', '--store', 'embedded', '--json'], env, 60_000);
      expect(list.code, list.stderr).toBe(0);
      const jobs = JSON.parse(list.stdout) as Array<{ type: string; state: string; attempt: number; history: unknown[] }>;
      const byType = Object.fromEntries(jobs.map((job) => [job.type, job]));
      expect(Object.keys(byType).sort()).toEqual(['demo.flaky', 'demo.hello', 'demo.poison', 'demo.slow']);
      expect(byType['demo.hello']).toMatchObject({ state: 'succeeded', attempt: 1 });
      expect(byType['demo.flaky']).toMatchObject({ state: 'succeeded', attempt: 3 });
      expect(byType['demo.flaky']!.history).toHaveLength(2);
      expect(byType['demo.poison']).toMatchObject({ state: 'dead', attempt: 1, deadLetterReason: 'non_retryable' });
      expect(byType['demo.slow']).toMatchObject({ state: 'succeeded', attempt: 1 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('rejects a bad setting with one line naming it and exit code 2', () => {
    const run = spawnSync(process.execPath, [BIN, 'worker'], {
      cwd: REPO_ROOT,
      env: { ...process.env, CALSYNC_CONCURRENCY: 'lots' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr.trim()).toBe('calsync-jobs worker: config: CALSYNC_CONCURRENCY: expected an integer from 1 to 10000, got "lots"');
  });

  it.each([
    [
      'a bad store URL',
      { CALSYNC_STORE_URL: 'mysql://app:hunter2@db/calsync' },
      [],
      'calsync-jobs worker: config: CALSYNC_STORE_URL: expected none, embedded or a postgres:// URL with a host, got "mysql://app:***@db/calsync"',
    ],
    [
      'an unreachable store',
      {},
      ['--store', 'postgres://app:hunter2@127.0.0.1:1/calsync'],
      /^calsync-jobs worker: config: --store: could not connect to postgres:\/\/app:\*\*\*@127\.0\.0\.1:1\/calsync: .*ECONNREFUSED/,
    ],
  ])('stops the worker at start-up on %s with one line naming the setting and exit code 2', (_name, extraEnv, args, line) => {
    const run = spawnSync(process.execPath, [BIN, 'worker', '--endpoint', 'http://127.0.0.1:1', ...args], {
      cwd: REPO_ROOT,
      env: { ...bareEnv(), ...extraEnv },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status, run.stderr).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    if (typeof line === 'string') expect(run.stderr.trim()).toBe(line);
    else expect(run.stderr.trim()).toMatch(line);
    expect(run.stderr).not.toContain('hunter2');
  });

  it('rejects a bad payload before connecting, naming the field', () => {
    const run = spawnSync(process.execPath, [BIN, 'enqueue', 'demo.flaky', '{"failTimes":"twice"}', '--endpoint', 'http://127.0.0.1:1'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr.trim()).toBe('calsync-jobs enqueue: invalid job: payload.failTimes: expected number, received string');
  });
});
