/** What the store's conformance cases (conformance.cases.ts, keys.cases.ts) build their requests from. */
import { randomUUID } from 'node:crypto';
import type { ClaimRequest, NewJob } from '../../src/store/job-store.js';

/** A claim's lease long enough never to expire within a case. */
export const LONG_LEASE_MS = 60_000;

export const sleep = (ms: number): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, ms));

export function newJob(type: string, fields: Partial<NewJob> = {}): NewJob {
  return { id: randomUUID(), type, createdAt: Date.now(), ...fields };
}

/** The first attempt's claim of `job` by one message, on a long lease, carrying the job's row. */
export function claimOf(job: NewJob, fields: Partial<Omit<ClaimRequest, 'row'>> = {}): ClaimRequest {
  return {
    jobId: job.id,
    type: job.type,
    attempt: 1,
    messageId: `m-${randomUUID().slice(0, 8)}`,
    leaseMs: LONG_LEASE_MS,
    worker: 'host:1',
    row: job,
    ...fields,
  };
}
