/**
 * Calls of one batch statement (claim, settle, renew, createJobs) that would only queue for a
 * connection go together instead: the batch statements of a store share `limit` slots (its pool's
 * connections), and the calls of one kind made while no slot is free are joined, in call order, into
 * one statement that takes the next free slot. Each call gets its own slice of the results.
 *
 * Why: a statement's fixed cost (parse and bind, executor start-up, commit, the round trip) is paid
 * per statement, not per row. PGlite serves one connection on one thread, so its claims, settles and
 * inserts queue anyway; there its fixed cost is about 0.7 ms a statement, more than the rows of a
 * 10-job claim cost, and joining the calls that queue behind one another cuts its CPU per job (the
 * store bench measures it). With a pool of `limit` connections, calls join only once `limit`
 * statements are already running, which is when they would have waited for a connection.
 *
 * Joined calls decide as one batch would, in call order: the batch statements answer copies of one
 * job within a batch as if they came one after another (postgres-claim.ts, settle in
 * postgres-store.ts), which is what separate calls would see. A joined statement the database
 * rejected (`rejected`: a statement error, not a lost connection) is run again call by call, so a
 * call's bad input fails that call alone; each statement is its own transaction, so the rejected one
 * wrote nothing. Any other failure (the server gone) fails every joined call at once, as it would
 * have failed each.
 */

interface Waiting<Req, Res> {
  requests: readonly Req[];
  resolve: (results: Res[]) => void;
  reject: (error: unknown) => void;
}

/** `limit` statements at once, shared by a store's coalescers; the rest wait in turn. */
export class StatementSlots {
  readonly #limit: number;
  #inFlight = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.#limit = Math.max(1, limit);
  }

  /** Calls `start` once a slot is free (at once when one is); `start` gives the slot back when its promise settles. */
  take(start: () => Promise<void>): void {
    const go = (): void => {
      this.#inFlight++;
      void start().finally(() => {
        this.#inFlight--;
        this.#waiting.shift()?.();
      });
    };
    if (this.#inFlight < this.#limit) go();
    else this.#waiting.push(go);
  }
}

export class BatchCoalescer<Req, Res> {
  readonly #run: (requests: readonly Req[]) => Promise<Res[]>;
  readonly #slots: StatementSlots;
  readonly #rejected: (error: unknown) => boolean;
  readonly #maxBatch: number;
  /** The calls waiting for a slot that later calls may still join. */
  #forming: { calls: Waiting<Req, Res>[]; size: number } | undefined;

  /**
   * @param run - runs one batch and returns one result per request, in order
   * @param slots - the store's statement slots (its pool's connections)
   * @param rejected - whether an error is the statement's own (run the calls again one by one)
   * @param maxBatch - a group takes no more calls once it holds this many requests (one call may hold more)
   */
  constructor(
    run: (requests: readonly Req[]) => Promise<Res[]>,
    slots: StatementSlots,
    rejected: (error: unknown) => boolean,
    maxBatch = 500,
  ) {
    this.#run = run;
    this.#slots = slots;
    this.#rejected = rejected;
    this.#maxBatch = maxBatch;
  }

  call(requests: readonly Req[]): Promise<Res[]> {
    if (requests.length === 0) return Promise.resolve([]);
    return new Promise<Res[]>((resolve, reject) => {
      const waiting = { requests, resolve, reject };
      const forming = this.#forming;
      if (forming !== undefined && forming.size + requests.length <= this.#maxBatch) {
        forming.calls.push(waiting);
        forming.size += requests.length;
        return;
      }
      const group = { calls: [waiting], size: requests.length };
      this.#forming = group;
      this.#slots.take(() => {
        if (this.#forming === group) this.#forming = undefined;
        return this.#go(group.calls);
      });
    });
  }

  async #go(calls: Waiting<Req, Res>[]): Promise<void> {
    if (calls.length === 1) {
      const only = calls[0]!;
      await this.#run(only.requests).then(only.resolve, only.reject);
      return;
    }
    let results: Res[];
    try {
      results = await this.#run(calls.flatMap((c) => c.requests));
    } catch (error) {
      if (this.#rejected(error)) for (const c of calls) await this.#run(c.requests).then(c.resolve, c.reject);
      else for (const c of calls) c.reject(error);
      return;
    }
    let offset = 0;
    for (const c of calls) {
      c.resolve(results.slice(offset, offset + c.requests.length));
      offset += c.requests.length;
    }
  }
}
