/**
 * Who may use the console and how a browser proves it (docs/console.md, "Access"):
 *
 * - With `CALSYNC_CONSOLE_TOKEN` every page and action needs it: `Authorization: Bearer <token>`, or
 *   the login form, which sets an HttpOnly, SameSite=Strict session cookie signed with a key derived
 *   from the token (changing the token signs everyone out). Sessions last {@link SESSION_MS}.
 * - Without a token (allowed only on loopback, config.ts `loadConsoleSettings`) anyone who can reach
 *   the port may use it.
 * - Every POST from a browser carries a CSRF token: an HMAC of a random per-browser id kept in its own
 *   HttpOnly cookie, checked against the form's `_csrf` field; a cross-site `Origin` is refused too.
 *   A bearer request is not a browser's ambient credential and needs no CSRF token.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';

export const SESSION_COOKIE = 'calsync_console_session';
export const BROWSER_COOKIE = 'calsync_console_browser';
export const SESSION_MS = 12 * 3_600_000;

/** Who is asking, for the audit log: a signed-in name, the bearer token, or nobody on loopback. */
export interface Actor {
  /** `alice (signed in)`, `bearer token`, `anonymous (no token, loopback)`. */
  name: string;
  /** How they proved it. */
  via: 'session' | 'bearer' | 'open';
  /** The browser id the CSRF token is bound to (undefined for a bearer request). */
  browser: string | undefined;
}

const equal = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export class ConsoleAccess {
  readonly #token: string | undefined;
  readonly #key: Buffer;
  readonly #now: () => number;

  /** `now` is the session clock (epoch ms). */
  constructor(token: string | undefined, now: () => number) {
    this.#token = token;
    // A token's key survives a restart (sessions stay valid); without one, a key of this process.
    this.#key = token === undefined ? randomBytes(32) : createHmac('sha256', 'calsync-console').update(token).digest();
    this.#now = now;
  }

  get required(): boolean {
    return this.#token !== undefined;
  }

  #sign(text: string): string {
    return createHmac('sha256', this.#key).update(text).digest('base64url');
  }

  /** The token as typed in the login form or a bearer header. */
  checkToken(candidate: string): boolean {
    return this.#token !== undefined && equal(candidate, this.#token);
  }

  /** The session cookie's value for `name`, valid for {@link SESSION_MS}. */
  session(name: string): string {
    const payload = Buffer.from(JSON.stringify({ n: name, e: this.#now() + SESSION_MS }), 'utf8').toString('base64url');
    return `${payload}.${this.#sign(`session:${payload}`)}`;
  }

  /** The signed-in name, or undefined when the cookie is missing, forged or expired. */
  #sessionName(cookie: string | undefined): string | undefined {
    if (cookie === undefined) return undefined;
    const [payload, signature, ...rest] = cookie.split('.');
    if (payload === undefined || signature === undefined || rest.length > 0 || !equal(signature, this.#sign(`session:${payload}`)))
      return undefined;
    try {
      const { n, e } = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { n?: unknown; e?: unknown };
      return typeof n === 'string' && typeof e === 'number' && e > this.#now() ? n : undefined;
    } catch {
      return undefined;
    }
  }

  /** Who is asking; undefined when a token is required and none was shown. */
  actor(c: Context): Actor | undefined {
    const header = c.req.header('authorization');
    const browser = this.browser(c);
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      return match && this.checkToken(match[1]!) ? { name: 'bearer token', via: 'bearer', browser: undefined } : undefined;
    }
    if (this.#token === undefined) return { name: 'anonymous (no token, loopback)', via: 'open', browser };
    const name = this.#sessionName(getCookie(c, SESSION_COOKIE));
    return name === undefined ? undefined : { name, via: 'session', browser };
  }

  /** This browser's random id, set on its first visit (the CSRF token is bound to it). */
  browser(c: Context): string {
    const known = getCookie(c, BROWSER_COOKIE);
    if (known !== undefined && /^[A-Za-z0-9_-]{22,64}$/.test(known)) return known;
    const id = randomBytes(18).toString('base64url');
    setCookie(c, BROWSER_COOKIE, id, { httpOnly: true, sameSite: 'Strict', path: '/' });
    return id;
  }

  /** The value forms carry in `_csrf`. */
  csrfToken(actor: Actor): string {
    return actor.browser === undefined ? '' : this.#sign(`csrf:${actor.browser}`);
  }

  /** A POST's CSRF check: the form's token matches this browser, and no other site sent it. */
  checkCsrf(c: Context, actor: Actor, formToken: unknown): boolean {
    if (actor.via === 'bearer') return true;
    // `Origin: null` (a privacy setting, a sandboxed frame) proves nothing either way: the token decides.
    const origin = c.req.header('origin');
    if (origin !== undefined && origin !== 'null') {
      const host = c.req.header('host');
      try {
        if (new URL(origin).host !== host) return false;
      } catch {
        return false;
      }
    }
    if (c.req.header('sec-fetch-site') === 'cross-site') return false;
    const known = getCookie(c, BROWSER_COOKIE);
    return typeof formToken === 'string' && known !== undefined && equal(formToken, this.#sign(`csrf:${known}`));
  }

  setSession(c: Context, name: string): void {
    setCookie(c, SESSION_COOKIE, this.session(name), {
      httpOnly: true,
      sameSite: 'Strict',
      path: '/',
      maxAge: SESSION_MS / 1000,
      ...(new URL(c.req.url).protocol === 'https:' ? { secure: true } : {}),
    });
  }

  clearSession(c: Context): void {
    setCookie(c, SESSION_COOKIE, '', { httpOnly: true, sameSite: 'Strict', path: '/', maxAge: 0 });
  }
}
