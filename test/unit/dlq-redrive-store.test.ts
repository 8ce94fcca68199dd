/**
 * `redriveDlq` with a `beforeSend` hook, as `dlq redrive` runs it when a job store is configured: each
 * batch is announced (job id and the attempt its message carries, after --reset-attempts) before it is
 * sent, so the store can reopen the rows; `--all` then moves by hand even where the server could move
 * natively; a hook that fails leaves its batch in the DLQ.
 */
import { describe, expect, test } from 'vitest';
import { MANUAL_METHOD, redriveDlq, type RedriveOptions } from '../../src/ops/dlq-redrive.js';
import { deadLetterBody } from '../../src/queue/dead-letter.js';
import { decodeEnvelope, newEnvelope, type Envelope } from '../../src/queue/envelope.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import type { MessageMoveTask, ReceivedMessage, ReceiveOptions } from '../../src/queue/transport.js';
import { MemoryJobStore } from '../../src/store/memory-store.js';

/** Never long-polls; has the move-task capability, which must not be used with a hook. */
class Transport extends MemoryTransport {
  moveStarted = false;
  override receive(queueUrl: string, options: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    return super.receive(queueUrl, { ...options, waitTimeSeconds: 0 });
  }
  async startMessageMove(): Promise<MessageMoveTask> {
    this.moveStarted = true;
    return { taskHandle: 't', source: 'arn' };
  }
  async messageMoveStatus() {
    return { status: 'COMPLETED', moved: 0 } as const;
  }
}

/** Three jobs dead at attempt 2, in the store and in the DLQ. */
async function setup() {
  const transport = new Transport();
  const dlqUrl = await transport.createQueue('jobs-dlq');
  const queueUrl = await transport.createQueue('jobs');
  const store = new MemoryJobStore();
  const envelopes: Envelope[] = [];
  for (let index = 0; index < 3; index++) {
    const envelope = { ...newEnvelope({ type: 'x.dead', payload: { index }, now: Date.now() }), attempt: 2 };
    envelopes.push(envelope);
    const row = { id: envelope.id, type: envelope.type, createdAt: Date.now(), payload: envelope.payload };
    await store.createJobs([row]);
    await store.claim([
      { jobId: envelope.id, type: envelope.type, attempt: 1, messageId: `a-${index}`, leaseMs: 30_000, worker: 'w', row },
    ]);
    await store.settle([
      {
        jobId: envelope.id,
        attempt: 1,
        messageId: `a-${index}`,
        outcome: { kind: 'backoff', nextAttempt: 2, scheduledAt: Date.now(), error: { name: 'E', message: 'm' }, history: [] },
      },
    ]);
    await store.claim([
      { jobId: envelope.id, type: envelope.type, attempt: 2, messageId: `b-${index}`, leaseMs: 30_000, worker: 'w', row },
    ]);
    await store.settle([
      { jobId: envelope.id, attempt: 2, messageId: `b-${index}`, outcome: { kind: 'dead', reason: 'attempts_exhausted', history: [] } },
    ]);
    await transport.send(dlqUrl, { body: deadLetterBody(envelope, { reason: 'attempts_exhausted', at: new Date().toISOString() }) });
  }
  const announced: Array<{ jobId: string; attempt: number }> = [];
  const warnings: string[] = [];
  const options = (extra: Partial<RedriveOptions> = {}): RedriveOptions => ({
    selection: {},
    all: true,
    resetAttempts: false,
    dryRun: false,
    signal: new AbortController().signal,
    warn: (line) => warnings.push(line),
    beforeSend: async (jobs) => {
      announced.push(...jobs);
      await store.reopenJobs(jobs);
    },
    ...extra,
  });
  return { transport, store, envelopes, announced, warnings, options, queues: { transport, queueUrl, queueName: 'jobs', dlqUrl } };
}

async function mainQueueIds(transport: MemoryTransport, queueUrl: string): Promise<Array<{ id: string; attempt: number }>> {
  const batch = await transport.receive(queueUrl, { maxMessages: 10, waitTimeSeconds: 0 });
  return batch.flatMap((message) => {
    const decoded = decodeEnvelope(message.body);
    return decoded.ok ? [{ id: decoded.envelope.id, attempt: decoded.envelope.attempt }] : [];
  });
}

describe('redriveDlq with a beforeSend hook (a job store)', () => {
  test('--all moves by hand and announces each job at its attempt before sending; the store reopens them', async () => {
    const { transport, store, envelopes, announced, options, queues } = await setup();
    const { result } = await redriveDlq(queues, options());
    expect(transport.moveStarted).toBe(false);
    expect(result).toMatchObject({ method: MANUAL_METHOD, redrove: 3, failed: 0 });
    expect(announced.map((job) => job.attempt)).toEqual([2, 2, 2]);
    expect(new Set(announced.map((job) => job.jobId))).toEqual(new Set(envelopes.map((e) => e.id)));
    for (const envelope of envelopes) expect(await store.getJob(envelope.id)).toMatchObject({ state: 'pending', attempt: 2 });
    expect((await mainQueueIds(transport, queues.queueUrl)).map((m) => m.attempt)).toEqual([2, 2, 2]);
  });

  test('with --reset-attempts the announced attempt is 1, as the message sent', async () => {
    const { store, envelopes, announced, options, queues } = await setup();
    await redriveDlq(queues, options({ resetAttempts: true }));
    expect(announced.map((job) => job.attempt)).toEqual([1, 1, 1]);
    for (const envelope of envelopes) expect(await store.getJob(envelope.id)).toMatchObject({ state: 'pending', attempt: 1 });
  });

  test('a hook that fails sends nothing of its batch: the jobs stay in the DLQ, counted as failed', async () => {
    const { transport, warnings, options, queues } = await setup();
    const { result } = await redriveDlq(
      queues,
      options({
        beforeSend: async () => {
          throw new Error('store down');
        },
      }),
    );
    expect(result).toMatchObject({ redrove: 0, failed: 3 });
    expect(warnings[0]).toMatch(/could not reopen 3 job\(s\) in the store, left in the DLQ: store down/);
    expect(await mainQueueIds(transport, queues.queueUrl)).toEqual([]);
    expect((await transport.depth(queues.dlqUrl)).visible).toBe(3);
  });
});
