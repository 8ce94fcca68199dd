import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../../src/machines/define-job.js';
import { systemClock } from '../../src/shared/clock.js';
import { ConfigError } from '../../src/shared/errors.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import { resolveWorkerOptions, WORKER_DEFAULTS, type WorkerOptions } from '../../src/runtime/worker-options.js';

const job = defineJob({ type: 'opts.job', schema: z.object({}), handler: () => {} });
const base: WorkerOptions = { transport: new MemoryTransport(), jobs: [job], queueUrl: 'memory://main-q', dlqUrl: 'memory://dead-q' };

function configError(options: Partial<WorkerOptions>): ConfigError {
  try {
    resolveWorkerOptions({ ...base, ...options } as WorkerOptions);
  } catch (error) {
    if (ConfigError.is(error)) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be rejected`);
}

describe('resolveWorkerOptions', () => {
  it('applies the defaults once', () => {
    const resolved = resolveWorkerOptions(base);
    expect(resolved).toMatchObject({
      queueName: 'main-q',
      dlqName: 'dead-q',
      concurrency: WORKER_DEFAULTS.concurrency,
      pollers: 1,
      waitTimeSeconds: 20,
      visibilityTimeoutSeconds: 30,
      receiveBatchWindowMs: 10,
      deleteFlushMs: 5,
      shutdownGraceMs: 25_000,
      maxMessageBytes: 1_048_576,
      logPayloads: false,
    });
    expect(resolved.clock).toBe(systemClock);
    expect(typeof resolved.random).toBe('function');
  });

  it('derives pollers from concurrency: ceil(concurrency / 10), at most 8', () => {
    expect(resolveWorkerOptions({ ...base, concurrency: 25 }).pollers).toBe(3);
    expect(resolveWorkerOptions({ ...base, concurrency: 1_000 }).pollers).toBe(8);
  });

  it('takes queue names from URLs with a trailing slash too', () => {
    expect(resolveWorkerOptions({ ...base, queueUrl: 'http://127.0.0.1:9324/000000000000/jobs/' }).queueName).toBe('jobs');
  });

  it.each<[Partial<WorkerOptions>, string, string]>([
    [{ concurrency: 0 }, 'concurrency', 'expected an integer from 1 to 10000, got 0'],
    [{ concurrency: 1.5 }, 'concurrency', 'expected an integer from 1 to 10000, got 1.5'],
    [{ concurrency: 10_001 }, 'concurrency', 'expected an integer from 1 to 10000, got 10001'],
    [{ pollers: 0 }, 'pollers', 'expected an integer from 1 to 10, got 0'],
    [{ concurrency: 4, pollers: 5 }, 'pollers', 'expected an integer from 1 to 4, got 5'],
    [{ waitTimeSeconds: 21 }, 'waitTimeSeconds', 'expected an integer from 0 to 20, got 21'],
    [{ waitTimeSeconds: -1 }, 'waitTimeSeconds', 'expected an integer from 0 to 20, got -1'],
    [{ visibilityTimeoutSeconds: 1 }, 'visibilityTimeoutSeconds', 'expected an integer from 2 to 43200, got 1'],
    [{ visibilityTimeoutSeconds: 43_201 }, 'visibilityTimeoutSeconds', 'expected an integer from 2 to 43200, got 43201'],
    [{ receiveBatchWindowMs: 10_001 }, 'receiveBatchWindowMs', 'expected an integer from 0 to 10000, got 10001'],
    [{ deleteFlushMs: -1 }, 'deleteFlushMs', 'expected an integer from 0 to 10000, got -1'],
    [{ shutdownGraceMs: 3_600_001 }, 'shutdownGraceMs', 'expected an integer from 0 to 3600000, got 3600001'],
    [{ maxMessageBytes: 1_000 }, 'maxMessageBytes', 'expected an integer from 1024 to 1048576, got 1000'],
    [{ maxMessageBytes: 2_000_000 }, 'maxMessageBytes', 'expected an integer from 1024 to 1048576, got 2000000'],
  ])('rejects %j naming %s and its range', (options, field, message) => {
    const error = configError(options);
    expect(error.setting).toBe(field);
    expect(error.message).toBe(`${field}: ${message}`);
  });

  it.each<[Partial<WorkerOptions>, string, RegExp]>([
    [{ transport: undefined as unknown as WorkerOptions['transport'] }, 'transport', /expected a JobTransport/],
    [{ queueUrl: '' }, 'queueUrl', /expected the main queue URL/],
    [{ dlqUrl: '' }, 'dlqUrl', /expected the dead-letter queue URL/],
    [{ jobs: [] }, 'jobs', /expected at least one job definition/],
    [{ concurrency: Number.NaN }, 'concurrency', /^concurrency: expected an integer from 1 to 10000, got /],
    [{ jobs: [job, job] }, 'jobs', /job type "opts\.job" is defined twice/],
  ])('rejects %j naming %s', (options, field, message) => {
    const error = configError(options);
    expect(error.setting).toBe(field);
    expect(error.message).toMatch(message);
  });
});
