/**
 * A calendar's periodic sync over the HTTP API (src/api/schedule-routes.ts), on real sockets on
 * 127.0.0.1 with the in-memory job store: PUT creates then changes, GET shows, DELETE removes; bad
 * input is a 400 naming the field; without a store, 501.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApiServer, type ApiServer } from '../../src/api/server.js';
import { MemoryJobStore } from '../../src/store/memory-store.js';
import { schedulesOf } from '../../src/store/schedule-store.js';

const store = new MemoryJobStore();
let api: ApiServer;
let base: string;
let bare: ApiServer;
let bareBase: string;

beforeAll(async () => {
  api = createApiServer({ store });
  base = (await api.listen()).url;
  bare = createApiServer({});
  bareBase = (await bare.listen()).url;
});

afterAll(async () => {
  await api.close();
  await bare.close();
});

async function call(method: string, path: string, body?: unknown, at = base): Promise<{ status: number; json: any; allow: string | null }> {
  const response = await fetch(`${at}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.status, json: await response.json(), allow: response.headers.get('allow') };
}

const PATH = '/accounts/acct-1/calendars/work%2Fteam/schedule';

it('PUT creates the calendar.sync schedule (overlap skip), PUT again changes it, GET shows it, DELETE removes it', async () => {
  const created = await call('PUT', PATH, { every: '5m', jitter: '60s' });
  expect(created.status).toBe(201);
  expect(created.json).toMatchObject({
    id: 'calendar.sync:acct-1:work%2Fteam',
    job: { type: 'calendar.sync', payload: { accountId: 'acct-1', calendar: 'work/team' } },
    everyMs: 300_000,
    jitterMs: 60_000,
    overlap: 'skip',
    paused: false,
  });
  expect(Date.parse(created.json.nextRunAt)).toBeGreaterThan(Date.now() - 1_000);
  const stored = await schedulesOf(store)!.get('calendar.sync:acct-1:work%2Fteam');
  expect(stored?.spec.job).toEqual({ type: 'calendar.sync', payload: { accountId: 'acct-1', calendar: 'work/team' } });

  const changed = await call('PUT', PATH, { every: '10m' });
  expect(changed.status).toBe(200);
  expect(changed.json).toMatchObject({ everyMs: 600_000, jitterMs: 0 });

  const shown = await call('GET', PATH);
  expect(shown.status).toBe(200);
  expect(shown.json.upcoming).toHaveLength(5);
  expect(shown.json.runs).toEqual([]);

  expect((await call('DELETE', PATH)).json).toEqual({ id: 'calendar.sync:acct-1:work%2Fteam', deleted: true });
  expect((await call('GET', PATH)).status).toBe(404);
  expect((await call('DELETE', PATH)).status).toBe(404);
});

it.each([
  [{ every: 'often' }, 'every', 'every: expected a duration like 500ms'],
  [{ jitter: '1s' }, 'every', 'every: expected a duration'],
  [{ every: '500ms' }, 'every', 'every: expected an integer number of milliseconds from 1000'],
  [{ every: '5m', jitter: '10m' }, 'jitter', 'jitter: expected less than every'],
  [{ every: '5m', colour: 'red' }, 'colour', 'colour: unknown field (known: every, jitter)'],
  ['[1]', 'body', 'body: expected a JSON object'],
])('a bad body %j is a 400 naming %s', async (body, field, message) => {
  const answer = await call('PUT', PATH, body);
  expect(answer.status).toBe(400);
  expect(answer.json.field).toBe(field);
  expect(answer.json.error).toContain(message);
});

it('a bad account id is a 400 naming it; POST is a 405 with Allow; without a store, 501', async () => {
  const bad = await call('PUT', '/accounts/a%20b/calendars/c/schedule', { every: '5m' });
  expect(bad.status).toBe(400);
  expect(bad.json.field).toBe('accountId');
  const post = await call('POST', PATH, { every: '5m' });
  expect(post.status).toBe(405);
  expect(post.allow).toBe('GET, PUT, DELETE');
  const none = await call('PUT', PATH, { every: '5m' }, bareBase);
  expect(none.status).toBe(501);
  expect(none.json.error).toContain('CALSYNC_STORE_URL');
});
