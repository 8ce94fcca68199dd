import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/shared/errors.js';

function errorOf(env: NodeJS.ProcessEnv, flags = {}): ConfigError {
  try {
    loadConfig(env, flags);
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
