/**
 * `calsync-jobs worker` closes what its jobs opened when it stops. The worker (a child process, the
 * project's default job registry) runs one real `calendar.sync` (Radicale → PostgreSQL), which opens the
 * job's pool; then SIGTERM. The worker must exit 0 within a few seconds, and every PostgreSQL connection
 * it opened must have been closed by the pool (the client sent Terminate before its socket closed)
 * rather than cut off by the process exiting; PostgreSQL then shows none of its sessions.
 *
 * A second case runs the same shutdown path in this process (`startWorkerProcess`, what `worker` and
 * `dev` share) to check the order: a job still running at shutdown settles before any `close` hook runs.
 *
 * The worker reaches PostgreSQL through a small TCP proxy in this file that remembers, per connection,
 * whether the last bytes the client sent were the protocol's Terminate message ('X', length 4).
 */
import { randomUUID } from 'node:crypto';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startWorkerProcess } from '../../src/cli/commands/worker.js';
import { calendarSyncJob } from '../../src/jobs/index.js';
import { defineJob } from '../../src/machines/define-job.js';
import { loadConfig } from '../../src/config/config.js';
import { ensureQueues } from '../../src/ops/ensure-queues.js';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { makeEvents } from './calendar-context.js';
import { BIN, cliEnv } from './cli-harness.js';
import { startPostgres, testPool, type PostgresDatabase } from '../support/postgres.js';
import { REPO_ROOT, spawnPeer, waitFor, type Peer } from '../support/process.js';
import { radicaleUser, startRadicale, type RadicaleServer } from '../support/radicale.js';

const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

interface PgConnection {
  /** The client's last bytes were a Terminate message when it closed its side. */
  terminated: boolean;
  closed: boolean;
}

interface RecordingProxy {
  readonly port: number;
  readonly connections: PgConnection[];
  close(): Promise<void>;
}

