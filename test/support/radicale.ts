/**
 * A throwaway Radicale (CalDAV) server for tests: its own temporary folder, config, htpasswd file and
 * storage, on 127.0.0.1 and a free port. `stop()` ends it by PID and removes the folder.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { propfind } from 'tsdav';
import { buildCalendarIcs, buildEventIcs } from '../../src/jobs/calendar/ical.js';
import type { CalendarEvent } from '../../src/jobs/calendar/schemas.js';
import { freePort, spawnPeer, waitFor } from './process.js';

export const RADICALE_BIN = process.env.CALSYNC_RADICALE_BIN ?? '/usr/bin/radicale';

export interface RadicaleOptions {
  /** `name → password`, written as a plain htpasswd file. */
  users: Record<string, string>;
}

export interface RadicaleServer {
  /** `http://127.0.0.1:PORT/` (with the trailing slash). */
  readonly url: string;
  readonly pid: number;
  readonly storageDir: string;
  /** Collected output of the server, for failure messages. */
  output(): string;
  /** Stops the server by PID and removes its folder. Idempotent. */
  stop(): Promise<void>;
}

/** Starts Radicale as STACK.md describes; fails with one line naming the package when it is missing. */
export async function startRadicale(options: RadicaleOptions): Promise<RadicaleServer> {
  if (!existsSync(RADICALE_BIN))
    throw new Error(
      `radicale is not installed: apt-get install radicale (or scripts/peers/radicale.sh install); looked for ${RADICALE_BIN}`,
    );
  // On tmpfs Radicale's fsync per item is free: seeding 1,000 events in one PUT takes ~20 s on disk.
  const base = process.env.CALSYNC_RADICALE_TMPDIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
  const dir = await mkdtemp(join(base, 'calsync-radicale-'));
  const storageDir = join(dir, 'collections');
  const htpasswd = join(dir, 'users');
  const config = join(dir, 'config');
  const port = await freePort();
  await writeFile(
    htpasswd,
    Object.entries(options.users)
      .map(([name, password]) => `${name}:${password}\n`)
      .join(''),
    { mode: 0o600 },
  );
  await writeFile(
    config,
    [
      '[server]',
      `hosts = 127.0.0.1:${port}`,
      '[auth]',
      'type = htpasswd',
      `htpasswd_filename = ${htpasswd}`,
      'htpasswd_encryption = plain',
      'delay = 0',
      '[storage]',
      'type = multifilesystem',
      `filesystem_folder = ${storageDir}`,
      '[logging]',
      'level = warning',
      '',
    ].join('\n'),
  );
  const peer = spawnPeer('radicale', RADICALE_BIN, ['-C', config]);
  const url = `http://127.0.0.1:${port}/`;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await peer.stop();
      await rm(dir, { recursive: true, force: true });
    })());
  try {
    await waitFor(
      'radicale to answer',
      async () => {
        if (peer.child.exitCode !== null) throw new Error(`radicale exited with ${peer.child.exitCode}: ${peer.output()}`);
        const response = await fetch(url, { method: 'OPTIONS' });
        await response.arrayBuffer();
        return response.status < 500;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, pid: peer.pid, storageDir, output: () => peer.output(), stop };
}

/** Test-side CalDAV access for one user: seeding, listing and editing objects behind the jobs' backs. */
export interface RadicaleUser {
  readonly user: string;
  /** `http://127.0.0.1:PORT/<user>/`: the `serverUrl` of the user's account. */
  readonly homeUrl: string;
  /** Creates (or replaces) the calendar `name` with all `events` in ONE whole-collection PUT. */
  uploadCalendar(name: string, events: readonly CalendarEvent[]): Promise<void>;
  /** href → ETag (with quotes) of every object in the calendar. */
  list(name: string): Promise<Map<string, string>>;
  /** The object's iCalendar text and ETag, or `undefined` on 404. */
  get(href: string): Promise<{ ics: string; etag: string } | undefined>;
  /** Unconditional PUT of one event as `<uid>.ics`. */
  put(name: string, event: CalendarEvent): Promise<void>;
  /** Unconditional DELETE of an href. */
  remove(href: string): Promise<void>;
  /** Unconditional PUT of an iCalendar text as it is (another app's object) to `<calendar>/<filename>`. */
  putText(name: string, filename: string, ics: string): Promise<void>;
  /** Sets the calendar's `calendar-timezone` (RFC 4791 §5.2.2) to a VTIMEZONE with this TZID (PROPPATCH). */
  setCalendarTimeZone(name: string, tzid: string): Promise<void>;
}

export function radicaleUser(server: RadicaleServer, user: string, password: string): RadicaleUser {
  const authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const homeUrl = new URL(`${user}/`, server.url).href;
  const stamp = new Date('2026-01-01T00:00:00Z');
  const call = async (url: string, init: RequestInit, ok: (status: number) => boolean): Promise<Response> => {
    const response = await fetch(url, { ...init, headers: { authorization, ...(init.headers as Record<string, string> | undefined) } });
    if (!ok(response.status)) throw new Error(`${init.method ?? 'GET'} ${url}: HTTP ${response.status} ${await response.text()}`);
    return response;
  };
  return {
    user,
    homeUrl,
    async uploadCalendar(name, events) {
      const response = await call(
        new URL(`${name}/`, homeUrl).href,
        { method: 'PUT', headers: { 'content-type': 'text/calendar; charset=utf-8' }, body: buildCalendarIcs(events, stamp) },
        (status) => status === 201 || status === 204,
      );
      await response.arrayBuffer();
    },
    async list(name) {
      const responses = await propfind({
        url: new URL(`${name}/`, homeUrl).href,
        props: { 'd:getetag': {} },
        depth: '1',
        headers: { authorization },
      });
      const objects = new Map<string, string>();
      for (const response of responses) {
        const href = response.href === undefined ? undefined : String(response.href);
        if (href === undefined || href.endsWith('/')) continue;
        const etag = (response.props as { getetag?: unknown } | undefined)?.getetag;
        objects.set(href, String(etag));
      }
      return objects;
    },
    async get(href) {
      const response = await call(new URL(href, server.url).href, { method: 'GET' }, (status) => status === 200 || status === 404);
      const ics = await response.text();
      if (response.status === 404) return undefined;
      return { ics, etag: response.headers.get('etag') ?? '' };
    },
    async put(name, event) {
      const response = await call(
        new URL(`${name}/${encodeURIComponent(event.uid)}.ics`, homeUrl).href,
        { method: 'PUT', headers: { 'content-type': 'text/calendar; charset=utf-8' }, body: buildEventIcs(event, stamp) },
        (status) => status === 201 || status === 204,
      );
      await response.arrayBuffer();
    },
    async remove(href) {
      const response = await call(new URL(href, server.url).href, { method: 'DELETE' }, (status) => status === 200 || status === 204);
      await response.arrayBuffer();
    },
    async putText(name, filename, ics) {
      const response = await call(
        new URL(`${name}/${encodeURIComponent(filename)}`, homeUrl).href,
        { method: 'PUT', headers: { 'content-type': 'text/calendar; charset=utf-8' }, body: ics },
        (status) => status === 201 || status === 204,
      );
      await response.arrayBuffer();
    },
    async setCalendarTimeZone(name, tzid) {
      const vtimezone = [
        'BEGIN:VCALENDAR',
        'VERSION:2.0',
        'PRODID:-//test//EN',
        'BEGIN:VTIMEZONE',
        `TZID:${tzid}`,
        'END:VTIMEZONE',
        'END:VCALENDAR',
        '',
      ].join('\r\n');
      const body =
        '<?xml version="1.0" encoding="utf-8"?><d:propertyupdate xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">' +
        `<d:set><d:prop><c:calendar-timezone>${vtimezone}</c:calendar-timezone></d:prop></d:set></d:propertyupdate>`;
      const response = await call(
        new URL(`${name}/`, homeUrl).href,
        { method: 'PROPPATCH', headers: { 'content-type': 'application/xml; charset=utf-8' }, body },
        (status) => status === 207,
      );
      await response.arrayBuffer();
    },
  };
}
