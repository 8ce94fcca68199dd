/**
 * Dead letters: the DLQ as src/ops/dlq-scan.ts reads it (received with a short visibility timeout and
 * put back at once: nothing is consumed), with what the store knows of each job; one message shown;
 * redrive one, the selected, or all (a background task with a progress page, redrive-tasks.ts); purge
 * after typing the queue's name. A dead letter's envelope carries the payload as enqueued, unredacted:
 * the console never shows it, only the store's redacted copy (job.ts).
 */
import { html } from 'hono/html';
import { z } from 'zod';
import { releaseMessages, scanDlq, selects, summarize, type DlqMessage } from '../../ops/dlq-scan.js';
import { storeFacts } from '../../ops/jobs.js';
import { audit, type ConsoleDeps, type ConsoleSection } from '../context.js';
import { NotFound, parseInput, queryObject } from '../input.js';
import { csrfField, notice, page, stateBadge, time, type PageContext } from '../layout.js';

const LIST_LIMIT = 200;
const MAX_SELECTED = 500;
const jobIdText = z.string().min(1).max(200);

const listQuery = z
  .object({
    type: z.preprocess((v) => (v === '' ? undefined : v), z.string().max(128).optional()),
    done: z.enum(['purged']).optional(),
  })
  .strict();
const redriveQuery = z
  .object({ id: z.array(jobIdText).max(MAX_SELECTED).default([]), all: z.enum(['1']).optional() })
  .strict()
  .refine((q) => q.all !== undefined || q.id.length > 0, { message: 'select at least one job, or all', path: ['id'] });
const redriveForm = z
  .object({ id: z.array(jobIdText).max(MAX_SELECTED).default([]), all: z.enum(['1']).optional(), _csrf: z.string() })
  .strict()
  .refine((q) => q.all !== undefined || q.id.length > 0, { message: 'select at least one job, or all', path: ['id'] });
const purgeForm = z.object({ confirm: z.string().max(200), _csrf: z.string() }).strict();

/** Reads the DLQ without consuming it: every message received is made visible again before this returns. */
async function readDlq(deps: ConsoleDeps, match: (message: DlqMessage) => boolean, limit?: number): Promise<DlqMessage[]> {
  const { transport, dlqUrl } = deps.queues;
  // The scan's default 1 s long poll, as `dlq list`: a short poll (0) may answer empty on AWS while
  // messages wait on servers it did not sample, and the scan ends at the first empty receive.
  const scan = await scanDlq(transport, dlqUrl, { match, ...(limit === undefined ? {} : { limit }) });
  await releaseMessages(transport, dlqUrl, scan.held.values());
  return scan.matched;
}

/** A form's repeated field as an array (a single checkbox arrives as a string). */
const list = (value: unknown): unknown => (value === undefined ? undefined : Array.isArray(value) ? value : [value]);

function redriveConfirm(ctx: PageContext, deps: ConsoleDeps, selection: 'all' | string[]) {
  const what =
    selection === 'all'
      ? html`every job in <code>${deps.queues.dlqName}</code>`
      : html`${selection.length} job(s): ${selection.map((id, i) => html`${i > 0 ? ', ' : ''}<code>${id}</code>`)}`;
  return page(ctx, {
    title: 'Redrive dead letters?',
    body: html`<p>Send ${what} back to <code>${deps.queues.queueName}</code>. Each job's row in the store is reopened at the attempt its message carries,
        and it runs again; a job that died of attempts_exhausted gets one more attempt.</p>
      <form method="post" action="/dlq/redrive" class="actions">
        ${csrfField(ctx)}
        ${selection === 'all' ? html`<input type="hidden" name="all" value="1" />` : selection.map((id) => html`<input type="hidden" name="id" value="${id}" />`)}
        <button type="submit">Yes, redrive</button>
        <a href="/dlq" role="button" class="secondary outline">No, back to the dead letters</a>
      </form>`,
  });
}

