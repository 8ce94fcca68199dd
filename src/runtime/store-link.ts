/**
 * The worker's side of the job store (docs/store.md): one claim per receive batch, settles batched
 * into one write per flush, and one renewal of every held claim per half lease period (which is how a
 * running job learns it was cancelled). Each costs one round trip for the whole batch.
 *
 * A store that fails is not a reason to lose anything: a claim that fails runs nothing (the worker
 * backs off and its messages come back from SQS); a settle that fails is retried for as long as the
 * message's lease is held (the lease keeper extends it while the settle is pending), then given up —
 * the message comes back and the claim, expired, says the attempt was lost. `healthy` turns false on
 * a failed claim and true on the next one that works: it is part of `/readyz`.
 */
import type { Logger } from 'pino';
import { backoffDelay, type Backoff } from '../shared/backoff.js';
import type { Clock } from '../shared/clock.js';
import { toError } from '../shared/errors.js';
import type { ClaimRequest, ClaimResult, JobStore, RenewRequest, RenewResult, SettleRequest, SettleResult } from '../store/job-store.js';
import type { LeaseView } from './delete-batcher.js';

/** After a failed settle write: 100 ms, doubling, at most 2 s. */
const SETTLE_RETRY: Backoff = { baseMs: 100, capMs: 2_000, jitter: 'equal' };
/** A settle batch holds at most this many rows (one statement). */
const MAX_SETTLE_BATCH = 100;

/** A claim the worker holds: renewed until its settle is written, or dropped. */
export interface HeldClaim {
  readonly jobId: string;
  readonly attempt: number;
  readonly messageId: string;
  /** The message's lease: the claim is renewed to end with it. */
  readonly lease: LeaseView & { readonly held: boolean };
  /** Called once when a renewal finds the job cancelled. */
  onCancelled(): void;
}

interface PendingSettle {
  request: SettleRequest;
  lease: LeaseView & { readonly held: boolean };
  tries: number;
  done(result: SettleResult | undefined): void;
}

export interface StoreLinkOptions {
  store: JobStore;
  clock: Clock;
  /** Renew held claims this often (half the visibility timeout). */
  renewEveryMs: number;
  logger: Logger;
  onError(error: Error, during: string): void;
}

export class StoreLink {
  readonly store: JobStore;
  readonly #options: StoreLinkOptions;
  readonly #held = new Set<HeldClaim>();
  #queue: PendingSettle[] = [];
  #timer: unknown;
  #renewTimer: unknown;
  readonly #inflight = new Set<Promise<void>>();
  readonly #waiting = new Set<PendingSettle>();
  #healthy = true;
  #claimFailures = 0;
  #stopped = false;
  /** Round trips made, by kind: for the benchmark's "store round trips per job". */
  readonly roundTrips = { claim: 0, settle: 0, renew: 0 };

  constructor(options: StoreLinkOptions) {
    this.store = options.store;
    this.#options = options;
  }

  /** False after a claim failed, until one works again. */
  get healthy(): boolean {
    return this.#healthy;
  }

  /** Consecutive failed claims (0 when the last one worked): the receive loop's backoff. */
  get claimFailures(): number {
    return this.#claimFailures;
  }

  start(): void {
    this.#scheduleRenew();
  }

