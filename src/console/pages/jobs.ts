/**
 * Jobs: the search (id, key: idempotency or a running job's concurrency key, type, state, created between two times), newest first, a
 * page at a time by the store's keyset cursor. The filter lives in the URL (a GET form), so a search
 * can be shared as a link. The job page and its actions are job.ts.
 */
import { html } from 'hono/html';
import { z } from 'zod';
import { listJobs, type JobView } from '../../ops/jobs.js';
import { JOB_STATES, type JobFilter } from '../../store/job-store.js';
import type { ConsoleSection } from '../context.js';
import { parseInput, queryObject } from '../input.js';
import { page, stateBadge, time } from '../layout.js';
import { mountJob } from './job.js';

const PAGE_SIZE = 50;

/** A form's empty field means "not set". */
const optional = <S extends z.ZodType>(schema: S) => z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

/** `datetime-local` text (`2026-12-01T14:03`, seconds optional), read as UTC. */
const utcTime = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?Z?$/, 'expected a time like 2026-12-01T14:03 (UTC)')
  .transform((text, context) => {
    const ms = Date.parse(text.endsWith('Z') ? text : `${text}Z`);
    if (Number.isNaN(ms)) {
      context.addIssue({ code: 'custom', message: 'expected a real date and time' });
      return z.NEVER;
    }
    return ms;
  });

export const jobsQuery = z
  .object({
    id: optional(z.string().trim().max(200)),
    key: optional(z.string().trim().max(256)),
    type: optional(z.string().trim().max(128)),
    state: optional(z.enum(JOB_STATES)),
    from: optional(utcTime),
    to: optional(utcTime),
    cursor: optional(z.string().max(1000)),
    limit: optional(z.coerce.number().int().min(1).max(200)),
  })
  .strict();

type JobsQuery = z.output<typeof jobsQuery>;

/** The query string of a search, without empty fields (and with `cursor` when paging). */
export function searchHref(query: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== '') params.set(name, value);
  const text = params.toString();
  return text === '' ? '/jobs' : `/jobs?${text}`;
}

function filterOf(query: JobsQuery): JobFilter {
  return {
    ...(query.state ? { state: query.state } : {}),
    ...(query.type ? { type: query.type } : {}),
    // The store's key filter matches an idempotency key, a concurrency key or an id; each field keeps only its own kinds below.
    ...(query.id ? { key: query.id } : query.key ? { key: query.key } : {}),
    ...(query.from !== undefined ? { since: query.from } : {}),
    ...(query.to !== undefined ? { until: query.to } : {}),
    ...(query.cursor ? { cursor: query.cursor } : {}),
    limit: query.limit ?? PAGE_SIZE,
  };
}

function keep(query: JobsQuery, job: JobView): boolean {
  if (query.id && job.id !== query.id) return false;
  if (query.key && job.idempotencyKey !== query.key && job.concurrencyKey !== query.key) return false;
  return true;
}

const field = (raw: Record<string, string | string[]>, name: string): string => {
  const value = raw[name];
  return typeof value === 'string' ? value : '';
};

export const jobsSection: ConsoleSection = {
  nav: { href: '/jobs', label: 'Jobs' },
  mount(app, deps) {
    app.get('/jobs', async (c) => {
      const raw = queryObject(c.req.url);
      const query = parseInput(jobsQuery, raw, 'query');
      const result = await listJobs(deps.store, filterOf(query));
      const jobs = result.jobs.filter((job) => keep(query, job));
      const shared = Object.fromEntries(
        ['id', 'key', 'type', 'state', 'from', 'to', 'limit'].map((name) => [name, field(raw, name) || undefined]),
      );
      const types = deps.jobs.map((job) => job.type);
      const body = html`
        <form method="get" action="/jobs" aria-label="Search jobs">
          <div class="filters">
            <label>Job id <input name="id" value="${field(raw, 'id')}" /></label>
            <label>Idempotency or concurrency key <input name="key" value="${field(raw, 'key')}" /></label>
            <label>Type <input name="type" value="${field(raw, 'type')}" list="job-types" /></label>
            <datalist id="job-types">${types.map((type) => html`<option value="${type}"></option>`)}</datalist>
            <label>State
              <select name="state">
                <option value="">any</option>
                ${JOB_STATES.map((state) => html`<option value="${state}" ${query.state === state ? 'selected' : ''}>${state}</option>`)}
              </select>
            </label>
            <label>Created from (UTC) <input type="datetime-local" name="from" step="1" value="${field(raw, 'from')}" /></label>
            <label>Created before (UTC) <input type="datetime-local" name="to" step="1" value="${field(raw, 'to')}" /></label>
          </div>
          <div class="actions">
            <button type="submit">Search</button>
            <a href="/jobs" role="button" class="secondary outline">Clear</a>
          </div>
        </form>
        <p role="status">${jobs.length === 0 ? 'No jobs match.' : `${jobs.length} job(s) on this page, newest first.`}</p>
        ${
          jobs.length > 0
            ? html`<div class="overflow-auto"><table>
                <thead>
                  <tr><th scope="col">job</th><th scope="col">type</th><th scope="col">state</th><th scope="col" class="num">attempt</th><th scope="col">created</th><th scope="col">last error</th></tr>
                </thead>
                <tbody>
                  ${jobs.map(
                    (job) => html`<tr>
                      <td><a href="/jobs/${encodeURIComponent(job.id)}"><code>${job.id}</code></a>${job.idempotencyKey ? html`<br /><small class="muted">key ${job.idempotencyKey}</small>` : ''}</td>
                      <td>${job.type}</td>
                      <td>${stateBadge(job.state)}</td>
                      <td class="num">${job.attempt}</td>
                      <td>${time(job.createdAt)}</td>
                      <td>${job.lastError ? `${job.lastError.name}: ${job.lastError.message}` : ''}</td>
                    </tr>`,
                  )}
                </tbody>
              </table></div>`
            : ''
        }
        <nav aria-label="Pages" class="actions">
          ${query.cursor ? html`<a href="${searchHref(shared)}">First page</a>` : ''}
          ${result.nextCursor ? html`<a href="${searchHref({ ...shared, cursor: result.nextCursor })}" rel="next">Next page</a>` : ''}
        </nav>`;
      return c.html(page(c.get('page'), { title: 'Jobs', body }));
    });
    mountJob(app, deps);
  },
};
