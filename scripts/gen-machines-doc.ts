/**
 * Regenerates docs/machines.md from the job machines themselves (`npm run docs:machines`).
 * test/unit/machines-doc.test.ts fails when the committed page and this output differ.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeJobMachines, type JobMachineDescription } from '../src/cli/commands/machines.js';
import jobs from '../src/jobs/index.js';
import type { JobDefinition } from '../src/machines/define-job.js';
import { toMermaid } from '../src/machines/describe.js';

export const MACHINES_DOC_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'machines.md');

const EVENTS: Array<[string, string]> = [
  ['START', 'The runtime received the message, decoded the envelope and validated the payload; about to run the handler.'],
  ['INVALID', "The payload failed the job type's zod schema. No attempt is spent: the job is dead at once (`invalid_payload`)."],
  [
    'WORKER_LOST',
    "The message arrived with ApproximateReceiveCount > 1: a worker received it before and died without settling it. One event, however high the count (a dead worker's open long poll can be handed the message too); it is a retryable failure (`worker_lost` in the history): the job is re-sent as the next attempt after the backoff, or dead-lettered when attempts are spent. The handler does not run on that message.",
  ],
  ['SUCCEEDED', 'The handler resolved.'],
  [
    'FAILED',
    'The handler threw, or the attempt outlived `attemptTimeoutMs` (`timedOut`). Carries the error, whether it may be retried (`NonRetryableError` may not), an optional `nextRetryDelayMs` from the error, and a pre-drawn random number for jitter.',
  ],
  ['CHECKPOINT', 'The handler called `ctx.saveCheckpoint(state)`.'],
  [
    'LEASE_DUE',
    'Half the visibility timeout has passed while the handler runs (or it called `ctx.heartbeat()`): time to extend the lease. Targetless: the machine stays in `running`.',
  ],
  ['RELEASE', 'The worker is stopping and the shutdown grace ran out: the handler is aborted and the message given back.'],
];

const GUARDS: Array<[string, string]> = [
  ['pastDeadline', 'the job has a `deadlineMs` and `createdAt + deadlineMs` has passed'],
  ['tooEarly', "the envelope's `notBefore` is still in the future (a delay over 900 s hops)"],
  ['attemptsRemain', '`maximumAttempts` is 0 (unlimited) or the current attempt is below it'],
  [
    'willRetry',
    '`failureVerdict` says retry: the error is retryable and not in `nonRetryableErrors`, attempts remain, and the next delay ends before the deadline',
  ],
  ['else', 'none of the guards before it for the same event passed'],
];

const ACTIONS: Array<[string, string]> = [
  ['ack', 'DeleteMessage (batched).'],
  [
    'retry',
    'SendMessage of the next envelope (attempt + 1, history appended) with DelaySeconds = min(delay, 900 s), then delete the current message.',
  ],
  ['defer', 'SendMessage of the same envelope for the rest of its `notBefore` wait, then delete.'],
  [
    'deadLetter',
    'SendMessage to the DLQ (the envelope plus a `deadLetter` record: reason, error, time), then delete. Reasons: `invalid_payload`, `non_retryable`, `attempts_exhausted`, `deadline_exceeded`.',
  ],
  ['checkpoint', 'SendMessage of the envelope with the new checkpoint and the attempt reset to 1, then delete.'],
  ['extendLease', 'ChangeMessageVisibility to a fresh visibility timeout.'],
  [
    'release',
    'SendMessage of the same envelope (no delay), then delete: another worker may take the job at once, and the forced stop does not count as a receive.',
  ],
];

const table = (header: [string, string], rows: Array<[string, string]>): string =>
  [`| ${header[0]} | ${header[1]} |`, '|---|---|', ...rows.map(([a, b]) => `| \`${a}\` | ${b} |`)].join('\n');

function policyLine(machine: JobMachineDescription): string {
  const { retry, attemptTimeoutMs, deadlineMs } = machine.policy;
  const attempts = retry.maximumAttempts === 0 ? 'unlimited attempts' : `${retry.maximumAttempts} attempt(s)`;
  const nonRetryable = retry.nonRetryableErrors.length === 0 ? 'none' : retry.nonRetryableErrors.map((name) => `\`${name}\``).join(', ');
  return [
    `Policy: ${attempts}; backoff ${retry.initialIntervalMs} ms × ${retry.backoffCoefficient}^(attempt − 1), at most ${retry.maximumIntervalMs} ms, jitter \`${retry.jitter}\`;`,
    `attempt timeout ${attemptTimeoutMs} ms; deadline ${deadlineMs === null ? 'none' : `${deadlineMs} ms after createdAt`}; non-retryable errors: ${nonRetryable}.`,
  ].join(' ');
}

/** The whole of docs/machines.md for these job definitions (pure). */
export function renderMachinesDoc(definitions: readonly JobDefinition<any, any>[]): string {
  const machines = describeJobMachines(definitions);
  const sections = machines.map((machine) =>
    [`### ${machine.type}`, '', policyLine(machine), '', '```mermaid', toMermaid(machine), '```'].join('\n'),
  );
  return `${[
    '# Job state machines',
    '',
    '<!-- Generated by scripts/gen-machines-doc.ts from the XState definitions: run `npm run docs:machines`.',
    '     Do not edit by hand; test/unit/machines-doc.test.ts fails when this page and the machines differ. -->',
    '',
    'Every job type runs the machine built by `createJobMachine(type)` (src/machines/job-machine.ts). The',
    'diagrams below are drawn from that definition, not by hand: `calsync-jobs machines` prints the same',
    '(`--format json` for tools, `--type T` for one type). The machine is pure: the runtime restores it from the',
    'envelope, feeds it one event, and executes the actions of the transition taken (architecture.md,',
    '"The job\'s life"). Types share the shape and differ in their policy, which the guards read.',
    '',
    'Edge labels read `EVENT [guard] / actions`. Transitions for the same event are tried top to bottom; the',
    'first whose guard passes is taken, `[else]` when none did. Several transitions also run XState `assign`',
    'actions that update the context (history, attempt, last error); `calsync-jobs machines --show-assign`',
    'lists them. Final states end the attempt: the message has been settled one way or another.',
    '',
    '## Events',
    '',
    table(['event', 'sent by the runtime when'], EVENTS),
    '',
    '## Guards',
    '',
    table(['guard', 'passes when'], GUARDS),
    '',
    '## Actions',
    '',
    'What the runtime does with SQS for each action (the action table of architecture.md;',
    'src/runtime/action-executor.ts). Every send happens before the delete, so a crash in between can',
    'duplicate a job but never lose one.',
    '',
    table(['action', 'SQS effect'], ACTIONS),
    '',
    '## Job types',
    '',
    ...sections.flatMap((section) => [section, '']),
  ]
    .join('\n')
    .trimEnd()}\n`;
}

const isEntry = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  writeFileSync(MACHINES_DOC_PATH, renderMachinesDoc(jobs));
  console.log(`wrote ${MACHINES_DOC_PATH}`);
}
