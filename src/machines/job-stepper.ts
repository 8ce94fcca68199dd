/**
 * A pure step of the job machine: `[next, actions] = step(snapshot, event)`, the same as XState's
 * `transition(machine, snapshot, event)`. `transition()` builds a throwaway actor and actor system on
 * every call, which measured a third of the runtime's XState cost per message; the stepper builds that
 * inert scope once per machine and only collects the actions, never executes them.
 *
 * This leans on XState internals: the scope object mirrors XState's @internal `createInertActorScope`
 * (the fields `machine.transition()` reads: self, system, actionExecutor, defer, emit, ...), passed
 * through a cast. That is why package.json pins xstate exactly (5.33.3), and why
 * test/unit/job-machine-restore.test.ts checks, for random event sequences, that every step here
 * gives the same snapshot and actions as XState's own `transition()`: an XState upgrade that changes
 * the scope's shape fails that test before it changes behaviour.
 */
import { createActor, type AnyActorScope, type AnyStateMachine, type SnapshotFrom, type transition } from 'xstate';
import type { JobMachine, JobMachineEvent } from './job-machine.js';

type Snapshot = SnapshotFrom<JobMachine>;
export type JobActions = ReturnType<typeof transition<JobMachine>>[1];

export interface JobStepper {
  step(snapshot: Snapshot, event: JobMachineEvent): [Snapshot, JobActions];
}

/** One stepper per machine; stateless between calls, so one may serve every message. */
export function createJobStepper(machine: JobMachine): JobStepper {
  const self = createActor(machine as AnyStateMachine);
  let collected: JobActions = [];
  const scope = {
    self,
    id: '',
    sessionId: '',
    system: self.system,
    defer: () => {},
    logger: () => {},
    stopChild: () => {},
    emit: () => {},
    actionExecutor: (action: JobActions[number]) => {
      collected.push(action);
    },
  } as unknown as AnyActorScope;
  return {
    step(snapshot, event) {
      collected = [];
      const next = machine.transition(snapshot, event, scope) as Snapshot;
      const actions = collected;
      collected = [];
      return [next, actions];
    },
  };
}
