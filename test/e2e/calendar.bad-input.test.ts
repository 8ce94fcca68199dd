/**
 * End to end: bad calendar jobs end in the dead-letter queue with a reason that names the problem, and
 * nothing else is affected. Real Radicale and PostgreSQL, the embedded SQS server (fauxqs) in the test
 * process, `calsync-jobs api` and `calsync-jobs worker` as child processes.
 *
 * - `end` before `start`: the API answers 400 naming `event.end`; sent past it with
 *   `calsync-jobs enqueue --no-validate`, the worker dead-letters it as `invalid_payload`.
 * - an unknown account: `non_retryable`, error reason `unknown_account`.
 * - a calendar that does not exist (a write and a sync): `non_retryable`, `calendar_not_found`.
 * - good writes and a good sync enqueued among them all succeed.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEventIcs } from '../../src/jobs/calendar/ical.js';
import type { CalendarEvent } from '../../src/jobs/calendar/schemas.js';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import {
  BIN,
  calendarEnv,
  drainDeadLetters,
  post,
  queueSize,
  startApi,
  startWorker,
  type ApiProcess,
  type WorkerProcess,
} from '../fixtures/calendar-e2e.js';
import { makeEvents } from '../integration/calendar-context.js';
import { startPostgres, testPool, type PostgresDatabase } from '../support/postgres.js';
import { REPO_ROOT, waitFor } from '../support/process.js';
import { radicaleUser, startRadicale, type RadicaleServer, type RadicaleUser } from '../support/radicale.js';

const PREFIX = `e2e-bad-${randomUUID().slice(0, 8)}`;

let radicale: RadicaleServer | undefined;
let database: PostgresDatabase | undefined;
let sqs: EmbeddedSqs | undefined;
let api: ApiProcess | undefined;
let worker: WorkerProcess | undefined;
let pool: pg.Pool | undefined;
let alice: RadicaleUser;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  const [r, d, q] = await Promise.allSettled([startRadicale({ users: { alice: 'alice-pw' } }), startPostgres(), startEmbeddedSqs()]);
  if (r.status === 'fulfilled') radicale = r.value;
  if (d.status === 'fulfilled') database = d.value;
  if (q.status === 'fulfilled') sqs = q.value;
  for (const result of [r, d, q]) if (result.status === 'rejected') throw result.reason;
  alice = radicaleUser(radicale!, 'alice', 'alice-pw');
  await alice.uploadCalendar('work', []);
  pool = testPool(database!.connectionString, { max: 2 });
  env = calendarEnv({
    sqsEndpoint: sqs!.endpoint,
    queuePrefix: PREFIX,
    accounts: { alice: { serverUrl: alice.homeUrl, username: 'alice', password: 'alice-pw' } },
    databaseUrl: database!.connectionString,
  });
  worker = await startWorker(env, { concurrency: 4 });
  api = await startApi(env);
}, 600_000);

afterAll(async () => {
  await worker?.kill();
  await api?.peer.stop();
  await pool?.end();
  await Promise.allSettled([radicale?.stop(), database?.stop(), sqs?.stop()]);
});

describe('calendar jobs end to end: bad input ends in the DLQ with its reason, the rest succeeds', () => {
  it('dead-letters an invalid event, an unknown account and a missing calendar; the good jobs in the same run succeed', async () => {
    const [good1, good2, good3] = makeEvents('ok', 3) as [CalendarEvent, CalendarEvent, CalendarEvent];
    const backwards = { uid: 'backwards', summary: 'ends before it starts', start: '2027-01-04T09:00:00Z', end: '2027-01-04T08:00:00Z' };

    // The API refuses it, naming the field.
    const refused = await post(api!.url, '/accounts/alice/calendars/work/events', { op: 'upsert', event: backwards });
    expect(refused).toEqual({ status: 400, json: { error: 'event.end: must be after event.start', field: 'event.end' } });

    // Sent past the API's validation by the CLI, as another producer might.
    // Not spawnSync: the SQS server runs in this very process and must keep answering.
    const cli = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const args = [
        BIN,
        'enqueue',
        'calendar.write',
        JSON.stringify({ accountId: 'alice', calendar: 'work', op: 'upsert', event: backwards }),
        '--no-validate',
      ];
      execFile(process.execPath, args, { env, cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
      });
    });
    expect(cli.code, cli.stderr).toBe(0);
    const invalidId = cli.stdout.trim();
    expect(invalidId).toMatch(/^[0-9a-f-]{36}$/);

    const accepted = async (path: string, body?: unknown): Promise<string> => {
      const { status, json } = await post(api!.url, path, body);
      expect(status, `POST ${path}`).toBe(202);
      return String(json.jobId);
    };
    const okIds = [
      await accepted('/accounts/alice/calendars/work/events', { op: 'upsert', event: good1 }),
      await accepted('/accounts/alice/calendars/work/events', { op: 'upsert', event: good2 }),
    ];
    const unknownAccountId = await accepted('/accounts/bob/calendars/work/events', { op: 'upsert', event: good1 });
    const missingCalendarWriteId = await accepted('/accounts/alice/calendars/nowhere/events', { op: 'upsert', event: good1 });
    const missingCalendarSyncId = await accepted('/accounts/alice/calendars/nowhere/sync');
    okIds.push(await accepted('/accounts/alice/calendars/work/events', { op: 'upsert', event: good3 }));

    const dlqName = `${PREFIX}-dlq`;
    await waitFor('the main queue to be empty', async () => (await queueSize(sqs!.endpoint, `${PREFIX}`)) === 0, {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    await waitFor('4 dead letters', async () => (await queueSize(sqs!.endpoint, dlqName)) >= 4, { timeoutMs: 30_000, intervalMs: 250 });
    const dead = await drainDeadLetters(sqs!.endpoint, dlqName);
    const byId = new Map(dead.map((letter) => [letter.envelope?.id, letter]));
    expect([...byId.keys()].sort()).toEqual([invalidId, unknownAccountId, missingCalendarWriteId, missingCalendarSyncId].sort());

    const invalid = byId.get(invalidId)!;
    expect(invalid.record?.reason).toBe('invalid_payload');
    expect(invalid.record?.error?.message).toContain('payload.event.end');
    expect(invalid.record?.error?.message).toContain('must be after event.start');
    expect(invalid.envelope?.payload).toMatchObject({ event: { uid: 'backwards' } });

    const unknownAccount = byId.get(unknownAccountId)!;
    expect(unknownAccount.record).toMatchObject({ reason: 'non_retryable', error: { reason: 'unknown_account' } });
    expect(unknownAccount.record?.error?.message).toContain('"bob"');

    for (const id of [missingCalendarWriteId, missingCalendarSyncId]) {
      const missing = byId.get(id)!;
      expect(missing.record).toMatchObject({ reason: 'non_retryable', error: { reason: 'calendar_not_found' } });
      expect(missing.record?.error?.message).toContain('"nowhere"');
    }
    // Dead at once: one attempt each, no retries.
    for (const letter of dead) expect(letter.envelope?.attempt).toBe(1);

    // The good writes succeeded: Radicale holds exactly them, with their content.
    const listing = await alice.list('work');
    expect([...listing.keys()].sort()).toEqual([good1, good2, good3].map((event) => `/alice/work/${event.uid}.ics`).sort());
    for (const event of [good1, good2, good3]) {
      const parsed = parseEventIcs((await alice.get(`/alice/work/${event.uid}.ics`))!.ics);
      expect(parsed.summary).toBe(event.summary);
    }
    const created = new Set(worker!.lines.filter((line) => line.msg === 'calendar.write created').map((line) => line.jobId));
    expect(okIds.filter((id) => !created.has(id))).toEqual([]);
    expect(worker!.lines.some((line) => line.jobId === 'backwards' || line.uid === 'backwards')).toBe(false);

    // A good sync after all that mirrors exactly the three events; nothing was stored for "nowhere".
    const syncId = await accepted('/accounts/alice/calendars/work/sync');
    await waitFor(
      'the sync to complete',
      () => worker!.lines.find((line) => line.jobId === syncId && line.msg === 'calendar.sync completed'),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    const { rows } = await pool!.query<{ calendar: string; uid: string }>(
      "SELECT calendar, uid FROM events WHERE account_id = 'alice' ORDER BY uid",
    );
    expect(rows).toEqual([good1, good2, good3].map((event) => ({ calendar: 'work', uid: event.uid })));
    const calendars = await pool!.query<{ calendar: string }>('SELECT calendar FROM calendars ORDER BY calendar');
    expect(calendars.rows.map((row) => row.calendar)).toEqual(['work']);
    expect(await queueSize(sqs!.endpoint, dlqName)).toBe(0);
  }, 180_000);

  it('the API process stops on SIGTERM with exit code 0', async () => {
    const exited = new Promise<number | null>((resolve) => api!.peer.child.once('exit', (code) => resolve(code)));
    process.kill(api!.peer.pid, 'SIGTERM');
    expect(await exited).toBe(0);
  }, 30_000);
});
