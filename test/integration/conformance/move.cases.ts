/**
 * Conformance cases about the move-task capability (`startMessageMove` / `messageMoveStatus`,
 * SQS StartMessageMoveTask and ListMessageMoveTasks): what `dlq redrive --all` relies on.
 */
import { describe, test } from 'vitest';
import { MESSAGE_MOVE_ENDED, type MessageMoveStatus } from '../../../src/queue/transport.js';
import { freshQueue, type Harness } from './harness.js';

export function moveCases(harness: () => Harness): void {
  describe.concurrent('move task', () => {
    test('startMessageMove moves every message of a DLQ to its source queue; messageMoveStatus follows it', async ({ expect }) => {
      const h = harness();
      const { startMessageMove, messageMoveStatus } = h.transport;
      if (!startMessageMove || !messageMoveStatus) {
        // The in-memory transport declares no capability (a redrive there moves by hand).
        expect(h.name).toBe('memory');
        expect(messageMoveStatus).toBeUndefined();
        return;
      }
      const dlq = await freshQueue(h, 'move-dlq');
      const { QueueArn: dlqArn } = await h.transport.getQueueAttributes(dlq, ['QueueArn']);
      const main = await freshQueue(h, 'move-main', { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 }) });
      await h.transport.sendBatch(
        dlq,
        Array.from({ length: 3 }, (_, i) => ({ id: `m${i}`, body: `dead ${i}` })),
      );

      if (h.differences.has('noMessageMove')) {
        const error = await startMessageMove.call(h.transport, dlq, main).catch((e: unknown) => e);
        expect(error).toMatchObject({ name: 'TransportError' });
        expect((await h.transport.depth(dlq)).visible).toBe(3);
        return;
      }
      const task = await startMessageMove.call(h.transport, dlq, main);
      expect(task.source).toBe(dlqArn);
      let status: MessageMoveStatus | undefined;
      const deadline = Date.now() + 15_000;
      do {
        await new Promise((resolve) => setTimeout(resolve, 100));
        status = await messageMoveStatus.call(h.transport, task);
      } while (!(status && MESSAGE_MOVE_ENDED.has(status.status)) && Date.now() < deadline);
      expect(status).toMatchObject({ status: 'COMPLETED', moved: 3 });
      expect((await h.transport.depth(main)).visible).toBe(3);
      expect((await h.transport.depth(dlq)).visible).toBe(0);
    });
  });
}
