/**
 * Dependencies a job opens on its first run rather than at import: the default calendar jobs get their
 * accounts and PostgreSQL pool this way, so importing a job module reads no setting and opens nothing.
 */

/**
 * Opens a value once, on the first `get()`; a failed open is forgotten, so the next run tries again
 * (with the settings as they are then). `close()` disposes of what was opened, if anything.
 */
export class Lazy<T> {
  #pending: Promise<T> | undefined;

  constructor(
    private readonly open: () => T | Promise<T>,
    private readonly dispose?: (value: T) => void | Promise<void>,
  ) {}

  get(): Promise<T> {
    if (this.#pending === undefined) {
      const pending = Promise.resolve().then(() => this.open());
      this.#pending = pending;
      pending.catch(() => {
        if (this.#pending === pending) this.#pending = undefined;
      });
    }
    return this.#pending;
  }

  /** Whether `close()` has anything to dispose of once the value is open. */
  get holdsResources(): boolean {
    return this.dispose !== undefined;
  }

  /** Disposes of the opened value (nothing opened, or the open failed: nothing to do); the next `get()` opens anew. */
  async close(): Promise<void> {
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending === undefined || this.dispose === undefined) return;
    const value = await pending.then(
      (opened) => ({ opened }),
      () => undefined,
    );
    if (value !== undefined) await this.dispose(value.opened);
  }
}

/** A job's dependencies: given outright (tests, custom wiring), or opened on its first run. */
export type Deps<T> = T | Lazy<T>;

/** The dependencies for this run: as given, or opened (once) when lazy. */
export function resolveDeps<T>(deps: Deps<T>): T | Promise<T> {
  return deps instanceof Lazy ? deps.get() : deps;
}

/** defineJob's `close` hook for these dependencies: only lazy ones that hold something (a pool) have one. */
export function closeHook<T>(deps: Deps<T>): { close?: () => Promise<void> } {
  return deps instanceof Lazy && deps.holdsResources ? { close: () => deps.close() } : {};
}
