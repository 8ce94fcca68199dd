/**
 * One job: its state and times, its attempts as a timeline (start, duration, error name, message,
 * reason), its payload when the store keeps payloads, its trace (linked to Jaeger when
 * CALSYNC_JAEGER_URL is set) and its type's machine with this job's path. Actions: cancel (pending,
 * backoff, running), retry (dead, cancelled), and redrive from the DLQ (dead: dlq.ts); each asks to
 * confirm on a page of its own, and each is logged with who did it.
 */
import { html, raw } from 'hono/html';
import { z } from 'zod';
import type { HistoryEntry } from '../../queue/envelope.js';
import { cancelJob, retryJob, showJob, type JobView } from '../../ops/jobs.js';
import { audit, type ConsoleApp, type ConsoleDeps } from '../context.js';
import { NotFound, parseInput, queryObject } from '../input.js';
import { csrfField, notice, page, stateBadge, time, type Html, type PageContext } from '../layout.js';
import { jobPath, machineSvg } from '../machine-graph.js';

const jobId = z.string().min(1).max(200);
const CANCELLABLE = ['pending', 'running', 'backoff'];
const RETRYABLE = ['dead', 'cancelled'];

/** What an action's redirect says on the job page (`?done=`): fixed texts, nothing echoed from the URL. */
const DONE = {
  cancelled: 'Cancelled.',
  'cancelled-running': 'Cancelled: its worker aborts the running attempt within one lease period.',
  retried: 'Sent again as a new attempt series.',
  redriven: 'Redriven from the dead-letter queue.',
} as const;
const jobQuery = z.object({ done: z.enum(Object.keys(DONE) as [keyof typeof DONE]).optional(), watch: z.enum(['1']).optional() }).strict();

