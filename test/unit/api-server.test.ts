/** The HTTP API over real sockets on 127.0.0.1, with a recording enqueue function. */
import { request } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApiServer, type ApiServer, type EnqueueFn } from '../../src/api/server.js';

type Enqueued = Parameters<EnqueueFn>[0];
const enqueued: Enqueued[] = [];
let failNext = false;
let api: ApiServer;
let base: string;

beforeAll(async () => {
  api = createApiServer({
    enqueue: async (job) => {
      if (failNext) {
        failNext = false;
        throw new Error('queue down');
      }
      enqueued.push(job);
      return `job-${enqueued.length}`;
    },
  });
  base = (await api.listen()).url;
});

afterAll(async () => {
  await api.close();
});

beforeEach(() => {
  enqueued.length = 0;
});

async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown; headers: Headers }> {
  const response = await fetch(`${base}${path}`, {
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

  it('POST .../sync enqueues calendar.sync and answers 202 { jobId }', async () => {
    const response = await call('POST', '/accounts/alice/calendars/work/sync');
    expect(response).toMatchObject({ status: 202, json: { jobId: 'job-1' } });
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
