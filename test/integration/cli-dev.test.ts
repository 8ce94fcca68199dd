/**
 * `npm start -- --once`, the README's first command, as a user runs it: a child process with an
 * embedded SQS server, the demo jobs, their outcomes printed, exit code 0.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/process.js';

describe('calsync-jobs dev --once (npm start)', () => {
  it('runs the demo to the end and exits 0', () => {
    const env = { ...process.env };
    for (const name of [
      'AWS_ENDPOINT_URL_SQS',
      'AWS_ENDPOINT_URL',
      'CALSYNC_QUEUE_URL',
      'CALSYNC_LOG_LEVEL',
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'OTEL_TRACES_EXPORTER',
    ])
      delete env[name];
    const run = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'calsync-jobs.js'), 'dev', '--once', '--metrics-port', '0'], {
      cwd: REPO_ROOT,
      env,
      encoding: 'utf8',
      timeout: 90_000,
    });
    const output = `${run.stdout}\n${run.stderr}`;
    expect(run.status, output).toBe(0);
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

  it('rejects a bad setting with one line naming it and exit code 2', () => {
    const run = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'calsync-jobs.js'), 'worker'], {
      cwd: REPO_ROOT,
      env: { ...process.env, CALSYNC_CONCURRENCY: 'lots' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr.trim()).toBe('calsync-jobs worker: config: CALSYNC_CONCURRENCY: expected an integer from 1 to 10000, got "lots"');
  });

  it('rejects a bad payload before connecting, naming the field', () => {
    const run = spawnSync(
      process.execPath,
      [join(REPO_ROOT, 'bin', 'calsync-jobs.js'), 'enqueue', 'demo.flaky', '{"failTimes":"twice"}', '--endpoint', 'http://127.0.0.1:1'],
      {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(run.status).toBe(2);
    expect(run.stderr.trim()).toBe('calsync-jobs enqueue: invalid job: payload.failTimes: expected number, received string');
  });
});
