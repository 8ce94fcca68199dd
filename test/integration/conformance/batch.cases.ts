/**
 * Conformance cases about batches and limits: 10-entry batches, sizes, per-entry delete failures.
 */
import { describe, test } from 'vitest';
import { SQS_LIMITS } from '../../../src/queue/transport.js';
import { freshQueue, receiveOne, type Harness } from './harness.js';

const entries = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `e${i}`, body: `message ${i}` }));

export function batchCases(harness: () => Harness): void {
  describe.concurrent('batches and limits', () => {
    test('a batch of 10 is sent; 11 entries are rejected before anything is sent', async ({ expect }) => {
      const h = harness();
      const url = await freshQueue(h, 'batch');
      const ok = await h.transport.sendBatch(url, entries(10));
      expect(ok.failed).toEqual([]);
      expect(ok.successful.map((s) => s.id).sort()).toEqual(
        entries(10)
          .map((e) => e.id)
          .sort(),
      );
      expect(ok.successful.every((s) => typeof s.messageId === 'string' && s.messageId.length > 0)).toBe(true);
      const tooMany = await h.transport.sendBatch(url, entries(11)).catch((e: unknown) => e);
      expect(tooMany).toMatchObject({ name: 'TransportError', code: 'TooManyEntriesInBatchRequest', retryable: false });
      expect((await h.transport.depth(url)).visible).toBe(10);
    });

    test('a message over the size limit is rejected with its size and the limit', async ({ expect }) => {
      const h = harness();
      const url = await freshQueue(h, 'size');
      const limit = SQS_LIMITS.maxMessageBytes;
      const tooBig = await h.transport.send(url, { body: 'x'.repeat(limit + 1) }).catch((e: unknown) => e);
      expect(tooBig).toMatchObject({ code: 'MessageTooLong', retryable: false });
      expect((tooBig as Error).message).toContain(`${limit + 1} bytes`);
      expect((tooBig as Error).message).toContain(`${limit} bytes`);
      // Multi-byte characters count as bytes, not characters; attributes count too.
      const euro = await h.transport
        .send(url, { body: '€'.repeat(Math.floor(limit / 3)), attributes: { pad: 'xxxxxxxx' } })
        .catch((e: unknown) => e);
      expect(euro).toMatchObject({ code: 'MessageTooLong' });
      const inBatch = await h.transport.sendBatch(url, [{ id: 'big', body: 'x'.repeat(limit + 1) }]).catch((e: unknown) => e);
      expect(inBatch).toMatchObject({ code: 'MessageTooLong' });
      expect((inBatch as Error).message).toContain('big');
      expect((await h.transport.depth(url)).visible).toBe(0);
    });

    test('a message of 200 KiB goes through intact', async ({ expect }) => {
      const h = harness();
      const url = await freshQueue(h, 'large');
      const body = 'a'.repeat(200 * 1024);
      await h.transport.send(url, { body });
      expect((await receiveOne(h, url, 2))?.body).toBe(body);
    });

    test('DelaySeconds outside 0–900 is rejected before sending', async ({ expect }) => {
      const h = harness();
      const url = await freshQueue(h, 'delay-range');
      const error = await h.transport.send(url, { body: 'x', delaySeconds: 901 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'InvalidParameterValue', retryable: false });
      expect((error as Error).message).toContain('delaySeconds');
    });

    test('deleteBatch reports a bad receipt handle per entry and deletes the good one', async ({ expect }) => {
      const h = harness();
      const url = await freshQueue(h, 'delete-batch');
      await h.transport.send(url, { body: 'to delete' });
      const message = await receiveOne(h, url, 2);
      const result = await h.transport.deleteBatch(url, [
        { id: 'good', receiptHandle: message!.receiptHandle },
        { id: 'bad', receiptHandle: 'not-a-receipt-handle' },
      ]);
      expect(result.successful.map((s) => s.id)).toContain('good');
      if (h.differences.has('deleteBatchAcceptsBogusHandle')) {
        // fauxqs answers success for any receipt handle (docs/sqs-servers.md).
        expect(result.failed).toEqual([]);
        expect(result.successful.map((s) => s.id).sort()).toEqual(['bad', 'good']);
      } else {
        expect(result.failed).toHaveLength(1);
        expect(result.failed[0]).toMatchObject({ id: 'bad', code: 'ReceiptHandleIsInvalid', senderFault: true });
      }
      expect(await h.transport.depth(url)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    });
  });
}