  /** Claims a receive batch in one round trip; throws when the store fails (nothing may run then). */
  async claim(requests: readonly ClaimRequest[]): Promise<ClaimResult[]> {
    if (requests.length === 0) return [];
    this.roundTrips.claim++;
    try {
      const results = await this.store.claim(requests);
      if (results.length !== requests.length) throw new Error(`the store answered ${results.length} claims for ${requests.length}`);
      if (!this.#healthy) this.#options.logger.info('job store reachable again; claiming resumes');
      this.#healthy = true;
      this.#claimFailures = 0;
      return results;
    } catch (error) {
      this.#claimFailures++;
      if (this.#healthy) this.#options.logger.error({ err: error }, 'job store claim failed: no job runs until the store answers');
      this.#healthy = false;
      throw error;
    }
  }

  /** Asks the store whether it answers (after a failed claim); true turns the link healthy again. */
  async probe(): Promise<boolean> {
    try {
      await this.store.ping();
    } catch (error) {
      this.#claimFailures++;
      this.#options.logger.warn({ err: error, failures: this.#claimFailures }, 'job store still unreachable; not receiving');
      return false;
    }
    this.#healthy = true;
    this.#claimFailures = 0;
    this.#options.logger.info('job store answers again: receiving resumes');
    return true;
  }

  /** Keeps `claim` renewed until {@link release}. */
  hold(claim: HeldClaim): void {
    this.#held.add(claim);
  }

  release(claim: HeldClaim): void {
    this.#held.delete(claim);
  }

  /**
   * Writes one settle (batched with the settles that arrive while the previous write is out). Resolves to the store's answer, or
   * `undefined` when it could not be written while `lease` was held.
   */
  settle(request: SettleRequest, lease: LeaseView & { readonly held: boolean }): Promise<SettleResult | undefined> {
    // The settle clears the claim in the row: a renewal from now on would find it gone and cry "lost".
    for (const claim of this.#held) if (claim.jobId === request.jobId && claim.messageId === request.messageId) this.#held.delete(claim);
    return new Promise((resolve) => {
      this.#queue.push({ request, lease, tries: 0, done: resolve });
      this.#schedule();
    });
  }

  /** Writes everything queued, retries included, and stops renewing (used on stop). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#renewTimer !== undefined) this.#options.clock.clearTimeout(this.#renewTimer);
    await this.flush();
  }

  async flush(): Promise<void> {
    for (;;) {
      this.#flushNow();
      if (this.#inflight.size === 0 && this.#waiting.size === 0 && this.#queue.length === 0) return;
      if (this.#inflight.size > 0) await Promise.all([...this.#inflight]);
      else await new Promise<void>((resolve) => this.#options.clock.setTimeout(resolve, 50));
    }
  }

  /**
   * Group commit: with no write in flight the queue is written at once (after the current turn, so
   * settles of one receive batch go together); while one is in flight, settles gather behind it and
   * go in the next write as soon as it returns. No timer window: every store write is a commit that
   * waits for the server's WAL flush, and a settle that waits 5 ms first held its slot that much longer
   * (the store benchmark: a job's slot time grew by claim + settle + flush window).
   */
  #schedule(): void {
    if (this.#inflight.size > 0 && this.#queue.length < MAX_SETTLE_BATCH) return;
    if (this.#timer !== undefined || this.#queue.length === 0) return;
    this.#timer = this.#options.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#flushNow();
    }, 0);
  }

  #flushNow(): void {
    if (this.#timer !== undefined) {
      this.#options.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_SETTLE_BATCH);
      const writing = this.#write(batch).finally(() => {
        this.#inflight.delete(writing);
        this.#schedule();
      });
      this.#inflight.add(writing);
    }
  }

  async #write(batch: PendingSettle[]): Promise<void> {
    this.roundTrips.settle++;
    try {
      const results = await this.store.settle(batch.map((p) => p.request));
      for (const [index, pending] of batch.entries()) pending.done(results[index]);
      return;
    } catch (error) {
      this.#options.onError(toError(error), `job store settle of ${batch.length} job(s)`);
    }
    const again: PendingSettle[] = [];
    for (const pending of batch) {
      pending.tries++;
      if (pending.lease.held) again.push(pending);
      else {
        this.#options.logger.warn(
          { jobId: pending.request.jobId, tries: pending.tries },
          'could not write a settle to the job store while the lease was held; the message comes back',
        );
        pending.done(undefined);
      }
    }
    if (again.length === 0) return;
    const delay = backoffDelay(Math.max(...again.map((p) => p.tries)), SETTLE_RETRY);
    for (const p of again) this.#waiting.add(p);
    this.#options.clock.setTimeout(() => {
      for (const p of again) this.#waiting.delete(p);
      this.#queue.push(...again);
      this.#schedule();
    }, delay);
  }

  #scheduleRenew(): void {
    if (this.#stopped) return;
    this.#renewTimer = this.#options.clock.setTimeout(() => {
      this.#renewTimer = undefined;
      void this.#renew().finally(() => this.#scheduleRenew());
    }, this.#options.renewEveryMs);
  }

  async #renew(): Promise<void> {
    const now = this.#options.clock.now();
    const claims = [...this.#held].filter((claim) => claim.lease.held);
    if (claims.length === 0) return;
    const requests: RenewRequest[] = claims.map((claim) => ({
      jobId: claim.jobId,
      attempt: claim.attempt,
      messageId: claim.messageId,
      leaseMs: Math.max(1, claim.lease.expiresAt - now),
    }));
    this.roundTrips.renew++;
    let results: RenewResult[];
    try {
      results = await this.store.renew(requests);
    } catch (error) {
      this.#options.onError(toError(error), `job store renewal of ${claims.length} claim(s)`);
      return;
    }
    claims.forEach((claim, index) => {
      const result = results[index];
      if (result === 'cancelled' && this.#held.has(claim)) {
        this.#held.delete(claim);
        claim.onCancelled();
      } else if (result === 'lost' && this.#held.has(claim)) {
        this.#options.logger.warn(
          { jobId: claim.jobId, attempt: claim.attempt, messageId: claim.messageId },
          'the job store no longer holds this attempt for this worker (its claim expired and another copy took it)',
        );
      }
    });
  }
}
