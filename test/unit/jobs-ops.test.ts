/**
 * src/ops/jobs.ts over the in-memory store: the JSON shape of a job, `retryJob` (a new attempt series
 * sent as a first-attempt envelope with the job's id and history; refused, changing nothing, when the
 * payload cannot be sent as enqueued; cancelled again when the send fails) and `storeFacts`.
 */
import { describe, expect, it } from 'vitest';
import { jobText } from '../../src/cli/commands/jobs.js';
import { jobView, retryJob, storeFacts, type EnvelopeSender } from '../../src/ops/jobs.js';
import type { Envelope, HistoryEntry } from '../../src/queue/envelope.js';
import type { NewJob } from '../../src/store/job-store.js';
import { MemoryJobStore } from '../../src/store/memory-store.js';
import { ManualClock } from '../support/manual-clock.js';

const T0 = Date.parse('2026-03-01T00:00:00.000Z');
const failure: HistoryEntry = {
  attempt: 1,
  at: new Date(T0 + 1_000).toISOString(),
  durationMs: 12,
  kind: 'failed',
  error: { name: 'NonRetryableError', message: 'account gone' },
};

/** A store holding one job of each shape asked for, `dead` after one failed attempt. */
async function deadJob(row: Partial<NewJob> = {}) {
  let now = T0;
  const store = new MemoryJobStore({ now: () => now });
  const job: NewJob = { id: crypto.randomUUID(), type: 'demo.poison', createdAt: T0, idempotencyKey: 'k-1', payload: { why: 'x' }, ...row };
  await store.createJobs([job]);
  await store.claim([{ jobId: job.id, type: job.type, attempt: 1, messageId: 'm-1', leaseMs: 30_000, worker: 'test:1', row: job }]);
  now = T0 + 1_000;
  await store.settle([
    {
      jobId: job.id,
      attempt: 1,
      messageId: 'm-1',
      outcome: { kind: 'dead', reason: 'non_retryable', error: failure.error, history: [failure] },
    },
  ]);
  return { store, id: job.id };
}

class Sender implements EnvelopeSender {
  readonly sent: Envelope[] = [];
  fail = false;
  async sendEnvelope(envelope: Envelope): Promise<void> {
    if (this.fail) throw new Error('queue down');
    this.sent.push(envelope);
  }
}

describe('jobView', () => {
  it('gives ISO-8601 times, null for what is unknown, and the payload only when stored', async () => {
    const { store, id } = await deadJob();
    const view = jobView((await store.getJob(id))!);
    expect(view).toEqual({
      id,
      type: 'demo.poison',
      state: 'dead',
      attempt: 1,
      idempotencyKey: 'k-1',
      concurrencyKey: null,
      createdAt: '2026-03-01T00:00:00.000Z',
      updatedAt: '2026-03-01T00:00:01.000Z',
      scheduledAt: null,
      startedAt: '2026-03-01T00:00:00.000Z',
      settledAt: '2026-03-01T00:00:01.000Z',
      lastError: { name: 'NonRetryableError', message: 'account gone' },
      history: [failure],
      traceId: null,
      deadLetterReason: 'non_retryable',
      payload: { why: 'x' },
      retries: 0,
    });
    const { store: other, id: omitted } = await deadJob({ payload: undefined, payloadOmitted: 'disabled' });
    const bare = jobView((await other.getJob(omitted))!);
    expect(bare.payloadOmitted).toBe('disabled');
    expect('payload' in bare).toBe(false);
    // `jobs show` prints the concurrency key only when one is held.
    expect(jobText(view)).not.toContain('concurrency key');
    expect(jobText({ ...view, concurrencyKey: 'tenant-7' })).toContain('  concurrency key:  tenant-7\n');
  });
});

describe('retryJob', () => {
  it('reopens a dead job at attempt 1 and sends a first-attempt envelope with its id, payload and history', async () => {
    const { store, id } = await deadJob();
    const sender = new Sender();
    const outcome = await retryJob(store, sender, id, { clock: new ManualClock(T0 + 5_000) });
    expect(outcome).toMatchObject({ kind: 'retried', job: { id, state: 'pending', attempt: 1, retries: 1, history: [failure] } });
    expect(sender.sent).toEqual([
      {
        v: 1,
        id,
        type: 'demo.poison',
        payload: { why: 'x' },
        attempt: 1,
        createdAt: '2026-03-01T00:00:05.000Z',
        idempotencyKey: 'k-1',
        history: [failure],
      },
    ]);
  });

  it.each([
    ['not stored', { payload: undefined, payloadOmitted: 'disabled' as const }, 'disabled'],
    ['over the cap', { payload: undefined, payloadOmitted: 'too_large' as const }, 'too_large'],
    ['redacted', { payload: { token: '[redacted]' } }, 'redacted'],
  ])('refuses a payload %s and changes nothing', async (_name, row, why) => {
    const { store, id } = await deadJob(row);
    const sender = new Sender();
    expect(await retryJob(store, sender, id)).toEqual({ kind: 'payload_not_stored', state: 'dead', why });
    expect(sender.sent).toEqual([]);
    expect(await store.getJob(id)).toMatchObject({ state: 'dead', retries: 0 });
  });

  it('answers not_found and not_retryable without sending', async () => {
    const { store } = await deadJob();
    const sender = new Sender();
    expect(await retryJob(store, sender, crypto.randomUUID())).toEqual({ kind: 'not_found' });
    const [pending] = await store.createJobs([{ id: crypto.randomUUID(), type: 't', createdAt: T0, payload: {} }]);
    expect(await retryJob(store, sender, pending!.id)).toEqual({ kind: 'not_retryable', state: 'pending' });
    expect(sender.sent).toEqual([]);
  });

  it('cancels the row again when the send fails, so a later retry can run', async () => {
    const { store, id } = await deadJob();
    const sender = new Sender();
    sender.fail = true;
    expect(await retryJob(store, sender, id)).toMatchObject({ kind: 'send_failed' });
    expect((await store.getJob(id))?.state).toBe('cancelled');
    sender.fail = false;
    expect(await retryJob(store, sender, id)).toMatchObject({ kind: 'retried', job: { retries: 2 } });
  });
});

describe('storeFacts', () => {
  it('says what the store knows of each id, null when it has no row', async () => {
    const { store, id } = await deadJob();
    const unknown = crypto.randomUUID();
    const facts = await storeFacts(store, [id, unknown, id]);
    expect(facts).toEqual(
      new Map([
        [id, { state: 'dead', attempt: 1, retries: 0, deadLetterReason: 'non_retryable' }],
        [unknown, null],
      ]),
    );
  });
});
