/**
 * The job page's path through the machine (src/console/machine-graph.ts): read from the store's
 * history and state, every step is a transition the machine has (the same description
 * `calsync-jobs machines` prints), and the DOT drawing marks exactly those.
 */
import { describe, expect, it } from 'vitest';
import { jobPath, toDot } from '../../src/console/machine-graph.js';
import { describeMachine } from '../../src/machines/describe.js';
import { createJobMachine } from '../../src/machines/job-machine.js';
import type { HistoryEntry } from '../../src/queue/envelope.js';

const failed = (attempt: number, kind: HistoryEntry['kind'] = 'failed'): HistoryEntry => ({
  attempt,
  at: new Date(1_700_000_000_000 + attempt).toISOString(),
  durationMs: 5,
  kind,
  error: { name: 'Error', message: 'boom' },
});

const steps = (job: Parameters<typeof jobPath>[0]) =>
  jobPath(job).steps.map((s) => `${s.source} -${s.event}-> ${s.target}${s.times > 1 ? ` x${s.times}` : ''}`);

describe('jobPath', () => {
  it.each([
    [
      'succeeded on the third attempt',
      { state: 'succeeded', attempt: 3, history: [failed(1), failed(2)], deadLetterReason: null },
      ['pending -START-> running x3', 'running -FAILED-> backoff x2', 'running -SUCCEEDED-> succeeded'],
    ],
    [
      'dead after its attempts',
      { state: 'dead', attempt: 2, history: [failed(1), failed(2)], deadLetterReason: 'attempts_exhausted' },
      ['pending -START-> running x2', 'running -FAILED-> backoff', 'running -FAILED-> dead'],
    ],
    ['dead of its payload', { state: 'dead', attempt: 1, history: [], deadLetterReason: 'invalid_payload' }, ['pending -INVALID-> dead']],
    [
      'dead at START past its deadline',
      { state: 'dead', attempt: 2, history: [failed(1)], deadLetterReason: 'deadline_exceeded' },
      ['pending -START-> running', 'running -FAILED-> backoff', 'pending -START-> dead'],
    ],
    [
      'a lost worker, then running',
      { state: 'running', attempt: 2, history: [failed(1, 'worker_lost')], deadLetterReason: null },
      ['pending -WORKER_LOST-> backoff', 'pending -START-> running'],
    ],
    ['waiting for its first attempt', { state: 'pending', attempt: 1, history: [], deadLetterReason: null }, []],
  ] as const)('%s', (_name, job, expected) => {
    expect(steps({ ...job, history: [...job.history] })).toEqual(expected);
  });

  it('every step is a transition of the machine, and the drawing marks exactly the steps taken', () => {
    const description = describeMachine(createJobMachine('t'));
    const path = jobPath({ state: 'succeeded', attempt: 3, history: [failed(1), failed(2, 'worker_lost')], deadLetterReason: null });
    for (const step of path.steps) {
      expect(description.transitions.some((t) => t.source === step.source && t.event === step.event && t.target === step.target)).toBe(
        true,
      );
    }
    const dot = toDot(description, path);
    const thick = dot.split('\n').filter((line) => line.includes('->') && line.includes('penwidth=3'));
    expect(thick.map((line) => /"(\w+)" -> "(\w+)" \[label="(\w+)/.exec(line)?.slice(1).join(' '))).toEqual([
      'pending backoff WORKER_LOST',
      'pending running START',
      'running succeeded SUCCEEDED',
      'running backoff FAILED',
    ]);
    expect(dot).toContain('"running" [label="running", fillcolor="#d2e6fb"');
    expect(dot).not.toContain('"dead" [label="dead", peripheries=2, fillcolor');
  });
});
