/** The overview: each queue's depth, the last hour's activity as a chart, workers seen lately, the store. */
import { html } from 'hono/html';
import { overview } from '../../ops/overview.js';
import { activityChart } from '../activity-chart.js';
import type { ConsoleSection } from '../context.js';
import { page, time } from '../layout.js';

const ms = (n: number | undefined): string => (n === undefined ? '–' : `${n.toFixed(1)} ms`);

export const overviewSection: ConsoleSection = {
  nav: { href: '/', label: 'Overview' },
  mount(app, deps) {
    app.get('/', async (c) => {
      const { queues, store, activity } = await overview({
        transport: deps.queues.transport,
        queues: [
          { role: 'main', name: deps.queues.queueName, url: deps.queues.queueUrl },
          { role: 'dlq', name: deps.queues.dlqName, url: deps.queues.dlqUrl },
        ],
        store: deps.store,
        storeUrl: deps.storeUrl,
      });
      const body = html`
        <section aria-labelledby="queues-heading">
          <h2 id="queues-heading">Queues</h2>
          <table>
            <thead>
              <tr><th scope="col">queue</th><th scope="col" class="num">visible</th><th scope="col" class="num">in flight</th><th scope="col" class="num">delayed</th></tr>
            </thead>
            <tbody>
              ${queues.map(
                (q) => html`<tr>
                  <th scope="row">${q.role === 'dlq' ? html`<a href="/dlq">${q.name}</a> <small class="muted">(dead letters)</small>` : q.name}</th>
                  ${
                    q.depth
                      ? html`<td class="num">${q.depth.visible}</td><td class="num">${q.depth.inFlight}</td><td class="num">${q.depth.delayed}</td>`
                      : html`<td colspan="3" role="alert">did not answer: ${q.error}</td>`
                  }
                </tr>`,
              )}
            </tbody>
          </table>
        </section>
        <section aria-labelledby="activity-heading">
          <h2 id="activity-heading">The last hour</h2>
          ${activity ? activityChart(activity) : html`<p role="alert">The job store did not answer.</p>`}
        </section>
        <div class="cards">
          <article aria-labelledby="workers-heading">
            <h2 id="workers-heading">Workers seen in the last 15 minutes</h2>
            ${
              activity && activity.workers.length > 0
                ? html`<table>
                    <thead><tr><th scope="col">worker</th><th scope="col" class="num">running</th><th scope="col">last seen</th></tr></thead>
                    <tbody>
                      ${activity.workers.map(
                        (w) =>
                          html`<tr><td><code>${w.worker}</code></td><td class="num">${w.running}</td><td>${time(w.lastSeenAt)}</td></tr>`,
                      )}
                    </tbody>
                  </table>`
                : html`<p class="muted">None: no worker claimed or settled a job lately.</p>`
            }
          </article>
          <article aria-labelledby="store-heading">
            <h2 id="store-heading">Job store</h2>
            <p><code>${store.url}</code></p>
            <p>${store.ok ? html`<span class="state state-succeeded">answering</span> ping ${ms(store.pingMs)}` : html`<span class="state state-dead" role="alert">not answering</span> ${store.error}`}</p>
          </article>
        </div>`;
      return c.html(page(c.get('page'), { title: 'Overview', body }));
    });
  },
};
