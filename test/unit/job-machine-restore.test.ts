import { initialTransition, transition } from 'xstate';
import { describe, expect, it } from 'vitest';
import { createJobMachine, restoreJob, type JobMachineInput } from '../../src/machines/job-machine.js';
import { resolveRetryPolicy } from '../../src/machines/retry-policy.js';

const machine = createJobMachine('restore.test');
const input: JobMachineInput = {
  attempt: 2,
  history: [{ attempt: 1, at: '2026-01-01T00:00:00.000Z', durationMs: 5, kind: 'failed', error: { name: 'Error', message: 'x' } }],
  checkpoint: { page: 3 },
  createdAtMs: 1_000,
  notBeforeMs: undefined,
  policy: resolveRetryPolicy({ maximumAttempts: 3, jitter: 'none' }),
  deadlineMs: undefined,
};

describe('restoreJob', () => {
  it('gives the same snapshot as initialTransition, with no actions to run', () => {
    const [initial, actions] = initialTransition(machine, input);
    const restored = restoreJob(machine, input);
    expect(actions).toEqual([]);
    expect(restored.value).toEqual(initial.value);
    expect(restored.context).toEqual(initial.context);
    expect(restored.status).toBe('active');
  });

  it('transitions from the restored snapshot exactly as from the initial one', () => {
    const events = [
      { type: 'START', now: 2_000 },
      { type: 'FAILED', now: 3_000, durationMs: 10, error: { name: 'Error', message: 'boom' }, retryable: true, random: 0.5 },
    ] as const;
    let a = initialTransition(machine, input)[0];
    let b = restoreJob(machine, input);
    for (const event of events) {
      const [nextA, actionsA] = transition(machine, a, event);
      const [nextB, actionsB] = transition(machine, b, event);
      expect(nextB.value).toEqual(nextA.value);
      expect(nextB.context).toEqual(nextA.context);
      expect(actionsB.map((x) => [x.type, x.params])).toEqual(actionsA.map((x) => [x.type, x.params]));
      a = nextA;
      b = nextB;
    }
    expect(b.value).toBe('backoff');
  });
});

describe('createJobStepper', () => {
  it('matches xstate transition() snapshot for snapshot and action for action on random event sequences', async () => {
    const fc = await import('fast-check');
    const { createJobStepper } = await import('../../src/machines/job-stepper.js');
    const stepper = createJobStepper(machine);
    const event = fc.oneof(
      fc.record({ type: fc.constant('START' as const), now: fc.integer({ min: 0, max: 10_000 }) }),
      fc.record({ type: fc.constant('INVALID' as const), message: fc.string() }),
      fc.record({
        type: fc.constant('WORKER_LOST' as const),
        now: fc.integer({ min: 0, max: 10_000 }),
        random: fc.double({ min: 0, max: 0.999, noNaN: true }),
      }),
      fc.record({ type: fc.constant('SUCCEEDED' as const), now: fc.integer({ min: 0, max: 10_000 }) }),
      fc.record({
        type: fc.constant('FAILED' as const),
        now: fc.integer({ min: 0, max: 10_000 }),
        durationMs: fc.integer({ min: 0, max: 1000 }),
        error: fc.record({ name: fc.constantFrom('Error', 'RetryableError'), message: fc.string() }),
        retryable: fc.boolean(),
        random: fc.double({ min: 0, max: 0.999, noNaN: true }),
      }),
      fc.record({ type: fc.constant('CHECKPOINT' as const), state: fc.jsonValue() }),
      fc.constant({ type: 'LEASE_DUE' as const }),
      fc.constant({ type: 'RELEASE' as const }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(event, { maxLength: 6 }), (attempt, events) => {
        const start = { ...input, attempt, notBeforeMs: attempt === 3 ? 5_000 : undefined };
        let a = restoreJob(machine, start);
        let b = restoreJob(machine, start);
        for (const e of events) {
          const [nextA, actionsA] = transition(machine, a, e);
          const [nextB, actionsB] = stepper.step(b, e);
          expect(nextB.value).toEqual(nextA.value);
          expect(nextB.status).toEqual(nextA.status);
          expect(nextB.context).toEqual(nextA.context);
          expect(actionsB.map((x) => [x.type, x.params])).toEqual(actionsA.map((x) => [x.type, x.params]));
          a = nextA;
          b = nextB;
        }
      }),
      { numRuns: 300 },
    );
  });
});
