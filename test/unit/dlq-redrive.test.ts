/**
 * `redriveDlq` and the transport's move-task capability, without a server: a transport that has
 * `startMessageMove` / `messageMoveStatus` is polled on the injected clock (a ManualClock here) and its
 * progress reported; one without the methods moves by receive → send → delete; an authorisation error
 * from the move stops the redrive with the permission to grant, and any other failure falls back.
 */
import { describe, expect, test } from 'vitest';
import { MANUAL_METHOD, NATIVE_METHOD, redriveDlq, type RedriveOptions, type RedriveQueues } from '../../src/ops/dlq-redrive.js';
import { deadLetterBody } from '../../src/queue/dead-letter.js';
import { decodeEnvelope, newEnvelope } from '../../src/queue/envelope.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import type { MessageMoveStatus, MessageMoveTask, ReceivedMessage, ReceiveOptions } from '../../src/queue/transport.js';
import { TransportError } from '../../src/shared/errors.js';
import { ManualClock } from '../support/manual-clock.js';

/** The in-memory transport, with receives that never long-poll (an empty DLQ ends the scan at once). */
class QuickMemoryTransport extends MemoryTransport {
  override receive(queueUrl: string, options: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    return super.receive(queueUrl, { ...options, waitTimeSeconds: 0 });
  }
}

/** A transport with the move-task capability: `statuses` are answered in turn, the last one repeated. */
class MovingTransport extends QuickMemoryTransport {
  readonly started: Array<{ source: string; destination: string }> = [];
  polls = 0;
  constructor(
    private readonly statuses: MessageMoveStatus[],
    private readonly failure?: TransportError,
  ) {
    super();
  }
  async startMessageMove(sourceQueueUrl: string, destinationQueueUrl: string): Promise<MessageMoveTask> {
    if (this.failure) throw this.failure;
    this.started.push({ source: sourceQueueUrl, destination: destinationQueueUrl });
    return { taskHandle: 'task-1', source: `arn:${sourceQueueUrl}` };
  }
  async messageMoveStatus(task: MessageMoveTask): Promise<MessageMoveStatus | undefined> {
    expect(task).toEqual({ taskHandle: 'task-1', source: `arn:${this.started[0]!.source}` });
    return this.statuses[Math.min(this.polls++, this.statuses.length - 1)];
  }
}

async function queuesOn(transport: MemoryTransport, deadJobs: number): Promise<RedriveQueues & { ids: string[] }> {
  const dlqUrl = await transport.createQueue('jobs-dlq');
  const queueUrl = await transport.createQueue('jobs');
  const ids: string[] = [];
  for (let index = 0; index < deadJobs; index++) {
    const envelope = newEnvelope({ type: 'x.dead', payload: { index }, now: Date.now() });
    ids.push(envelope.id);
    await transport.send(dlqUrl, {
      body: deadLetterBody(envelope, { reason: 'non_retryable', at: new Date().toISOString() }),
      attributes: { 'job-type': 'x.dead' },
    });
  }
  return { transport, queueUrl, queueName: 'jobs', dlqUrl, ids };
}

/** Options for `--all`, recording notes, warnings and progress. */
function allOptions(clock = new ManualClock()) {
  const notes: string[] = [];
  const warnings: string[] = [];
  const progress: Array<[string, number, number | undefined]> = [];
  const options: RedriveOptions = {
    selection: {},
    all: true,
    resetAttempts: false,
    dryRun: false,
    signal: new AbortController().signal,
    clock,
    note: (line) => notes.push(line),
    warn: (line) => warnings.push(line),
    progress: (label) => ({ update: (done, total) => progress.push([label, done, total]), finish: () => undefined }),
  };
  return { options, notes, warnings, progress, clock };
}

