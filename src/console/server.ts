/**
 * The web console (docs/console.md): a Hono app of server-rendered pages over src/ops/, served by
 * Node's http server (@hono/node-server). In order, every request passes: security headers, the
 * static assets (no sign-in), sign-in (login.ts), who is asking (access.ts), the CSRF check and the
 * read-only refusal of every POST, then the sections' routes. Unknown paths and ids answer 404, bad
 * input 400 naming the field, a store that does not answer 503.
 */
import type { Server } from 'node:http';
import { closeServer, listenOn } from '../api/http.js';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import type { Logger } from 'pino';
import type { JobDefinition } from '../machines/define-job.js';
import type { RedriveQueues } from '../ops/dlq-redrive.js';
import type { EnvelopeSender } from '../ops/jobs.js';
import type { JobQueue } from '../queue/job-queue.js';
import type { JobStore } from '../store/job-store.js';
import { schedulesOf } from '../store/schedule-store.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { ConfigError } from '../shared/errors.js';
import { ConsoleAccess } from './access.js';
import { asset } from './assets.js';
import type { ConsoleDeps, ConsoleEnv, ConsoleSection } from './context.js';
import { BadInput, NotFound } from './input.js';
import { problemPage, type PageContext } from './layout.js';
import { mountLogin } from './pages/login.js';
import { dlqSection } from './pages/dlq.js';
import { jobsSection } from './pages/jobs.js';
import { overviewSection } from './pages/overview.js';
import { schedulesSection } from './pages/schedules.js';
import { RedriveTasks } from './redrive-tasks.js';

export interface ConsoleServerOptions {
  store: JobStore;
  /** Where the store is, password masked (shown on the overview). */
  storeUrl: string;
  queues: RedriveQueues & { dlqName: string };
  sender: EnvelopeSender;
  /** The producer a schedule's trigger enqueues with (a `JobQueue` with the store as its recorder); unset, no trigger. */
  producer?: Pick<JobQueue, 'enqueue'> | undefined;
  jobs: readonly JobDefinition<any, any>[];
  /** Required to sign in; unset, anyone who reaches the port may use it (the CLI allows that on loopback only). */
  token?: string | undefined;
  /** Hide and refuse every action. @defaultValue false */
  readonly?: boolean;
  jaegerUrl?: string | undefined;
  /** Show stored payloads (`CALSYNC_STORE_PAYLOADS`). @defaultValue true */
  showPayloads?: boolean;
  logger: Logger;
  clock?: Clock;
  /** Parts beyond the built-in overview, jobs, dead letters and schedules (the last only when the store holds schedules). */
  sections?: readonly ConsoleSection[];
}

export interface ConsoleServer {
  readonly server: Server;
  /** @defaultValue host 127.0.0.1, port 0 (any free port) */
  listen(options?: { port?: number; host?: string }): Promise<{ url: string; port: number }>;
  /** Stops a redrive in progress, stops accepting connections and closes idle ones. Idempotent. */
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // same-origin, not no-referrer: with no-referrer Chrome sends `Origin: null` on the console's own form posts.
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
} as const;

