/**
 * The embedded SQS server (fauxqs) in a process of its own, so the benchmark's clients and the server
 * do not share an event loop. Prints one JSON line `{"endpoint":"http://127.0.0.1:PORT"}` when ready;
 * stops on SIGTERM / SIGINT or when its parent's IPC channel closes.
 */
import { startEmbeddedSqs } from '../src/ops/embedded-sqs.js';

const server = await startEmbeddedSqs({ port: 0 });
process.stdout.write(`${JSON.stringify({ endpoint: server.endpoint, pid: process.pid })}\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void server.stop().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
