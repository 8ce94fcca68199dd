/**
 * The lost-attempt rule (docs/design.md, "A redelivered message is one lost attempt"). A message
 * received again means a worker took it and never settled it: one lost attempt, whatever the count
 * says (a dead worker's long poll left open can be handed the message too, so the count over-states).
 * The machine re-sends the job as the next attempt, so each message is lost once.
 *
 * Nothing was lost if the handler could not have run: a payload that fails its schema, or a hop
 * message whose `notBefore` is still ahead — or was still ahead when the one earlier receive of it
 * happened (`ApproximateFirstReceiveTimestamp`), so that receive could only have deferred it.
 */
import type { ReceivedMessage } from '../queue/transport.js';

/** True when the message's last receive was a lost attempt: feed the machine one `WORKER_LOST`. */
export function wasAttemptLost(
  message: Pick<ReceivedMessage, 'receiveCount' | 'firstReceivedAt'>,
  /** The envelope's `notBefore` (epoch ms), if it is a hop. */
  notBeforeMs: number | undefined,
  payloadValid: boolean,
  now: number,
): boolean {
  if (message.receiveCount <= 1 || !payloadValid) return false;
  if (notBeforeMs === undefined) return true;
  const tooEarly = notBeforeMs > now;
  const earlierReceiveTooEarly =
    message.receiveCount === 2 && message.firstReceivedAt !== undefined && message.firstReceivedAt < notBeforeMs;
  return !tooEarly && !earlierReceiveTooEarly;
}
