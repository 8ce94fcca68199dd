/**
 * The web console in a real browser (chromium through playwright-core) against real servers:
 * PostgreSQL 15, fauxqs, and a worker running jobs through both. What an operator does: read the
 * overview; find a job that failed twice then succeeded and see its three attempts; redrive a dead job
 * and watch it succeed; cancel a delayed job; sign in with the token (and be refused without it); in
 * read-only mode find no action and have a forged POST refused; retry a dead job; see a schedule's next
 * runs, pause it, trigger it and follow its run to the job. Every page is checked with axe-core
 * and the Tab key, and saved under test-results/console/.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSchedules } from '../../src/ops/schedules.js';
import { axeViolations, launchBrowser, screenshot, unreachableByKeyboard } from '../support/browser.js';
import { CONSOLE_TOKEN, healing, startConsoleRig, type ConsoleRig, type LoggedConsole } from '../support/console-rig.js';
import { eventually } from '../support/runtime-harness.js';
import { useInMemoryTracing } from '../support/tracing.js';

// The producer's span gives each job a trace id, which the job page links to Jaeger.
useInMemoryTracing();

let rig: ConsoleRig;
let browser: Browser;
let open: LoggedConsole;

beforeAll(async () => {
  [rig, browser] = await Promise.all([startConsoleRig(`console-${Date.now().toString(36)}`), launchBrowser()]);
  open = await rig.console({ jaegerUrl: 'http://jaeger.invalid:16686' });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await rig?.stop();
});

async function newPage(): Promise<Page> {
  // bypassCSP lets the test inject axe-core; the console's own pages need no inline script (its CSP is checked below).
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  return await context.newPage();
}

/** A page passes when axe finds nothing and Tab reaches every control; then it is saved. */
async function checkPage(page: Page, name: string): Promise<void> {
  expect(await axeViolations(page), `axe on ${name}`).toEqual([]);
  expect(await unreachableByKeyboard(page), `keyboard on ${name}`).toEqual([]);
  await screenshot(page, name);
}

async function settledState(id: string, states: string[], timeoutMs = 30_000): Promise<string> {
  let state = '';
  await eventually(
    `job ${id} to be ${states.join(' or ')}`,
    async () => {
      state = (await rig.store.getJob(id))?.state ?? '';
      return states.includes(state);
    },
    timeoutMs,
  );
  return state;
}

const actions = (lines: LoggedConsole['lines']) => lines.filter((line) => line.msg === 'console action');

