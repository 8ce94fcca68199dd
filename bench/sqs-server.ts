/**
 * The embedded SQS server (fauxqs) in a process of its own, so the benchmark's clients and the server
 * do not share an event loop. It counts every request it serves by action (the `X-Amz-Target`
 * header: `AmazonSQS.ReceiveMessage` → `ReceiveMessage`) in a Fastify `onRequest` hook, so "requests
 * per job" is counted at the server, with nothing between the clients and it (no proxy); the counts
 * are read over the IPC channel (`{ type: 'counts' }` → `{ type: 'counts', counts }`).
 *
 * Prints one JSON line `{"endpoint":"http://127.0.0.1:PORT","pid":N}` when ready; stops on SIGTERM /
 * SIGINT or when its parent's IPC channel closes. Listens on 127.0.0.1 only, as startEmbeddedSqs.
 */
import { buildApp } from 'fauxqs';
import { actionOf, type RequestCounts } from './counting-proxy.js';

const counts: RequestCounts = {};
const app = buildApp({ logger: false, defaultRegion: 'us-east-1' });
app.addHook('onRequest', (request, _reply, done) => {
  const action = actionOf(request.headers['x-amz-target']);
  counts[action] = (counts[action] ?? 0) + 1;
  done();
});
const address = await app.listen({ port: 0, host: '127.0.0.1' });
const endpoint = `http://127.0.0.1:${new URL(address).port}`;
process.stdout.write(`${JSON.stringify({ endpoint, pid: process.pid })}\n`);

process.on('message', (message: { type?: string }) => {
  if (message?.type === 'counts') process.send?.({ type: 'counts', counts: { ...counts } });
});

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void app.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
