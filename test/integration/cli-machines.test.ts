/**
 * `calsync-jobs machines` and argument errors, run as the real binary. None of these reach a queue:
 * bad arguments are rejected (exit 2, the command's usage line on stderr) before connecting.
 */
import { describe, expect, test } from 'vitest';
import jobs from '../../src/jobs/index.js';
import { cliEnv, runCli, usageLine } from './cli-harness.js';

// Nothing listens here: a command that got as far as connecting would fail with exit 1, not 2.
const env = cliEnv('http://127.0.0.1:9', 'unused');

describe('calsync-jobs machines', () => {
  test('--format json describes every registered job type from its XState definition', async () => {
    const result = await runCli(['machines', '--format', 'json'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { machines } = JSON.parse(result.stdout) as { machines: Array<Record<string, any>> };
    expect(machines.map((m) => m.type)).toEqual(jobs.map((job) => job.type));
    const flaky = machines.find((m) => m.type === 'demo.flaky')!;
    expect(flaky.initial).toBe('pending');
    expect(flaky.policy.retry.maximumAttempts).toBe(5);
    expect(flaky.transitions).toContainEqual({
      source: 'running',
      event: 'FAILED',
      target: 'backoff',
      changesState: true,
      guard: 'willRetry',
      actions: ['assign', 'retry'],
      order: 0,
    });
    expect(
      flaky.states
        .filter((s: { final: boolean }) => s.final)
        .map((s: { name: string }) => s.name)
        .sort(),
    ).toEqual(['backoff', 'checkpointed', 'dead', 'deferred', 'held', 'released', 'succeeded']);
  });

  test('--type T prints one Mermaid stateDiagram-v2', async () => {
    const result = await runCli(['machines', '--type', 'demo.poison'], env);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines.slice(0, 3)).toEqual(['%% demo.poison', 'stateDiagram-v2', '  [*] --> pending']);
    expect(lines).toContain('  running --> backoff : FAILED [willRetry] / retry');
    expect(lines).toContain('  dead --> [*]');
    expect(result.stdout.match(/stateDiagram-v2/g)).toHaveLength(1);
  });
});

describe('bad arguments exit 2 with a usage line', () => {
  const cases: Array<{ args: string[]; message: string; usage: string }> = [
    { args: ['nope'], message: 'unknown command "nope"', usage: 'Usage: calsync-jobs <command> [options]' },
    {
      args: ['machines', '--format', 'svg'],
      message: '--format: expected mermaid or json, got "svg"',
      usage: 'Usage: calsync-jobs machines',
    },
    {
      args: ['stats', '--interval-ms', '5'],
      message: '--interval-ms: expected an integer ≥ 200, got "5"',
      usage: 'Usage: calsync-jobs stats',
    },
    { args: ['stats', '--bogus'], message: "Unknown option '--bogus'", usage: 'Usage: calsync-jobs stats' },
    { args: ['dlq'], message: 'expected a subcommand', usage: 'Usage: calsync-jobs dlq <list|show|redrive|purge>' },
    { args: ['dlq', 'peek'], message: 'unknown subcommand "peek"', usage: 'Usage: calsync-jobs dlq <list|show|redrive|purge>' },
    { args: ['dlq', 'list', '--limit', '0'], message: '--limit: expected an integer ≥ 1, got "0"', usage: 'Usage: calsync-jobs dlq list' },
    {
      args: ['dlq', 'list', '--limit', 'all'],
      message: '--limit: expected an integer ≥ 1, got "all"',
      usage: 'Usage: calsync-jobs dlq list',
    },
    {
      args: ['stats', '--interval-ms', 'soon'],
      message: '--interval-ms: expected an integer ≥ 200, got "soon"',
      usage: 'Usage: calsync-jobs stats',
    },
    { args: ['dlq', 'show'], message: 'expected one job id, got 0 argument(s)', usage: 'Usage: calsync-jobs dlq show' },
    { args: ['dlq', 'redrive'], message: 'choose exactly one of --type T, --id ID or --all', usage: 'Usage: calsync-jobs dlq redrive' },
    {
      args: ['dlq', 'redrive', '--all', '--type', 'x'],
      message: 'choose exactly one of --type T, --id ID or --all',
      usage: 'Usage: calsync-jobs dlq redrive',
    },
    {
      args: ['dlq', 'purge'],
      message: 'refusing to purge the dead-letter queue without --yes',
      usage: 'Usage: calsync-jobs dlq purge --yes',
    },
  ];

  test.each(cases)('calsync-jobs $args', async ({ args, message, usage }) => {
    const result = await runCli(args, env);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(usageLine(result.stderr)?.startsWith(usage)).toBe(true);
  });
});

describe('bad settings exit 2 with one line naming them', () => {
  const cases: Array<{ args: string[]; env?: NodeJS.ProcessEnv; line: string }> = [
    {
      args: ['api'],
      env: { CALSYNC_API_PORT: 'http' },
      line: 'calsync-jobs api: config: CALSYNC_API_PORT: expected a port from 0 to 65535, got "http"',
    },
    {
      args: ['api', '--port', '70000'],
      env: { CALSYNC_API_PORT: '8081' },
      line: 'calsync-jobs api: config: --port: expected a port from 0 to 65535, got "70000"',
    },
    {
      args: ['stats'],
      env: { CALSYNC_QUEUE_DEPTH_INTERVAL_MS: '10' },
      line: 'calsync-jobs stats: config: CALSYNC_QUEUE_DEPTH_INTERVAL_MS: expected an integer from 5000 to 3600000, got "10"',
    },
    {
      args: ['dlq', 'list'],
      env: { CALSYNC_DLQ_URL: 'sqs://dlq' },
      line: 'calsync-jobs dlq: config: CALSYNC_DLQ_URL: expected an http(s) URL, got "sqs://dlq"',
    },
    {
      args: ['queues', 'create', '--max-receive-count', '0'],
      line: 'calsync-jobs queues: config: --max-receive-count: expected an integer from 1 to 1000, got "0"',
    },
  ];

  test.each(cases)('calsync-jobs $args $env', async ({ args, env: extra, line }) => {
    const result = await runCli(args, { ...env, ...extra });
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(line);
    expect(result.stdout).toBe('');
  });
});
