/**
 * A {@link JobStore} that counts what goes through it: calls (each is one round trip for
 * `PostgresJobStore`), the rows they carry, and the time they took. The benchmark's "store round trips
 * per job" is `claim + settle + renew` calls over jobs settled; `createJobs` is the producer's.
 */
import type { JobStore } from '../../src/store/job-store.js';
import type { StoreCallCounts } from './protocol.js';

type Counted = 'createJobs' | 'claim' | 'settle' | 'renew';

export class CountingStore implements JobStore {
  readonly #inner: JobStore;
  readonly counts: StoreCallCounts = {
    calls: { createJobs: 0, claim: 0, settle: 0, renew: 0, other: 0 },
    rows: { createJobs: 0, claim: 0, settle: 0, renew: 0 },
    ms: { createJobs: 0, claim: 0, settle: 0, renew: 0 },
  };

  constructor(inner: JobStore) {
    this.#inner = inner;
  }

  async #timed<T>(kind: Counted, rows: number, call: () => Promise<T>): Promise<T> {
    this.counts.calls[kind]++;
    this.counts.rows[kind] += rows;
    const start = performance.now();
    try {
      return await call();
    } finally {
      this.counts.ms[kind] += performance.now() - start;
    }
  }

  #other<T>(call: () => Promise<T>): Promise<T> {
    this.counts.calls.other++;
    return call();
  }

  /** Zeroes the counts (at `go`, so the producer's prefill is counted apart). */
  reset(): StoreCallCounts {
    const before = structuredClone(this.counts);
    for (const table of [this.counts.calls, this.counts.rows, this.counts.ms] as Record<string, number>[]) {
      for (const key of Object.keys(table)) table[key] = 0;
    }
    return before;
  }

  createJobs: JobStore['createJobs'] = (jobs) => this.#timed('createJobs', jobs.length, () => this.#inner.createJobs(jobs));
  claim: JobStore['claim'] = (requests) => this.#timed('claim', requests.length, () => this.#inner.claim(requests));
  settle: JobStore['settle'] = (requests) => this.#timed('settle', requests.length, () => this.#inner.settle(requests));
  renew: JobStore['renew'] = (requests) => this.#timed('renew', requests.length, () => this.#inner.renew(requests));
  forgetJobs: JobStore['forgetJobs'] = (ids) => this.#other(() => this.#inner.forgetJobs(ids));
  getJob: JobStore['getJob'] = (id) => this.#other(() => this.#inner.getJob(id));
  listJobs: JobStore['listJobs'] = (filter) => this.#other(() => this.#inner.listJobs(filter));
  cancelJob: JobStore['cancelJob'] = (id) => this.#other(() => this.#inner.cancelJob(id));
  retryJob: JobStore['retryJob'] = (id) => this.#other(() => this.#inner.retryJob(id));
  reopenJobs: JobStore['reopenJobs'] = (requests) => this.#other(() => this.#inner.reopenJobs(requests));
  prune: JobStore['prune'] = (options) => this.#other(() => this.#inner.prune(options));
  activity: JobStore['activity'] = (query) => this.#other(() => this.#inner.activity(query));
  ping: JobStore['ping'] = () => this.#other(() => this.#inner.ping());
  close: JobStore['close'] = () => this.#inner.close();
}
