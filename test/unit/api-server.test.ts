/**
 * The HTTP API over real sockets on 127.0.0.1, with a recording enqueue function (an idempotency key
 * it has seen answers as a duplicate) and, for the `/jobs` routes, the in-memory job store.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApiServer, type ApiServer, type EnqueueFn } from '../../src/api/server.js';
import type { NewJob } from '../../src/store/job-store.js';
import { MemoryJobStore } from '../../src/store/memory-store.js';

type Enqueued = Parameters<EnqueueFn>[0];
const enqueued: Enqueued[] = [];
const byKey = new Map<string, string>();
let failNext = false;
let api: ApiServer;
let base: string;
let storeApi: ApiServer;
let storeBase: string;
let now = Date.parse('2026-03-01T00:00:00.000Z');
const store = new MemoryJobStore({ now: () => now });

beforeAll(async () => {
  api = createApiServer({
    enqueue: async (job) => {
      if (failNext) {
        failNext = false;
        throw new Error('queue down');
      }
      const existing = job.idempotencyKey === undefined ? undefined : byKey.get(`${job.type}\0${job.idempotencyKey}`);
      if (existing !== undefined) return { id: existing, deduplicated: true };
      enqueued.push(job);
      const id = `job-${enqueued.length}`;
      if (job.idempotencyKey !== undefined) byKey.set(`${job.type}\0${job.idempotencyKey}`, id);
      return { id, deduplicated: false };
    },
  });
  base = (await api.listen()).url;
  storeApi = createApiServer({ store });
  storeBase = (await storeApi.listen()).url;
});

afterAll(async () => {
  await api.close();
  await storeApi.close();
});

beforeEach(() => {
  enqueued.length = 0;
});

async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  at = base,
): Promise<{ status: number; json: unknown; headers: Headers }> {
  const response = await fetch(`${at}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined, headers: response.headers };
}

const event = { uid: 'e-1', summary: 'Standup', start: '2027-01-04T09:00:00Z', end: '2027-01-04T09:15:00Z' };

describe('API server', () => {
  it('listens on 127.0.0.1 by default', () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('POST .../sync enqueues calendar.sync and answers 202 { id, jobId }', async () => {
    const response = await call('POST', '/accounts/alice/calendars/work/sync');
    expect(response).toMatchObject({ status: 202, json: { id: 'job-1', jobId: 'job-1' } });
    expect(enqueued).toEqual([{ type: 'calendar.sync', payload: { accountId: 'alice', calendar: 'work' } }]);
  });

  it('POST .../events enqueues calendar.write with the Idempotency-Key and a percent-decoded calendar', async () => {
    const response = await call(
      'POST',
      '/accounts/alice/calendars/team%2Fshared/events',
      { op: 'upsert', event },
      { 'idempotency-key': 'req-42' },
    );
    expect(response.status).toBe(202);
    expect(enqueued).toEqual([
      { type: 'calendar.write', payload: { accountId: 'alice', calendar: 'team/shared', op: 'upsert', event }, idempotencyKey: 'req-42' },
    ]);
  });

  it('answers 200 { id, jobId, deduplicated: true } when the Idempotency-Key matched a job', async () => {
    const first = await call('POST', '/accounts/alice/calendars/work/sync', undefined, { 'idempotency-key': 'once' });
    const again = await call('POST', '/accounts/alice/calendars/work/sync', undefined, { 'idempotency-key': 'once' });
    expect(first).toMatchObject({ status: 202, json: { id: 'job-1', jobId: 'job-1' } });
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ id: 'job-1', jobId: 'job-1', deduplicated: true });
    expect(enqueued).toHaveLength(1);
  });

  it.each([
    ['end before start', { op: 'upsert', event: { ...event, end: '2027-01-04T08:00:00Z' } }, 'event.end'],
    ['no uid', { op: 'delete', event: { ...event, uid: undefined } }, 'event.uid'],
    ['bad op', { op: 'merge', event }, 'op'],
    ['no event', { op: 'upsert' }, 'event'],
    ['an array body', [1, 2], 'body'],
    ['broken JSON', '{"op":', 'body'],
  ])('400 names the field on %s', async (_name, body, field) => {
    const response = await call('POST', '/accounts/alice/calendars/work/events', body);
    expect(response.status).toBe(400);
    expect(response.json).toMatchObject({ field, error: expect.stringContaining(field) });
    expect(enqueued).toEqual([]);
  });

  it('400 for a calendar path segment the schema refuses', async () => {
    const response = await call('POST', '/accounts/alice/calendars/..%2Fbob/sync');
    expect(response).toMatchObject({ status: 400, json: { field: 'calendar' } });
  });

  it('404 for other paths, 405 with Allow for other methods', async () => {
    expect((await call('POST', '/accounts/alice/calendars/work')).status).toBe(404);
    expect((await call('POST', '/nope')).status).toBe(404);
    const wrong = await call('GET', '/accounts/alice/calendars/work/sync');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  it('413 for a body over 256 KiB, declared or streamed in chunks', async () => {
    const big = JSON.stringify({ op: 'upsert', event: { ...event, description: 'x'.repeat(300 * 1024) } });
    expect((await call('POST', '/accounts/alice/calendars/work/events', big)).status).toBe(413);
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${base}/accounts/alice/calendars/work/events`,
        { method: 'POST', headers: { 'transfer-encoding': 'chunked' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 40; i++) req.write('x'.repeat(8 * 1024));
      req.end();
    });
    expect(chunked).toBe(413);
    expect(enqueued).toEqual([]);
  });

  it('503 when enqueue fails, and the server keeps serving', async () => {
    failNext = true;
    expect((await call('POST', '/accounts/alice/calendars/work/sync')).status).toBe(503);
    expect((await call('POST', '/accounts/alice/calendars/work/sync')).status).toBe(202);
  });
});

/** Rows in the memory store, newest last: `count` jobs of `type`, one second apart. */
async function seed(type: string, count: number, extra: Partial<NewJob> = {}): Promise<string[]> {
  const jobs: NewJob[] = Array.from({ length: count }, () => {
    now += 1_000;
    return { id: crypto.randomUUID(), type, createdAt: now, payload: { n: 1 }, ...extra };
  });
  await store.createJobs(jobs);
  return jobs.map((job) => job.id);
}