export const dlqSection: ConsoleSection = {
  nav: { href: '/dlq', label: 'Dead letters' },
  mount(app, deps) {
    app.get('/dlq', async (c) => {
      const query = parseInput(listQuery, queryObject(c.req.url), 'query');
      const ctx = c.get('page');
      const messages = await readDlq(deps, (m) => (query.type ? selects({ type: query.type }, m) : true), LIST_LIMIT);
      const jobs = messages.map(summarize);
      const facts = await storeFacts(
        deps.store,
        jobs.flatMap((job) => (job.id ? [job.id] : [])),
      );
      const body = html`
        ${notice(query.done === 'purged' ? 'Purge requested: the dead-letter queue empties within a minute.' : undefined)}
        <form method="get" action="/dlq" aria-label="Filter dead letters" class="actions">
          <label>Type <input name="type" value="${query.type ?? ''}" /></label>
          <button type="submit">Filter</button>
        </form>
        <p role="status">${jobs.length} dead letter(s) in <code>${deps.queues.dlqName}</code>${jobs.length >= LIST_LIMIT ? ` (the first ${LIST_LIMIT})` : ''}.</p>
        ${
          jobs.length === 0
            ? ''
            : html`<form method="get" action="/dlq/redrive">
            <div class="overflow-auto"><table>
              <thead><tr>
                ${ctx.readonly ? '' : html`<th scope="col"><span class="muted">select</span></th>`}
                <th scope="col">job</th><th scope="col">type</th><th scope="col">reason</th><th scope="col" class="num">attempts</th><th scope="col">dead-lettered</th><th scope="col">in the store</th><th scope="col">last error</th>
              </tr></thead>
              <tbody>
                ${jobs.map((job, index) => {
                  const fact = job.id ? facts.get(job.id) : undefined;
                  return html`<tr>
                    ${ctx.readonly ? '' : html`<td>${job.id ? html`<input type="checkbox" name="id" value="${job.id}" id="select-${index}" aria-label="Select job ${job.id}" />` : ''}</td>`}
                    <td><a href="/dlq/messages/${encodeURIComponent(job.messageId)}"><code>${job.id ?? `message ${job.messageId}`}</code></a></td>
                    <td>${job.type ?? '–'}</td>
                    <td><code>${job.reason}</code></td>
                    <td class="num">${job.attempts ?? '–'}</td>
                    <td>${time(job.deadLetteredAt)}</td>
                    <td>${fact ? html`${stateBadge(fact.state)} <a href="/jobs/${encodeURIComponent(job.id ?? '')}">job page</a>` : html`<span class="muted">not in the store</span>`}</td>
                    <td>${job.lastError ?? ''}</td>
                  </tr>`;
                })}
              </tbody>
            </table></div>
            ${
              ctx.readonly
                ? ''
                : html`<div class="actions">
                    <button type="submit">Redrive selected…</button>
                    <a href="/dlq/redrive?all=1" role="button" class="secondary">Redrive all…</a>
                    <a href="/dlq/purge" role="button" class="contrast outline">Purge…</a>
                  </div>`
            }
          </form>`
        }`;
      return c.html(page(ctx, { title: 'Dead letters', body }));
    });

    app.get('/dlq/messages/:id', async (c) => {
      parseInput(z.object({}).strict(), queryObject(c.req.url), 'query');
      const id = parseInput(jobIdText, c.req.param('id'), 'id');
      const [message] = await readDlq(deps, (m) => m.messageId === id || m.decoded.envelope?.id === id, 1);
      if (!message) throw new NotFound(`No message or job ${id} in ${deps.queues.dlqName}.`);
      const summary = summarize(message);
      const { envelope, record } = message.decoded;
      const ctx = c.get('page');
      // The envelope as sent, less its payload (unredacted in the message): the store's copy is on the job page.
      const shown = envelope ? { ...envelope, payload: '(not shown: see the job page for the stored, redacted payload)' } : undefined;
      const body = html`
        <table><tbody>
          <tr><th scope="row">job</th><td>${summary.id ? html`<a href="/jobs/${encodeURIComponent(summary.id)}"><code>${summary.id}</code></a>` : 'not a job'}</td></tr>
          <tr><th scope="row">type</th><td>${summary.type ?? '–'}</td></tr>
          <tr><th scope="row">reason</th><td><code>${summary.reason}</code></td></tr>
          <tr><th scope="row">attempts</th><td>${summary.attempts ?? '–'}</td></tr>
          <tr><th scope="row">created</th><td>${time(summary.createdAt)}</td></tr>
          <tr><th scope="row">dead-lettered</th><td>${time(summary.deadLetteredAt)}</td></tr>
          <tr><th scope="row">last error</th><td>${summary.lastError ?? '–'}</td></tr>
          <tr><th scope="row">trace id</th><td>${summary.traceId ? html`<code>${summary.traceId}</code>` : '–'}</td></tr>
          <tr><th scope="row">SQS message id</th><td><code>${message.messageId}</code></td></tr>
        </tbody></table>
        ${!ctx.readonly && summary.id ? html`<div class="actions"><a role="button" href="/dlq/redrive?id=${encodeURIComponent(summary.id)}">Redrive this job…</a></div>` : ''}
        <h2>Envelope</h2>
        <pre><code>${shown ? JSON.stringify(shown, null, 2) : 'not a job envelope'}</code></pre>
        ${record ? html`<h2>Dead-letter record</h2><pre><code>${JSON.stringify(record, null, 2)}</code></pre>` : ''}`;
      return c.html(page(ctx, { title: `Dead letter ${summary.id ?? message.messageId}`, body }));
    });

    app.get('/dlq/redrive', (c) => {
      const ctx = c.get('page');
      if (ctx.readonly) return c.html(page(ctx, { title: 'Read-only', body: html`<p role="alert">This console is read-only.</p>` }), 403);
      const query = parseInput(redriveQuery, queryObject(c.req.url, ['id']), 'query');
      return c.html(redriveConfirm(ctx, deps, query.all ? 'all' : query.id));
    });

    app.post('/dlq/redrive', async (c) => {
      const body = await c.req.parseBody({ all: true });
      const form = parseInput(redriveForm, { ...body, id: list(body.id) }, 'form');
      const selection = form.all ? 'all' : [...new Set(form.id)];
      const { task, started } = deps.redrives.start(selection, c.get('actor'));
      audit(deps, c.get('actor'), 'dlq.redrive', { selection, taskId: task.id, started });
      return c.redirect(`/dlq/redrives/${task.id}${started ? '' : '?busy=1'}`, 303);
    });

    app.get('/dlq/redrives/:task', (c) => {
      const query = parseInput(z.object({ busy: z.enum(['1']).optional() }).strict(), queryObject(c.req.url), 'query');
      const id = parseInput(z.uuid(), c.req.param('task'), 'task');
      const task = deps.redrives.get(id);
      if (!task) throw new NotFound(`No redrive ${id} (the console keeps the last 20 until it restarts).`);
      const running = task.state === 'running';
      const body = html`
        ${notice(query.busy ? 'Another redrive is running: this is it. Start yours when it has finished.' : undefined, 'error')}
        <p>Started by ${task.actor} ${time(task.startedAt)}: ${task.selection === 'all' ? 'all dead letters' : `${task.selection.length} job(s)`}.</p>
        <label for="redrive-progress">${running ? 'Redriving…' : task.state === 'finished' ? 'Finished' : 'Ended with failures'}</label>
        <progress id="redrive-progress" max="${task.total ?? ''}" ${task.total === undefined && running ? '' : html`value="${task.done}"`}></progress>
        <p role="status" id="redrive-status">${task.state}: ${task.done} of ${task.total ?? '?'} redriven${task.result ? ` (skipped ${task.result.skipped}, failed ${task.result.failed}, via ${task.result.method})` : ''}${task.error ? `: ${task.error}` : ''}</p>
        ${task.notes.length > 0 ? html`<ul>${task.notes.map((line) => html`<li>${line}</li>`)}</ul>` : ''}
        ${task.selection !== 'all' ? html`<p>Jobs: ${task.selection.map((jobId, i) => html`${i > 0 ? ', ' : ''}<a href="/jobs/${encodeURIComponent(jobId)}"><code>${jobId}</code></a>`)}</p>` : ''}
        <p><a href="/dlq">Back to the dead letters</a></p>`;
      return c.html(page(c.get('page'), { title: 'Redrive', body, refreshMs: running ? 1_000 : undefined }));
    });

    app.get('/dlq/purge', (c) => {
      parseInput(z.object({}).strict(), queryObject(c.req.url), 'query');
      const ctx = c.get('page');
      if (ctx.readonly) return c.html(page(ctx, { title: 'Read-only', body: html`<p role="alert">This console is read-only.</p>` }), 403);
      return c.html(purgePage(ctx, deps));
    });

    app.post('/dlq/purge', async (c) => {
      const form = parseInput(purgeForm, await c.req.parseBody(), 'form');
      if (form.confirm.trim() !== deps.queues.dlqName) {
        return c.html(purgePage(c.get('page'), deps, `That is not the queue's name: type ${deps.queues.dlqName} to purge it.`), 400);
      }
      await deps.queues.transport.purge(deps.queues.dlqUrl);
      audit(deps, c.get('actor'), 'dlq.purge', { queue: deps.queues.dlqName });
      return c.redirect('/dlq?done=purged', 303);
    });
  },
};

function purgePage(ctx: PageContext, deps: ConsoleDeps, error?: string) {
  return page(ctx, {
    title: 'Purge the dead-letter queue?',
    body: html`${notice(error, 'error')}
      <p>Every message in <code>${deps.queues.dlqName}</code> is deleted for good (SQS PurgeQueue; it takes up to a minute). The jobs' rows in the store stay dead.</p>
      <form method="post" action="/dlq/purge">
        ${csrfField(ctx)}
        <label for="purge-confirm">Type <code>${deps.queues.dlqName}</code> to confirm</label>
        <input id="purge-confirm" name="confirm" autocomplete="off" required />
        <div class="actions">
          <button type="submit" class="contrast">Purge</button>
          <a href="/dlq" role="button" class="secondary outline">No, back to the dead letters</a>
        </div>
      </form>`,
  });
}
