/**
 * `calsync-jobs schedules set|list|show|pause|resume|trigger|delete` as the real binary against a real
 * PostgreSQL 15 store and fauxqs (in this process): test/integration/store-cli-harness.ts. Also the
 * answers without a store (exit 2 naming CALSYNC_STORE_URL) and for bad input (exit 2 naming the flag).
 */
import { describe, expect, it } from 'vitest';
import type { ScheduleDetail, ScheduleView } from '../../src/ops/schedules.js';
import { drain, jobIds, runCli, uniquePrefix } from './cli-harness.js';
import { json, useStoreCli } from './store-cli-harness.js';

const cli = useStoreCli();

describe('calsync-jobs schedules', () => {
  it('set creates and changes, list and show print it, trigger enqueues a recorded job, pause/resume/delete', async () => {
    const id = `feed-${uniquePrefix()}`;
    const set = await runCli(
      ['schedules', 'set', id, '--type', 'demo.hello', '--payload', '{"name":"feed"}', '--every', '5m', '--jitter', '30s', '--json'],
      cli.env,
    );
    expect(set.code, set.stderr).toBe(0);
    const created = json<ScheduleView>(set.stdout);
    expect(created).toMatchObject({
      id,
      job: { type: 'demo.hello', payload: { name: 'feed' } },
      everyMs: 300_000,
      jitterMs: 30_000,
      overlap: 'skip',
    });
    const changed = await runCli(
      [
        'schedules',
        'set',
        id,
        '--type',
        'demo.hello',
        '--payload',
        '{"name":"feed"}',
        '--cron',
        '*/5 * * * *',
        '--tz',
        'Europe/Berlin',
        '--overlap',
        'buffer-one',
      ],
      cli.env,
    );
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toContain(`changed schedule ${id}: demo.hello cron "*/5 * * * *" Europe/Berlin`);

    const [list, listJson] = await Promise.all([runCli(['schedules', 'list'], cli.env), runCli(['schedules', 'list', '--json'], cli.env)]);
    expect(list.stdout).toMatch(new RegExp(`${id}\\s+demo.hello\\s+cron "\\*/5 \\* \\* \\* \\*" Europe/Berlin\\s+bufferOne`));
    expect(json<ScheduleView[]>(listJson.stdout).map((s) => s.id)).toContain(id);

    const trigger = await runCli(['schedules', 'trigger', id, '--json'], cli.env);
    expect(trigger.code, trigger.stderr).toBe(0);
    const { jobId } = json<{ jobId: string }>(trigger.stdout);
    expect(jobIds(await drain(cli.transport, cli.queues.mainQueueUrl))).toEqual([jobId]);
    expect(await cli.store.getJob(jobId)).toMatchObject({ type: 'demo.hello', state: 'pending', payload: { name: 'feed' } });

    const [show, showText] = await Promise.all([
      runCli(['schedules', 'show', id, '--json'], cli.env),
      runCli(['schedules', 'show', id], cli.env),
    ]);
    const detail = json<ScheduleDetail>(show.stdout);
    expect(detail.upcoming).toHaveLength(5);
    // Every 5 minutes on the wall clock of Berlin: whole 5-minute marks, 5 minutes apart.
    for (const [n, at] of detail.upcoming.entries()) {
      expect(Date.parse(at) % 300_000).toBe(0);
      if (n > 0) expect(Date.parse(at) - Date.parse(detail.upcoming[n - 1]!)).toBe(300_000);
    }
    expect(detail.runs).toEqual([expect.objectContaining({ jobId, kind: 'trigger', state: 'pending' })]);
    expect(showText.stdout).toContain('next runs:');
    expect(showText.stdout).toMatch(new RegExp(`trigger\\s+${jobId}\\s+pending`));

    expect(json((await runCli(['schedules', 'pause', id, '--json'], cli.env)).stdout)).toEqual({ id, paused: true });
    expect(json<ScheduleView>((await runCli(['schedules', 'show', id, '--json'], cli.env)).stdout).paused).toBe(true);
    expect((await runCli(['schedules', 'resume', id], cli.env)).stdout.trim()).toBe(`resumed schedule ${id}`);
    expect(json((await runCli(['schedules', 'delete', id, '--json'], cli.env)).stdout)).toEqual({ id, deleted: true });
    const gone = await runCli(['schedules', 'show', id], cli.env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`no schedule ${id}`);
  }, 120_000);

  it.each([
    [['--every', '5 minutes'], '--every: expected a duration like 500ms'],
    [['--every', '5m', '--jitter', '10m'], '--jitter: expected less than every'],
    [['--cron', '*/5 * *'], '--cron: CronPattern'],
    [['--cron', '* * * * *', '--tz', 'Mars/Olympus'], '--tz: expected an IANA time zone'],
    [['--every', '5m', '--overlap', 'sometimes'], '--overlap: expected skip, buffer-one or allow-all'],
    [['--every', '5m', '--cron', '* * * * *'], 'expected one of --every and --cron'],
  ])(
    'bad input %j: exit 2 naming the flag',
    async (flags, message) => {
      const result = await runCli(['schedules', 'set', 'bad', '--type', 'demo.hello', '--payload', '{"name":"x"}', ...flags], cli.env);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
    },
    60_000,
  );

  it('a payload that fails its schema is refused naming the field; without a store every command exits 2 naming CALSYNC_STORE_URL', async () => {
    const bad = await runCli(['schedules', 'set', 'bad', '--type', 'demo.hello', '--payload', '{"name":7}', '--every', '5m'], cli.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('payload.name');
    const none = { ...cli.env, CALSYNC_STORE_URL: 'none' };
    const results = await Promise.all([
      runCli(['schedules', 'list'], none),
      runCli(['schedules', 'show', 'x'], none),
      runCli(['schedules', 'set', 'x', '--type', 'demo.hello', '--payload', '{"name":"x"}', '--every', '5m'], none),
    ]);
    for (const result of results) {
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('CALSYNC_STORE_URL');
    }
    const help = await runCli(['schedules', 'set', '--help'], none);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--overlap P');
  }, 60_000);
});
