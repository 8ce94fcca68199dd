/**
 * The console's endpoints without a browser (src/console/): every input validated with the field
 * named, unknown ids and paths 404, sign-in and CSRF refusals, read-only refusals, the security
 * headers, and assets served from node_modules. Over the memory store and transport: what is under
 * test is the HTTP surface; test/e2e/console.browser.test.ts runs it on real servers.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleServer, type ConsoleServer } from '../../src/console/server.js';
import { storeRecorder } from '../../src/ops/job-recorder.js';
import { createSchedules } from '../../src/ops/schedules.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import type { JobStore } from '../../src/store/job-store.js';
import { MemoryJobStore } from '../../src/store/memory-store.js';

const TOKEN = 'server-test-token-0123456789';

interface Running {
  server: ConsoleServer;
  url: string;
}

const store = new MemoryJobStore();
const transport = new MemoryTransport();
const sent: unknown[] = [];
let queueUrl = '';
let dlqUrl = '';
let open: Running;
let guarded: Running;
let readonly: Running;
let noSchedules: Running;
/** The open console's log lines (`console action` among them). */
const lines: Array<Record<string, unknown>> = [];
const schedules = createSchedules({ store });

/** The same store with its schedules hidden: a store without schedule support. */
const withoutSchedules = new Proxy(store, {
  get: (target, name) => {
    if (name === 'schedules') return undefined;
    const value = Reflect.get(target, name, target) as unknown;
    return typeof value === 'function' ? value.bind(target) : value;
  },
}) as JobStore;

async function start(options: { token?: string; readonly?: boolean; store?: JobStore; log?: boolean } = {}): Promise<Running> {
  const { log, ...rest } = options;
  const server = createConsoleServer({
    store,
    storeUrl: 'memory',
    queues: { transport, queueUrl, queueName: 'q', dlqUrl, dlqName: 'q-dlq' },
    sender: { sendEnvelope: async (envelope) => void sent.push(envelope) },
    producer: new JobQueue({ transport, queueUrl, recorder: storeRecorder(store, { enabled: true, redactPaths: [] }) }),
    jobs: [],
    logger: log ? pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) }) : pino({ level: 'silent' }),
    ...rest,
  });
  const { url } = await server.listen();
  return { server, url };
}

beforeAll(async () => {
  queueUrl = await transport.createQueue('q');
  dlqUrl = await transport.createQueue('q-dlq');
  await store.createJobs([{ id: 'job-1', type: 't', createdAt: Date.now(), payload: { a: 1 } }]);
  await schedules.upsert({ id: 'nightly', job: { type: 't', payload: { n: 1 } }, every: '1h' });
  [open, guarded, readonly, noSchedules] = await Promise.all([
    start({ log: true }),
    start({ token: TOKEN }),
    start({ readonly: true }),
    start({ store: withoutSchedules }),
  ]);
});

afterAll(async () => {
  await Promise.all([open, guarded, readonly, noSchedules].map((r) => r?.server.close()));
});

/** A GET's status and the alert text of its page. */
async function get(base: Running, path: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${base.url}${path}`, { headers, redirect: 'manual' });
  const text = await response.text();
  return { status: response.status, alert: /role="alert">([^<]*)/.exec(text)?.[1], text, headers: response.headers };
}

/** A browser's first visit: its cookie and the CSRF token its forms carry. */
async function browserSession(base: Running, path: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${base.url}${path}`, { headers });
  const cookie = response.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const csrf = /name="_csrf" value="([^"]*)"/.exec(await response.text())?.[1] ?? '';
  return { cookie: [headers.cookie, cookie].filter(Boolean).join('; '), csrf };
}

