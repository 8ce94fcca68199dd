import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DEFAULT_ATTEMPT_TIMEOUT_MS, defineJob, isJobDefinition, type JobOptions } from '../../src/machines/define-job.js';
import { ConfigError } from '../../src/shared/errors.js';

const schema = z.object({ id: z.string() });
const handler = (): void => {};

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (ConfigError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('defineJob', () => {
  it('resolves defaults into a definition', () => {
    const job = defineJob({ type: 'calendar.sync', schema, handler });
    expect(isJobDefinition(job)).toBe(true);
    expect(job).toMatchObject({
      kind: 'calsync-jobs.definition',
      type: 'calendar.sync',
      attemptTimeoutMs: DEFAULT_ATTEMPT_TIMEOUT_MS,
      deadlineMs: undefined,
      retry: {
        initialIntervalMs: 1000,
        backoffCoefficient: 2,
        maximumIntervalMs: 100_000,
        maximumAttempts: 4,
        jitter: 'full',
        nonRetryableErrors: [],
      },
    });
    expect(isJobDefinition({ type: 'x' })).toBe(false);
    expect(isJobDefinition(null)).toBe(false);
  });

  it.each(['calendar.sync', 'demo', 'a.b-c.d_e', 'Calendar.Write2'])('accepts the type name %s', (type) => {
    expect(defineJob({ type, schema, handler }).type).toBe(type);
  });

  it.each(['', '1job', 'calendar..sync', 'calendar.', '.sync', 'has space', 'a/b', 'x'.repeat(129)])(
    'rejects the type name %j, naming `type`',
    (type) => {
      const error = configError(() => defineJob({ type, schema, handler }));
      expect(error.setting).toBe('type');
      expect(error.message).toMatch(/^type: expected a dotted name like "calendar\.sync", got /);
    },
  );

  it('names the job type and the field for a bad handler or schema', () => {
    expect(configError(() => defineJob({ type: 'a.b', schema, handler: 'nope' } as unknown as JobOptions<typeof schema>)).message).toBe(
      'a.b.handler: expected a function',
    );
    expect(configError(() => defineJob({ type: 'a.b', schema: {} as typeof schema, handler })).message).toBe(
      'a.b.schema: expected a zod schema',
    );
  });

  it.each([0, -5, Number.NaN, Number.POSITIVE_INFINITY, 43_200_001])('rejects attemptTimeoutMs %d', (attemptTimeoutMs) => {
    const error = configError(() => defineJob({ type: 'a.b', schema, handler, attemptTimeoutMs }));
    expect(error.setting).toBe('a.b.attemptTimeoutMs');
    expect(error.message).toMatch(
      /^a\.b\.attemptTimeoutMs: expected a number > 0 and at most 43200000 \(12 h: SQS caps a message.s visibility there\), got /,
    );
  });

  it.each([0, -1, Number.NaN])('rejects deadlineMs %d', (deadlineMs) => {
    const error = configError(() => defineJob({ type: 'a.b', schema, handler, deadlineMs }));
    expect(error.setting).toBe('a.b.deadlineMs');
    expect(error.message).toMatch(/^a\.b\.deadlineMs: expected a number > 0, got /);
  });

  it('names a bad retry field as <type>.retry.<field>', () => {
    const error = configError(() => defineJob({ type: 'a.b', schema, handler, retry: { backoffCoefficient: 0 } }));
    expect(error.setting).toBe('a.b.retry.backoffCoefficient');
    expect(error.message).toBe('a.b.retry.backoffCoefficient: expected a number ≥ 1, got 0');
  });
});
