/**
 * calendar.write against a real Radicale: creates, idempotent re-runs, updates, deletes, the 412 race,
 * and how HTTP failures steer retries (a tiny local server answers 503/429 with Retry-After).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staticAccounts, type AccountResolver } from '../../src/jobs/calendar/accounts.js';
import { parseEventIcs } from '../../src/jobs/calendar/ical.js';
import type { CalendarUpsertPayload, CalendarWritePayload } from '../../src/jobs/calendar/schemas.js';
import { createCalendarWriteJob, runCalendarWrite } from '../../src/jobs/calendar/calendar-write.js';
import { NonRetryableError, RateLimitedError, RetryableError } from '../../src/machines/errors.js';
import { radicaleUser, startRadicale, type RadicaleServer, type RadicaleUser } from '../support/radicale.js';
import { makeEvents, testContext } from './calendar-context.js';

let radicale: RadicaleServer;
let alice: RadicaleUser;
let accounts: AccountResolver;

beforeAll(async () => {
  radicale = await startRadicale({ users: { alice: 'alice-pw', bob: 'bob-pw' } });
  alice = radicaleUser(radicale, 'alice', 'alice-pw');
  await alice.uploadCalendar('work', []);
  accounts = staticAccounts({
    alice: { serverUrl: alice.homeUrl, username: 'alice', password: 'alice-pw' },
    // bob's credentials pointed at alice's home: Radicale's owner_only rights answer 403.
    intruder: { serverUrl: alice.homeUrl, username: 'bob', password: 'bob-pw' },
    wrongpw: { serverUrl: alice.homeUrl, username: 'alice', password: 'nope' },
  });
});

afterAll(async () => {
  await radicale?.stop();
});

function payload(
  overrides: Partial<Pick<CalendarWritePayload, 'accountId' | 'calendar' | 'op'>> = {},
  event: Partial<CalendarUpsertPayload['event']> = {},
): CalendarUpsertPayload {
  const base = makeEvents('w', 1)[0]!;
  return { accountId: 'alice', calendar: 'work', op: 'upsert', ...overrides, event: { ...base, ...event } } as CalendarUpsertPayload;
}

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the job to fail');
}

describe('calendar.write on Radicale', () => {
  it('creates the event, and a second run of the same upsert is a no-op (one object, same etag)', async () => {
    const job = createCalendarWriteJob({ accounts });
    const input = payload({}, { uid: 'same-twice', summary: 'Standup' });
    await job.handler(input, testContext().ctx);
    const first = await alice.list('work');
    expect([...first.keys()]).toEqual(['/alice/work/same-twice.ics']);
    const stored = await alice.get('/alice/work/same-twice.ics');
    expect(parseEventIcs(stored!.ics)).toMatchObject({ uid: 'same-twice', summary: 'Standup', description: 'number 0' });
    expect(parseEventIcs(stored!.ics).startsAt?.toISOString()).toBe(new Date(input.event.start!).toISOString());

    expect(await runCalendarWrite(input, testContext().ctx, { accounts })).toBe('unchanged');
    const second = await alice.list('work');
    expect(second).toEqual(first);
  });

  it('an upsert with new content updates the object (new etag, new summary)', async () => {
    const input = payload({}, { uid: 'to-update', summary: 'Draft' });
    expect(await runCalendarWrite(input, testContext().ctx, { accounts })).toBe('created');
    const before = await alice.get('/alice/work/to-update.ics');
    expect(
      await runCalendarWrite({ ...input, event: { ...input.event, summary: 'Final', location: 'Room 4' } }, testContext().ctx, {
        accounts,
      }),
    ).toBe('updated');
    const after = await alice.get('/alice/work/to-update.ics');
    expect(after!.etag).not.toBe(before!.etag);
    expect(parseEventIcs(after!.ics)).toMatchObject({ summary: 'Final', location: 'Room 4' });
  });

  it('re-reads the etag after a 412 and still applies its update', async () => {
    const input = payload({}, { uid: 'raced', summary: 'v1' });
    await runCalendarWrite(input, testContext().ctx, { accounts });
    let raced = false;
    // Another writer changes the object between our read and our conditional PUT.
    const racingFetch: typeof fetch = async (url, init) => {
      if (!raced && init?.method === 'PUT' && new Headers(init.headers).has('if-match')) {
        raced = true;
        await alice.put('work', { ...input.event, summary: 'someone else' });
      }
      return await fetch(url, init);
    };
    const outcome = await runCalendarWrite({ ...input, event: { ...input.event, summary: 'v2' } }, testContext().ctx, {
      accounts,
      fetch: racingFetch,
    });
    expect(raced).toBe(true);
    expect(outcome).toBe('updated');
    expect(parseEventIcs((await alice.get('/alice/work/raced.ics'))!.ics).summary).toBe('v2');
  });

  it('deletes, and deleting again is fine', async () => {
    const input = payload({}, { uid: 'to-delete' });
    await runCalendarWrite(input, testContext().ctx, { accounts });
    expect(await runCalendarWrite({ ...input, op: 'delete' }, testContext().ctx, { accounts })).toBe('deleted');
    expect(await alice.get('/alice/work/to-delete.ics')).toBeUndefined();
    expect(await runCalendarWrite({ ...input, op: 'delete' }, testContext().ctx, { accounts })).toBe('already_absent');
  });

  it('an upsert into a calendar that does not exist is non-retryable calendar_not_found', async () => {
    const error = await failureOf(runCalendarWrite(payload({ calendar: 'no-such-calendar' }), testContext().ctx, { accounts }));
    expect(NonRetryableError.is(error)).toBe(true);
    expect((error as NonRetryableError).reason).toBe('calendar_not_found');
    expect((error as Error).message).toContain('no-such-calendar');
  });

  it('an unknown account is non-retryable unknown_account naming the id', async () => {
    const error = await failureOf(runCalendarWrite(payload({ accountId: 'mallory' }), testContext().ctx, { accounts }));
    expect(NonRetryableError.is(error)).toBe(true);
    expect((error as NonRetryableError).reason).toBe('unknown_account');
    expect((error as Error).message).toContain('mallory');
  });

  it('403 and 401 from the server are non-retryable http_403 / http_401', async () => {
    const forbidden = await failureOf(runCalendarWrite(payload({ accountId: 'intruder' }), testContext().ctx, { accounts }));
    expect(NonRetryableError.is(forbidden) && forbidden.reason).toBe('http_403');
    const unauthorized = await failureOf(runCalendarWrite(payload({ accountId: 'wrongpw' }), testContext().ctx, { accounts }));
    expect(NonRetryableError.is(unauthorized) && unauthorized.reason).toBe('http_401');
  });
});

describe('calendar.write against a failing server', () => {
  let server: Server;
  let url: string;
  let answer: { status: number; retryAfter?: string } = { status: 503 };
  const seen: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ? 'auth' : 'no-auth'}`);
      req.resume();
      res.writeHead(answer.status, answer.retryAfter === undefined ? {} : { 'retry-after': answer.retryAfter });
      res.end('busy');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alice/`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const deps = (): { accounts: AccountResolver; now: () => number } => ({
    accounts: staticAccounts({ alice: { serverUrl: url, username: 'alice', password: 'pw' } }),
    now: () => Date.parse('2026-11-29T12:00:00Z'),
  });

  it("503 with Retry-After: 7 is a RateLimitedError for 7000 ms on the account's CalDAV key", async () => {
    answer = { status: 503, retryAfter: '7' };
    const error = await failureOf(runCalendarWrite(payload(), testContext().ctx, deps()));
    expect(RateLimitedError.is(error)).toBe(true);
    expect(error).toMatchObject({ retryAfterMs: 7000, key: 'caldav:alice' });
    expect((error as Error).message).toMatch(/HTTP 503, Retry-After 7 s/);
    expect(seen.at(-1)).toBe('REPORT /alice/work/ auth');
  });

  it('429 with an HTTP-date Retry-After waits until that date', async () => {
    answer = { status: 429, retryAfter: 'Sun, 29 Nov 2026 12:00:30 GMT' };
    const error = await failureOf(runCalendarWrite(payload({ op: 'delete' }), testContext().ctx, deps()));
    expect(RateLimitedError.is(error)).toBe(true);
    expect(error).toMatchObject({ retryAfterMs: 30_000, key: 'caldav:alice' });
  });

  it('429 or 503 without Retry-After (or one already past) stays a retryable failure on the policy', async () => {
    for (const retryAfter of [undefined, 'Sun, 29 Nov 2026 11:00:00 GMT']) {
      answer = { status: 429, ...(retryAfter ? { retryAfter } : {}) };
      const error = await failureOf(runCalendarWrite(payload(), testContext().ctx, deps()));
      expect(RetryableError.is(error) && error.reason).toBe('http_429');
    }
  });

  it('500 without Retry-After is retryable and leaves the delay to the policy; 400 is non-retryable', async () => {
    answer = { status: 500 };
    const error = await failureOf(runCalendarWrite(payload(), testContext().ctx, deps()));
    expect(RetryableError.is(error) && error.nextRetryDelayMs).toBeUndefined();
    expect(RetryableError.is(error) && error.reason).toBe('http_500');
    answer = { status: 400 };
    const bad = await failureOf(runCalendarWrite(payload({ op: 'delete' }), testContext().ctx, deps()));
    expect(NonRetryableError.is(bad) && bad.reason).toBe('http_400');
  });

  it('a refused connection is retryable (reason network)', async () => {
    const closed = staticAccounts({ alice: { serverUrl: 'http://127.0.0.1:1/alice/', username: 'alice', password: 'pw' } });
    const error = await failureOf(runCalendarWrite(payload(), testContext().ctx, { accounts: closed }));
    expect(RetryableError.is(error) && error.reason).toBe('network');
  });
});
