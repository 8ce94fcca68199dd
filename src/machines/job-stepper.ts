/**
 * A pure step of the job machine: `[next, actions] = step(snapshot, event)`, the same as XState's
 * `transition(machine, snapshot, event)`. `transition()` builds a throwaway actor and actor system on
 * every call, which measured a third of the runtime's XState cost per message; the stepper builds that
 * inert scope once per machine and only collects the actions, never executes them.
 *
 * The actions come back typed: each is a {@link JobAction}, whose `params` have the type the
 * action's definition in `jobMachineSetup` declares (XState hands them over as `unknown`). The one
 * check is by name, against the machine's own action implementations; built-in actions that need no
 * runtime (`assign`) are applied inside the transition and never reach the collector.
 *
 * This leans on XState internals: the scope object mirrors XState's @internal `createInertActorScope`
 * (the fields `machine.transition()` reads: self, system, actionExecutor, defer, emit, ...), passed
 * through a cast. That is why package.json pins xstate exactly (5.33.3), and why
 * test/unit/job-machine-restore.test.ts checks, for random event sequences, that every step here
 * gives the same snapshot and actions as XState's own `transition()`: an XState upgrade that changes
 * the scope's shape fails that test before it changes behaviour.
 */
import { createActor, type AnyActorScope, type AnyStateMachine, type SnapshotFrom } from 'xstate';
import type { JobAction, JobMachine, JobMachineEvent } from './job-machine.js';

type Snapshot = SnapshotFrom<JobMachine>;

export interface JobStepper {
  step(snapshot: Snapshot, event: JobMachineEvent): [Snapshot, JobAction[]];
}

/** One stepper per machine; stateless between calls, so one may serve every message. */
export function createJobStepper(machine: JobMachine): JobStepper {
  const self = createActor(machine as AnyStateMachine);
  const actionTypes = new Set(Object.keys(machine.implementations.actions));
  /** The action is one the machine declares, so its params are that declaration's (checked by `setup()`). */
  const isJobAction = (action: { type: string; params: unknown }): action is JobAction => actionTypes.has(action.type);
  let collected: JobAction[] = [];
  const scope = {
    self,
    id: '',
    sessionId: '',
    system: self.system,
    defer: () => {},
    logger: () => {},
    stopChild: () => {},
    emit: () => {},
    actionExecutor: (action: { type: string; params: unknown }) => {
      if (isJobAction(action)) collected.push(action);
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
