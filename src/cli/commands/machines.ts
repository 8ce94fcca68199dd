/**
 * `calsync-jobs machines`: each job type's state machine, generated from the XState definition the
 * worker runs (`createJobMachine(type)`), as Mermaid or JSON. No queue is contacted.
 */
import type { JobDefinition } from '../../machines/define-job.js';
import { describeMachine, toMermaid, type MachineDescription } from '../../machines/describe.js';
import { createJobMachine } from '../../machines/job-machine.js';
import { parse, UsageError } from '../args.js';
import { loadJobs } from '../load-jobs.js';

export const MACHINES_USAGE = `Usage: calsync-jobs machines [--type T] [--format mermaid|json] [--show-assign] [--jobs <module>]

Prints each job type's state machine (states, transitions with their event, guard and the actions
they run), read from the XState definition itself. Job types come from --jobs (default: this
project's src/jobs). docs/machines.md embeds the same output (npm run docs:machines).

  --type T              only this job type
  --format F            mermaid (default: a stateDiagram-v2 per type) or json (one object)
  --show-assign         list XState's assign among a transition's actions (mermaid)
  --jobs <module>       a module whose default export is an array of defineJob() results`;

/** One job type's machine plus the policy that feeds its guards. */
export interface JobMachineDescription extends MachineDescription {
  type: string;
  policy: {
    retry: JobDefinition['retry'];
    attemptTimeoutMs: number;
    deadlineMs: number | null;
  };
}

/** Describes every definition's machine (pure apart from building the machines). */
export function describeJobMachines(jobs: readonly JobDefinition<any, any>[]): JobMachineDescription[] {
  return jobs.map((job) => ({
    type: job.type,
    ...describeMachine(createJobMachine(job.type)),
    policy: { retry: job.retry, attemptTimeoutMs: job.attemptTimeoutMs, deadlineMs: job.deadlineMs ?? null },
  }));
}

export async function machinesCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { type: { type: 'string' }, format: { type: 'string' }, jobs: { type: 'string' }, 'show-assign': { type: 'boolean' } },
    MACHINES_USAGE,
    true,
  );
  if (values.help) {
    console.log(MACHINES_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, MACHINES_USAGE);
  const format = (values.format as string | undefined) ?? 'mermaid';
  if (format !== 'mermaid' && format !== 'json')
    throw new UsageError(`--format: expected mermaid or json, got ${JSON.stringify(format)}`, MACHINES_USAGE);
  let jobs = await loadJobs(values.jobs as string | undefined);
  const type = values.type as string | undefined;
  if (type !== undefined) {
    jobs = jobs.filter((job) => job.type === type);
    if (jobs.length === 0) {
      const known = (await loadJobs(values.jobs as string | undefined)).map((job) => job.type).join(', ');
      throw new UsageError(`--type: no job type ${JSON.stringify(type)} (known: ${known})`, MACHINES_USAGE);
    }
  }
  const described = describeJobMachines(jobs);
  if (format === 'json') {
    console.log(JSON.stringify({ machines: described }, null, 2));
    return 0;
  }
  const showAssign = values['show-assign'] === true;
  console.log(described.map((machine) => `%% ${machine.type}\n${toMermaid(machine, { showAssign })}`).join('\n\n'));
  return 0;
}
