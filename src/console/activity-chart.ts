/**
 * The overview's chart of the last hour, drawn on the server as an SVG (no chart script): per minute,
 * a bar of jobs that settled (succeeded below, dead stacked on top) and a bar of attempts that failed.
 * The same numbers follow as a table, so the picture is never the only way to read them.
 */
import { html, raw } from 'hono/html';
import type { JobActivity } from '../store/job-store.js';
import { time, type Html } from './layout.js';

const WIDTH = 760;
const HEIGHT = 180;
const PAD = { left: 36, right: 8, top: 10, bottom: 24 };
export const CHART_COLOURS = { succeeded: '#2e7d32', dead: '#c62828', failed: '#ef8f00' } as const;

export function activityChart(activity: JobActivity): Html {
  const { buckets } = activity;
  const totals = buckets.reduce(
    (sum, b) => ({ succeeded: sum.succeeded + b.succeeded, dead: sum.dead + b.dead, failed: sum.failed + b.failed }),
    { succeeded: 0, dead: 0, failed: 0 },
  );
  const max = Math.max(1, ...buckets.map((b) => Math.max(b.succeeded + b.dead, b.failed)));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / buckets.length;
  const bar = Math.max(1, slot / 2 - 1);
  const y = (n: number) => (n / max) * plotH;
  const rects: string[] = [];
  buckets.forEach((b, i) => {
    const x = PAD.left + i * slot;
    const base = PAD.top + plotH;
    if (b.succeeded > 0)
      rects.push(
        `<rect x="${x.toFixed(1)}" y="${(base - y(b.succeeded)).toFixed(1)}" width="${bar.toFixed(1)}" height="${y(b.succeeded).toFixed(1)}" fill="${CHART_COLOURS.succeeded}"/>`,
      );
    if (b.dead > 0)
      rects.push(
        `<rect x="${x.toFixed(1)}" y="${(base - y(b.succeeded + b.dead)).toFixed(1)}" width="${bar.toFixed(1)}" height="${y(b.dead).toFixed(1)}" fill="${CHART_COLOURS.dead}"/>`,
      );
    if (b.failed > 0)
      rects.push(
        `<rect x="${(x + bar + 1).toFixed(1)}" y="${(base - y(b.failed)).toFixed(1)}" width="${bar.toFixed(1)}" height="${y(b.failed).toFixed(1)}" fill="${CHART_COLOURS.failed}"/>`,
      );
  });
  const axis = [
    `<line x1="${PAD.left}" y1="${PAD.top + plotH}" x2="${WIDTH - PAD.right}" y2="${PAD.top + plotH}" stroke="#888"/>`,
    `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${PAD.top + plotH}" stroke="#888"/>`,
    `<text x="${PAD.left - 4}" y="${PAD.top + 8}" text-anchor="end" font-size="10" fill="currentColor">${max}</text>`,
    `<text x="${PAD.left - 4}" y="${PAD.top + plotH}" text-anchor="end" font-size="10" fill="currentColor">0</text>`,
    `<text x="${PAD.left}" y="${HEIGHT - 6}" font-size="10" fill="currentColor">60 min ago</text>`,
    `<text x="${PAD.left + plotW / 2}" y="${HEIGHT - 6}" font-size="10" text-anchor="middle" fill="currentColor">30 min ago</text>`,
    `<text x="${WIDTH - PAD.right}" y="${HEIGHT - 6}" font-size="10" text-anchor="end" fill="currentColor">now</text>`,
  ];
  const summary = `Last hour: ${totals.succeeded} succeeded, ${totals.dead} dead, ${totals.failed} failed attempts`;
  const busy = buckets.filter((b) => b.succeeded + b.dead + b.failed > 0);
  return html`<figure class="chart">
    <svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${summary}" focusable="false">${raw(axis.join('') + rects.join(''))}</svg>
    <figcaption class="chart-legend">
      <span><span class="swatch swatch-succeeded"></span>succeeded ${totals.succeeded}</span>
      <span><span class="swatch swatch-dead"></span>dead ${totals.dead}</span>
      <span><span class="swatch swatch-failed"></span>failed attempts ${totals.failed}</span>
    </figcaption>
  </figure>
  <details>
    <summary>The numbers, minute by minute (${busy.length} minute(s) with activity)</summary>
    <table>
      <thead><tr><th scope="col">minute from</th><th scope="col" class="num">succeeded</th><th scope="col" class="num">dead</th><th scope="col" class="num">failed attempts</th></tr></thead>
      <tbody>
        ${busy.map((b) => html`<tr><td>${time(b.start)}</td><td class="num">${b.succeeded}</td><td class="num">${b.dead}</td><td class="num">${b.failed}</td></tr>`)}
      </tbody>
    </table>
  </details>`;
}
