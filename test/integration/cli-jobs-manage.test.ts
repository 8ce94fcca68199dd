/**
 * `calsync-jobs jobs cancel|retry|prune`, and `dlq list|show|redrive` with a store, as the real binary
 * against a real PostgreSQL 15 store and fauxqs (in this process): test/integration/store-cli-harness.ts.
 */
import { describe, expect, it } from 'vitest';
import { decodeEnvelope } from '../../src/queue/envelope.js';
import type { NewJob } from '../../src/store/job-store.js';
import { drain, jobIds, runCli, seedDeadJobs } from './cli-harness.js';
import { failure, json, pendingRow, runningRow, settledRow, useStoreCli } from './store-cli-harness.js';

const cli = useStoreCli();

describe('calsync-jobs jobs cancel, retry and prune', () => {
  it('cancels pending and running jobs, refuses settled ones (exit 1) and unknown ids', async () => {
    const [pending, running, done] = [await pendingRow(cli.store), await runningRow(cli.store), await settledRow(cli.store, 'succeeded')];
    const [a, b, c, d] = await Promise.all([
      runCli(['jobs', 'cancel', pending.id], cli.env),
      runCli(['jobs', 'cancel', running.id, '--json'], cli.env),
      runCli(['jobs', 'cancel', done.id], cli.env),
      runCli(['jobs', 'cancel', 'no-such-job'], cli.env),
    ]);
    expect(a).toMatchObject({ code: 0, stdout: `cancelled ${pending.id}: it will not run\n` });
    expect(json(b.stdout)).toEqual({ id: running.id, state: 'cancelled', wasRunning: true });
    expect(c.code).toBe(1);
    expect(c.stderr.trim()).toBe(`calsync-jobs jobs cancel: job ${done.id} already succeeded; nothing to cancel`);
    expect(d.code).toBe(1);
    expect((await cli.store.getJob(pending.id))?.state).toBe('cancelled');
    expect((await cli.store.getJob(running.id))?.state).toBe('cancelled');
    expect((await cli.store.getJob(done.id))?.state).toBe('succeeded');
  }, 60_000);

  it('retries a dead job as attempt 1 of a new series with its history, and refuses one without its payload', async () => {
    const dead = await settledRow(cli.store, 'dead');
    const bare = await settledRow(cli.store, 'dead', { payload: undefined, payloadOmitted: 'disabled' });
    const pending = await pendingRow(cli.store);
    const [retried, refused, notRetryable] = await Promise.all([
      runCli(['jobs', 'retry', dead.id, '--json'], cli.env),
      runCli(['jobs', 'retry', bare.id], cli.env),
      runCli(['jobs', 'retry', pending.id], cli.env),
    ]);
    expect(retried.code, retried.stderr).toBe(0);
    expect(json(retried.stdout)).toEqual({ id: dead.id, state: 'pending', attempt: 1, retries: 1 });
    const [body] = await drain(cli.transport, cli.queues.mainQueueUrl);
    const decoded = decodeEnvelope(body!);
    expect(decoded.ok && decoded.envelope).toMatchObject({
      id: dead.id,
      type: 'test.cli',
      attempt: 1,
      payload: { n: 1 },
      history: [expect.objectContaining({ attempt: 1, kind: 'failed' })],
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toBe(
      `calsync-jobs jobs retry: payload not stored (CALSYNC_STORE_PAYLOADS was off); redrive it from the DLQ: calsync-jobs dlq redrive --id ${bare.id}`,
    );
    expect((await cli.store.getJob(bare.id))?.state).toBe('dead');
    expect(notRetryable.code).toBe(1);
    expect(notRetryable.stderr).toContain('is pending; only dead or cancelled jobs can be retried');
  }, 60_000);

  it('prunes settled jobs older than --older-than, and by default those past the retention', async () => {
    const old = await settledRow(cli.store, 'succeeded');
    const open = await pendingRow(cli.store);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const byDefault = await runCli(['jobs', 'prune'], cli.env);
    expect(byDefault).toMatchObject({ code: 0, stdout: 'pruned 0 job(s) settled more than 7d ago\n' });
    const now = await runCli(['jobs', 'prune', '--older-than', '10ms', '--json'], cli.env);
    expect(now.code, now.stderr).toBe(0);
    expect(json<{ pruned: number }>(now.stdout).pruned).toBeGreaterThanOrEqual(1);
    expect(await cli.store.getJob(old.id)).toBeUndefined();
    expect(await cli.store.getJob(open.id)).toBeDefined();
    const bad = await runCli(['jobs', 'prune', '--older-than', 'a while'], cli.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--older-than: expected a duration like 500ms, 30s, 15m, 12h or 7d, got "a while"');
  }, 60_000);
});

describe('calsync-jobs dlq with a store', () => {
  it('dlq list and show say what the store knows; dlq redrive reopens the row before sending the job back', async () => {
    const [known, unknown] = await seedDeadJobs(cli.transport, cli.queues.dlqUrl, 2);
    const row: NewJob = { id: known!.id, type: known!.type, createdAt: Date.now(), payload: known!.payload };
    await cli.store.createJobs([row]);
    await cli.store.claim([{ jobId: row.id, type: row.type, attempt: 1, messageId: 'm-dlq', leaseMs: 60_000, worker: 'test:1', row }]);
    await cli.store.settle([
      { jobId: row.id, attempt: 1, messageId: 'm-dlq', outcome: { kind: 'dead', reason: 'non_retryable', history: [failure(1)] } },
    ]);
    // One after another: each read holds the DLQ's messages invisible while it scans.
    const list = await runCli(['dlq', 'list', '--json'], cli.env);
    const table = await runCli(['dlq', 'list'], cli.env);
    const show = await runCli(['dlq', 'show', unknown!.id], cli.env);
    expect(list.code, list.stderr).toBe(0);
    const jobs = json<{ jobs: Array<{ id: string; store: unknown }> }>(list.stdout).jobs;
    expect(jobs.find((job) => job.id === known!.id)?.store).toEqual({
      state: 'dead',
      attempt: 1,
      retries: 0,
      deadLetterReason: 'non_retryable',
    });
    expect(jobs.find((job) => job.id === unknown!.id)?.store).toBeNull();
    expect(table.stdout.split('\n')[0]).toMatch(/DEAD-LETTERED\s+STORE\s+LAST ERROR/);
    expect(table.stdout).toContain('dead, attempt 1, non_retryable');
    expect(show.stdout).toContain('in the store:    not in the store');

    const redrive = await runCli(['dlq', 'redrive', '--id', known!.id], cli.env);
    expect(redrive.code, redrive.stderr).toBe(0);
    expect(redrive.stdout).toContain('redrove 1 job(s)');
    expect(await cli.store.getJob(known!.id)).toMatchObject({ state: 'pending', attempt: 1 });
    expect(jobIds(await drain(cli.transport, cli.queues.mainQueueUrl))).toEqual([known!.id]);
  }, 60_000);
});
