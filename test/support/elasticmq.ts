/**
 * ElasticMQ run natively (java + jars from Maven Central via scripts/peers/elasticmq.sh) on a free
 * loopback port, for the conformance and bootstrap suites.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListQueuesCommand } from '@aws-sdk/client-sqs';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { PEERS_DIR, REPO_ROOT, freePort, requireCommand, spawnPeer, waitFor } from './process.js';

const SCRIPT = join(REPO_ROOT, 'scripts', 'peers', 'elasticmq.sh');

/** A running ElasticMQ. */
export interface ElasticMq {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  /** Stops java by its PID and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Installs (once, cached) and starts ElasticMQ. With `queues`, they are written into a config of
 * their own (name → HOCON body, e.g. `{ 'q': 'defaultVisibilityTimeout = 1 seconds' }`); without,
 * the script's default config (calsync-jobs + calsync-jobs-dlq with a redrive policy) is used.
 */
export async function startElasticMq({ queues }: { queues?: Readonly<Record<string, string>> } = {}): Promise<ElasticMq> {
  requireCommand('java', 'apt-get install openjdk-17-jre-headless');
  requireCommand('mvn', 'apt-get install maven');
  const install = spawnSync('bash', [SCRIPT, 'install'], { encoding: 'utf8' });
  if (install.status !== 0) throw new Error(`elasticmq.sh install failed:\n${install.stderr}`);

  const port = await freePort();
  const args = ['start', '--port', String(port)];
  let conf: string | undefined;
  if (queues) {
    const dir = join(PEERS_DIR, 'elasticmq', 'run');
    mkdirSync(dir, { recursive: true });
    conf = join(dir, `custom-${port}.conf`);
    writeFileSync(conf, customConf(port, queues));
    args.push('--conf', conf);
  }
  const cleanUp = (): void => {
    // The config the script writes for this port, or ours; read by java at start only.
    rmSync(conf ?? join(PEERS_DIR, 'elasticmq', 'run', `elasticmq-${port}.conf`), { force: true });
  };
  const peer = spawnPeer('elasticmq', 'bash', [SCRIPT, ...args]);
  const endpoint = `http://127.0.0.1:${port}`;
  const probe = new SqsTransport({ endpoint, maxAttempts: 1 });
  try {
    await waitFor(
      'ElasticMQ to answer ListQueues',
      async () => {
        if (peer.child.exitCode !== null) throw new Error(`exited with ${peer.child.exitCode}:\n${peer.output()}`);
        await probe.client.send(new ListQueuesCommand({}));
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
  } catch (error) {
    await peer.stop();
    cleanUp();
    throw error;
  } finally {
    await probe.close();
  }
  return { endpoint, port, pid: peer.pid, stop: () => peer.stop().then(cleanUp) };
}

function customConf(port: number, queues: Readonly<Record<string, string>>): string {
  const body = Object.entries(queues)
    .map(([name, conf]) => `  "${name}" {\n    ${conf}\n  }`)
    .join('\n');
  return `include classpath("application.conf")
node-address { protocol = http, host = "127.0.0.1", port = ${port}, context-path = "" }
generate-node-address = false
rest-sqs { enabled = true, bind-port = ${port}, bind-hostname = "127.0.0.1", sqs-limits = strict }
rest-stats { enabled = false, bind-port = 0, bind-hostname = "127.0.0.1" }
aws { region = us-east-1, accountId = 000000000000 }
queues {
${body}
}
`;
}