const duration = (ms: number): string => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`);

async function findJob(deps: ConsoleDeps, raw: string): Promise<JobView> {
  const id = parseInput(jobId, raw, 'id');
  const job = await showJob(deps.store, id);
  if (!job) throw new NotFound(`No job ${id} in the job store.`);
  return job;
}

function failedAttempt(entry: HistoryEntry): Html {
  const ended = Date.parse(entry.at);
  return html`<li class="failed">
    <strong>Attempt ${entry.attempt}</strong> · ${entry.kind === 'failed' ? 'failed' : entry.kind === 'timeout' ? 'timed out' : 'worker lost'}
    <br />started ${time(ended - entry.durationMs)} · ran ${duration(entry.durationMs)}
    <br /><span class="error-name"><strong>${entry.error.name}</strong></span>: <span class="error-message">${entry.error.message}</span>
    ${entry.error.reason ? html`<br />reason <code>${entry.error.reason}</code>` : ''}
  </li>`;
}

/** The attempt the row is at now, when the history does not already hold it. */
function currentAttempt(job: JobView): Html {
  const started = job.startedAt ? Date.parse(job.startedAt) : undefined;
  const settled = job.settledAt ? Date.parse(job.settledAt) : undefined;
  switch (job.state) {
    case 'succeeded':
      return html`<li class="ok"><strong>Attempt ${job.attempt}</strong> · succeeded
        <br />started ${time(job.startedAt)}${started !== undefined && settled !== undefined ? html` · ran ${duration(settled - started)}` : ''}</li>`;
    case 'running':
      return html`<li class="now"><strong>Attempt ${job.attempt}</strong> · running since ${time(job.startedAt)}</li>`;
    case 'backoff':
    case 'pending':
      return html`<li class="now"><strong>Attempt ${job.attempt}</strong> · ${job.state === 'backoff' ? 'waiting after a failure' : 'waiting'}${job.scheduledAt ? html`, not before ${time(job.scheduledAt)}` : ''}</li>`;
    case 'cancelled':
      return html`<li><strong>Cancelled</strong> ${time(job.updatedAt)}</li>`;
    default:
      // Dead: its last attempt is the history's last entry (or it never ran: invalid payload, deadline).
      return job.history.length === 0
        ? html`<li class="failed"><strong>Dead</strong> before it ran: <code>${job.deadLetterReason ?? ''}</code></li>`
        : html``;
  }
}

function payloadBlock(deps: ConsoleDeps, job: JobView): Html {
  if (!deps.showPayloads) return html`<p class="muted">Payloads are not shown: CALSYNC_STORE_PAYLOADS is off.</p>`;
  if (job.payloadOmitted === 'disabled')
    return html`<p class="muted">Not stored (CALSYNC_STORE_PAYLOADS was off when it was enqueued).</p>`;
  if (job.payloadOmitted === 'too_large') return html`<p class="muted">Not stored: larger than 16 KiB.</p>`;
  return html`<pre><code>${JSON.stringify(job.payload, null, 2)}</code></pre>
    <p class="muted"><small>Fields on the log redaction paths were replaced by "[redacted]" before the job was stored; the console never has them.</small></p>`;
}

function actionButtons(ctx: PageContext, job: JobView): Html {
  if (ctx.readonly) return html``;
  const id = encodeURIComponent(job.id);
  const buttons: Html[] = [];
  if (CANCELLABLE.includes(job.state)) buttons.push(html`<a role="button" class="secondary" href="/jobs/${id}/cancel">Cancel…</a>`);
  if (RETRYABLE.includes(job.state)) buttons.push(html`<a role="button" href="/jobs/${id}/retry">Retry…</a>`);
  if (job.state === 'dead') buttons.push(html`<a role="button" href="/dlq/redrive?id=${id}">Redrive from the DLQ…</a>`);
  return buttons.length > 0 ? html`<div class="actions" aria-label="Actions">${buttons}</div>` : html``;
}

async function jobPage(
  deps: ConsoleDeps,
  ctx: PageContext,
  job: JobView,
  done: keyof typeof DONE | undefined,
  watch: boolean,
): Promise<Html> {
  const live = ['pending', 'running', 'backoff'].includes(job.state);
  const self = `/jobs/${encodeURIComponent(job.id)}`;
  const path = jobPath(job);
  const { svg } = await machineSvg(job.type, path, 'machine-title');
  const definition = deps.jobs.find((d) => d.type === job.type);
  const trace = job.traceId
    ? deps.jaegerUrl
      ? html`<a href="${deps.jaegerUrl}/trace/${job.traceId}"><code>${job.traceId}</code> in Jaeger</a>`
      : html`<code>${job.traceId}</code> <small class="muted">(set CALSYNC_JAEGER_URL to link it)</small>`
    : html`<span class="muted">none recorded</span>`;
  return page(ctx, {
    title: `Job ${job.id}`,
    // Reloads only when asked: a page that reloads by itself while someone reads it is a nuisance.
    refreshMs: live && watch ? 3_000 : undefined,
    body: html`
      ${notice(done ? DONE[done] : undefined)}
      <p>${stateBadge(job.state)} <strong>${job.type}</strong> · attempt ${job.attempt}${job.retries > 0 ? ` · retried ${job.retries} time(s)` : ''}
        ${live ? (watch ? html` · <a href="${self}">Stop watching</a> <small class="muted">(reloading every 3 s)</small>` : html` · <a href="${self}?watch=1">Watch it (reload every 3 s)</a>`) : ''}</p>
      ${actionButtons(ctx, job)}
      <table>
        <tbody>
          <tr><th scope="row">state</th><td id="job-state">${job.state}</td></tr>
          <tr><th scope="row">idempotency key</th><td>${job.idempotencyKey ?? html`<span class="muted">none</span>`}</td></tr>
          ${job.concurrencyKey ? html`<tr><th scope="row">concurrency key</th><td id="job-concurrency-key"><a href="/jobs?key=${encodeURIComponent(job.concurrencyKey)}">${job.concurrencyKey}</a> <small class="muted">(held while it runs)</small></td></tr>` : ''}
          <tr><th scope="row">created</th><td>${time(job.createdAt)}</td></tr>
          <tr><th scope="row">not before</th><td>${time(job.scheduledAt)}</td></tr>
          <tr><th scope="row">latest attempt started</th><td>${time(job.startedAt)}</td></tr>
          <tr><th scope="row">settled</th><td>${time(job.settledAt)}</td></tr>
          ${job.deadLetterReason ? html`<tr><th scope="row">dead-letter reason</th><td><code>${job.deadLetterReason}</code></td></tr>` : ''}
          ${job.lastError ? html`<tr><th scope="row">last error</th><td>${job.lastError.name}: ${job.lastError.message}</td></tr>` : ''}
          <tr><th scope="row">trace</th><td>${trace}</td></tr>
          ${definition ? html`<tr><th scope="row">retry policy</th><td>up to ${definition.retry.maximumAttempts || '∞'} attempts, first retry after ${duration(definition.retry.initialIntervalMs)}, ×${definition.retry.backoffCoefficient}</td></tr>` : ''}
        </tbody>
      </table>
      <section aria-labelledby="attempts-heading">
        <h2 id="attempts-heading">Attempts</h2>
        <ol class="timeline" aria-labelledby="attempts-heading">
          ${job.history.map(failedAttempt)}
          ${currentAttempt(job)}
        </ol>
      </section>
      <section aria-labelledby="machine-heading">
        <h2 id="machine-heading">Its machine</h2>
        <figure class="machine">
          ${raw(svg)}
          <figcaption id="machine-title">The ${job.type} machine (as <code>calsync-jobs machines</code> prints it); this job's path in blue.</figcaption>
        </figure>
        <p>Path taken:</p>
        <ol>
          ${path.steps.map((step) => html`<li>${step.source} → ${step.target} on <code>${step.event}</code>${step.times > 1 ? ` (${step.times} times)` : ''}</li>`)}
        </ol>
      </section>
      <section aria-labelledby="payload-heading">
        <h2 id="payload-heading">Payload</h2>
        ${payloadBlock(deps, job)}
      </section>`,
  });
}

function confirmPage(ctx: PageContext, job: JobView, action: 'cancel' | 'retry'): Html {
  const what =
    action === 'cancel'
      ? job.state === 'running'
        ? 'Its worker aborts the running attempt within one lease period (the handler sees ctx.signal aborted); it never runs again.'
        : 'It never runs: its message is dropped when it arrives.'
      : 'It runs again as a new attempt series (attempt 1, its history kept), with its stored payload.';
  return page(ctx, {
    title: `${action === 'cancel' ? 'Cancel' : 'Retry'} job ${job.id}?`,
    body: html`<p>${stateBadge(job.state)} <strong>${job.type}</strong>, attempt ${job.attempt}. ${what}</p>
      <form method="post" action="/jobs/${encodeURIComponent(job.id)}/${action}" class="actions">
        ${csrfField(ctx)}
        <button type="submit">${action === 'cancel' ? 'Yes, cancel it' : 'Yes, retry it'}</button>
        <a href="/jobs/${encodeURIComponent(job.id)}" role="button" class="secondary outline">No, back to the job</a>
      </form>`,
  });
}

export function mountJob(app: ConsoleApp, deps: ConsoleDeps): void {
  app.get('/jobs/:id', async (c) => {
    const { done, watch } = parseInput(jobQuery, queryObject(c.req.url), 'query');
    const job = await findJob(deps, c.req.param('id'));
    return c.html(await jobPage(deps, c.get('page'), job, done, watch === '1'));
  });

  for (const action of ['cancel', 'retry'] as const) {
    app.get(`/jobs/:id/${action}`, async (c) => {
      parseInput(z.object({}).strict(), queryObject(c.req.url), 'query');
      const ctx = c.get('page');
      if (ctx.readonly) return c.html(page(ctx, { title: 'Read-only', body: html`<p role="alert">This console is read-only.</p>` }), 403);
      return c.html(confirmPage(ctx, await findJob(deps, c.req.param('id')), action));
    });
  }

  app.post('/jobs/:id/cancel', async (c) => {
    const id = parseInput(jobId, c.req.param('id'), 'id');
    const result = await cancelJob(deps.store, id);
    audit(deps, c.get('actor'), 'job.cancel', { jobId: id, result: result.kind });
    if (result.kind === 'not_found') throw new NotFound(`No job ${id} in the job store.`);
    if (result.kind === 'settled')
      return c.html(
        page(c.get('page'), {
          title: 'Not cancelled',
          body: html`<p role="alert">Job ${id} is already ${result.state}.</p><p><a href="/jobs/${encodeURIComponent(id)}">Back to the job</a></p>`,
        }),
        409,
      );
    return c.redirect(`/jobs/${encodeURIComponent(id)}?done=${result.wasRunning ? 'cancelled-running' : 'cancelled'}`, 303);
  });

  app.post('/jobs/:id/retry', async (c) => {
    const id = parseInput(jobId, c.req.param('id'), 'id');
    const result = await retryJob(deps.store, deps.sender, id, { clock: deps.clock });
    audit(deps, c.get('actor'), 'job.retry', { jobId: id, result: result.kind });
    if (result.kind === 'not_found') throw new NotFound(`No job ${id} in the job store.`);
    if (result.kind === 'retried') return c.redirect(`/jobs/${encodeURIComponent(id)}?done=retried`, 303);
    const why =
      result.kind === 'not_retryable'
        ? `it is ${result.state}: only dead or cancelled jobs are retried`
        : result.kind === 'payload_not_stored'
          ? `its payload was not stored as enqueued (${result.why}); redrive it from the DLQ instead`
          : 'sending it failed; it was cancelled again so a later retry can run';
    if (result.kind === 'send_failed') deps.logger.error({ err: result.error, jobId: id }, 'console: retry send failed');
    return c.html(
      page(c.get('page'), {
        title: 'Not retried',
        body: html`<p role="alert">Job ${id} was not retried: ${why}.</p><p><a href="/jobs/${encodeURIComponent(id)}">Back to the job</a></p>`,
      }),
      result.kind === 'send_failed' ? 503 : 409,
    );
  });
}