/** Lets pending promise callbacks run (no clock movement). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

async function drainBodies(transport: MemoryTransport, queueUrl: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const batch = await transport.receive(queueUrl, { maxMessages: 10, waitTimeSeconds: 0 });
    if (batch.length === 0) return bodies;
    bodies.push(...batch.map((message) => message.body));
  }
}

describe('redriveDlq --all with the move-task capability', () => {
  test('starts the move, polls it on the injected clock every 500 ms and reports its progress', async () => {
    const transport = new MovingTransport([
      { status: 'RUNNING', moved: 0, toMove: 3 },
      { status: 'RUNNING', moved: 2, toMove: 1 },
      { status: 'COMPLETED', moved: 3, toMove: 0 },
    ]);
    const queues = await queuesOn(transport, 0);
    const { options, notes, progress, clock } = allOptions();
    let done = false;
    const running = redriveDlq(queues, options).finally(() => (done = true));

    await settle();
    expect(transport.started).toEqual([{ source: queues.dlqUrl, destination: queues.queueUrl }]);
    expect(notes).toEqual(['moving with StartMessageMoveTask (task task-1): every message goes back as it is']);
    expect(transport.polls).toBe(1);
    expect(clock.pendingTimers).toBe(1);
    // No real time passes: the next poll waits for the clock.
    await settle();
    expect(transport.polls).toBe(1);
    clock.advance(499);
    await settle();
    expect(transport.polls).toBe(1);
    clock.advance(1);
    await settle();
    expect(transport.polls).toBe(2);
    expect(done).toBe(false);
    clock.advance(500);
    await settle();
    expect(transport.polls).toBe(3);

    const { result, listed } = await running;
    expect(progress).toEqual([
      ['moving', 0, 3],
      ['moving', 2, 3],
      ['moving', 3, 3],
    ]);
    expect(result).toMatchObject({ method: NATIVE_METHOD, redrove: 3, failed: 0, skipped: 0, taskHandle: 'task-1' });
    expect(result.fallback).toBeUndefined();
    expect(listed).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
  });

  test('a task that ends FAILED is reported with its reason and counts as a failure', async () => {
    const transport = new MovingTransport([{ status: 'FAILED', moved: 1, failureReason: 'destination gone' }]);
    const queues = await queuesOn(transport, 0);
    const { options, warnings } = allOptions();
    const { result } = await redriveDlq(queues, options);
    expect(result).toMatchObject({ method: NATIVE_METHOD, redrove: 1, failed: 1 });
    expect(warnings).toEqual(['the move task ended FAILED: destination gone']);
  });

  test('an interrupt while waiting polls once more at once, then stops; the task keeps running', async () => {
    const transport = new MovingTransport([{ status: 'RUNNING', moved: 4, toMove: 6 }]);
    const queues = await queuesOn(transport, 0);
    const controller = new AbortController();
    const { options, warnings, clock } = allOptions();
    const running = redriveDlq(queues, { ...options, signal: controller.signal });
    await settle();
    expect(transport.polls).toBe(1);
    controller.abort();
    const { result } = await running;
    expect(transport.polls).toBe(2);
    expect(result).toMatchObject({ method: NATIVE_METHOD, redrove: 4, failed: 1, taskHandle: 'task-1' });
    expect(warnings[0]).toMatch(/^interrupted: the move task keeps running on the server/);
    expect(clock.pendingTimers).toBe(0);
  });

  test('an authorisation TransportError stops the redrive with the permission to grant; nothing moves', async () => {
    const denied = new TransportError('StartMessageMoveTask jobs-dlq: AccessDenied: not authorized', {
      code: 'AccessDenied',
      retryable: false,
    });
    const transport = new MovingTransport([], denied);
    const queues = await queuesOn(transport, 2);
    const { options, notes } = allOptions();
    const error = await redriveDlq(queues, options).catch((thrown: unknown) => thrown);
    expect(TransportError.is(error)).toBe(true);
    expect((error as TransportError).code).toBe('AccessDenied');
    expect((error as Error).message).toMatch(/^StartMessageMoveTask was refused \(AccessDenied: /);
    expect((error as Error).message).toContain('grant sqs:StartMessageMoveTask and sqs:ListMessageMoveTasks on the DLQ');
    expect((error as Error).message).toContain('Nothing was moved');
    expect(notes).toEqual([]);
    expect((await transport.depth(queues.dlqUrl)).visible).toBe(2);
    expect((await transport.depth(queues.queueUrl)).visible).toBe(0);
  });

  test('any other failure to start falls back to receive → send → delete and says why', async () => {
    const unsupported = new TransportError('StartMessageMoveTask: InvalidAction: not implemented', {
      code: 'InvalidAction',
      retryable: false,
    });
    const transport = new MovingTransport([], unsupported);
    const queues = await queuesOn(transport, 3);
    const { options, notes } = allOptions();
    const { result } = await redriveDlq(queues, options);
    expect(notes).toEqual([`StartMessageMoveTask is not available on this server (InvalidAction): moving by ${MANUAL_METHOD}`]);
    expect(result).toMatchObject({ method: MANUAL_METHOD, redrove: 3, skipped: 0, failed: 0 });
    expect(result.fallback).toEqual({
      from: NATIVE_METHOD,
      code: 'InvalidAction',
      message: 'StartMessageMoveTask: InvalidAction: not implemented',
    });
    expect((await drainBodies(transport, queues.queueUrl)).length).toBe(3);
  });
});

describe('redriveDlq --all on a transport without the capability', () => {
  test('moves by receive → send → delete: every job once, without its dead-letter record; no fallback noted', async () => {
    const transport = new QuickMemoryTransport();
    expect(transport).not.toHaveProperty('startMessageMove');
    const queues = await queuesOn(transport, 12);
    const { options, notes, progress } = allOptions();
    const { result } = await redriveDlq(queues, options);
    expect(result).toMatchObject({ method: MANUAL_METHOD, redrove: 12, skipped: 0, failed: 0 });
    expect(result.fallback).toBeUndefined();
    expect(notes).toEqual([]);
    expect(progress.at(-1)).toEqual(['redriving', 12, 12]);
    const bodies = await drainBodies(transport, queues.queueUrl);
    const ids = bodies.map((body) => {
      const decoded = decodeEnvelope(body);
      if (!decoded.ok) throw new Error('not an envelope');
      return decoded.envelope.id;
    });
    expect(ids.sort()).toEqual([...queues.ids].sort());
    expect(bodies.every((body) => (JSON.parse(body) as { deadLetter?: unknown }).deadLetter === undefined)).toBe(true);
    expect(await transport.depth(queues.dlqUrl)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });
});