describe('the console in chromium', () => {
  it('shows the overview: both queues, the last hour, the workers and the store', async () => {
    const done = await rig.producer.enqueue({ type: 'console.flaky', payload: { failTimes: 0 } });
    await settledState(done.id, ['succeeded']);
    const page = await newPage();
    await page.goto(`${open.url}/`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Overview');
    const queues = page.getByRole('table').first();
    expect(await queues.textContent()).toContain(rig.queues.mainQueueName);
    expect(await queues.textContent()).toContain(rig.queues.dlqName);
    expect(await page.getByRole('img', { name: /Last hour: \d+ succeeded/ }).count()).toBe(1);
    expect(await page.locator('#workers-heading + table').textContent()).toMatch(/:\d+/);
    expect(await page.getByText('answering').count()).toBe(1);
    await checkPage(page, 'overview');
  });

  it('finds the job that failed twice, then succeeded, by its key; its page shows three attempts, two with errors', async () => {
    const { id } = await rig.producer.enqueue({
      type: 'console.flaky',
      payload: { failTimes: 2, password: 'hunter2' },
      idempotencyKey: 'sync-calendar-42',
    });
    await settledState(id, ['succeeded']);
    const page = await newPage();
    await page.goto(`${open.url}/jobs`);
    await page.getByLabel('Idempotency or concurrency key').fill('sync-calendar-42');
    await page.getByLabel('State').selectOption('succeeded');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/key=sync-calendar-42/);
    // The filter is in the URL: the same search, opened fresh, finds the same job.
    expect(new URL(page.url()).searchParams.get('state')).toBe('succeeded');
    expect(await page.locator('tbody tr').count()).toBe(1);
    await checkPage(page, 'jobs-search');

    await page.getByRole('link', { name: id }).click();
    await page.waitForURL(new RegExp(`/jobs/${id}$`));
    const attempts = page.getByRole('list', { name: 'Attempts' }).getByRole('listitem');
    expect(await attempts.count()).toBe(3);
    expect(await page.locator('.timeline .error-name').allTextContents()).toEqual(['RetryableError', 'RetryableError']);
    expect(await page.locator('.timeline .error-message').allTextContents()).toEqual([
      'calendar server busy (attempt 1)',
      'calendar server busy (attempt 2)',
    ]);
    expect(await attempts.nth(2).textContent()).toContain('succeeded');
    expect(await page.locator('#job-state').textContent()).toBe('succeeded');
    // The stored payload, its redacted path hidden; the trace linked to Jaeger.
    const payload = await page.locator('#payload-heading + pre').textContent();
    expect(payload).toContain('"failTimes": 2');
    expect(payload).toContain('[redacted]');
    expect(payload).not.toContain('hunter2');
    const job = await rig.store.getJob(id);
    expect(await page.getByRole('link', { name: /in Jaeger/ }).getAttribute('href')).toBe(
      `http://jaeger.invalid:16686/trace/${job?.traceId}`,
    );
    // The machine, with this job's path: START twice more than once, FAILED to backoff twice, SUCCEEDED once.
    expect(await page.getByRole('img', { name: /console.flaky machine/ }).count()).toBe(1);
    const path = await page.locator('#machine-heading ~ ol li').allTextContents();
    expect(path).toEqual([
      'pending → running on START (3 times)',
      'running → backoff on FAILED (2 times)',
      'running → succeeded on SUCCEEDED',
    ]);
    await checkPage(page, 'job');
  });

  it('redrives a dead job from its page and watches it succeed', async () => {
    healing.healed = false;
    const { id } = await rig.producer.enqueue({ type: 'console.heal', payload: { account: 'acme' } });
    await settledState(id, ['dead']);
    const page = await newPage();
    await eventually(
      'the dead letter to be listed',
      async () => {
        await page.goto(`${open.url}/dlq`);
        return (await page.getByRole('link', { name: id }).count()) === 1;
      },
      15_000,
    );
    expect(await page.locator('tbody').textContent()).toContain('NonRetryableError: the account is locked');
    await checkPage(page, 'dlq');
    await page.getByRole('link', { name: id }).click();
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(`Dead letter ${id}`);
    expect(await page.locator('pre').first().textContent()).not.toContain('acme');
    await checkPage(page, 'dlq-message');

    await page.goto(`${open.url}/jobs/${id}`);
    expect(await page.locator('#job-state').textContent()).toBe('dead');
    await page.getByRole('button', { name: 'Redrive from the DLQ…' }).click();
    await checkPage(page, 'redrive-confirm');
    healing.healed = true;
    await page.getByRole('button', { name: 'Yes, redrive' }).click();
    await page.waitForURL(/\/dlq\/redrives\//);
    // The progress page reloads itself until the redrive is done.
    await page.locator('#redrive-status', { hasText: /^finished: 1 of/ }).waitFor({ timeout: 20_000 });
    await checkPage(page, 'redrive-progress');
    // Watch the job page: it reloads itself until the job has settled.
    await page.getByRole('link', { name: id }).click();
    await page
      .getByRole('link', { name: /Watch it/ })
      .or(page.locator('#job-state', { hasText: 'succeeded' }))
      .first()
      .waitFor();
    if ((await page.locator('#job-state').textContent()) !== 'succeeded') await page.getByRole('link', { name: /Watch it/ }).click();
    await page.locator('#job-state', { hasText: 'succeeded' }).waitFor({ timeout: 30_000 });
    expect((await rig.store.getJob(id))?.state).toBe('succeeded');
    expect(actions(open.lines)).toContainEqual(
      expect.objectContaining({ action: 'dlq.redrive', actor: 'anonymous (no token, loopback)', selection: [id], started: true }),
    );
  });

  it('retries a dead job with its stored payload after confirming it', async () => {
    healing.healed = false;
    const { id } = await rig.producer.enqueue({ type: 'console.heal', payload: { account: 'retry-me' } });
    await settledState(id, ['dead']);
    healing.healed = true;
    const page = await newPage();
    await page.goto(`${open.url}/jobs/${id}`);
    await page.getByRole('button', { name: 'Retry…' }).click();
    await checkPage(page, 'retry-confirm');
    await page.getByRole('button', { name: 'Yes, retry it' }).click();
    await page.waitForURL(/done=retried/);
    expect(await page.getByRole('status').first().textContent()).toBe('Sent again as a new attempt series.');
    await settledState(id, ['succeeded']);
    const job = await rig.store.getJob(id);
    expect(job).toMatchObject({ state: 'succeeded', retries: 1 });
    expect(actions(open.lines)).toContainEqual(expect.objectContaining({ action: 'job.retry', jobId: id, result: 'retried' }));
  });

  it('cancels a delayed job after confirming it, and logs who did it', async () => {
    const { id } = await rig.producer.enqueue({ type: 'console.later', payload: {}, delayMs: 60_000 });
    const page = await newPage();
    await page.goto(`${open.url}/jobs/${id}`);
    expect(await page.locator('#job-state').textContent()).toBe('pending');
    await page.getByRole('button', { name: 'Cancel…' }).click();
    await checkPage(page, 'cancel-confirm');
    await page.getByRole('button', { name: 'Yes, cancel it' }).click();
    await page.waitForURL(/done=cancelled/);
    expect(await page.getByRole('status').first().textContent()).toBe('Cancelled.');
    expect(await page.locator('#job-state').textContent()).toBe('cancelled');
    expect((await rig.store.getJob(id))?.state).toBe('cancelled');
    expect(actions(open.lines)).toContainEqual(
      expect.objectContaining({ action: 'job.cancel', actor: 'anonymous (no token, loopback)', jobId: id, result: 'cancelled' }),
    );
  });

  it('schedules: lists one with its next run, shows its next 5 runs, pauses it, triggers it and links the run to its job', async () => {
    const schedules = createSchedules({ store: rig.store });
    const id = `hourly-${Date.now().toString(36)}`;
    await schedules.upsert({ id, job: { type: 'console.flaky', payload: { failTimes: 0 } }, every: '1h' });
    const page = await newPage();
    await page.goto(`${open.url}/`);
    await page.getByRole('link', { name: 'Schedules', exact: true }).click();
    await page.waitForURL(`${open.url}/schedules`);
    const row = page.locator('tbody tr', { has: page.getByRole('link', { name: id }) });
    expect(await row.textContent()).toContain('every 1 h, overlap skip');
    expect(await row.locator('time').count()).toBe(1);
    await checkPage(page, 'schedules');

    await row.getByRole('link', { name: id }).click();
    await page.waitForURL(new RegExp(`/schedules/${id}$`));
    const upcoming = await page.locator('#upcoming time').evaluateAll((times) => times.map((t) => t.getAttribute('datetime')));
    expect(upcoming).toEqual((await schedules.show(id))!.upcoming);
    expect(upcoming).toHaveLength(5);
    expect(Date.parse(upcoming[1]!) - Date.parse(upcoming[0]!)).toBe(3_600_000);
    await checkPage(page, 'schedule');

    await page.getByRole('button', { name: 'Pause…' }).click();
    await checkPage(page, 'schedule-pause-confirm');
    await page.getByRole('button', { name: 'Yes, pause it' }).click();
    await page.waitForURL(/done=paused/);
    expect(await page.locator('#schedule-paused').textContent()).toBe('yes');
    expect(await page.locator('#upcoming').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Resume…' }).count()).toBe(1);
    expect((await schedules.get(id))?.paused).toBe(true);
    await checkPage(page, 'schedule-paused');

    await page.getByRole('button', { name: 'Trigger now…' }).click();
    await checkPage(page, 'schedule-trigger-confirm');
    await page.getByRole('button', { name: 'Yes, trigger it' }).click();
    await page.waitForURL(/done=triggered/);
    const [run] = (await schedules.show(id))!.runs;
    expect(run?.kind).toBe('trigger');
    const runLink = page.getByRole('link', { name: run!.jobId });
    expect(await runLink.count()).toBe(1);
    await settledState(run!.jobId, ['succeeded']);
    await page.reload();
    expect(await page.locator('tbody tr', { has: runLink }).textContent()).toContain('succeeded');
    await checkPage(page, 'schedule-triggered');
    await runLink.click();
    await page.waitForURL(new RegExp(`/jobs/${run!.jobId}$`));
    expect(await page.locator('#job-state').textContent()).toBe('succeeded');
    expect(actions(open.lines)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: 'schedule.pause', scheduleId: id, result: 'paused', actor: 'anonymous (no token, loopback)' }),
        expect.objectContaining({ action: 'schedule.trigger', scheduleId: id, result: 'triggered', jobId: run!.jobId }),
      ]),
    );
  });

  it('asks for a typed confirmation before a purge', async () => {
    const page = await newPage();
    await page.goto(`${open.url}/dlq/purge`);
    await page.getByLabel(/Type .* to confirm/).fill('not-the-name');
    await page.getByRole('button', { name: 'Purge' }).click();
    expect(await page.getByRole('alert').textContent()).toContain(`type ${rig.queues.dlqName} to purge it`);
    await checkPage(page, 'purge-confirm');
  });

  it('with a token: refuses without it, signs in with it, and logs actions under the name given', async () => {
    const guarded = await rig.console({ token: CONSOLE_TOKEN });
    expect((await fetch(`${guarded.url}/jobs`, { redirect: 'manual' })).status).toBe(303);
    expect((await fetch(`${guarded.url}/jobs`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    expect((await fetch(`${guarded.url}/jobs`, { headers: { authorization: `Bearer ${CONSOLE_TOKEN}` } })).status).toBe(200);

    const page = await newPage();
    await page.goto(`${guarded.url}/jobs`);
    await page.waitForURL(/\/login\?next=%2Fjobs/);
    await checkPage(page, 'login');
    await page.getByLabel(/Your name/).fill('alice');
    await page.getByLabel(/Console token/).fill('not-the-token-000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await page.getByRole('alert').textContent()).toBe('That is not the console token.');
    await page.getByLabel(/Your name/).fill('alice');
    await page.getByLabel(/Console token/).fill(CONSOLE_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${guarded.url}/jobs`);
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === 'calsync_console_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict' });

    const { id } = await rig.producer.enqueue({ type: 'console.later', payload: {}, delayMs: 60_000 });
    await page.goto(`${guarded.url}/jobs/${id}/cancel`);
    // A POST without the form's CSRF token, with the session cookie: refused.
    const forged = await page.request.post(`${guarded.url}/jobs/${id}/cancel`, { form: { _csrf: 'forged' }, maxRedirects: 0 });
    expect(forged.status()).toBe(403);
    expect((await rig.store.getJob(id))?.state).toBe('pending');
    await page.getByRole('button', { name: 'Yes, cancel it' }).click();
    await page.waitForURL(/done=cancelled/);
    expect(actions(guarded.lines)).toEqual([expect.objectContaining({ action: 'job.cancel', actor: 'alice', via: 'session', jobId: id })]);

    await page.getByRole('button', { name: /Sign out/ }).click();
    await page.waitForURL(/\/login/);
    await page.goto(`${guarded.url}/`);
    await page.waitForURL(/\/login/);
  });

  it('read-only: no action is offered anywhere, and a forged POST is refused', async () => {
    const readonly = await rig.console({ readonly: true });
    healing.healed = false;
    const [dead, later] = await Promise.all([
      rig.producer.enqueue({ type: 'console.heal', payload: { account: 'ro' } }),
      rig.producer.enqueue({ type: 'console.later', payload: {}, delayMs: 60_000 }),
    ]);
    await settledState(dead.id, ['dead']);
    const page = await newPage();
    const actionControls = () => page.locator('a[role=button], button').filter({ hasText: /Cancel|Retry|Redrive|Purge|Yes,/ });
    for (const [path, name] of [
      [`/jobs/${later.id}`, 'readonly-job'],
      [`/jobs/${dead.id}`, 'readonly-dead-job'],
      ['/dlq', 'readonly-dlq'],
    ] as const) {
      await page.goto(`${readonly.url}${path}`);
      expect(await page.locator('.badge', { hasText: 'read-only' }).count()).toBe(1);
      expect(await actionControls().count(), path).toBe(0);
      expect(await page.locator('input[type=checkbox]').count()).toBe(0);
      await checkPage(page, name);
    }
    expect((await page.goto(`${readonly.url}/jobs/${later.id}/cancel`))?.status()).toBe(403);
    const forged = await page.request.post(`${readonly.url}/jobs/${later.id}/cancel`, { form: { _csrf: 'anything' }, maxRedirects: 0 });
    expect(forged.status()).toBe(403);
    const redrive = await page.request.post(`${readonly.url}/dlq/redrive`, { form: { all: '1' }, maxRedirects: 0 });
    expect(redrive.status()).toBe(403);
    expect((await rig.store.getJob(later.id))?.state).toBe('pending');
    expect(actions(readonly.lines)).toEqual([]);
  });
});
