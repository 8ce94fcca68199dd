/**
 * The console's static files, all served by this process (it works offline; no CDN): Pico CSS read
 * from its npm package in node_modules once, and the console's own few rules and its one small script,
 * kept here as text so the built package carries them without a copy step.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface Asset {
  type: string;
  body: string;
}

/** Spacing, state colours (each with its word), the chart and the machine picture. */
const CONSOLE_CSS = `
.skip { position: absolute; left: -10000px; }
.skip:focus { left: 1rem; top: 1rem; z-index: 10; background: var(--pico-background-color); padding: .5rem; }
form.inline { display: inline; margin: 0; }
form.inline button { margin: 0; padding: .25rem .75rem; width: auto; }
.muted { color: var(--pico-muted-color); }
.badge { border: 1px solid var(--pico-muted-border-color); border-radius: .25rem; padding: .1rem .4rem; font-size: .8rem; }
.state { border-radius: .25rem; padding: .1rem .45rem; font-size: .85rem; font-weight: 600; color: #111; background: #e0e0e0; white-space: nowrap; }
.state-succeeded { background: #bfe8c6; }
.state-dead { background: #f6c1c1; }
.state-running { background: #c6dcf7; }
.state-backoff { background: #fbe2b0; }
.state-cancelled { background: #dcdcdc; }
.state-pending { background: #eeeeee; }
.notice { padding: .75rem 1rem; border-radius: .25rem; border-left: .3rem solid #2e7d32; background: #eef7ee; color: #111; }
.notice.error { border-left-color: #b71c1c; background: #fbeaea; }
.actions { display: flex; gap: .75rem; flex-wrap: wrap; align-items: center; }
.actions form { margin: 0; }
.actions button, .actions a[role=button] { margin: 0; width: auto; }
.filters { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); gap: 0 1rem; align-items: end; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); gap: 1rem; }
.cards article { margin: 0; }
.num { font-variant-numeric: tabular-nums; text-align: right; }
table code { font-size: .8rem; }
.cards code { word-break: break-all; }
.timeline { list-style: none; padding-left: 0; border-left: .2rem solid var(--pico-muted-border-color); }
.timeline li { list-style: none; margin: 0 0 1rem 0; padding-left: 1rem; position: relative; }
.timeline li::before { content: ''; position: absolute; left: -.55rem; top: .35rem; width: .9rem; height: .9rem; border-radius: 50%; background: #9e9e9e; }
.timeline li.failed::before { background: #c62828; }
.timeline li.ok::before { background: #2e7d32; }
.timeline li.now::before { background: #1565c0; }
figure.machine svg, figure.chart svg { max-width: 100%; height: auto; }
.chart-legend span { margin-right: 1rem; }
.swatch-succeeded { background: #2e7d32; }
.swatch-dead { background: #c62828; }
.swatch-failed { background: #ef8f00; }
.swatch { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; vertical-align: middle; }
pre { white-space: pre-wrap; word-break: break-word; }
`;

/** Reloads a page whose `<main>` has `data-refresh-ms` (no meta refresh: it is an accessibility failure). */
const CONSOLE_JS = `document.addEventListener('DOMContentLoaded', () => {
  const main = document.querySelector('main[data-refresh-ms]');
  if (!main) return;
  const ms = Number(main.getAttribute('data-refresh-ms'));
  if (ms > 0) setTimeout(() => location.reload(), ms);
});
`;

let pico: string | undefined;

/** The asset at `/assets/<name>`, or undefined. */
export function asset(name: string): Asset | undefined {
  if (name === 'pico.min.css') {
    pico ??= readFileSync(require.resolve('@picocss/pico/css/pico.min.css'), 'utf8');
    return { type: 'text/css; charset=utf-8', body: pico };
  }
  if (name === 'console.css') return { type: 'text/css; charset=utf-8', body: CONSOLE_CSS };
  if (name === 'console.js') return { type: 'text/javascript; charset=utf-8', body: CONSOLE_JS };
  return undefined;
}
