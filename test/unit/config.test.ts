import { describe, expect, it } from 'vitest';
import {
  type ConfigFlags,
  loadApiSettings,
  loadConfig,
  loadDlqListSettings,
  loadJobsListSettings,
  loadPruneSettings,
  loadStatsSettings,
} from '../../src/config/config.js';
import { DEFAULTS, SETTINGS } from '../../src/config/settings.js';
import { WORKER_DEFAULTS } from '../../src/runtime/worker-options.js';
import { ConfigError } from '../../src/shared/errors.js';

function errorOf(
  env: NodeJS.ProcessEnv,
  flags: ConfigFlags = {},
  load: (env: NodeJS.ProcessEnv, flags: ConfigFlags) => unknown = loadConfig,
): ConfigError {
  try {
    load(env, flags);
  } catch (error) {
    if (ConfigError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('has working defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      region: 'us-east-1',
      endpoint: undefined,
      embedded: false,
      queueName: 'calsync-jobs',
      dlqName: 'calsync-jobs-dlq',
      concurrency: 10,
      visibilityTimeoutSeconds: 30,
      shutdownGraceMs: 25_000,
      maxMessageBytes: 1_048_576,
      maxReceiveCount: 5,
      metricsPort: undefined,
      metricsHost: '127.0.0.1',
      requireSignature: false,
    });
  });

  it.each([
    [{ CALSYNC_CONCURRENCY: 'lots' }, 'CALSYNC_CONCURRENCY: expected an integer from 1 to 10000, got "lots"'],
    [{ CALSYNC_CONCURRENCY: '0' }, 'CALSYNC_CONCURRENCY: expected an integer from 1 to 10000, got "0"'],
    [{ CALSYNC_MAX_MESSAGE_BYTES: '2000000' }, 'CALSYNC_MAX_MESSAGE_BYTES: expected an integer from 1024 to 1048576, got "2000000"'],
    [{ AWS_ENDPOINT_URL_SQS: 'localhost:9324' }, 'AWS_ENDPOINT_URL_SQS: expected an http(s) URL, got "localhost:9324"'],
    [{ AWS_REGION: 'Moon' }, 'AWS_REGION: expected an AWS region like us-east-1, got "Moon"'],
    [{ CALSYNC_EMBEDDED: 'maybe' }, 'CALSYNC_EMBEDDED: expected true or false, got "maybe"'],
    [{ CALSYNC_QUEUE_NAME: 'has space' }, `CALSYNC_QUEUE_NAME: expected 1–80 letters, digits, '-' or '_', got "has space"`],
    [{ CALSYNC_LOG_LEVEL: 'loud' }, 'CALSYNC_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"'],
    [
      { CALSYNC_REQUIRE_SIGNATURE: 'true' },
      'CALSYNC_REQUIRE_SIGNATURE: is true but CALSYNC_SIGNING_KEYS is empty: set the keys to verify with',
    ],
    [
      { CALSYNC_VISIBILITY_TIMEOUT_SECONDS: '50000' },
      'CALSYNC_VISIBILITY_TIMEOUT_SECONDS: expected an integer from 2 to 43200, got "50000"',
    ],
  ])('names the bad setting in one line: %o', (env, message) => {
    const error = errorOf(env);
    expect(error.message).toBe(message);
    expect(error.message).not.toContain('\n');
  });

  it('blames the flag when the flag is what is wrong, and flags win over the environment', () => {
    expect(errorOf({ CALSYNC_CONCURRENCY: '5' }, { concurrency: 'x' }).setting).toBe('--concurrency');
    expect(loadConfig({ CALSYNC_CONCURRENCY: '5' }, { concurrency: '7' }).concurrency).toBe(7);
  });

  it('never echoes a signing secret in an error', () => {
    const error = errorOf({ CALSYNC_SIGNING_KEYS: 'k1:short-secret' });
    expect(error.setting).toBe('CALSYNC_SIGNING_KEYS');
    expect(error.message).not.toContain('short-secret');
  });

  it('creates queues by default only for the embedded server', () => {
    expect(loadConfig({ CALSYNC_EMBEDDED: 'true' }).createQueues).toBe(true);
    expect(loadConfig({}).createQueues).toBe(false);
  });
});

