/**
 * Sign-in when `CALSYNC_CONSOLE_TOKEN` is set: a form asking for a name (written to the log with
 * every action) and the token; the right token sets the session cookie (access.ts) and goes on to
 * the page asked for. A wrong one is logged and answered 401 after a short pause.
 */
import { html } from 'hono/html';
import { z } from 'zod';
import type { ConsoleApp, ConsoleDeps } from '../context.js';
import { parseInput } from '../input.js';
import { notice, page, type PageContext } from '../layout.js';

const FAILED_LOGIN_PAUSE_MS = 500;

/** Where to go after signing in: a path of this console only (never another site). */
const nextPath = z
  .string()
  .max(2000)
  .regex(/^\/(?!\/)[^\\]*$/, 'expected a path of this console')
  .optional()
  .catch(undefined);

const loginForm = z.object({
  name: z.string().trim().min(1, 'expected your name, for the log of actions').max(100),
  token: z.string().min(1, 'expected the console token').max(512),
  next: nextPath,
});

function loginPage(ctx: PageContext, next: string | undefined, message?: string) {
  return page(ctx, {
    title: 'Sign in',
    body: html`${notice(message, 'error')}
      <form method="post" action="/login">
        <label for="login-name">Your name <small class="muted">(written to the log with every action you take)</small></label>
        <input id="login-name" name="name" autocomplete="username" required maxlength="100" />
        <label for="login-token">Console token <small class="muted">(CALSYNC_CONSOLE_TOKEN)</small></label>
        <input id="login-token" name="token" type="password" autocomplete="current-password" required />
        ${next ? html`<input type="hidden" name="next" value="${next}" />` : ''}
        <button type="submit">Sign in</button>
      </form>`,
  });
}

export function mountLogin(app: ConsoleApp, deps: ConsoleDeps, bare: (path: string) => PageContext): void {
  app.get('/login', (c) => {
    if (!deps.access.required) return c.redirect('/', 303);
    const next = nextPath.parse(new URL(c.req.url).searchParams.get('next') ?? undefined);
    return c.html(loginPage(bare('/login'), next));
  });

  app.post('/login', async (c) => {
    if (!deps.access.required) return c.redirect('/', 303);
    const body = await c.req.parseBody();
    const form = parseInput(loginForm, { name: body.name, token: body.token, next: body.next }, 'form');
    if (!deps.access.checkToken(form.token)) {
      deps.logger.warn({ name: form.name }, 'console: sign-in refused (wrong token)');
      await new Promise((resolve) => setTimeout(resolve, FAILED_LOGIN_PAUSE_MS));
      return c.html(loginPage(bare('/login'), form.next, 'That is not the console token.'), 401);
    }
    deps.access.setSession(c, form.name);
    deps.logger.info({ actor: form.name }, 'console: signed in');
    return c.redirect(form.next ?? '/', 303);
  });

  app.post('/logout', (c) => {
    deps.access.clearSession(c);
    return c.redirect(deps.access.required ? '/login' : '/', 303);
  });
}
