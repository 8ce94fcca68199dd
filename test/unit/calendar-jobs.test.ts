import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { staticAccounts } from '../../src/jobs/calendar/accounts.js';
import { createCalendarSyncJob } from '../../src/jobs/calendar/calendar-sync.js';
import { createCalendarJobs } from '../../src/jobs/calendar/index.js';
import { calendarJobs, calendarSyncJob, calendarWriteJob } from '../../src/jobs/index.js';
import type { JobContext } from '../../src/machines/define-job.js';
import { ConfigError } from '../../src/shared/errors.js';

const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
});

function ctx(): JobContext<never> {
  return {
    jobId: 'j',
    type: 't',
    attempt: 1,
    signal: new AbortController().signal,
    logger: pino({ level: 'silent' }),
    idempotencyKey: undefined,
    checkpoint: undefined,
    saveCheckpoint: async () => undefined,
    heartbeat: async () => undefined,
  };
}

describe('calendar job definitions', () => {
  it('are listed with their types and schemas, and importing them read no configuration', () => {
    expect(calendarJobs.map((job) => job.type)).toEqual(['calendar.write', 'calendar.sync']);
    expect(
      calendarWriteJob.schema.safeParse({
        accountId: 'a',
        calendar: 'c',
        op: 'delete',
        event: { uid: 'u', summary: '', start: '2027-01-01T00:00:00Z', end: '2027-01-01T01:00:00Z' },
      }).success,
    ).toBe(true);
    expect(calendarSyncJob.schema.safeParse({ accountId: 'a' }).success).toBe(false);
  });

  it('the default write job reads CALSYNC_ACCOUNTS on its first run and names it when missing', async () => {
    delete process.env.CALSYNC_ACCOUNTS;
    delete process.env.CALSYNC_ACCOUNTS_FILE;
    const run = calendarWriteJob.handler(
      {
        accountId: 'a',
        calendar: 'c',
        op: 'delete',
        event: { uid: 'u', summary: '', start: '2027-01-01T00:00:00Z', end: '2027-01-01T01:00:00Z' },
      },
      ctx(),
    );
    await expect(run).rejects.toSatisfy((error: unknown) => ConfigError.is(error) && error.setting === 'CALSYNC_ACCOUNTS');
  });

  it('the default sync job names CALSYNC_DATABASE_URL when it is missing', async () => {
    delete process.env.CALSYNC_DATABASE_URL;
    await expect(calendarSyncJob.handler({ accountId: 'a', calendar: 'c' }, ctx())).rejects.toSatisfy(
      (error: unknown) => ConfigError.is(error) && error.setting === 'CALSYNC_DATABASE_URL',
    );
  });

  it('the default jobs read their settings on each first run, again after a failure, never at creation', async () => {
    const asked: string[] = [];
    const accounts = staticAccounts({});
    const [write, sync] = createCalendarJobs({
      write: () => {
        asked.push('write');
        throw new ConfigError('CALSYNC_ACCOUNTS', 'not set');
      },
      sync: () => {
        asked.push('sync');
        return { accounts, databaseUrl: 'postgres://127.0.0.1:1/db', batchSize: 50 };
      },
      // The write rate is the definition's (made at creation): it never throws, a bad value falls back.
      caldavRate: () => 7,
    });
    expect(asked).toEqual([]);
    expect(write.keys?.rateLimit).toMatchObject({ max: 7, perMs: 1_000 });
    const payload = {
      accountId: 'a',
      calendar: 'c',
      op: 'delete' as const,
      event: { uid: 'u', summary: '', start: '2027-01-01T00:00:00Z', end: '2027-01-01T01:00:00Z' },
    };
    await expect(write.handler(payload, ctx())).rejects.toThrow('CALSYNC_ACCOUNTS: not set');
    await expect(write.handler(payload, ctx())).rejects.toThrow('CALSYNC_ACCOUNTS: not set');
    expect(asked).toEqual(['write', 'write']);
    expect(write.close).toBeUndefined();
    expect(typeof sync.close).toBe('function');
    await expect(sync.close!()).resolves.toBeUndefined();
  });

  it('createCalendarSyncJob checks batchSize, naming it', () => {
    const accounts = staticAccounts({});
    expect(() => createCalendarSyncJob({ accounts, pool: {} as never, batchSize: 0 })).toThrow(
      'batchSize: expected an integer from 1 to 1000, got 0',
    );
  });
});
