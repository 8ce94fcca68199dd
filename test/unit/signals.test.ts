/**
 * The one SIGINT / SIGTERM helper of the CLI: the handler runs once, a second signal exits 130 / 143,
 * the disposer removes the listeners.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, test } from 'vitest';
import { onShutdownSignals } from '../../src/cli/signals.js';

function setup() {
  const source = new EventEmitter();
  const handled: string[] = [];
  const exits: number[] = [];
  const logs: Array<[string, unknown, string]> = [];
  const logger = {
    info: (fields: unknown, message: string) => logs.push(['info', fields, message]),
    warn: (fields: unknown, message: string) => logs.push(['warn', fields, message]),
  };
  const dispose = onShutdownSignals((signal) => handled.push(signal), {
    source,
    exit: (code) => exits.push(code),
    logger: logger as never,
    stopping: 'draining',
    exiting: 'bye',
  });
  return { source, handled, exits, logs, dispose };
}

describe('onShutdownSignals', () => {
  test('the first signal runs the handler once; a second exits 130 for SIGINT', () => {
    const { source, handled, exits, logs } = setup();
    source.emit('SIGTERM');
    expect(handled).toEqual(['SIGTERM']);
    expect(exits).toEqual([]);
    source.emit('SIGINT');
    expect(handled).toEqual(['SIGTERM']);
    expect(exits).toEqual([130]);
    expect(logs).toEqual([
      ['info', { signal: 'SIGTERM' }, 'draining'],
      ['warn', { signal: 'SIGINT' }, 'bye'],
    ]);
  });

  test('a second SIGTERM exits 143', () => {
    const { source, exits } = setup();
    source.emit('SIGTERM');
    source.emit('SIGTERM');
    expect(exits).toEqual([143]);
  });

  test('the disposer removes both listeners', () => {
    const { source, handled, dispose } = setup();
    expect(source.listenerCount('SIGINT')).toBe(1);
    dispose();
    expect(source.listenerCount('SIGINT')).toBe(0);
    expect(source.listenerCount('SIGTERM')).toBe(0);
    source.emit('SIGINT');
    expect(handled).toEqual([]);
  });
});
