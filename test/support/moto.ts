/**
 * moto (`moto[server]` from PyPI, in a venv made by scripts/peers/moto.sh) on a free loopback port,
 * a third SQS implementation beside fauxqs and ElasticMQ for the conformance and runtime suites.
 * Queue URLs look like `http://127.0.0.1:<port>/123456789012/<name>`.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ListQueuesCommand } from '@aws-sdk/client-sqs';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { PEERS_DIR, REPO_ROOT, freePort, requireCommand, spawnPeer, waitFor } from './process.js';

const SCRIPT = join(REPO_ROOT, 'scripts', 'peers', 'moto.sh');

/** A running moto server. */
export interface Moto {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  /** Stops moto_server by its PID and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
}

/** Installs moto once (cached under CALSYNC_PEERS_DIR) and starts `moto_server -H 127.0.0.1 -p PORT`. */
export async function startMoto(): Promise<Moto> {
  requireCommand(process.env.PYTHON ?? 'python3', 'install Python 3.9+ with the venv module (apt-get install python3-venv)');
  const env = { ...process.env, CALSYNC_PEERS_DIR: PEERS_DIR };
  const install = spawnSync('bash', [SCRIPT, 'install'], { encoding: 'utf8', env });
  if (install.status !== 0) throw new Error(`moto.sh install failed:\n${install.stderr}`);

  const port = await freePort();
  // The script execs moto_server, so the PID is the server's own.
  const peer = spawnPeer('moto', 'bash', [SCRIPT, 'start', '--port', String(port)], { env });
  const endpoint = `http://127.0.0.1:${port}`;
  const probe = new SqsTransport({ endpoint, region: 'us-east-1', maxAttempts: 1 });
  try {
    await waitFor(
      'moto to answer ListQueues',
      async () => {
        if (peer.child.exitCode !== null) throw new Error(`exited with ${peer.child.exitCode}:\n${peer.output()}`);
        await probe.client.send(new ListQueuesCommand({}));
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
  } catch (error) {
    await peer.stop();
    throw error;
  } finally {
    await probe.close();
  }
  return { endpoint, port, pid: peer.pid, stop: () => peer.stop() };
}
