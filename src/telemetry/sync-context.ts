/**
 * A context manager without AsyncLocalStorage, for processes where nothing reads OpenTelemetry's
 * active context across an `await`: a context entered with `context.with(ctx, fn)` is the active one
 * while `fn` runs synchronously, and the previous one is back when it returns (or throws). A promise
 * `fn` returns continues in whatever context is active when it resumes — the root one, as a rule.
 *
 * Why: on Node 20 (and 22 before AsyncContextFrame), the first `AsyncLocalStorage#run` in a process
 * turns on Node's promise hooks for every promise from then on, and the AWS SDK makes dozens of
 * promises per request. The worker itself never needs the active context (it names its spans' parents
 * explicitly: docs/design.md, "Trace context without entering it"), but OpenTelemetry's exporters
 * enter `context.with(suppressTracing(...))` around every export, so with the default
 * AsyncLocalStorage manager a worker that runs no handler in its trace context
 * (`CALSYNC_HANDLER_TRACE_CONTEXT=false`) paid for the hooks all the same. The exporters need the
 * suppression only while they start their request, synchronously, which this manager gives them.
 *
 * `bind` wraps functions; an EventEmitter is returned as it is (binding its listeners is what
 * auto-instrumentations ask for, and `startOtel` registers none).
 */
import { type Context, type ContextManager, ROOT_CONTEXT } from '@opentelemetry/api';

export class SynchronousContextManager implements ContextManager {
  #active: Context = ROOT_CONTEXT;

  active(): Context {
    return this.#active;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const previous = this.#active;
    this.#active = context;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.#active = previous;
    }
  }

  bind<T>(context: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const fn = target as unknown as (...args: unknown[]) => unknown;
    const manager = this;
    const bound = function (this: unknown, ...args: unknown[]): unknown {
      return manager.with(context, () => fn.apply(this, args));
    };
    Object.defineProperty(bound, 'length', { value: fn.length, configurable: true });
    return bound as unknown as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.#active = ROOT_CONTEXT;
    return this;
  }
}
