/**
 * The few CalDAV requests the jobs make, on top of tsdav's request builder (`davRequest`, which writes
 * and parses the XML). Each returns plain data; HTTP status handling stays with the caller.
 */
import { davRequest, type DAVResponse } from 'tsdav';
import type { CalDavAccount } from './accounts.js';
import type { Fetch } from './http.js';

/** Absolute URL of a calendar collection, with its trailing slash. */
export function calendarUrl(account: CalDavAccount, calendar: string): string {
  const path = calendar.endsWith('/') ? calendar : `${calendar}/`;
  return new URL(path, account.serverUrl).href;
}

/** Absolute URL of the object that holds the event `uid`. */
export function eventUrl(account: CalDavAccount, calendar: string, uid: string): string {
  return new URL(`${encodeURIComponent(uid)}.ics`, calendarUrl(account, calendar)).href;
}

export interface DavItem {
  href: string;
  status: number;
  etag: string | undefined;
  data: string | undefined;
}

export interface MultiStatus {
  /** The HTTP status of the request itself (207 when the server answered per item). */
  status: number;
  /** The response body when it was not a multistatus (error documents, plain text). */
  body: string | undefined;
  items: DavItem[];
  /** `<sync-token>` of a sync-collection answer. */
  syncToken: string | undefined;
}

function asText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'object') {
    const text = (value as { _text?: unknown; _cdata?: unknown })._text ?? (value as { _cdata?: unknown })._cdata;
    return text === undefined ? undefined : String(text);
  }
  return String(value);
}

function toMultiStatus(responses: DAVResponse[]): MultiStatus {
  const first = responses[0];
  const raw = first?.raw as { multistatus?: { syncToken?: unknown } } | string | undefined;
  const multistatus = typeof raw === 'object' && raw !== null ? raw.multistatus : undefined;
  if (multistatus === undefined) {
    return { status: first?.status ?? 0, body: typeof raw === 'string' ? raw : undefined, items: [], syncToken: undefined };
  }
  const items: DavItem[] = [];
  for (const response of responses) {
    if (response.href === undefined) continue;
    const props = (response.props ?? {}) as Record<string, unknown>;
    items.push({
      href: String(response.href),
      status: response.status ?? 0,
      etag: asText(props.getetag),
      data: asText(props.calendarData),
    });
  }
  return { status: 207, body: undefined, items, syncToken: asText(multistatus.syncToken) };
}

/** REPORT calendar-multiget (RFC 4791 §7.9): ETag and calendar data of the given hrefs. */
export async function calendarMultiGet(fetch: Fetch, url: string, hrefs: readonly string[]): Promise<MultiStatus> {
  const responses = await davRequest({
    url,
    init: {
      method: 'REPORT',
      namespace: 'c',
      headers: { depth: '1' },
      body: {
        'calendar-multiget': {
          _attributes: { 'xmlns:d': 'DAV:', 'xmlns:c': 'urn:ietf:params:xml:ns:caldav' },
          'd:prop': { 'd:getetag': {}, 'c:calendar-data': {} },
          'd:href': [...hrefs],
        },
      },
    },
    fetch,
  });
  return toMultiStatus(responses);
}

/**
 * REPORT sync-collection (RFC 6578): with `syncToken` undefined, an initial (full) sync. Items with status
 * 404 were deleted since the token; the others changed (with their ETag).
 */
export async function syncCollection(fetch: Fetch, url: string, syncToken: string | undefined): Promise<MultiStatus> {
  const responses = await davRequest({
    url,
    init: {
      method: 'REPORT',
      namespace: 'd',
      headers: { depth: '1' },
      body: {
        'sync-collection': {
          _attributes: { 'xmlns:d': 'DAV:' },
          'sync-token': syncToken ?? '',
          'sync-level': 1,
          prop: { getetag: {} },
        },
      },
    },
    fetch,
  });
  return toMultiStatus(responses);
}

/**
 * The calendar's own zone, for floating times: `calendar-timezone-id` (RFC 7809), else the TZID of the
 * `calendar-timezone` VTIMEZONE (RFC 4791 §5.2.2). `undefined` when the server has none or will not say.
 */
export async function calendarTimeZone(fetch: Fetch, url: string): Promise<string | undefined> {
  const responses = await davRequest({
    url,
    init: {
      method: 'PROPFIND',
      namespace: 'd',
      headers: { depth: '0' },
      body: {
        propfind: {
          _attributes: { 'xmlns:d': 'DAV:', 'xmlns:c': 'urn:ietf:params:xml:ns:caldav' },
          prop: { 'c:calendar-timezone': {}, 'c:calendar-timezone-id': {} },
        },
      },
    },
    fetch,
  });
  const props = (responses.find((response) => response.ok && response.props !== undefined)?.props ?? {}) as Record<string, unknown>;
  const id = asText(props.calendarTimezoneId)?.trim();
  if (id !== undefined && id.length > 0) return id;
  const vtimezone = asText(props.calendarTimezone);
  const tzid = vtimezone === undefined ? undefined : /^TZID:(.+)$/m.exec(vtimezone.replace(/\r?\n[ \t]/g, ''))?.[1]?.trim();
  return tzid === undefined || tzid.length === 0 ? undefined : tzid;
}
