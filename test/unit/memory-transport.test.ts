/**
 * MemoryTransport driven by a ManualClock: delays, visibility, long polls and redrive without
 * waiting for real time.
 */
import { describe, expect, test } from 'vitest';
import { ManualClock } from '../support/manual-clock.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import { memoryQueueArn } from '../../src/queue/memory/memory-queue.js';

function setup() {
  const clock = new ManualClock();
  const transport = new MemoryTransport({ clock });
  return { clock, transport };
}

/** Whether `promise` has settled once pending callbacks have run (no clock movement). */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

describe('ManualClock', () => {
  test('fires due timers in order of due time, each seeing its own now()', () => {
    const clock = new ManualClock(0);
    const seen: string[] = [];
    clock.setTimeout(() => seen.push(`b@${clock.now()}`), 200);
    clock.setTimeout(() => seen.push(`a@${clock.now()}`), 100);
    const cancelled = clock.setTimeout(() => seen.push('never'), 150);
    clock.clearTimeout(cancelled);
    clock.advance(150);
    expect(seen).toEqual(['a@100']);
    clock.advance(100);
    expect(seen).toEqual(['a@100', 'b@200']);
    expect(clock.now()).toBe(250);
    expect(clock.pendingTimers).toBe(0);
    expect(() => clock.setTime(10)).toThrow(RangeError);
  });
});

