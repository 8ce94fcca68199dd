/**
 * A worker killed with SIGKILL mid-job: a real child process (test/fixtures/worker-process.ts, run with
 * `node --import tsx`) takes two jobs from an embedded fauxqs and blocks on them; the test kills it, and a
 * second worker with a short visibility timeout picks the messages up again. The runtime must count the
 * dead worker's attempt (ApproximateReceiveCount 2 → one WORKER_LOST) and settle the message without
 * running it: `kill.block` is re-sent as attempt 2 (its policy's 1 s delay, one `worker_lost` history
 * entry in the new envelope), which then runs on its own receive (count 1) and succeeds; `kill.last`
 * (maximumAttempts 1) goes to the DLQ with one `worker_lost` history entry.
 */
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureQueues, type EnsuredQueues } from '../../src/ops/ensure-queues.js';
import { decodeDeadLetter } from '../../src/queue/dead-letter.js';
import { decodeEnvelope } from '../../src/queue/envelope.js';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { createWorker, type Worker } from '../../src/runtime/worker.js';
import { killJobs } from '../fixtures/kill-jobs.js';
import { REPO_ROOT, spawnPeer, waitFor, type Peer } from '../support/process.js';
import { eventually, RecordingTransport, silentLogger } from '../support/runtime-harness.js';

const FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'worker-process.ts');

