/** The jobs' `close` hook: carried by defineJob, run once per function by closeJobs, failures and stalls contained. */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { closeJobs } from '../../src/cli/load-jobs.js';
import { createCalendarSyncJob, type CalendarSyncDeps } from '../../src/jobs/calendar/calendar-sync.js';
import { Lazy } from '../../src/jobs/calendar/lazy.js';
import { calendarSyncJob, calendarWriteJob } from '../../src/jobs/index.js';
import { defineJob } from '../../src/machines/define-job.js';
import { ConfigError } from '../../src/shared/errors.js';

const schema = z.object({});
const handler = (): void => {};

describe('job close hooks', () => {
  it('defineJob keeps a close function and refuses anything else', () => {
    const close = async (): Promise<void> => {};
    expect(defineJob({ type: 'a.b', schema, handler, close }).close).toBe(close);
    expect('close' in defineJob({ type: 'a.b', schema, handler })).toBe(false);
    expect(() => defineJob({ type: 'a.b', schema, handler, close: 'no' as never })).toThrow(ConfigError);
  });

  it('the default calendar.sync job closes its pool through the hook; calendar.write holds nothing', async () => {
    expect(typeof calendarSyncJob.close).toBe('function');
    await expect(calendarSyncJob.close!()).resolves.toBeUndefined(); // never opened: nothing to end
    expect(calendarWriteJob.close).toBeUndefined();
  });

  it('a lazily opened calendar.sync ends what it opened once, and opens anew after', async () => {
    const ended: number[] = [];
    let opened = 0;
    const deps = new Lazy(
      () => ({ id: ++opened }) as unknown as CalendarSyncDeps,
      (value) => void ended.push((value as unknown as { id: number }).id),
    );
    const job = createCalendarSyncJob(deps);
    expect(opened).toBe(0);
    await job.close!();
    expect(ended).toEqual([]);
    expect(await deps.get()).toBe(await deps.get());
    await job.close!();
    await job.close!();
    expect(ended).toEqual([1]);
    await deps.get();
    await job.close!();
    expect(ended).toEqual([1, 2]);
    expect(createCalendarSyncJob({ accounts: {} as never, pool: {} as never }).close).toBeUndefined();
  });

  it('a failed open is forgotten: the next get opens again, close has nothing to end', async () => {
    let attempts = 0;
    const ended: unknown[] = [];
    const deps = new Lazy(
      () => {
        attempts++;
        if (attempts === 1) throw new Error('no database');
        return 'open';
      },
      (value) => void ended.push(value),
    );
    await expect(deps.get()).rejects.toThrow('no database');
    await deps.close();
    expect(ended).toEqual([]);
    await expect(deps.get()).resolves.toBe('open');
    expect(attempts).toBe(2);
  });

  it('runs each distinct hook once, all of them even when one fails, then throws the failure', async () => {
    const calls: string[] = [];
    const shared = (): void => void calls.push('shared');
    const failing = async (): Promise<void> => {
      calls.push('failing');
      throw new Error('pool end failed');
    };
    const later = async (): Promise<void> => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      calls.push('later');
    };
    const jobs = [
      defineJob({ type: 'a.one', schema, handler, close: shared }),
      defineJob({ type: 'a.two', schema, handler, close: shared }),
      defineJob({ type: 'a.three', schema, handler, close: failing }),
      defineJob({ type: 'a.four', schema, handler, close: later }),
      defineJob({ type: 'a.five', schema, handler }),
    ];
    await expect(closeJobs(jobs, { logger: pino({ level: 'silent' }) })).rejects.toThrow('pool end failed');
    expect(calls.sort()).toEqual(['failing', 'later', 'shared']);
    await expect(closeJobs([jobs[4]!])).resolves.toBeUndefined();
  });

  it('goes on without a hook that does not end within the limit', async () => {
    const warnings: unknown[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
    const stuck = defineJob({ type: 'a.stuck', schema, handler, close: () => new Promise<void>(() => undefined) });
    const started = Date.now();
    await closeJobs([stuck], { logger, timeoutMs: 50 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(warnings).toMatchObject([{ jobs: ['a.stuck'], msg: 'closing jobs: still running at the limit; going on without them' }]);
  });
});
