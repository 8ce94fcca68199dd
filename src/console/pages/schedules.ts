/**
 * Schedules (docs/schedules.md), when the job store holds them: the list (id, job type, spec, paused,
 * next run), one schedule (its spec, next 5 runs, last 10 runs linked to their jobs) and pause, resume
 * and trigger, each confirmed on a page of its own and logged with who did it. Everything goes through
 * src/ops/schedules.ts (`createSchedules`): the console computes no timing of its own. A schedule's
 * payload is kept as given (not redacted), so it is not shown: its runs' jobs show their stored, redacted one.
 */
import { html } from 'hono/html';
import { z } from 'zod';
import { createSchedules, type ScheduleView, type Schedules } from '../../ops/schedules.js';
import { audit, type ConsoleDeps, type ConsoleSection } from '../context.js';
import { NotFound, parseInput, queryObject } from '../input.js';
import { csrfField, notice, page, stateBadge, time, type Html, type PageContext } from '../layout.js';

const LIST_LIMIT = 1000;
const scheduleId = z.string().min(1).max(200);
const ACTIONS = ['pause', 'resume', 'trigger'] as const;
type Action = (typeof ACTIONS)[number];

/** What an action's redirect says on the schedule page (`?done=`): fixed texts, nothing echoed from the URL. */
const DONE = {
  paused: 'Paused: no tick fires until it is resumed.',
  resumed: 'Resumed: it ticks from now on (ticks missed while paused are not caught up).',
  triggered: 'Triggered: its job was sent now (see the latest run below).',
} as const;
const scheduleQuery = z.object({ done: z.enum(Object.keys(DONE) as [keyof typeof DONE]).optional() }).strict();

const duration = (ms: number): string => {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['min', 60_000],
    ['s', 1000],
  ] as const)
    if (ms >= size && ms % size === 0) return `${ms / size} ${unit}`;
  return `${ms} ms`;
};

/** The timing in one line: `every 5 min` or `cron 0 * * * * (Europe/Paris)`. */
export function specText(schedule: ScheduleView): string {
  const timing =
    schedule.everyMs !== null
      ? `every ${duration(schedule.everyMs)}`
      : `cron ${schedule.cron ?? ''}${schedule.timezone ? ` (${schedule.timezone})` : ''}`;
  return `${timing}${schedule.jitterMs > 0 ? `, jitter ${duration(schedule.jitterMs)}` : ''}, overlap ${schedule.overlap}`;
}

function schedulesFor(deps: ConsoleDeps): Schedules {
  return createSchedules({ store: deps.store, queue: deps.producer, clock: deps.clock });
}

async function findSchedule(schedules: Schedules, raw: string) {
  const id = parseInput(scheduleId, raw, 'id');
  const schedule = await schedules.show(id);
  if (!schedule) throw new NotFound(`No schedule ${id} in the job store.`);
  return schedule;
}

/** The actions this schedule offers now: pause or resume, and trigger (when the console has a producer). */
function available(deps: ConsoleDeps, schedule: ScheduleView): Action[] {
  return [schedule.paused ? 'resume' : 'pause', ...(deps.producer ? (['trigger'] as const) : [])];
}

const LABEL: Record<Action, string> = { pause: 'Pause…', resume: 'Resume…', trigger: 'Trigger now…' };

function actionButtons(ctx: PageContext, deps: ConsoleDeps, schedule: ScheduleView): Html {
  if (ctx.readonly) return html``;
  const id = encodeURIComponent(schedule.id);
  return html`<div class="actions" aria-label="Actions">
    ${available(deps, schedule).map(
      (action) =>
        html`<a role="button" ${action === 'trigger' ? '' : html`class="secondary"`} href="/schedules/${id}/${action}">${LABEL[action]}</a>`,
    )}
  </div>`;
}

