/**
 * Paging for `listJobs`, shared by both stores so a cursor means the same everywhere: jobs newest
 * first by (createdAt, id), and a cursor that is the last row's key, opaque to callers (base64url of
 * JSON). A keyset rather than an offset: a page stays right while new jobs arrive.
 */
import { ConfigError } from '../shared/errors.js';
import type { JobRecord } from './job-store.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

export interface PageKey {
  createdAt: number;
  id: string;
}

/** The filter's limit as a row count: default 50, brought into 1–1000. */
export function pageSize(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return DEFAULT_PAGE_SIZE;
  return Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(limit)));
}

export function encodeCursor(job: Pick<JobRecord, 'createdAt' | 'id'>): string {
  return Buffer.from(JSON.stringify([job.createdAt, job.id]), 'utf8').toString('base64url');
}

/** The key a cursor stands for; anything not made by {@link encodeCursor} is a `ConfigError` on `cursor`. */
export function decodeCursor(cursor: string): PageKey {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'number' || typeof value[1] !== 'string') {
    throw new ConfigError('cursor', `expected a cursor from a previous page, got ${JSON.stringify(cursor)}`);
  }
  return { createdAt: value[0], id: value[1] };
}

/** Whether `job` sorts after `key` (older, or as old with a smaller id): the rows of the next page. */
export function isAfter(job: PageKey, key: PageKey): boolean {
  return job.createdAt < key.createdAt || (job.createdAt === key.createdAt && job.id < key.id);
}

/** Newest first: the order of every page. */
export function newestFirst(a: PageKey, b: PageKey): number {
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** A page from up to `size + 1` rows in order: the extra row only says that there is a next page. */
export function toPage(rows: JobRecord[], size: number): { jobs: JobRecord[]; nextCursor: string | undefined } {
  if (rows.length <= size) return { jobs: rows, nextCursor: undefined };
  const jobs = rows.slice(0, size);
  return { jobs, nextCursor: encodeCursor(jobs[jobs.length - 1]!) };
}
