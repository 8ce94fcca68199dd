/**
 * The job type's machine as the console draws it: the same description `calsync-jobs machines` prints
 * (src/machines/describe.ts over `createJobMachine(type)`), laid out by Graphviz (@viz-js/viz, WASM, in
 * this process) into an SVG, with this job's path through it highlighted. The path is read from what
 * the store knows: each failed attempt in the history, then the job's state now.
 */
import { instance, type Viz } from '@viz-js/viz';
import { describeMachine, transitionLabel, type MachineDescription, type TransitionDescription } from '../machines/describe.js';
import { createJobMachine } from '../machines/job-machine.js';
import type { JobView } from '../ops/jobs.js';

/** One step of the path: a transition taken, `times` times. */
export interface PathStep {
  source: string;
  event: string;
  target: string;
  times: number;
}

export interface JobPath {
  steps: PathStep[];
  states: Set<string>;
}

const keyOf = (t: { source: string; event: string; target: string }): string => `${t.source}|${t.event}|${t.target}`;

/** This job's way through its machine, from its history and state. */
export function jobPath(job: Pick<JobView, 'state' | 'history' | 'attempt' | 'deadLetterReason'>): JobPath {
  const steps = new Map<string, PathStep>();
  const take = (source: string, event: string, target: string): void => {
    const key = keyOf({ source, event, target });
    const step = steps.get(key) ?? { source, event, target, times: 0 };
    step.times++;
    steps.set(key, step);
  };
  const history = job.history;
  // The attempt that died is the last entry when its failure killed the job (not a payload refusal,
  // not a deadline seen at START).
  const diedAtStart = job.state === 'dead' && job.deadLetterReason === 'deadline_exceeded' && history.length < job.attempt;
  const diedInvalid = job.state === 'dead' && job.deadLetterReason === 'invalid_payload';
  history.forEach((entry, index) => {
    const last = index === history.length - 1;
    const target = last && job.state === 'dead' && !diedAtStart && !diedInvalid ? 'dead' : 'backoff';
    if (entry.kind === 'worker_lost') take('pending', 'WORKER_LOST', target);
    else {
      take('pending', 'START', 'running');
      take('running', 'FAILED', target);
    }
  });
  if (job.state === 'succeeded') {
    take('pending', 'START', 'running');
    take('running', 'SUCCEEDED', 'succeeded');
  } else if (job.state === 'running') take('pending', 'START', 'running');
  else if (diedAtStart) take('pending', 'START', 'dead');
  else if (diedInvalid) take('pending', 'INVALID', 'dead');
  const states = new Set<string>(['pending']);
  for (const step of steps.values()) {
    states.add(step.source);
    states.add(step.target);
  }
  return { steps: [...steps.values()], states };
}

const quote = (text: string): string => `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

const TAKEN = '#0b5cad';
const NOT_TAKEN = '#8a8f98';

/** The machine in Graphviz DOT, the path's states filled and its transitions drawn thick. */
export function toDot(description: MachineDescription, path: JobPath): string {
  const taken = new Map(path.steps.map((step) => [keyOf(step), step]));
  const lines = [
    'digraph job {',
    '  rankdir=LR; bgcolor="transparent"; pad=0.2; nodesep=0.35; ranksep=0.6;',
    '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=12, fillcolor="#ffffff", color="#5f6368"];',
    '  edge [fontname="Helvetica", fontsize=9];',
    '  __start [shape=circle, width=0.15, label="", style=filled, fillcolor="#333333"];',
    `  __start -> ${quote(description.initial)} [color=${quote(TAKEN)}, penwidth=2];`,
  ];
  for (const state of description.states) {
    const on = path.states.has(state.name);
    const attributes = [
      `label=${quote(state.name)}`,
      ...(state.final ? ['peripheries=2'] : []),
      ...(on ? [`fillcolor="#d2e6fb"`, `color=${quote(TAKEN)}`, 'penwidth=2.5', 'fontname="Helvetica-Bold"'] : []),
    ];
    lines.push(`  ${quote(state.name)} [${attributes.join(', ')}];`);
  }
  for (const transition of description.transitions as TransitionDescription[]) {
    if (!transition.changesState) continue;
    const step = taken.get(keyOf(transition));
    // One drawn edge per taken step: a guarded pair to one target (FAILED → dead twice) is labelled once.
    const label = transitionLabel(transition) + (step && step.times > 1 ? `  ×${step.times}` : '');
    const attributes = step
      ? [`label=${quote(label)}`, `color=${quote(TAKEN)}`, `fontcolor=${quote(TAKEN)}`, 'penwidth=3']
      : [`label=${quote(label)}`, `color=${quote(NOT_TAKEN)}`, `fontcolor="#4d5156"`, 'style=dashed'];
    if (step) taken.delete(keyOf(transition));
    lines.push(`  ${quote(transition.source)} -> ${quote(transition.target)} [${attributes.join(', ')}];`);
  }
  lines.push('}');
  return lines.join('\n');
}

let viz: Promise<Viz> | undefined;

/** The SVG of a job's machine with its path; `titleId` names the `<title>` that labels it. */
export async function machineSvg(type: string, path: JobPath, titleId: string): Promise<{ svg: string; description: MachineDescription }> {
  const description = describeMachine(createJobMachine(type));
  viz ??= instance();
  const svg = (await viz).renderString(toDot(description, path), { format: 'svg' });
  const start = svg.indexOf('<svg');
  // Graphviz titles each node and edge; the picture as a whole is one image named by the caption.
  const body = svg
    .slice(start)
    .replace(/<title>[^<]*<\/title>/g, '')
    .replace('<svg', `<svg role="img" aria-labelledby="${titleId}" focusable="false"`);
  return { svg: body, description };
}
