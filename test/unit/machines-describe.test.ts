import { and, assign, createMachine, not, setup } from 'xstate';
import { describe, expect, test } from 'vitest';
import { describeMachine, toMermaid, transitionLabel } from '../../src/machines/describe.js';
import { createJobMachine } from '../../src/machines/job-machine.js';

describe('describeMachine on the job machine', () => {
  const description = describeMachine(createJobMachine('calendar.sync'));

  test('names the machine after the job type, starts in pending, and marks the seven final states', () => {
    expect(description.id).toBe('calendar.sync');
    expect(description.initial).toBe('pending');
    expect(description.states.filter((s) => !s.final).map((s) => s.name)).toEqual(['pending', 'running']);
    expect(description.states.filter((s) => s.final).map((s) => s.name)).toEqual([
      'succeeded',
      'backoff',
      'dead',
      'deferred',
      'held',
      'checkpointed',
      'released',
    ]);
  });

  test('lists the guarded alternatives of one event in the order XState tries them', () => {
    const start = description.transitions.filter((t) => t.source === 'pending' && t.event === 'START');
    expect(start.map((t) => [t.guard, t.target, t.actions, t.order])).toEqual([
      ['pastDeadline', 'dead', ['deadLetter'], 0],
      ['tooEarly', 'deferred', ['defer'], 1],
      [undefined, 'running', [], 2],
    ]);
    expect(start.map((t) => transitionLabel(t))).toEqual(['START [pastDeadline] / deadLetter', 'START [tooEarly] / defer', 'START [else]']);
  });

  test('keeps assign among the actions, and a targetless transition stays in its state', () => {
    const failed = description.transitions.filter((t) => t.event === 'FAILED');
    expect(failed.map((t) => [t.target, t.guard, t.actions])).toEqual([
      ['backoff', 'willRetry', ['assign', 'retry']],
      ['dead', undefined, ['assign', 'deadLetter']],
    ]);
    expect(description.transitions.find((t) => t.event === 'LEASE_DUE')).toMatchObject({
      source: 'running',
      target: 'running',
      changesState: false,
      actions: ['extendLease'],
    });
  });

  test('toMermaid draws [*] --> pending, every edge with its label, and each final state --> [*]', () => {
    const mermaid = toMermaid(description).split('\n');
    expect(mermaid.slice(0, 2)).toEqual(['stateDiagram-v2', '  [*] --> pending']);
    expect(mermaid).toContain('  running --> backoff : FAILED [willRetry] / retry');
    expect(mermaid).toContain('  pending --> dead : INVALID / deadLetter');
    expect(mermaid).toContain('  running --> running : LEASE_DUE / extendLease');
    expect(mermaid.filter((line) => line.endsWith('--> [*]'))).toHaveLength(7);
    expect(mermaid).toHaveLength(2 + description.transitions.length + 7);
    expect(mermaid).toContain('  pending --> held : HELD [else] / holdBack');
    expect(mermaid).toContain('  running --> held : THROTTLED [throttleAllowed] / holdBack');
    expect(toMermaid(description, { showAssign: true })).toContain('running --> backoff : FAILED [willRetry] / assign, retry');
  });
});

describe('describeMachine on other shapes', () => {
  test('higher-order guards, nested states and inline actions get readable names', () => {
    const machine = setup({
      guards: { ready: () => true, allowed: () => true },
      actions: { notify: () => {} },
    }).createMachine({
      id: 'shape',
      initial: 'outer',
      states: {
        outer: {
          initial: 'inner',
          states: {
            inner: {
              on: { GO: { target: '#shape.done', guard: and(['ready', not('allowed')]), actions: ['notify', function audit() {}] } },
            },
          },
        },
        done: { type: 'final' },
      },
    });
    const description = describeMachine(machine);
    expect(description.initial).toBe('outer');
    expect(description.states.map((s) => s.name)).toEqual(['outer', 'outer.inner', 'done']);
    expect(description.transitions).toEqual([
      {
        source: 'outer.inner',
        event: 'GO',
        target: 'done',
        changesState: true,
        guard: 'ready && !allowed',
        actions: ['notify', 'audit'],
        order: 0,
      },
    ]);
    expect(toMermaid(description)).toContain('  outer_inner --> done : GO [ready && !allowed] / notify, audit');
  });

  test('assign built without setup is still shown as assign when asked', () => {
    const machine = createMachine({
      initial: 'a',
      context: { n: 0 },
      states: { a: { on: { BUMP: { actions: assign({ n: ({ context }) => context.n + 1 }) } } } },
    });
    const [bump] = describeMachine(machine).transitions;
    expect(bump).toMatchObject({ source: 'a', target: 'a', changesState: false, actions: ['assign'] });
    expect(transitionLabel(bump!)).toBe('BUMP');
    expect(transitionLabel(bump!, { showAssign: true })).toBe('BUMP / assign');
  });
});
