import { createContextKey, ROOT_CONTEXT } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { SynchronousContextManager } from '../../src/telemetry/sync-context.js';

const KEY = createContextKey('probe');
const ctx = (value: string) => ROOT_CONTEXT.setValue(KEY, value);
const current = (manager: SynchronousContextManager) => manager.active().getValue(KEY);

describe('SynchronousContextManager', () => {
  it('makes a context active for the synchronous call, nested, and restores the previous one after it', () => {
    const manager = new SynchronousContextManager();
    const seen: unknown[] = [];
    const result = manager.with(
      ctx('outer'),
      (a: number, b: number) => {
        seen.push(current(manager));
        manager.with(ctx('inner'), () => seen.push(current(manager)));
        seen.push(current(manager));
        return a + b;
      },
      undefined,
      2,
      3,
    );
    expect(result).toBe(5);
    expect(seen).toEqual(['outer', 'inner', 'outer']);
    expect(manager.active()).toBe(ROOT_CONTEXT);
  });

  it('restores the previous context when the call throws, and passes thisArg on', () => {
    const manager = new SynchronousContextManager();
    const self = { name: 'self' };
    expect(() =>
      manager.with(
        ctx('failing'),
        function (this: typeof self) {
          expect(this).toBe(self);
          throw new Error('boom');
        },
        self,
      ),
    ).toThrow('boom');
    expect(manager.active()).toBe(ROOT_CONTEXT);
  });

  it('does not follow a promise across an await (that is what AsyncLocalStorage would cost)', async () => {
    const manager = new SynchronousContextManager();
    const after = await manager.with(ctx('before-await'), async () => {
      expect(current(manager)).toBe('before-await');
      await Promise.resolve();
      return current(manager);
    });
    expect(after).toBeUndefined();
  });

  it('binds functions to a context (keeping their length) and leaves other values as they are', () => {
    const manager = new SynchronousContextManager();
    const bound = manager.bind(ctx('bound'), (x: number, _y: number) => [x, current(manager)]);
    expect(bound.length).toBe(2);
    expect(bound(7, 0)).toEqual([7, 'bound']);
    expect(manager.active()).toBe(ROOT_CONTEXT);
    const value = { not: 'a function' };
    expect(manager.bind(ctx('x'), value)).toBe(value);
  });

  it('disable() drops back to the root context', () => {
    const manager = new SynchronousContextManager().enable();
    manager.with(ctx('on'), () => {
      manager.disable();
      expect(manager.active()).toBe(ROOT_CONTEXT);
    });
  });
});