describe('the settings schema', () => {
  it('takes the worker defaults from WORKER_DEFAULTS, so the CLI and createWorker agree', () => {
    expect(DEFAULTS).toMatchObject({
      concurrency: WORKER_DEFAULTS.concurrency,
      visibilityTimeoutSeconds: WORKER_DEFAULTS.visibilityTimeoutSeconds,
      shutdownGraceMs: WORKER_DEFAULTS.shutdownGraceMs,
    });
  });

  it('names every CALSYNC_* variable once', () => {
    const names = Object.values(SETTINGS).flatMap((setting) => setting.env.filter((name) => name.startsWith('CALSYNC_')));
    expect(new Set(names).size).toBe(names.length);
  });

  it('blames the queues create flags, not the variables they stand for', () => {
    expect(errorOf({ CALSYNC_MAX_RECEIVE_COUNT: '3' }, { maxReceiveCount: '0' }).message).toBe(
      '--max-receive-count: expected an integer from 1 to 1000, got "0"',
    );
    expect(loadConfig({}, { visibilityTimeoutSeconds: '60' }).visibilityTimeoutSeconds).toBe(60);
  });
});

describe('the api, dlq list and stats settings', () => {
  it('default to the DEFAULTS', () => {
    expect(loadApiSettings({})).toEqual({ port: 8080, host: '127.0.0.1' });
    expect(loadDlqListSettings()).toEqual({ limit: 100 });
    expect(loadStatsSettings()).toEqual({ intervalMs: 2_000 });
  });

  it('read CALSYNC_API_PORT, with --port and --host winning', () => {
    expect(loadApiSettings({ CALSYNC_API_PORT: '9000' })).toEqual({ port: 9000, host: '127.0.0.1' });
    expect(loadApiSettings({ CALSYNC_API_PORT: '9000' }, { apiPort: '0', apiHost: '0.0.0.0' })).toEqual({ port: 0, host: '0.0.0.0' });
    expect(loadDlqListSettings({ dlqListLimit: '5' }).limit).toBe(5);
    expect(loadStatsSettings({ statsIntervalMs: '200' }).intervalMs).toBe(200);
  });

  it.each<[NodeJS.ProcessEnv, ConfigFlags, (env: NodeJS.ProcessEnv, flags: ConfigFlags) => unknown, string]>([
    [{ CALSYNC_API_PORT: 'http' }, {}, loadApiSettings, 'CALSYNC_API_PORT: expected a port from 0 to 65535, got "http"'],
    [{ CALSYNC_API_PORT: '-1' }, {}, loadApiSettings, 'CALSYNC_API_PORT: expected a port from 0 to 65535, got "-1"'],
    [{ CALSYNC_API_PORT: '80' }, { apiPort: '70000' }, loadApiSettings, '--port: expected a port from 0 to 65535, got "70000"'],
    [{}, { dlqListLimit: '0' }, (_, flags) => loadDlqListSettings(flags), '--limit: expected an integer ≥ 1, got "0"'],
    [{}, { dlqListLimit: 'all' }, (_, flags) => loadDlqListSettings(flags), '--limit: expected an integer ≥ 1, got "all"'],
    [{}, { statsIntervalMs: '5' }, (_, flags) => loadStatsSettings(flags), '--interval-ms: expected an integer ≥ 200, got "5"'],
    [{}, { statsIntervalMs: '1.5' }, (_, flags) => loadStatsSettings(flags), '--interval-ms: expected an integer ≥ 200, got "1.5"'],
  ])('names the bad setting in one line: %o %o', (env, flags, load, message) => {
    const error = errorOf(env, flags, load);
    expect(error.message).toBe(message);
    expect(error.message).not.toContain('\n');
  });
});

