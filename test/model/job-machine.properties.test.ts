/**
 * Properties of the job machine over a job's whole life (fast-check, pure): the simulator chains the
 * real machine across messages with `initialTransition` / `transition`, for any policy and any outcome
 * sequence (with pre-drawn jitter values and Retry-After style overrides).
 */
import fc from 'fast-check';
import { initialTransition, transition } from 'xstate';
import { describe, expect, it } from 'vitest';
import { jobMachine } from '../../src/machines/job-machine.js';
import { resolveRetryPolicy, type ResolvedRetryPolicy } from '../../src/machines/retry-policy.js';
import { simulate, type Outcome } from '../support/job-simulator.js';

const policyArb: fc.Arbitrary<ResolvedRetryPolicy> = fc
  .record({
    initialIntervalMs: fc.integer({ min: 0, max: 60_000 }),
    backoffCoefficient: fc.double({ min: 1, max: 4, noNaN: true }),
    capFactor: fc.double({ min: 1, max: 200, noNaN: true }),
    maximumAttempts: fc.integer({ min: 1, max: 8 }),
    jitter: fc.constantFrom('full', 'equal', 'none' as const),
  })
  .map(({ capFactor, ...p }) => resolveRetryPolicy({ ...p, maximumIntervalMs: Math.round(p.initialIntervalMs * capFactor) }));

const randomArb = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

const outcomeArb: fc.Arbitrary<Outcome> = fc.oneof(
  fc.constant({ kind: 'success' as const }),
  fc.record({ kind: fc.constant('retryable' as const), random: randomArb }),
  fc.record({ kind: fc.constant('retryable' as const), random: randomArb, nextRetryDelayMs: fc.integer({ min: 0, max: 10_000_000 }) }),
  fc.constant({ kind: 'nonRetryable' as const }),
  fc.record({ kind: fc.constant('timeout' as const), random: randomArb }),
  fc.constant({ kind: 'invalid' as const }),
  fc.record({ kind: fc.constant('lost' as const), random: randomArb }),
);

/** The outcomes the simulator consumes: an invalid payload can only be seen on the first delivery. */
function effective(outcomes: readonly Outcome[]): Outcome[] {
  return outcomes.filter((o, i) => o.kind !== 'invalid' || i === 0);
}

/** The outcome of each attempt: each outcome (lost included) spends one attempt, in order. */
function byAttempt(outcomes: readonly Outcome[]): Map<number, Outcome> {
  return new Map(effective(outcomes).map((o, i) => [i + 1, o]));
}

function baseDelay(policy: ResolvedRetryPolicy, attempt: number): number {
  return Math.min(policy.initialIntervalMs * policy.backoffCoefficient ** (attempt - 1), policy.maximumIntervalMs);
}