async function startRecordingProxy(upstreamPort: number): Promise<RecordingProxy> {
  const connections: PgConnection[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const record: PgConnection = { terminated: false, closed: false };
    connections.push(record);
    let tail = Buffer.alloc(0);
    const upstream = connect({ host: '127.0.0.1', port: upstreamPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    }
    client.on('data', (chunk: Buffer) => {
      tail = Buffer.concat([tail, chunk]).subarray(-TERMINATE.length);
      upstream.write(chunk);
    });
    upstream.pipe(client);
    const finish = (): void => {
      if (record.closed) return;
      record.closed = true;
      record.terminated = tail.equals(TERMINATE);
      upstream.end();
    };
    client.on('end', finish);
    client.on('close', finish);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let radicale: RadicaleServer | undefined;
let database: PostgresDatabase | undefined;
let sqs: EmbeddedSqs | undefined;
let proxy: RecordingProxy | undefined;
let worker: Peer | undefined;

beforeAll(async () => {
  [radicale, database, sqs] = await Promise.all([startRadicale({ users: { alice: 'alice-pw' } }), startPostgres(), startEmbeddedSqs()]);
  await radicaleUser(radicale, 'alice', 'alice-pw').uploadCalendar('work', makeEvents('shutdown', 3));
  proxy = await startRecordingProxy(Number(new URL(database.connectionString).port));
}, 120_000);

afterAll(async () => {
  if (worker) await worker.stop(0);
  await proxy?.close();
  await Promise.allSettled([radicale?.stop(), database?.stop(), sqs?.stop()]);
});

describe('calsync-jobs worker: SIGTERM after a calendar.sync', () => {
  it('exits 0 within seconds, having closed the job’s PostgreSQL pool itself', async () => {
    const prefix = `s${randomUUID().slice(0, 8)}`;
    const appName = `calsync-shutdown-${randomUUID().slice(0, 8)}`;
    const viaProxy = new URL(database!.connectionString);
    viaProxy.port = String(proxy!.port);
    const env: NodeJS.ProcessEnv = {
      ...cliEnv(sqs!.endpoint, prefix),
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      CALSYNC_CREATE_QUEUES: 'true',
      CALSYNC_LOG_LEVEL: 'info',
      // stop() lets an in-flight long poll (20 s) finish within the grace period; keep the test short.
      CALSYNC_SHUTDOWN_GRACE_MS: '1000',
      CALSYNC_ACCOUNTS: JSON.stringify({
        alice: { serverUrl: new URL('alice/', radicale!.url).href, username: 'alice', password: 'alice-pw' },
      }),
      CALSYNC_DATABASE_URL: viaProxy.href,
      // node-postgres sends it as application_name: the worker's sessions can be told apart.
      PGAPPNAME: appName,
    };
    const transport = new SqsTransport({ endpoint: sqs!.endpoint, region: 'us-east-1' });
    const pool = testPool(database!.connectionString, { max: 1 });
    try {
      const queues = await ensureQueues(transport, { prefix });
      worker = spawnPeer('worker', process.execPath, [BIN, 'worker'], { env, cwd: REPO_ROOT });
      await waitFor('the worker to run', () => worker!.output().includes('worker running'), { timeoutMs: 30_000, intervalMs: 50 });

      const queue = new JobQueue({ transport, queueUrl: queues.mainQueueUrl, jobs: [calendarSyncJob] });
      const jobId = await queue.enqueueJob({ type: 'calendar.sync', payload: { accountId: 'alice', calendar: 'work' } });
      await waitFor('the sync to succeed', () => worker!.output().includes('calendar.sync completed') && worker!.output().includes(jobId), {
        timeoutMs: 30_000,
        intervalMs: 50,
      });
      await waitFor(
        'the queue to be empty',
        async () => {
          const depth = await transport.depth(queues.mainQueueUrl);
          return depth.visible + depth.inFlight + depth.delayed === 0;
        },
        { timeoutMs: 10_000, intervalMs: 100 },
      );
      const sessions = async (): Promise<number> =>
        (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [appName])).rows[0]!
          .n;
      // The pool is open: its idle connections stay (node-postgres keeps them 10 s).
      expect(await sessions()).toBeGreaterThan(0);
      expect(proxy!.connections.length).toBeGreaterThan(0);

      const child = worker.child;
      const exit = new Promise<{ code: number | null; ms: number }>((resolve) => {
        const started = Date.now();
        child.once('exit', (code) => resolve({ code, ms: Date.now() - started }));
      });
      process.kill(worker.pid, 'SIGTERM');
      const timeout = new Promise<{ code: 'timeout'; ms: number }>((resolve) =>
        setTimeout(() => resolve({ code: 'timeout', ms: 5_000 }), 5_000).unref(),
      );
      const result = await Promise.race([exit, timeout]);
      expect(result, worker.output().slice(-3000)).toMatchObject({ code: 0 });
      expect(result.ms).toBeLessThan(5_000);

      // Every connection the worker opened was ended by its pool (Terminate sent), none cut off by exit.
      await waitFor('the proxy to see every connection close', () => proxy!.connections.every((c) => c.closed), {
        timeoutMs: 2_000,
        intervalMs: 20,
      });
      expect(proxy!.connections.map((c) => c.terminated)).toEqual(proxy!.connections.map(() => true));
      // And PostgreSQL has no session of it left.
      await waitFor('the worker’s sessions to end', async () => (await sessions()) === 0, { timeoutMs: 2_000, intervalMs: 20 }).catch(
        () => undefined,
      );
      expect(await sessions()).toBe(0);
    } finally {
      await pool.end();
      await transport.close();
    }
  }, 60_000);
});

describe('startWorkerProcess: shutdown closes the jobs after the last settle', () => {
  it('lets a running job finish and settle, stops the worker, then runs each close hook once', async () => {
    const prefix = `s${randomUUID().slice(0, 8)}`;
    const order: string[] = [];
    const close = async (): Promise<void> => {
      order.push('close');
    };
    let release!: () => void;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    const slow = defineJob({
      type: 'test.slow',
      schema: z.object({}),
      close,
      async handler() {
        order.push('handler started');
        await blocked;
        order.push('handler finished');
      },
    });
    // Two definitions sharing one hook (like two jobs on one pool): it runs once.
    const other = defineJob({ type: 'test.other', schema: z.object({}), close, handler: () => undefined });
    const config = loadConfig(
      {
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL_SQS: sqs!.endpoint,
        CALSYNC_QUEUE_PREFIX: prefix,
        CALSYNC_CREATE_QUEUES: 'true',
        CALSYNC_SHUTDOWN_GRACE_MS: '1000',
      },
      {},
    );
    const running = await startWorkerProcess(config, [slow, other], { logger: pino({ level: 'silent' }) });
    running.worker.on('job:succeeded', () => order.push('settled'));
    running.worker.on('worker:state', ({ state }) => state === 'stopped' && order.push('worker stopped'));
    try {
      const queue = new JobQueue({ transport: running.connection.transport, queueUrl: running.connection.queueUrl, jobs: [slow] });
      await queue.enqueueJob({ type: 'test.slow', payload: {} });
      await waitFor('the job to start', () => order.includes('handler started'), { timeoutMs: 10_000, intervalMs: 20 });

      const shutdown = running.shutdown().then(() => order.push('shutdown done'));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(order).toEqual(['handler started']);
      release();
      await shutdown;
      expect(order).toEqual(['handler started', 'handler finished', 'settled', 'worker stopped', 'close', 'shutdown done']);
    } finally {
      release();
      await running.shutdown();
    }
  }, 30_000);
});
