/**
 * What a conformance case needs from a server under test, and the known ways each server differs
 * from AWS (docs/sqs-servers.md). A difference flips one expectation for that server only.
 */
import { randomUUID } from 'node:crypto';
import type { JobTransport } from '../../../src/queue/transport.js';

/** Ways a server is known to differ from AWS SQS, as seen through the transport. */
export type Difference =
  /** DeleteMessageBatch reports a bogus receipt handle as deleted (AWS: ReceiptHandleIsInvalid). */
  | 'deleteBatchAcceptsBogusHandle'
  /** No StartMessageMoveTask: `startMessageMove` fails with a TransportError (fauxqs: InvalidAction; moto: HTTP 500). */
  | 'noMessageMove';

export interface Harness {
  readonly name: string;
  readonly transport: JobTransport;
  readonly differences: ReadonlySet<Difference>;
}

/** A queue name no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Creates a queue with a unique name; returns its URL. */
export async function freshQueue(h: Harness, prefix: string, attributes: Record<string, string> = {}): Promise<string> {
  return await h.transport.createQueue(uniqueName(prefix), { attributes });
}

/** Milliseconds `run` took, with its result. */
export async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await run();
  return { value, ms: performance.now() - start };
}

/** Receives until one message arrives or `waitSeconds` pass (one long poll). */
export async function receiveOne(h: Harness, url: string, waitSeconds: number, visibilityTimeoutSeconds?: number) {
  const options =
    visibilityTimeoutSeconds === undefined
      ? { maxMessages: 1, waitTimeSeconds: waitSeconds }
      : { maxMessages: 1, waitTimeSeconds: waitSeconds, visibilityTimeoutSeconds };
  const messages = await h.transport.receive(url, options);
  return messages[0];
}
