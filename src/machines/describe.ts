/**
 * A job machine as data and as a picture, read from the XState definition itself (never drawn by
 * hand): `describeMachine(createJobMachine(type))` walks the state nodes and their transitions, and
 * `toMermaid` draws the result as a Mermaid `stateDiagram-v2`. Pure: no I/O, same input, same text.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';

/** One transition: `source --event [guard] / actions--> target`. */
export interface TransitionDescription {
  source: string;
  event: string;
  /** The target state; for a targetless transition (stays, runs actions only) the source itself. */
  target: string;
  /** False for a targetless transition: no exit, no entry, the state is kept. */
  changesState: boolean;
  /** Named guard, `!name` for `not(...)`, `a && b` / `a || b` for `and` / `or`; undefined when unguarded. */
  guard: string | undefined;
  /** Named actions in the order they run; XState's built-in `assign` appears as `assign`. */
  actions: string[];
  /** Order among the transitions for the same event in the same state: the first whose guard passes is taken. */
  order: number;
}

export interface StateDescription {
  name: string;
  final: boolean;
}

export interface MachineDescription {
  id: string;
  initial: string;
  states: StateDescription[];
  transitions: TransitionDescription[];
}

/** Action names as XState spells its built-ins, shown the way a reader knows them. */
const BUILT_IN_ACTIONS: Record<string, string> = {
  'xstate.assign': 'assign',
  'xstate.raise': 'raise',
  'xstate.sendTo': 'sendTo',
  'xstate.log': 'log',
  'xstate.cancel': 'cancel',
  'xstate.stopChild': 'stopChild',
  'xstate.spawnChild': 'spawnChild',
  'xstate.emit': 'emit',
  'xstate.enqueueActions': 'enqueueActions',
};

function actionName(action: unknown): string {
  if (typeof action === 'string') return BUILT_IN_ACTIONS[action] ?? action;
  if (typeof action === 'function' || (typeof action === 'object' && action !== null)) {
    const type = (action as { type?: unknown }).type;
    if (typeof type === 'string') return BUILT_IN_ACTIONS[type] ?? type;
    const name = (action as { name?: unknown }).name;
    if (typeof name === 'string' && name.length > 0) return name;
  }
  return 'inline';
}

function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' || typeof guard === 'function') {
    const { type, guards, name } = guard as { type?: unknown; guards?: unknown; name?: unknown };
    if (typeof type === 'string') return type;
    // Higher-order guards (`not`, `and`, `or`) are functions of that name holding their operands in `guards`.
    if (typeof guard === 'function' && Array.isArray(guards)) {
      const operands = guards.map((g) => guardName(g) ?? 'inline');
      if (name === 'not') return `!${operands[0] ?? 'inline'}`;
      if (name === 'and') return operands.join(' && ');
      if (name === 'or') return operands.join(' || ');
    }
    if (typeof name === 'string' && name.length > 0) return name;
  }
  return 'inline';
}

/** Dotted path of a state node below the root (`running`, or `parent.child` for nested states). */
function statePath(node: AnyStateNode): string {
  return node.path.join('.');
}

function collectStates(node: AnyStateNode, into: AnyStateNode[]): void {
  for (const child of Object.values(node.states) as AnyStateNode[]) {
    into.push(child);
    collectStates(child, into);
  }
}

/** The machine's states and transitions, in definition order. */
export function describeMachine(machine: AnyStateMachine): MachineDescription {
  const nodes: AnyStateNode[] = [];
  collectStates(machine.root, nodes);
  const transitions: TransitionDescription[] = [];
  for (const node of nodes) {
    for (const [event, definitions] of node.transitions) {
      definitions.forEach((definition, order) => {
        const targets = definition.target ?? [];
        const changesState = targets.length > 0;
        for (const target of changesState ? targets : [node]) {
          transitions.push({
            source: statePath(node),
            event,
            target: statePath(target as AnyStateNode),
            changesState,
            guard: guardName(definition.guard),
            actions: (definition.actions ?? []).map(actionName),
            order,
          });
        }
      });
    }
  }
  const initialTargets = machine.root.initial?.target ?? [];
  const initial = initialTargets[0] ? statePath(initialTargets[0] as AnyStateNode) : nodes[0] ? statePath(nodes[0]) : '';
  return {
    id: machine.id,
    initial,
    states: nodes.map((node) => ({ name: statePath(node), final: node.type === 'final' })),
    transitions,
  };
}

export interface MermaidOptions {
  /** Show XState's `assign` among the actions. @defaultValue false */
  showAssign?: boolean;
}

/** The edge label: `EVENT [guard] / action1, action2` (`[else]` for an unguarded fallback). */
export function transitionLabel(transition: TransitionDescription, options: MermaidOptions = {}): string {
  const actions = options.showAssign ? transition.actions : transition.actions.filter((a) => a !== 'assign');
  let label = transition.event;
  // An unguarded transition after guarded ones for the same event is taken when none of them passes.
  if (transition.guard) label += ` [${transition.guard}]`;
  else if (transition.order > 0) label += ' [else]';
  if (actions.length > 0) label += ` / ${actions.join(', ')}`;
  return label;
}

/** Mermaid identifiers may not contain dots; nested paths become `parent_child`. */
const mermaidId = (name: string): string => name.replace(/[^A-Za-z0-9_]/g, '_');

/** A Mermaid `stateDiagram-v2`: `[*] --> initial`, one edge per transition, final states `--> [*]`. */
export function toMermaid(description: MachineDescription, options: MermaidOptions = {}): string {
  const lines = ['stateDiagram-v2', `  [*] --> ${mermaidId(description.initial)}`];
  for (const transition of description.transitions) {
    // Mermaid labels end at a newline; a colon inside is fine, a semicolon is not.
    const label = transitionLabel(transition, options).replace(/;/g, ',');
    lines.push(`  ${mermaidId(transition.source)} --> ${mermaidId(transition.target)} : ${label}`);
  }
  for (const state of description.states) if (state.final) lines.push(`  ${mermaidId(state.name)} --> [*]`);
  return lines.join('\n');
}