function confirmPage(ctx: PageContext, schedule: ScheduleView, action: Action): Html {
  const what = {
    pause: 'No tick fires while it is paused; a job already sent runs on.',
    resume: 'It ticks from now on: ticks missed while it was paused are not caught up.',
    trigger: `Its job (${schedule.job.type}) is sent now, whatever its overlap policy says; its ticks go on as before.`,
  }[action];
  const verb = { pause: 'Pause', resume: 'Resume', trigger: 'Trigger' }[action];
  return page(ctx, {
    title: `${verb} schedule ${schedule.id}?`,
    body: html`<p><strong>${schedule.job.type}</strong>, ${specText(schedule)}. ${what}</p>
      <form method="post" action="/schedules/${encodeURIComponent(schedule.id)}/${action}" class="actions">
        ${csrfField(ctx)}
        <button type="submit">Yes, ${verb.toLowerCase()} it</button>
        <a href="/schedules/${encodeURIComponent(schedule.id)}" role="button" class="secondary outline">No, back to the schedule</a>
      </form>`,
  });
}

const pausedCell = (schedule: ScheduleView): Html =>
  schedule.paused ? html`<span class="state state-cancelled">paused</span>` : html`<span class="muted">no</span>`;

export const schedulesSection: ConsoleSection = {
  nav: { href: '/schedules', label: 'Schedules' },
  mount(app, deps) {
    app.get('/schedules', async (c) => {
      parseInput(z.object({}).strict(), queryObject(c.req.url), 'query');
      const list = await schedulesFor(deps).list({ limit: LIST_LIMIT });
      const body = html`
        <p role="status">${list.length} schedule(s)${list.length >= LIST_LIMIT ? ` (the first ${LIST_LIMIT})` : ''}.</p>
        ${
          list.length === 0
            ? html`<p>None yet: <code>calsync-jobs schedules set</code> creates one.</p>`
            : html`<div class="overflow-auto"><table>
              <thead><tr><th scope="col">schedule</th><th scope="col">job type</th><th scope="col">spec</th><th scope="col">paused</th><th scope="col">next run</th><th scope="col" class="num">fired</th></tr></thead>
              <tbody>
                ${list.map(
                  (schedule) => html`<tr>
                    <td><a href="/schedules/${encodeURIComponent(schedule.id)}"><code>${schedule.id}</code></a></td>
                    <td>${schedule.job.type}</td>
                    <td>${specText(schedule)}</td>
                    <td>${pausedCell(schedule)}</td>
                    <td>${schedule.paused ? html`<span class="muted">paused</span>` : time(schedule.nextRunAt)}</td>
                    <td class="num">${schedule.firedTotal}</td>
                  </tr>`,
                )}
              </tbody>
            </table></div>`
        }`;
      return c.html(page(c.get('page'), { title: 'Schedules', body }));
    });

    app.get('/schedules/:id', async (c) => {
      const { done } = parseInput(scheduleQuery, queryObject(c.req.url), 'query');
      const schedule = await findSchedule(schedulesFor(deps), c.req.param('id'));
      const ctx = c.get('page');
      const body = html`
        ${notice(done ? DONE[done] : undefined)}
        ${actionButtons(ctx, deps, schedule)}
        <table><tbody>
          <tr><th scope="row">job type</th><td>${schedule.job.type}</td></tr>
          <tr><th scope="row">spec</th><td id="schedule-spec">${specText(schedule)}</td></tr>
          <tr><th scope="row">paused</th><td id="schedule-paused">${schedule.paused ? 'yes' : 'no'}</td></tr>
          <tr><th scope="row">catch-up window</th><td>${duration(schedule.catchupWindowMs)}</td></tr>
          <tr><th scope="row">starts</th><td>${time(schedule.startAt)}</td></tr>
          <tr><th scope="row">ends</th><td>${time(schedule.endAt)}</td></tr>
          <tr><th scope="row">fired / skipped</th><td>${schedule.firedTotal} / ${schedule.skippedTotal}</td></tr>
          ${schedule.bufferedTickAt ? html`<tr><th scope="row">buffered tick</th><td>${time(schedule.bufferedTickAt)}</td></tr>` : ''}
          <tr><th scope="row">created</th><td>${time(schedule.createdAt)}</td></tr>
          <tr><th scope="row">updated</th><td>${time(schedule.updatedAt)}</td></tr>
        </tbody></table>
        <section aria-labelledby="upcoming-heading">
          <h2 id="upcoming-heading">Next runs</h2>
          ${
            schedule.paused
              ? html`<p class="muted">None while it is paused (resume it to tick from then on).</p>`
              : schedule.upcoming.length === 0
                ? html`<p class="muted">None: the schedule has ended.</p>`
                : html`<ol aria-labelledby="upcoming-heading" id="upcoming">${schedule.upcoming.map((at) => html`<li>${time(at)}</li>`)}</ol>`
          }
        </section>
        <section aria-labelledby="runs-heading">
          <h2 id="runs-heading">Last runs</h2>
          ${
            schedule.runs.length === 0
              ? html`<p class="muted">None yet.</p>`
              : html`<div class="overflow-auto"><table aria-labelledby="runs-heading">
                <thead><tr><th scope="col">fired</th><th scope="col">tick</th><th scope="col">how</th><th scope="col">job</th><th scope="col">state</th></tr></thead>
                <tbody>
                  ${schedule.runs.map(
                    (run) => html`<tr>
                      <td>${time(run.firedAt)}</td>
                      <td>${time(run.tickAt)}</td>
                      <td>${run.kind}</td>
                      <td><a href="/jobs/${encodeURIComponent(run.jobId)}"><code>${run.jobId}</code></a></td>
                      <td>${run.state ? stateBadge(run.state) : html`<span class="muted">not in the store</span>`}</td>
                    </tr>`,
                  )}
                </tbody>
              </table></div>`
          }
        </section>
        <p><a href="/schedules">Back to the schedules</a></p>`;
      return c.html(page(ctx, { title: `Schedule ${schedule.id}`, body }));
    });

    for (const action of ACTIONS) {
      app.get(`/schedules/:id/${action}`, async (c) => {
        parseInput(z.object({}).strict(), queryObject(c.req.url), 'query');
        const ctx = c.get('page');
        if (ctx.readonly) return c.html(page(ctx, { title: 'Read-only', body: html`<p role="alert">This console is read-only.</p>` }), 403);
        const schedule = await findSchedule(schedulesFor(deps), c.req.param('id'));
        if (!available(deps, schedule).includes(action)) return c.html(notNow(ctx, schedule, action), 409);
        return c.html(confirmPage(ctx, schedule, action));
      });

      app.post(`/schedules/:id/${action}`, async (c) => {
        const id = parseInput(scheduleId, c.req.param('id'), 'id');
        parseInput(z.object({ _csrf: z.string() }).strict(), await c.req.parseBody(), 'form');
        const schedules = schedulesFor(deps);
        const actor = c.get('actor');
        if (action === 'trigger') {
          if (!deps.producer) return c.html(notNow(c.get('page'), await findSchedule(schedules, id), action), 409);
          const result = await schedules.trigger(id);
          audit(deps, actor, 'schedule.trigger', { scheduleId: id, result: result ? 'triggered' : 'not_found', jobId: result?.jobId });
          if (!result) throw new NotFound(`No schedule ${id} in the job store.`);
          return c.redirect(`/schedules/${encodeURIComponent(id)}?done=triggered`, 303);
        }
        const found = action === 'pause' ? await schedules.pause(id) : await schedules.resume(id);
        audit(deps, actor, `schedule.${action}`, {
          scheduleId: id,
          result: found ? (action === 'pause' ? 'paused' : 'resumed') : 'not_found',
        });
        if (!found) throw new NotFound(`No schedule ${id} in the job store.`);
        return c.redirect(`/schedules/${encodeURIComponent(id)}?done=${action === 'pause' ? 'paused' : 'resumed'}`, 303);
      });
    }
  },
};

/** 409: pause of a paused schedule, resume of a running one, trigger without a producer. */
function notNow(ctx: PageContext, schedule: ScheduleView, action: Action): Html {
  const why =
    action === 'trigger'
      ? 'this console has no producer to send its job with'
      : schedule.paused
        ? 'it is already paused'
        : 'it is not paused';
  return page(ctx, {
    title: 'Not done',
    body: html`<p role="alert">Schedule ${schedule.id} was not ${action === 'trigger' ? 'triggered' : action === 'pause' ? 'paused' : 'resumed'}: ${why}.</p>
      <p><a href="/schedules/${encodeURIComponent(schedule.id)}">Back to the schedule</a></p>`,
  });
}
