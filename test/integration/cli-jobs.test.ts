/**
 * `calsync-jobs enqueue --json` and `calsync-jobs jobs list|show` as the real binary against a real
 * PostgreSQL 15 store and fauxqs (in this process): test/integration/store-cli-harness.ts.
 * `jobs cancel|retry|prune` and `dlq` with a store: cli-jobs-manage.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { drain, jobIds, runCli, uniquePrefix } from './cli-harness.js';
import { json, pendingRow, settledRow, useStoreCli } from './store-cli-harness.js';

const cli = useStoreCli();

describe('calsync-jobs enqueue with a store', () => {
  it('prints {id, deduplicated}: a second enqueue with the key sends nothing and prints the first id', async () => {
    const key = `k-${uniquePrefix()}`;
    const args = ['enqueue', 'demo.hello', '{"name":"Ada"}', '--idempotency-key', key, '--json'];
    const first = await runCli(args, cli.env);
    expect(first.code, first.stderr).toBe(0);
    const created = json<{ id: string; deduplicated: boolean }>(first.stdout);
    expect(created).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), deduplicated: false });
    // The bare form prints the id, as without a store.
    const [second, bare] = await Promise.all([runCli(args, cli.env), runCli(args.slice(0, -1), cli.env)]);
    expect(json(second.stdout)).toMatchObject({ id: created.id, deduplicated: true });
    expect(bare.stdout.trim()).toBe(created.id);
    expect(jobIds(await drain(cli.transport, cli.queues.mainQueueUrl))).toEqual([created.id]);
    expect(await cli.store.getJob(created.id)).toMatchObject({ state: 'pending', idempotencyKey: key, payload: { name: 'Ada' } });
  }, 60_000);
});

describe('calsync-jobs jobs list and show', () => {
  it('lists newest first (table and --json), filters, shows one job, and answers exit 1 for an unknown id', async () => {
    const type = `test.list-${uniquePrefix()}`;
    const dead = await settledRow(cli.store, 'dead', { type, idempotencyKey: 'list-key' });
    const pending = await pendingRow(cli.store, { type, createdAt: Date.now() + 1 });
    const [table, all, byKey, byState, show, showText, unknown] = await Promise.all([
      runCli(['jobs', 'list', '--type', type], cli.env),
      runCli(['jobs', 'list', '--type', type, '--since', '1h', '--json'], cli.env),
      runCli(['jobs', 'list', '--key', 'list-key', '--json'], cli.env),
      runCli(['jobs', 'list', '--type', type, '--state', 'dead', '--limit', '5', '--json'], cli.env),
      runCli(['jobs', 'show', dead.id, '--json'], cli.env),
      runCli(['jobs', 'show', dead.id], cli.env),
      runCli(['jobs', 'show', '11111111-2222-4333-8444-555555555555'], cli.env),
    ]);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TYPE\s+STATE\s+ATTEMPT\s+CREATED/);
    expect(lines[1]).toContain(pending.id);
    expect(lines[2]).toMatch(new RegExp(`${dead.id}\\s+${type}\\s+dead\\s+1`));
    expect(lines.at(-1)).toBe('2 job(s)');
    expect(json<Array<{ id: string }>>(all.stdout).map((job) => job.id)).toEqual([pending.id, dead.id]);
    expect(json<Array<{ id: string }>>(byKey.stdout).map((job) => job.id)).toEqual([dead.id]);
    expect(json<Array<{ id: string }>>(byState.stdout).map((job) => job.id)).toEqual([dead.id]);

    expect(show.code, show.stderr).toBe(0);
    expect(json(show.stdout)).toMatchObject({
      id: dead.id,
      type,
      state: 'dead',
      attempt: 1,
      idempotencyKey: 'list-key',
      createdAt: new Date(dead.createdAt).toISOString(),
      updatedAt: expect.any(String),
      settledAt: expect.any(String),
      lastError: { name: 'NonRetryableError', message: 'the account was deleted' },
      history: [expect.objectContaining({ attempt: 1, kind: 'failed' })],
      traceId: null,
      deadLetterReason: 'non_retryable',
      payload: { n: 1 },
      retries: 0,
    });
    expect(showText.stdout).toContain('state:            dead (dead-letter reason: non_retryable)');
    expect(showText.stdout).toMatch(/#1 {2}\S+ {2}failed +7 ms {2}NonRetryableError: the account was deleted/);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe('calsync-jobs jobs show: no job 11111111-2222-4333-8444-555555555555');
  }, 60_000);

  it('without a store every jobs command exits 2 with one line saying how to set one', async () => {
    const { CALSYNC_STORE_URL: _unset, ...bare } = cli.env;
    const results = await Promise.all([
      runCli(['jobs', 'list'], bare),
      runCli(['jobs', 'prune'], bare),
      runCli(['jobs', 'show', 'x', '--store', 'postgres://u:pw@127.0.0.1:1/db'], bare),
    ]);
    expect(results.map((result) => result.code)).toEqual([2, 2, 2]);
    expect(results[0]!.stderr.trim()).toBe(
      'calsync-jobs jobs: config: CALSYNC_STORE_URL: no job store is configured: set CALSYNC_STORE_URL or --store (postgres://… or embedded)',
    );
    expect(results[2]!.stderr.trim()).toMatch(
      /^calsync-jobs jobs: config: --store: could not connect to postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/db/,
    );
    expect(results[2]!.stderr).not.toContain('pw@');
  }, 60_000);
});
