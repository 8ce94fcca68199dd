/**
 * The page every console route answers with: Pico CSS (served from node_modules, assets.ts), a skip
 * link, the navigation, the page's own content in `<main>`, and the tiny script that reloads a page
 * that is watching something (`data-refresh-ms` on `<main>`). Templates are hono/html tagged
 * templates: every interpolated value is escaped unless wrapped in `raw`.
 */
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { Actor } from './access.js';

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** One entry of the navigation. A feature that is not there (schedules without that store) has none. */
export interface NavEntry {
  href: string;
  label: string;
}

export interface PageContext {
  nav: readonly NavEntry[];
  actor: Actor | undefined;
  /** Whether the sign-out button shows (a session exists). */
  signedIn: boolean;
  csrf: string;
  readonly: boolean;
  /** The request's path, to mark the current navigation entry. */
  path: string;
}

export interface PageOptions {
  title: string;
  body: Html;
  /** Reload the page this often (a redrive in progress, a job still running). */
  refreshMs?: number | undefined;
}

const current = (entry: NavEntry, path: string): boolean =>
  entry.href === '/' ? path === '/' : path === entry.href || path.startsWith(`${entry.href}/`);

/** A hidden CSRF field for a form that POSTs. */
export const csrfField = (ctx: PageContext): Html => html`<input type="hidden" name="_csrf" value="${ctx.csrf}" />`;

export function page(ctx: PageContext, options: PageOptions): Html {
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${options.title} · calsync-jobs console</title>
    <link rel="stylesheet" href="/assets/pico.min.css" />
    <link rel="stylesheet" href="/assets/console.css" />
    <script src="/assets/console.js" defer></script>
  </head>
  <body>
    <a class="skip" href="#content">Skip to content</a>
    <header class="container">
      <nav aria-label="Main">
        <ul>
          <li><strong>calsync-jobs</strong></li>
        </ul>
        <ul>
          ${ctx.nav.map(
            (entry) =>
              html`<li><a href="${entry.href}" ${current(entry, ctx.path) ? html`aria-current="page"` : ''}>${entry.label}</a></li>`,
          )}
          ${ctx.readonly ? html`<li><span class="badge" title="CALSYNC_CONSOLE_READONLY=true">read-only</span></li>` : ''}
          ${
            ctx.signedIn
              ? html`<li>
                  <form method="post" action="/logout" class="inline">
                    ${csrfField(ctx)}<button type="submit" class="secondary outline">Sign out ${ctx.actor?.name ?? ''}</button>
                  </form>
                </li>`
              : ''
          }
        </ul>
      </nav>
    </header>
    <main id="content" class="container" tabindex="-1" ${options.refreshMs ? html`data-refresh-ms="${options.refreshMs}"` : ''}>
      <h1>${options.title}</h1>
      ${options.body}
    </main>
  </body>
</html>`;
}

/** A notice at the top of a page (`role="status"`, read out when it appears). */
export const notice = (text: string | undefined, kind: 'ok' | 'error' = 'ok'): Html =>
  text ? html`<p class="notice ${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${text}</p>` : html``;

/** An ISO time in a `<time>` element, shown as `2026-12-01 14:03:05 UTC`. */
export function time(ms: number | string | null | undefined): Html {
  if (ms === null || ms === undefined) return html`<span class="muted">–</span>`;
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return html`${String(ms)}`;
  const iso = date.toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')} UTC</time>`;
}

/** A job state as a coloured badge (the word is always there: colour is never the only signal). */
export const stateBadge = (state: string): Html => html`<span class="state state-${state}">${state}</span>`;

/** A page for a status other than 200: 400 names the field, 403 says why, 404 what is missing. */
export function problemPage(ctx: PageContext, title: string, message: string): Html {
  return page(ctx, { title, body: html`<p role="alert">${message}</p><p><a href="/">Back to the overview</a></p>` });
}