describe('MemoryTransport with a manual clock', () => {
  test('a delayed message is hidden until exactly its due time', async () => {
    const { clock, transport } = setup();
    const url = await transport.createQueue('delay');
    await transport.send(url, { body: 'later', delaySeconds: 10 });
    expect(await transport.depth(url)).toEqual({ visible: 0, inFlight: 0, delayed: 1 });
    clock.advance(9_999);
    expect(await transport.receive(url, { waitTimeSeconds: 0 })).toEqual([]);
    clock.advance(1);
    const [message] = await transport.receive(url, { waitTimeSeconds: 0 });
    expect(message).toMatchObject({ body: 'later', receiveCount: 1, sentTimestamp: clock.now() - 10_000 });
  });

  test('a long poll wakes when a delayed message falls due, and ends empty at its wait time', async () => {
    const { clock, transport } = setup();
    const url = await transport.createQueue('poll');
    await transport.send(url, { body: 'soon', delaySeconds: 3 });
    const polling = transport.receive(url, { waitTimeSeconds: 20 });
    clock.advance(2_999);
    expect(await isSettled(polling)).toBe(false);
    clock.advance(1);
    expect((await polling).map((m) => m.body)).toEqual(['soon']);

    const empty = transport.receive(url, { waitTimeSeconds: 20, visibilityTimeoutSeconds: 60 });
    clock.advance(19_999);
    expect(await isSettled(empty)).toBe(false);
    clock.advance(1);
    expect(await empty).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
  });

  test('a long poll returns at once when a message is sent', async () => {
    const { clock, transport } = setup();
    const url = await transport.createQueue('arrival');
    const polling = transport.receive(url, { waitTimeSeconds: 20 });
    clock.advance(5_000);
    expect(await isSettled(polling)).toBe(false);
    await transport.sendBatch(url, [
      { id: 'a', body: 'one' },
      { id: 'b', body: 'two' },
    ]);
    expect((await polling).map((m) => m.body)).toEqual(['one', 'two']);
    expect(clock.pendingTimers).toBe(0);
  });

  test('the visibility timeout (queue default or per receive) decides when a message returns', async () => {
    const { clock, transport } = setup();
    const url = await transport.createQueue('visibility', { attributes: { VisibilityTimeout: '30' } });
    await transport.send(url, { body: 'x' });
    const [first] = await transport.receive(url, { waitTimeSeconds: 0 });
    expect(await transport.depth(url)).toEqual({ visible: 0, inFlight: 1, delayed: 0 });
    clock.advance(29_999);
    expect(await transport.receive(url, { waitTimeSeconds: 0 })).toEqual([]);
    clock.advance(1);
    const [second] = await transport.receive(url, { waitTimeSeconds: 0, visibilityTimeoutSeconds: 5 });
    expect(second).toMatchObject({ messageId: first?.messageId, receiveCount: 2 });
    clock.advance(5_000);
    expect((await transport.receive(url, { waitTimeSeconds: 0 }))[0]?.receiveCount).toBe(3);
  });

  test('changeVisibility extends, releases with 0 (waking a poll), and rejects stale handles', async () => {
    const { clock, transport } = setup();
    const url = await transport.createQueue('change');
    await transport.send(url, { body: 'x' });
    const [first] = await transport.receive(url, { waitTimeSeconds: 0, visibilityTimeoutSeconds: 10 });
    await transport.changeVisibility(url, first!.receiptHandle, 100);
    clock.advance(50_000);
    const polling = transport.receive(url, { waitTimeSeconds: 20 });
    expect(await isSettled(polling)).toBe(false);
    await transport.changeVisibility(url, first!.receiptHandle, 0);
    const [second] = await polling;
    expect(second?.receiveCount).toBe(2);

    const stale = await transport.changeVisibility(url, first!.receiptHandle, 5).catch((e: unknown) => e);
    expect(stale).toMatchObject({ name: 'TransportError', code: 'ReceiptHandleIsInvalid', retryable: false });
    const bogus = await transport.changeVisibility(url, 'bogus', 5).catch((e: unknown) => e);
    expect(bogus).toMatchObject({ code: 'ReceiptHandleIsInvalid', retryable: false });
    clock.advance(30_000);
    const expired = await transport.changeVisibility(url, second!.receiptHandle, 5).catch((e: unknown) => e);
    expect(expired).toMatchObject({ code: 'MessageNotInflight', retryable: false });
  });

  test('RedrivePolicy moves a message to the DLQ on the receive that would exceed maxReceiveCount', async () => {
    const { clock, transport } = setup();
    const dlqUrl = await transport.createQueue('dead');
    const redrive = JSON.stringify({ deadLetterTargetArn: memoryQueueArn('dead'), maxReceiveCount: 3 });
    const url = await transport.createQueue('main', { attributes: { VisibilityTimeout: '30', RedrivePolicy: redrive } });
    const { messageId } = await transport.send(url, { body: 'poison', attributes: { 'job-type': 'demo' } });
    for (const count of [1, 2, 3]) {
      const [message] = await transport.receive(url, { waitTimeSeconds: 0 });
      expect(message?.receiveCount).toBe(count);
      clock.advance(30_000);
    }
    const dlqPoll = transport.receive(dlqUrl, { waitTimeSeconds: 20 });
    expect(await isSettled(dlqPoll)).toBe(false);
    // The 4th receive finds the message over maxReceiveCount: it moves, and wakes the DLQ's poll.
    expect(await transport.receive(url, { waitTimeSeconds: 0 })).toEqual([]);
    const [dead] = await dlqPoll;
    expect(dead).toMatchObject({ messageId, body: 'poison', attributes: { 'job-type': 'demo' } });
    expect(await transport.depth(url)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  test('abort and close end long polls with [] and clear their timers', async () => {
    const { clock, transport } = setup();
    const url = await transport.createQueue('abort');
    const controller = new AbortController();
    const aborted = transport.receive(url, { waitTimeSeconds: 20, signal: controller.signal });
    const closing = transport.receive(url, { waitTimeSeconds: 20 });
    controller.abort();
    expect(await aborted).toEqual([]);
    await transport.close();
    expect(await closing).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
    await expect(transport.send(url, { body: 'x' })).rejects.toMatchObject({ code: 'TransportClosed' });
  });

  test('messages older than MessageRetentionPeriod are dropped', async () => {
    const { clock, transport } = setup();
    const url = await transport.createQueue('retention', { attributes: { MessageRetentionPeriod: '60' } });
    await transport.send(url, { body: 'old' });
    clock.advance(59_999);
    expect((await transport.depth(url)).visible).toBe(1);
    clock.advance(1);
    expect((await transport.depth(url)).visible).toBe(0);
  });

  test('queues: idempotent create, conflicting attributes, unknown names, deletes by handle', async () => {
    const { transport } = setup();
    const url = await transport.createQueue('q', { attributes: { VisibilityTimeout: '5' } });
    expect(url).toBe('memory://q');
    expect(await transport.createQueue('q', { attributes: { VisibilityTimeout: '5' } })).toBe(url);
    await expect(transport.createQueue('q', { attributes: { VisibilityTimeout: '6' } })).rejects.toMatchObject({ code: 'QueueNameExists' });
    await expect(transport.createQueue('bad name!')).rejects.toMatchObject({ code: 'InvalidParameterValue' });
    await expect(transport.getQueueUrl('nope')).rejects.toThrow(/nope/);
    await expect(transport.depth('memory://nope')).rejects.toMatchObject({ code: 'QueueDoesNotExist', retryable: false });
    await expect(transport.setQueueAttributes(url, { RedrivePolicy: '{nope' })).rejects.toMatchObject({ code: 'InvalidAttributeValue' });
    await transport.send(url, { body: 'x' });
    const [message] = await transport.receive(url, { waitTimeSeconds: 0 });
    await transport.delete(url, message!.receiptHandle);
    await transport.delete(url, message!.receiptHandle); // a stale, well-formed handle is a no-op, as on AWS
    await expect(transport.delete(url, 'bogus')).rejects.toMatchObject({ code: 'ReceiptHandleIsInvalid' });
    expect(await transport.getQueueAttributes(url, ['ApproximateNumberOfMessages', 'QueueArn'])).toEqual({
      ApproximateNumberOfMessages: '0',
      QueueArn: memoryQueueArn('q'),
    });
  });
});

describe('MemoryTransport long poll and a moving clock', () => {
  test('a message that becomes visible between two clock reads still wakes the poll at once', async () => {
    const manual = new ManualClock();
    // The next reads of now() may be skewed: the poll's own timer fires, dequeue reads the clock a
    // millisecond before the message is due, and the following reads see it due.
    const skew: number[] = [];
    const clock = {
      now: () => manual.now() + (skew.shift() ?? 0),
      setTimeout: (callback: () => void, ms: number) => manual.setTimeout(callback, ms),
      clearTimeout: (handle: unknown) => manual.clearTimeout(handle),
    };
    const transport = new MemoryTransport({ clock });
    const url = await transport.createQueue('race');
    await transport.send(url, { body: 'due-in-1s', delaySeconds: 1 });
    let received: string[] | undefined;
    void transport.receive(url, { waitTimeSeconds: 10 }).then((messages) => (received = messages.map((m) => m.body)));
    await Promise.resolve();
    skew.push(-1);
    manual.advance(1_000);
    await Promise.resolve();
    // Not at the 10 s deadline: at the moment it is due.
    expect(received).toEqual(['due-in-1s']);
    await transport.close();
  });
});