/** Builds the console; nothing listens until `listen()`. */
export function createConsoleServer(options: ConsoleServerOptions): ConsoleServer {
  const clock = options.clock ?? systemClock;
  const access = new ConsoleAccess(options.token, () => clock.now());
  const deps: ConsoleDeps = {
    store: options.store,
    storeUrl: options.storeUrl,
    queues: options.queues,
    sender: options.sender,
    producer: options.producer,
    jobs: options.jobs,
    readonly: options.readonly ?? false,
    jaegerUrl: options.jaegerUrl,
    showPayloads: options.showPayloads ?? true,
    logger: options.logger,
    clock,
    access,
    redrives: new RedriveTasks(options.queues, options.store, options.logger, () => clock.now()),
  };
  const sections = [
    overviewSection,
    jobsSection,
    dlqSection,
    ...(schedulesOf(options.store) ? [schedulesSection] : []),
    ...(options.sections ?? []),
  ];
  const nav = sections.flatMap((section) => (section.nav ? [section.nav] : []));
  const app = new Hono<ConsoleEnv>();

  const bareContext = (path: string): PageContext => ({
    nav: [],
    actor: undefined,
    signedIn: false,
    csrf: '',
    readonly: deps.readonly,
    path,
  });

  app.use(async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) if (!c.res.headers.has(name)) c.res.headers.set(name, value);
  });

  app.get('/assets/:name', (c) => {
    const found = asset(c.req.param('name'));
    if (!found) return c.text('no such asset', 404);
    return c.body(found.body, 200, { 'content-type': found.type, 'cache-control': 'public, max-age=3600' });
  });

  mountLogin(app, deps, bareContext);

  app.use(async (c, next) => {
    const actor = access.actor(c);
    if (actor === undefined) {
      if (c.req.method === 'GET' && !c.req.header('authorization'))
        return c.redirect(`/login?next=${encodeURIComponent(new URL(c.req.url).pathname + new URL(c.req.url).search)}`, 303);
      return c.html(
        problemPage(
          bareContext(c.req.path),
          'Sign-in required',
          'This console needs CALSYNC_CONSOLE_TOKEN: sign in, or send Authorization: Bearer <token>.',
        ),
        401,
        {
          'www-authenticate': 'Bearer realm="calsync-jobs console"',
        },
      );
    }
    c.set('actor', actor);
    c.set('page', {
      nav,
      actor,
      signedIn: actor.via === 'session',
      csrf: access.csrfToken(actor),
      readonly: deps.readonly,
      path: c.req.path,
    });
    if (c.req.method === 'POST' && c.req.path !== '/logout') {
      const ctx = c.get('page');
      if (deps.readonly) {
        deps.logger.warn({ actor: actor.name, path: c.req.path }, 'console: action refused (read-only)');
        return c.html(problemPage(ctx, 'Read-only', 'This console is read-only (CALSYNC_CONSOLE_READONLY=true): no action is taken.'), 403);
      }
      const form = await c.req.parseBody({ all: true }).catch(() => ({}) as Record<string, unknown>);
      if (!access.checkCsrf(c, actor, (form as Record<string, unknown>)._csrf)) {
        deps.logger.warn({ actor: actor.name, path: c.req.path }, 'console: action refused (CSRF check failed)');
        return c.html(
          problemPage(ctx, 'Refused', 'The form was not this console’s (CSRF check failed): reload the page and try again.'),
          403,
        );
      }
    }
    return await next();
  });

  for (const section of sections) section.mount(app, deps);

  app.notFound((c) => {
    const ctx = c.get('page') ?? bareContext(c.req.path);
    return c.html(problemPage(ctx, 'Not found', `Nothing at ${c.req.path}.`), 404);
  });

  app.onError((error, c) => {
    const ctx = c.get('page') ?? bareContext(c.req.path);
    if (error instanceof BadInput) return c.html(problemPage(ctx, 'Bad request', error.message), 400);
    // The store's own refusal of a parameter (a cursor not from a page).
    if (ConfigError.is(error)) return c.html(problemPage(ctx, 'Bad request', error.message), 400);
    if (error instanceof NotFound) return c.html(problemPage(ctx, 'Not found', error.message), 404);
    deps.logger.error({ err: error, path: c.req.path }, 'console request failed');
    return c.html(problemPage(ctx, 'Unavailable', 'The job store or the queue did not answer; try again.'), 503);
  });

  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  let closing: Promise<void> | undefined;
  return {
    server,
    listen({ port = 0, host = '127.0.0.1' } = {}) {
      return listenOn(server, port, host);
    },
    close() {
      closing ??= (async () => {
        await deps.redrives.stop();
        await closeServer(server);
      })();
      return closing;
    },
  };
}
