/**
 * `calsync-jobs queues create` builds its transport from the configuration like every other command:
 * CALSYNC_MAX_MESSAGE_BYTES included (it once built its own and forgot it). ensureQueues is replaced,
 * so nothing is sent anywhere; what matters is the transport it is handed.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';

const handed: Array<{ transport: SqsTransport; options: Record<string, unknown> }> = [];
vi.mock('../../src/ops/ensure-queues.js', () => ({
  ensureQueues: async (transport: SqsTransport, options: Record<string, unknown>) => {
    handed.push({ transport, options });
    return {
      mainQueueUrl: 'http://127.0.0.1:9/q/main',
      dlqUrl: 'http://127.0.0.1:9/q/main-dlq',
      mainQueueName: 'main',
      dlqName: 'main-dlq',
      changes: [],
    };
  },
}));

const { queuesCommand } = await import('../../src/cli/commands/queues.js');
const { transportFromConfig } = await import('../../src/ops/open-queues.js');
const { loadConfig } = await import('../../src/config/config.js');

describe('queues create', () => {
  const saved = { ...process.env };
  beforeEach(() => {
    handed.length = 0;
    vi.spyOn(console, 'log').mockImplementation(() => undefined);
    for (const key of Object.keys(process.env)) if (key.startsWith('CALSYNC_') || key.startsWith('AWS_')) delete process.env[key];
    Object.assign(process.env, { AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9', CALSYNC_MAX_MESSAGE_BYTES: '2048' });
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.env = { ...saved };
  });

  it('hands ensureQueues a transport with the configured maxMessageBytes, names and queue attributes', async () => {
    expect(await queuesCommand(['create', '--queue-prefix', 'staging', '--max-receive-count', '3', '--visibility-timeout', '45'])).toBe(0);
    expect(handed).toHaveLength(1);
    expect(handed[0]!.transport.maxMessageBytes).toBe(2048);
    expect(handed[0]!.options).toMatchObject({
      mainQueueName: 'staging',
      dlqName: 'staging-dlq',
      maxReceiveCount: 3,
      visibilityTimeoutSeconds: 45,
    });
  });
});

describe('transportFromConfig', () => {
  it('is the configured SQS transport: maxMessageBytes from CALSYNC_MAX_MESSAGE_BYTES, or 1 MiB', async () => {
    const configured = transportFromConfig(loadConfig({ CALSYNC_MAX_MESSAGE_BYTES: '4096' }));
    const plain = transportFromConfig(loadConfig({}));
    expect([configured.kind, configured.maxMessageBytes, plain.maxMessageBytes]).toEqual(['aws_sqs', 4096, 1_048_576]);
    await configured.close();
    await plain.close();
  });
});