describe('API server: /jobs over the job store', () => {
  it('answers 501 on every /jobs route without a store, and 501 on the enqueue routes without enqueue', async () => {
    for (const [method, path] of [
      ['GET', '/jobs'],
      ['GET', '/jobs/abc'],
      ['POST', '/jobs/abc/cancel'],
    ] as const) {
      const response = await call(method, path);
      expect(response.status).toBe(501);
      expect((response.json as { error: string }).error).toMatch(/without a job store/);
    }
    expect((await call('POST', '/accounts/alice/calendars/work/sync', undefined, {}, storeBase)).status).toBe(501);
  });

  it('GET /jobs/:id answers the job as jobView, 404 { error } when unknown', async () => {
    const [id] = await seed('calendar.sync', 1, { idempotencyKey: 'show-me' });
    const found = await call('GET', `/jobs/${id}`, undefined, {}, storeBase);
    expect(found.status).toBe(200);
    expect(found.json).toMatchObject({
      id,
      type: 'calendar.sync',
      state: 'pending',
      attempt: 1,
      idempotencyKey: 'show-me',
      createdAt: new Date(now).toISOString(),
      settledAt: null,
      history: [],
      payload: { n: 1 },
      retries: 0,
    });
    const missing = await call('GET', '/jobs/no-such-job', undefined, {}, storeBase);
    expect(missing).toMatchObject({ status: 404, json: { error: 'no job no-such-job' } });
  });

  it('GET /jobs pages newest first with filters, and the cursor leads to the next page', async () => {
    const ids = await seed('demo.page', 5);
    const first = await call('GET', '/jobs?type=demo.page&limit=2', undefined, {}, storeBase);
    const page = first.json as { jobs: Array<{ id: string }>; nextCursor: string | null };
    expect(first.status).toBe(200);
    expect(page.jobs.map((job) => job.id)).toEqual([ids[4], ids[3]]);
    expect(page.nextCursor).toEqual(expect.any(String));
    const next = await call('GET', `/jobs?type=demo.page&limit=2&cursor=${encodeURIComponent(page.nextCursor!)}`, undefined, {}, storeBase);
    expect((next.json as typeof page).jobs.map((job) => job.id)).toEqual([ids[2], ids[1]]);
    const byState = await call('GET', '/jobs?type=demo.page&state=pending&limit=1000', undefined, {}, storeBase);
    expect((byState.json as typeof page).jobs).toHaveLength(5);
    expect((byState.json as typeof page).nextCursor).toBeNull();
    const byKey = await call('GET', `/jobs?key=${ids[0]}`, undefined, {}, storeBase);
    expect((byKey.json as typeof page).jobs.map((job) => job.id)).toEqual([ids[0]]);
  });

  it.each([
    ['state=finished', 'state'],
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=ten', 'limit'],
    ['type=', 'type'],
    ['status=dead', 'status'],
    ['cursor=not-a-cursor', 'cursor'],
  ])('GET /jobs?%s answers 400 naming the parameter', async (query, field) => {
    const response = await call('GET', `/jobs?${query}`, undefined, {}, storeBase);
    expect(response.status).toBe(400);
    expect(response.json).toMatchObject({ field, error: expect.stringContaining(field) });
  });

  it('POST /jobs/:id/cancel cancels, answers 404 unknown and 409 { error, state } when settled', async () => {
    const [id] = await seed('demo.cancel', 1);
    const cancelled = await call('POST', `/jobs/${id}/cancel`, undefined, {}, storeBase);
    expect(cancelled).toMatchObject({ status: 200, json: { id, state: 'cancelled', wasRunning: false } });
    const again = await call('POST', `/jobs/${id}/cancel`, undefined, {}, storeBase);
    expect(again).toMatchObject({ status: 409, json: { state: 'cancelled', error: expect.stringContaining('already cancelled') } });
    expect((await call('POST', '/jobs/nope/cancel', undefined, {}, storeBase)).status).toBe(404);
  });

  it('405 with Allow for the wrong method on a /jobs route', async () => {
    const wrong = await call('DELETE', '/jobs/abc', undefined, {}, storeBase);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET');
    const cancel = await call('GET', '/jobs/abc/cancel', undefined, {}, storeBase);
    expect(cancel.headers.get('allow')).toBe('POST');
  });
});