const post = (base: Running, path: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(`${base.url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form),
  });

describe('the console over HTTP', () => {
  it.each([
    ['/jobs?colour=red', 400, 'colour: unknown query parameter'],
    ['/jobs?state=finished', 400, 'state: Invalid option'],
    ['/jobs?from=yesterday', 400, 'from: expected a time like 2026-12-01T14:03 (UTC)'],
    ['/jobs?limit=5000', 400, 'limit: Too big'],
    ['/jobs?cursor=not-a-cursor', 400, 'cursor: expected a cursor from a previous page'],
    ['/jobs/no-such-job', 404, 'No job no-such-job in the job store.'],
    ['/jobs/job-1?done=hacked', 400, 'done: Invalid option'],
    ['/jobs/no-such-job/cancel', 404, 'No job no-such-job in the job store.'],
    ['/jobs/job-1/cancel?x=1', 400, 'x: unknown query parameter'],
    ['/dlq?limit=1', 400, 'limit: unknown query parameter'],
    ['/dlq/messages/nothing-here', 404, 'No message or job nothing-here in q-dlq.'],
    ['/dlq/redrive', 400, 'id: select at least one job, or all'],
    ['/dlq/redrive?all=yes', 400, 'all: Invalid input: expected &quot;1&quot;'],
    ['/dlq/redrives/not-a-uuid', 400, 'task: Invalid UUID'],
    ['/dlq/redrives/7d3c1f9e-0d5e-4c1b-9a51-3f2b8f0c2a11', 404, 'No redrive 7d3c1f9e-0d5e-4c1b-9a51-3f2b8f0c2a11'],
    ['/schedules?page=2', 400, 'page: unknown query parameter'],
    ['/schedules/no-such-schedule', 404, 'No schedule no-such-schedule in the job store.'],
    ['/schedules/nightly?done=hacked', 400, 'done: Invalid option'],
    ['/schedules/nightly/pause?x=1', 400, 'x: unknown query parameter'],
    ['/schedules/no-such-schedule/trigger', 404, 'No schedule no-such-schedule in the job store.'],
    ['/schedules/nightly/resume', 409, 'Schedule nightly was not resumed: it is not paused.'],
    ['/schedules/nightly/delete', 404, undefined],
  ])('GET %s answers %i naming the problem', async (path, status, alert) => {
    const answer = await get(open, path);
    expect(answer.status).toBe(status);
    if (alert !== undefined) expect(answer.alert).toContain(alert);
  });

  it('has Schedules only when the store holds schedules', async () => {
    const list = await get(open, '/schedules');
    expect(list.status).toBe(200);
    expect(list.text).toContain('<a href="/schedules" aria-current="page">Schedules</a>');
    expect(list.text).toContain('every 1 h, overlap skip');
    const without = await get(noSchedules, '/');
    expect(without.status).toBe(200);
    expect(without.text).not.toContain('Schedules');
    expect((await get(noSchedules, '/schedules')).status).toBe(404);
  });

  it('schedule actions: CSRF checked, the form validated, unknown ids 404; pause, resume and trigger logged with who', async () => {
    const { cookie, csrf } = await browserSession(open, '/schedules/nightly/pause');
    expect((await post(open, '/schedules/nightly/pause', {}, { cookie })).status).toBe(403);
    expect((await post(open, '/schedules/nightly/pause', { _csrf: 'x'.repeat(43) }, { cookie })).status).toBe(403);
    expect((await schedules.get('nightly'))?.paused).toBe(false);
    const extra = await post(open, '/schedules/nightly/pause', { _csrf: csrf, every: '1s' }, { cookie });
    expect(extra.status).toBe(400);
    expect(await extra.text()).toContain('every: unknown form parameter');
    expect((await post(open, '/schedules/nope/pause', { _csrf: csrf }, { cookie })).status).toBe(404);

    const paused = await post(open, '/schedules/nightly/pause', { _csrf: csrf }, { cookie });
    expect(paused.status).toBe(303);
    expect(paused.headers.get('location')).toBe('/schedules/nightly?done=paused');
    expect((await schedules.get('nightly'))?.paused).toBe(true);
    expect((await get(open, '/schedules/nightly/pause')).alert).toBe('Schedule nightly was not paused: it is already paused.');
    expect((await post(open, '/schedules/nightly/resume', { _csrf: csrf }, { cookie })).headers.get('location')).toBe(
      '/schedules/nightly?done=resumed',
    );
    expect((await schedules.get('nightly'))?.paused).toBe(false);

    const triggered = await post(open, '/schedules/nightly/trigger', { _csrf: csrf }, { cookie });
    expect(triggered.headers.get('location')).toBe('/schedules/nightly?done=triggered');
    const [run] = (await schedules.show('nightly'))!.runs;
    expect(run).toMatchObject({ kind: 'trigger', state: 'pending' });
    expect((await store.getJob(run!.jobId))?.payload).toEqual({ n: 1 });
    expect((await transport.depth(queueUrl)).visible).toBe(1);
    const shown = await get(open, '/schedules/nightly');
    expect(shown.text).toContain(`<a href="/jobs/${run!.jobId}"><code>${run!.jobId}</code></a>`);

    const actions = lines.filter((line) => line.msg === 'console action');
    expect(actions).toEqual([
      expect.objectContaining({ action: 'schedule.pause', scheduleId: 'nope', result: 'not_found' }),
      expect.objectContaining({
        action: 'schedule.pause',
        scheduleId: 'nightly',
        result: 'paused',
        actor: 'anonymous (no token, loopback)',
      }),
      expect.objectContaining({ action: 'schedule.resume', scheduleId: 'nightly', result: 'resumed' }),
      expect.objectContaining({ action: 'schedule.trigger', scheduleId: 'nightly', result: 'triggered', jobId: run!.jobId }),
    ]);
  });

  it('serves Pico CSS from node_modules and its own script, with a strict content security policy on pages', async () => {
    const css = await fetch(`${open.url}/assets/pico.min.css`);
    expect(css.headers.get('content-type')).toContain('text/css');
    expect(await css.text()).toContain('Pico CSS');
    expect((await fetch(`${open.url}/assets/nothing.js`)).status).toBe(404);
    const home = await get(open, '/jobs/job-1');
    expect(home.status).toBe(200);
    expect(home.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(home.headers.get('x-frame-options')).toBe('DENY');
    // No asset is loaded from anywhere but this server.
    expect(home.text).not.toMatch(/(src|href)="https?:/);
  });

  it('refuses a POST without the CSRF token of this browser, or from another site', async () => {
    const { cookie, csrf } = await browserSession(open, '/jobs/job-1/cancel');
    expect(csrf).not.toBe('');
    expect((await post(open, '/jobs/job-1/cancel', {}, { cookie })).status).toBe(403);
    expect((await post(open, '/jobs/job-1/cancel', { _csrf: 'x'.repeat(43) }, { cookie })).status).toBe(403);
    expect((await post(open, '/jobs/job-1/cancel', { _csrf: csrf }, { cookie, origin: 'http://evil.example' })).status).toBe(403);
    const other = await browserSession(open, '/jobs/job-1/cancel');
    expect((await post(open, '/jobs/job-1/cancel', { _csrf: other.csrf }, { cookie })).status).toBe(403);
    expect((await store.getJob('job-1'))?.state).toBe('pending');
  });

  it('validates forms: a redrive names its jobs, a purge needs the queue name typed', async () => {
    const { cookie, csrf } = await browserSession(open, '/dlq/purge');
    const noJobs = await post(open, '/dlq/redrive', { _csrf: csrf }, { cookie });
    expect(noJobs.status).toBe(400);
    expect(await noJobs.text()).toContain('id: select at least one job, or all');
    const extra = await post(open, '/dlq/redrive', { _csrf: csrf, all: '1', reset: 'yes' }, { cookie });
    expect(extra.status).toBe(400);
    expect(await extra.text()).toContain('reset: unknown form parameter');
    const wrongName = await post(open, '/dlq/purge', { _csrf: csrf, confirm: 'q' }, { cookie });
    expect(wrongName.status).toBe(400);
    expect(await wrongName.text()).toContain('type q-dlq to purge it');
  });

  it('purges the DLQ once its name is typed, and logs it', async () => {
    await transport.send(dlqUrl, { body: 'not a job' });
    expect((await transport.depth(dlqUrl)).visible).toBe(1);
    const { cookie, csrf } = await browserSession(open, '/dlq/purge');
    const purged = await post(open, '/dlq/purge', { _csrf: csrf, confirm: ' q-dlq ' }, { cookie });
    expect(purged.status).toBe(303);
    expect(purged.headers.get('location')).toBe('/dlq?done=purged');
    expect(await transport.depth(dlqUrl)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  it('retry of a job that is not dead answers 409 and sends nothing; cancel of an unknown job 404', async () => {
    const { cookie, csrf } = await browserSession(open, '/jobs/job-1/retry');
    const retry = await post(open, '/jobs/job-1/retry', { _csrf: csrf }, { cookie });
    expect(retry.status).toBe(409);
    expect(await retry.text()).toContain('it is pending: only dead or cancelled jobs are retried');
    expect(sent).toEqual([]);
    expect((await post(open, '/jobs/nope/cancel', { _csrf: csrf }, { cookie })).status).toBe(404);
  });

  it('with a token: pages redirect to the sign-in, the rest answers 401; a bearer token or a session works', async () => {
    const page = await get(guarded, '/jobs?state=dead');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/login?next=%2Fjobs%3Fstate%3Ddead');
    expect((await post(guarded, '/jobs/job-1/cancel', {})).status).toBe(401);
    expect((await get(guarded, '/', { authorization: 'Bearer nope' })).status).toBe(401);
    expect((await get(guarded, '/jobs', { authorization: `Bearer ${TOKEN}` })).status).toBe(200);

    const wrong = await post(guarded, '/login', { name: 'mallory', token: 'guess' });
    expect(wrong.status).toBe(401);
    const missingName = await post(guarded, '/login', { name: '', token: TOKEN });
    expect(missingName.status).toBe(400);
    expect(await missingName.text()).toContain('name: expected your name, for the log of actions');
    // `next` is a path of this console only: another site is not followed.
    const signedIn = await post(guarded, '/login', { name: 'bob', token: TOKEN, next: '//evil.example/x' });
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.get('location')).toBe('/');
    const session = signedIn.headers.getSetCookie().find((c) => c.startsWith('calsync_console_session='));
    expect(session).toMatch(/HttpOnly/);
    expect(session).toMatch(/SameSite=Strict/);
    const cookie = session!.split(';')[0]!;
    expect((await get(guarded, '/jobs', { cookie })).status).toBe(200);
    // A session cookie signed by anyone else is no session.
    const [payload] = cookie.split('=')[1]!.split('.');
    expect((await get(guarded, '/jobs', { cookie: `calsync_console_session=${payload}.forged` })).status).toBe(303);
  });

  it('read-only: action pages and every POST answer 403, and nothing changes', async () => {
    expect((await get(readonly, '/jobs/job-1/cancel')).status).toBe(403);
    expect((await get(readonly, '/dlq/purge')).status).toBe(403);
    expect((await get(readonly, '/dlq/redrive?all=1')).status).toBe(403);
    const { cookie, csrf } = await browserSession(readonly, '/jobs/job-1');
    for (const action of ['pause', 'resume', 'trigger']) expect((await get(readonly, `/schedules/nightly/${action}`)).status).toBe(403);
    const schedule = await get(readonly, '/schedules/nightly');
    expect(schedule.status).toBe(200);
    expect(schedule.text).not.toMatch(/Pause…|Resume…|Trigger now…/);
    const runs = (await schedules.show('nightly'))!.runs.length;
    for (const path of [
      '/jobs/job-1/cancel',
      '/jobs/job-1/retry',
      '/dlq/redrive',
      '/dlq/purge',
      '/schedules/nightly/pause',
      '/schedules/nightly/trigger',
    ]) {
      const answer = await post(readonly, path, { _csrf: csrf, all: '1', confirm: 'q-dlq' }, { cookie });
      expect(answer.status, path).toBe(403);
    }
    expect((await store.getJob('job-1'))?.state).toBe('pending');
    expect((await schedules.show('nightly'))!.runs.length).toBe(runs);
    expect((await schedules.get('nightly'))?.paused).toBe(false);
  });
});