describe('the job store settings', () => {
  const DAY = 86_400_000;

  it('default to no store, 7 days of retention and payloads stored; dev defaults to embedded', () => {
    expect(loadConfig({})).toMatchObject({
      store: { kind: 'none' },
      storeSetting: 'CALSYNC_STORE_URL',
      storeRetentionMs: 7 * DAY,
      storePayloads: true,
    });
    expect(loadConfig({}, {}, { store: DEFAULTS.devStore }).store).toEqual({ kind: 'embedded' });
    // A set variable wins over the command's default.
    expect(loadConfig({ CALSYNC_STORE_URL: 'none' }, {}, { store: 'embedded' }).store).toEqual({ kind: 'none' });
  });

  it('reads CALSYNC_STORE_URL, with --store winning and named as the setting', () => {
    const url = 'postgres://calsync:secret@db.internal:5432/calsync';
    expect(loadConfig({ CALSYNC_STORE_URL: url })).toMatchObject({
      store: { kind: 'postgres', url },
      storeSetting: 'CALSYNC_STORE_URL',
    });
    expect(loadConfig({ CALSYNC_STORE_URL: url }, { store: 'embedded' })).toMatchObject({
      store: { kind: 'embedded' },
      storeSetting: '--store',
    });
  });

  it('gives the embedded store CALSYNC_STORE_DIR; other stores ignore it', () => {
    expect(loadConfig({ CALSYNC_STORE_URL: 'embedded', CALSYNC_STORE_DIR: '/var/lib/calsync' }).store).toEqual({
      kind: 'embedded',
      dir: '/var/lib/calsync',
    });
    expect(loadConfig({ CALSYNC_STORE_DIR: '/var/lib/calsync' }).store).toEqual({ kind: 'none' });
  });

  it('blames the flag or the variable that was used for a bad store, in one line, without the password', () => {
    for (const [env, flags, setting] of [
      [{ CALSYNC_STORE_URL: 'mysql://u:hunter2@host/db' }, {}, 'CALSYNC_STORE_URL'],
      [{ CALSYNC_STORE_URL: 'embedded' }, { store: 'mysql://u:hunter2@host/db' }, '--store'],
    ] as const) {
      const error = errorOf(env, flags);
      expect(error.setting).toBe(setting);
      expect(error.message.startsWith(`${setting}: `)).toBe(true);
      expect(error.message).not.toContain('\n');
      expect(error.message).not.toContain('hunter2');
    }
  });

  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['15m', 900_000],
    ['12h', 12 * 3_600_000],
    ['7d', 7 * DAY],
    ['1.5h', 5_400_000],
    [' 2D ', 2 * DAY],
  ])('reads CALSYNC_STORE_RETENTION=%j as %d ms', (text, ms) => {
    expect(loadConfig({ CALSYNC_STORE_RETENTION: text }).storeRetentionMs).toBe(ms);
  });

  it.each(['7', 'seven days', '-1d', '0s', '3w', 'd'])('rejects CALSYNC_STORE_RETENTION=%j naming the setting', (text) => {
    expect(errorOf({ CALSYNC_STORE_RETENTION: text }).message).toBe(
      `CALSYNC_STORE_RETENTION: expected a duration like 500ms, 30s, 15m, 12h or 7d, got ${JSON.stringify(text)}`,
    );
  });

  it('reads CALSYNC_STORE_PAYLOADS as a boolean', () => {
    expect(loadConfig({ CALSYNC_STORE_PAYLOADS: 'false' }).storePayloads).toBe(false);
    expect(errorOf({ CALSYNC_STORE_PAYLOADS: 'sometimes' }).message).toBe(
      'CALSYNC_STORE_PAYLOADS: expected true or false, got "sometimes"',
    );
  });

  it('reads jobs list --since/--limit and jobs prune --older-than (default: the retention)', () => {
    expect(loadJobsListSettings()).toEqual({ sinceMs: undefined, limit: 50 });
    expect(loadJobsListSettings({ jobsSinceMs: '1h', jobsListLimit: '1000' })).toEqual({ sinceMs: 3_600_000, limit: 1_000 });
    expect(errorOf({}, { jobsListLimit: '1001' }, (_, flags) => loadJobsListSettings(flags)).message).toBe(
      '--limit: expected an integer from 1 to 1000, got "1001"',
    );
    expect(errorOf({}, { jobsSinceMs: 'yesterday' }, (_, flags) => loadJobsListSettings(flags)).setting).toBe('--since');
    const config = loadConfig({ CALSYNC_STORE_RETENTION: '12h' });
    expect(loadPruneSettings(config)).toEqual({ olderThanMs: 12 * 3_600_000 });
    expect(loadPruneSettings(config, { pruneOlderThanMs: '30m' })).toEqual({ olderThanMs: 1_800_000 });
    expect(errorOf({}, { pruneOlderThanMs: '30' }, (_, flags) => loadPruneSettings(config, flags)).setting).toBe('--older-than');
  });
});

describe('the scheduler setting', () => {
  it('is on by default; CALSYNC_SCHEDULER=false or --no-scheduler turns it off; a bad value names the variable', () => {
    expect(loadConfig({}).scheduler).toBe(true);
    expect(loadConfig({ CALSYNC_SCHEDULER: 'false' }).scheduler).toBe(false);
    expect(loadConfig({ CALSYNC_SCHEDULER: 'on' }, { scheduler: false }).scheduler).toBe(false);
    expect(() => loadConfig({ CALSYNC_SCHEDULER: 'sometimes' })).toThrow('CALSYNC_SCHEDULER: expected true or false, got "sometimes"');
  });
});