describe('a worker killed with SIGKILL in the middle of a job', () => {
  let server: EmbeddedSqs | undefined;
  let transport: SqsTransport | undefined;
  let child: Peer | undefined;
  let second: Worker | undefined;
  let q: EnsuredQueues;

  beforeAll(async () => {
    server = await startEmbeddedSqs();
    transport = new SqsTransport({ endpoint: server.endpoint, region: 'us-east-1' });
    q = await ensureQueues(transport, { prefix: `kill-${randomUUID().slice(0, 8)}`, maxReceiveCount: 10 });
  });

  afterAll(async () => {
    // Runs on failure too: nothing may be left running.
    await child?.stop(1_000);
    await second?.stop({ graceMs: 0 });
    await transport?.close();
    await server?.stop();
  });

  it('counts the lost attempt: the job is re-sent as attempt 2, runs and succeeds; a job with no attempts left is dead-lettered', async () => {
    child = spawnPeer('worker-process', process.execPath, ['--import', 'tsx', FIXTURE], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        SQS_ENDPOINT: server!.endpoint,
        QUEUE_URL: q.mainQueueUrl,
        DLQ_URL: q.dlqUrl,
        BLOCK_MS: '30000',
        VISIBILITY_TIMEOUT_SECONDS: '2',
      },
    });
    await waitFor(
      'the child worker to be ready',
      () => {
        if (child!.child.exitCode !== null) throw new Error(`the child exited:\n${child!.output()}`);
        return child!.output().includes('READY\n');
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );

    const jobs = new JobQueue({ transport: transport!, queueUrl: q.mainQueueUrl, jobs: killJobs(async () => {}) });
    const blockId = await jobs.enqueueJob({ type: 'kill.block', payload: { n: 1 } });
    const lastId = await jobs.enqueueJob({ type: 'kill.last', payload: { n: 2 } });

    await waitFor(
      'both jobs to start in the child',
      () => {
        const out = child!.output();
        return out.includes(`STARTED ${blockId} kill.block 1\n`) && out.includes(`STARTED ${lastId} kill.last 1\n`);
      },
      { timeoutMs: 20_000, intervalMs: 20 },
    );

    const exited = new Promise<NodeJS.Signals | null>((resolve) => child!.child.once('exit', (_code, signal) => resolve(signal)));
    process.kill(child.pid, 'SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const recording = new RecordingTransport(transport!);
    const attempts: Array<[string, number]> = [];
    const succeeded: Array<[string, number]> = [];
    const dead: Array<[string, string]> = [];
    const retrying: Array<[string, number, number, string]> = [];
    second = createWorker({
      transport: recording,
      jobs: killJobs(async (ctx) => void attempts.push([ctx.type, ctx.attempt])),
      queueUrl: q.mainQueueUrl,
      dlqUrl: q.dlqUrl,
      visibilityTimeoutSeconds: 2,
      waitTimeSeconds: 1,
      logger: silentLogger(),
    });
    second.on('job:succeeded', (e) => succeeded.push([e.jobId, e.attempt]));
    second.on('job:dead', (e) => dead.push([e.jobId, String(e.reason)]));
    second.on('job:retrying', (e) => retrying.push([e.jobId, e.attempt, e.delayMs, e.error.name]));
    second.start();

    await eventually('the second worker to settle both jobs', () => succeeded.length + dead.length >= 2, 30_000);

    // kill.block: its message came back once more than it was sent (receive count 2, envelope attempt 1)
    // and was settled by a re-send of attempt 2; that message came once (receive count 1).
    const received = recording.records.flatMap((r) => (r.op === 'receive' ? r.messages : []));
    const blockMessages = received.flatMap((m) => {
      const decoded = decodeEnvelope(m.body);
      return decoded.ok && decoded.envelope.id === blockId ? [{ receiveCount: m.receiveCount, envelope: decoded.envelope }] : [];
    });
    expect(blockMessages.map((m) => [m.receiveCount, m.envelope.attempt])).toEqual([
      [2, 1],
      [1, 2],
    ]);
    expect(blockMessages[0]!.envelope.history ?? []).toEqual([]);
    // The lost attempt is on record in the re-sent envelope: attempt 1, worker_lost, once.
    const lostEntry = {
      attempt: 1,
      kind: 'worker_lost',
      durationMs: 0,
      error: { name: 'WorkerLost', message: expect.any(String), reason: 'worker_lost' },
      at: expect.any(String),
    };
    expect(blockMessages[1]!.envelope.history).toEqual([lostEntry]);
    expect(retrying).toEqual([[blockId, 1, 100, 'WorkerLost']]);
    const mainSends = recording.records.flatMap((r) => (r.op === 'send' && r.queueUrl === q.mainQueueUrl ? [r] : []));
    expect(mainSends).toHaveLength(1);
    // kill.block's policy: initialIntervalMs 100, jitter none → 100 ms → DelaySeconds 1.
    expect(mainSends[0]!.delaySeconds).toBe(1);
    const resent = decodeEnvelope(mainSends[0]!.body);
    expect(resent.ok && resent.envelope).toMatchObject({
      id: blockId,
      type: 'kill.block',
      attempt: 2,
      payload: { n: 1 },
      history: [lostEntry],
    });
    // The handler never ran on the unsettled message: it ran once, as attempt 2, and succeeded.
    expect(attempts).toEqual([['kill.block', 2]]);
    expect(succeeded).toEqual([[blockId, 2]]);

    // kill.last had one attempt, spent by the dead worker: it is dead-lettered with that attempt on record.
    expect(dead).toEqual([[lastId, 'attempts_exhausted']]);
    const dlqSends = recording.records.filter((r) => r.op === 'send' && r.queueUrl === q.dlqUrl);
    expect(dlqSends).toHaveLength(1);
    const letter = decodeDeadLetter(dlqSends[0]!.op === 'send' ? dlqSends[0]!.body : '');
    expect(letter.envelope?.id).toBe(lastId);
    expect(letter.record).toMatchObject({
      reason: 'attempts_exhausted',
      receiveCount: 2,
      error: { name: 'WorkerLost', reason: 'worker_lost' },
    });
    expect(letter.envelope?.history).toEqual([lostEntry]);
    expect(letter.envelope?.attempt).toBe(1);

    await second.stop();
    // Deletes: kill.block's lost message, its attempt-2 message, kill.last's message.
    expect(recording.records.filter((r) => r.op === 'delete' && r.queueUrl === q.mainQueueUrl)).toHaveLength(3);
    expect(await transport!.receive(q.mainQueueUrl, { maxMessages: 10, waitTimeSeconds: 1 })).toEqual([]);
  }, 80_000);
});
