/**
 * From a setting to a store, the one way (config/ parses, cli/ opens): `CALSYNC_STORE_URL` or
 * `--store` is `none`, `embedded` (PGlite in this process, embedded.ts) or a `postgres://` URL. Every
 * message that shows a URL masks its password, since start-up errors end up in logs.
 */
import { ConfigError, toError } from '../shared/errors.js';
import { startEmbeddedStore } from './embedded.js';
import type { JobStore } from './job-store.js';
import { PostgresJobStore } from './postgres-store.js';

export type StoreSpec = { kind: 'none' } | { kind: 'embedded'; dir?: string } | { kind: 'postgres'; url: string };

export interface OpenedStore {
  store: JobStore;
  /** Where it is, password masked: for logs and `/readyz`. */
  url: string;
  /** PGlite in this process. */
  embedded: boolean;
  /** Closes the store (and the embedded database). */
  close(): Promise<void>;
}

const POSTGRES_URL = /^postgres(?:ql)?:\/\//i;

/**
 * `text` with any password replaced by `***`: the userinfo's (everything between the first `:` after
 * `scheme://` and the last `@`, so a password with a stray `@` or `/` is still hidden) and a
 * `password=` query parameter's. Masks more than needed rather than less.
 */
export function maskPassword(text: string): string {
  let masked = text.replace(/[?&]password=[^&#]*/gi, (match) => `${match.slice(0, match.indexOf('=') + 1)}***`);
  const start = masked.indexOf('://');
  if (start >= 0) {
    const rest = masked.slice(start + 3);
    const at = rest.lastIndexOf('@');
    const colon = rest.indexOf(':');
    if (at >= 0 && colon >= 0 && colon < at) masked = `${masked.slice(0, start + 3)}${rest.slice(0, colon)}:***${rest.slice(at)}`;
  }
  return masked;
}

/** The store a setting names; anything else is a `ConfigError` on `setting` (the text shown with its password masked). */
export function parseStoreUrl(text: string, setting: string): StoreSpec {
  const value = text.trim();
  if (value === 'none') return { kind: 'none' };
  if (value === 'embedded') return { kind: 'embedded' };
  if (POSTGRES_URL.test(value)) {
    let host = '';
    try {
      host = new URL(value).hostname;
    } catch {
      // reported below
    }
    if (host !== '') return { kind: 'postgres', url: value };
  }
  throw new ConfigError(setting, `expected none, embedded or a postgres:// URL with a host, got ${JSON.stringify(maskPassword(value))}`);
}

/** One line from any error: pg's network errors come as an AggregateError with an empty message on Node 20. */
function reasonOf(error: unknown): string {
  const e = toError(error);
  const nested = e instanceof AggregateError ? e.errors.map((inner) => toError(inner).message).join('; ') : '';
  const code = (e as { code?: unknown }).code;
  const text = e.message || nested || (typeof code === 'string' ? code : '') || e.name;
  return maskPassword(text).replace(/\s+/g, ' ').trim();
}

/**
 * Opens the store `spec` names, migrated and answering; `undefined` for `none`. A server that cannot be
 * reached (within about 5 s) or a migration that fails is a `ConfigError` on `setting`, one line.
 */
export async function openStore(spec: StoreSpec, setting: string): Promise<OpenedStore | undefined> {
  switch (spec.kind) {
    case 'none':
      return undefined;
    case 'embedded': {
      try {
        const embedded = await startEmbeddedStore({ dir: spec.dir });
        return { store: embedded.store, url: embedded.url, embedded: true, close: () => embedded.close() };
      } catch (error) {
        throw new ConfigError(
          setting,
          `could not start the embedded store${spec.dir === undefined ? '' : ` in ${spec.dir}`}: ${reasonOf(error)}`,
        );
      }
    }
    case 'postgres': {
      const url = maskPassword(spec.url);
      try {
        const store = await PostgresJobStore.connect(spec.url);
        return { store, url, embedded: false, close: () => store.close() };
      } catch (error) {
        throw new ConfigError(setting, `could not connect to ${url}: ${reasonOf(error)}`);
      }
    }
    default:
      return spec satisfies never;
  }
}