describe('job machine properties across messages', () => {
  it('never runs more than maximumAttempts, and settles exactly once when the outcomes run out of retries', () => {
    fc.assert(
      fc.property(policyArb, fc.array(outcomeArb, { minLength: 0, maxLength: 12 }), (policy, outcomes) => {
        const life = simulate(outcomes, { policy });
        expect(Math.max(0, ...life.attemptsRun)).toBeLessThanOrEqual(policy.maximumAttempts);
        // Attempts run in increasing order, each one once.
        expect([...life.attemptsRun].sort((a, b) => a - b)).toEqual(life.attemptsRun);
        expect(new Set(life.attemptsRun).size).toBe(life.attemptsRun.length);
        // Every attempt used is counted: outcomes consumed = attempts spent (an invalid payload spends none).
        const used = life.outcomes.filter((o) => o !== 'invalid').length;
        expect(used).toBeLessThanOrEqual(policy.maximumAttempts);
        // The outcome of attempt maximumAttempts always ends the job.
        if (effective(outcomes).length >= policy.maximumAttempts) expect(life.status).not.toBe('active');
      }),
      { numRuns: 500 },
    );
  });

  it('keeps every retry delay within its jitter bounds and the cap (unless nextRetryDelayMs overrides)', () => {
    fc.assert(
      fc.property(policyArb, fc.array(outcomeArb, { minLength: 1, maxLength: 12 }), (policy, outcomes) => {
        const life = simulate(outcomes, { policy });
        const outcomeOf = byAttempt(outcomes);
        for (const effect of life.effects) {
          if (effect.type !== 'retry') continue;
          expect(effect.nextAttempt).toBe(effect.attempt + 1);
          const outcome = outcomeOf.get(effect.attempt);
          // A lost attempt is retried like a failed one: same policy, its own pre-drawn jitter value.
          expect(outcome?.kind === 'retryable' || outcome?.kind === 'timeout' || outcome?.kind === 'lost').toBe(true);
          if (outcome?.kind === 'retryable' && outcome.nextRetryDelayMs !== undefined) {
            expect(effect.delayMs).toBe(outcome.nextRetryDelayMs);
            continue;
          }
          const base = baseDelay(policy, effect.attempt);
          const low = policy.jitter === 'full' ? 0 : policy.jitter === 'equal' ? Math.floor(base / 2) : Math.round(base);
          expect(effect.delayMs).toBeGreaterThanOrEqual(low);
          expect(effect.delayMs).toBeLessThanOrEqual(Math.round(base));
          expect(effect.delayMs).toBeLessThanOrEqual(Math.round(policy.maximumIntervalMs));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('never both acks and dead-letters a job, and ends in at most one final effect', () => {
    fc.assert(
      fc.property(policyArb, fc.array(outcomeArb, { maxLength: 12 }), (policy, outcomes) => {
        const life = simulate(outcomes, { policy });
        const acks = life.effects.filter((e) => e.type === 'ack').length;
        const deads = life.effects.filter((e) => e.type === 'deadLetter').length;
        expect(acks + deads).toBeLessThanOrEqual(1);
        expect(acks === 1).toBe(life.status === 'succeeded');
        expect(deads === 1).toBe(life.status === 'dead');
        // A final effect is the last thing that happens.
        if (acks + deads === 1) expect(['ack', 'deadLetter']).toContain(life.effects.at(-1)!.type);
      }),
      { numRuns: 500 },
    );
  });

  it('carries a history as long as the failed attempts made (failures, timeouts and lost workers)', () => {
    fc.assert(
      fc.property(policyArb, fc.array(outcomeArb, { maxLength: 12 }), (policy, outcomes) => {
        const life = simulate(outcomes, { policy });
        const failedKinds = life.outcomes.filter((o) => o === 'retryable' || o === 'timeout' || o === 'nonRetryable' || o === 'lost');
        // A lost attempt is written down (once) by the receive that settles its message, so the envelope
        // now in the queue already carries it.
        expect(life.history.map((h) => h.kind)).toEqual(
          failedKinds.map((o) => (o === 'timeout' ? 'timeout' : o === 'lost' ? 'worker_lost' : 'failed')),
        );
        // Entries name consecutive attempts from 1.
        expect(life.history.map((h) => h.attempt)).toEqual(life.history.map((_, i) => i + 1));
        for (const effect of life.effects) {
          if (effect.type === 'retry') expect(effect.history).toHaveLength(effect.attempt);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('settles a lost attempt at the next receive, without running it: one worker_lost entry, then a retry or the DLQ', () => {
    fc.assert(
      fc.property(policyArb, fc.array(outcomeArb, { maxLength: 12 }), (policy, outcomes) => {
        const life = simulate(outcomes, { policy });
        // One settling effect per outcome consumed, in order, and nothing after the final one.
        expect(life.effects).toHaveLength(life.outcomes.length);
        life.outcomes.forEach((kind, i) => {
          const effect = life.effects[i]!;
          // Every message is received at most twice: once by the worker that lost it, once to settle it.
          expect(effect.receiveCount).toBe(kind === 'lost' ? 2 : 1);
          if (kind !== 'lost') return;
          const attempt = i + 1; // each outcome spends one attempt (an invalid payload can only end the job)
          expect(effect.attempt).toBe(attempt);
          expect(effect.type).not.toBe('ack');
          if (effect.type === 'ack') return;
          expect(effect.history.at(-1)).toMatchObject({
            attempt,
            kind: 'worker_lost',
            durationMs: 0,
            error: { name: 'WorkerLost', reason: 'worker_lost' },
          });
          expect(effect.history.filter((h) => h.kind === 'worker_lost' && h.attempt === attempt)).toHaveLength(1);
          if (attempt < policy.maximumAttempts) {
            expect(effect).toMatchObject({ type: 'retry', nextAttempt: attempt + 1 });
          } else {
            expect(effect).toMatchObject({
              type: 'deadLetter',
              reason: 'attempts_exhausted',
              error: { name: 'WorkerLost', reason: 'worker_lost' },
            });
          }
        });
        // The handler ran exactly the attempts that were neither lost nor refused as invalid.
        const ran = life.outcomes.flatMap((kind, i) => (kind === 'lost' || kind === 'invalid' ? [] : [i + 1]));
        expect(life.attemptsRun).toEqual(ran);
      }),
      { numRuns: 500 },
    );
  });

  it('dead-letters with the reason the outcomes call for', () => {
    fc.assert(
      fc.property(policyArb, fc.array(outcomeArb, { maxLength: 12 }), (policy, outcomes) => {
        const life = simulate(outcomes, { policy });
        const dead = life.effects.find((e) => e.type === 'deadLetter');
        if (dead?.type !== 'deadLetter') return;
        const last = life.outcomes.at(-1);
        const expected = last === 'invalid' ? 'invalid_payload' : last === 'nonRetryable' ? 'non_retryable' : 'attempts_exhausted';
        expect(dead.reason).toBe(expected);
        if (expected === 'attempts_exhausted') expect(dead.attempt).toBe(policy.maximumAttempts);
      }),
      { numRuns: 500 },
    );
  });

  it('a pure transition never mutates the snapshot it was given', () => {
    fc.assert(
      fc.property(policyArb, randomArb, (policy, random) => {
        const [start] = initialTransition(jobMachine, { attempt: 1, createdAtMs: 0, policy });
        const [running] = transition(jobMachine, start, { type: 'START', now: 0 });
        const before = JSON.stringify(running.context);
        transition(jobMachine, running, {
          type: 'FAILED',
          now: 1,
          durationMs: 1,
          error: { name: 'E', message: 'm' },
          retryable: true,
          random,
        });
        expect(JSON.stringify(running.context)).toBe(before);
        expect(running.value).toBe('running');
      }),
      { numRuns: 200 },
    );
  });
});
