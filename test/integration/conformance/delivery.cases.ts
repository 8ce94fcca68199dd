/**
 * Conformance cases about delivery: delays, long polls, visibility, receive counts, redrive, depth,
 * abort. Each case makes its own queues, so the cases of one server run concurrently.
 */
import { describe, test } from 'vitest';
import { freshQueue, receiveOne, timed, uniqueName, type Harness } from './harness.js';

export function deliveryCases(harness: () => Harness): void {
  describe.concurrent('delivery', () => {
    test('a delayed message stays hidden until due, then arrives with its attributes', async ({ expect }) => {
      const h = harness();
      const url = await freshQueue(h, 'delay');
      const before = Date.now();
      await h.transport.send(url, { body: 'later', delaySeconds: 3, attributes: { 'job-type': 'demo' } });
      expect(await h.transport.receive(url, { waitTimeSeconds: 0 })).toEqual([]);
      expect((await h.transport.depth(url)).delayed).toBe(1);
      // Waits of 10 s with bounds of 8 s: the poll must wake when the message is due, not at its end
      // (generous margins, since CI machines are small and busy).
      const { value: message, ms } = await timed(() => receiveOne(h, url, 10));
      expect(message?.body).toBe('later');
      expect(message?.attributes).toEqual({ 'job-type': 'demo' });
      expect(message?.receiveCount).toBe(1);
      expect(Date.now() - before).toBeGreaterThanOrEqual(2_500);
      expect(ms).toBeLessThan(8_000);
      expect(message?.sentTimestamp).toBeGreaterThanOrEqual(before - 1_000);
    });

    test('a long poll returns as soon as a message arrives', async ({ expect }) => {
      const h = harness();
      const url = await freshQueue(h, 'longpoll');
      const sending = new Promise<void>((resolve, reject) => {
        setTimeout(() => h.transport.send(url, { body: 'now' }).then(() => resolve(), reject), 300);
      });
      const { value: message, ms } = await timed(() => receiveOne(h, url, 10));
      await sending;
      expect(message?.body).toBe('now');
      expect(ms).toBeGreaterThanOrEqual(250);
      expect(ms).toBeLessThan(8_000);
    });

    test('an expired visibility timeout redelivers with receive count 2', async ({ expect }) => {
      const h = harness();
      const url = await freshQueue(h, 'visibility', { VisibilityTimeout: '2' });
      await h.transport.send(url, { body: 'again' });
      const first = await receiveOne(h, url, 2);
      expect(first?.receiveCount).toBe(1);
      expect(await h.transport.receive(url, { waitTimeSeconds: 0 })).toEqual([]);
      const { value: second, ms } = await timed(() => receiveOne(h, url, 10));
      expect(second?.messageId).toBe(first?.messageId);
      expect(second?.receiveCount).toBe(2);
      expect(second?.receiptHandle).not.toBe(first?.receiptHandle);
      expect(ms).toBeLessThan(8_000);
    });

    test('changing visibility to 0 releases the message at once', async ({ expect }) => {
      const h = harness();
      const url = await freshQueue(h, 'release', { VisibilityTimeout: '30' });
      await h.transport.send(url, { body: 'release me' });
      const first = await receiveOne(h, url, 2);
      expect(first).toBeDefined();
      await h.transport.changeVisibility(url, first!.receiptHandle, 0);
      const { value: second, ms } = await timed(() => receiveOne(h, url, 10));
      expect(second?.messageId).toBe(first?.messageId);
      expect(second?.receiveCount).toBe(2);
      expect(ms).toBeLessThan(5_000); // without the release it would stay hidden for 30 s
      await h.transport.delete(url, second!.receiptHandle);
      expect(await h.transport.depth(url)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    });

    test('after maxReceiveCount receives the message moves to the dead-letter queue', async ({ expect }) => {
      const h = harness();
      const dlqUrl = await freshQueue(h, 'redrive-dlq');
      const { QueueArn: dlqArn } = await h.transport.getQueueAttributes(dlqUrl, ['QueueArn']);
      expect(dlqArn).toMatch(/^arn:aws:sqs:/);
      const redrive = JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 });
      const url = await freshQueue(h, 'redrive', { VisibilityTimeout: '30', RedrivePolicy: redrive });
      await h.transport.send(url, { body: 'poison', attributes: { 'job-type': 'demo' } });
      for (const expected of [1, 2]) {
        const message = await receiveOne(h, url, 2);
        expect(message?.receiveCount).toBe(expected);
        await h.transport.changeVisibility(url, message!.receiptHandle, 0);
      }
      expect(await h.transport.receive(url, { waitTimeSeconds: 1 })).toEqual([]);
      const dead = await receiveOne(h, dlqUrl, 3);
      expect(dead?.body).toBe('poison');
      expect(dead?.attributes).toEqual({ 'job-type': 'demo' });
      expect((await h.transport.depth(url)).visible + (await h.transport.depth(url)).inFlight).toBe(0);
    });

    test('depth counts visible, in-flight and delayed messages', async ({ expect }) => {
      const h = harness();
      const url = await freshQueue(h, 'depth', { VisibilityTimeout: '30' });
      await h.transport.send(url, { body: 'in flight' });
      await h.transport.send(url, { body: 'delayed', delaySeconds: 60 });
      expect((await receiveOne(h, url, 1))?.body).toBe('in flight');
      await h.transport.send(url, { body: 'visible' });
      expect(await h.transport.depth(url)).toEqual({ visible: 1, inFlight: 1, delayed: 1 });
      const attributes = await h.transport.getQueueAttributes(url);
      expect(attributes.ApproximateNumberOfMessagesDelayed).toBe('1');
      await h.transport.purge(url);
      await expect.poll(() => h.transport.depth(url), { timeout: 3_000 }).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    });

    test('an aborted receive resolves promptly with no messages', async ({ expect }) => {
      const h = harness();
      const url = await freshQueue(h, 'abort');
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const { value, ms } = await timed(() => h.transport.receive(url, { waitTimeSeconds: 20, signal: controller.signal }));
      expect(value).toEqual([]);
      expect(ms).toBeLessThan(5_000); // vs the 20 s wait
      const already = AbortSignal.abort();
      expect(await h.transport.receive(url, { waitTimeSeconds: 20, signal: already })).toEqual([]);
    });

    test('an unknown queue is a non-retryable QueueDoesNotExist naming the queue', async ({ expect }) => {
      const h = harness();
      const missing = uniqueName('missing');
      const byName = await h.transport.getQueueUrl(missing).catch((e: unknown) => e);
      expect(byName).toMatchObject({ name: 'TransportError', code: 'QueueDoesNotExist', retryable: false });
      expect((byName as Error).message).toContain(missing);
      const known = await freshQueue(h, 'known');
      const missingUrl = known.replace(/[^/]+$/, missing);
      const bySend = await h.transport.send(missingUrl, { body: 'x' }).catch((e: unknown) => e);
      expect(bySend).toMatchObject({ code: 'QueueDoesNotExist', retryable: false });
      expect((bySend as Error).message).toContain(missingUrl);
    });
  });
}
