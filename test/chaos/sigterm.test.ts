/**
 * SIGTERM under load: a worker holding 20 slow jobs gets SIGTERM with a 500 ms grace. The jobs that
 * finish within the grace are acked; the others are released at once (visibility 0) and a second,
 * already running worker picks them up. The queue's visibility timeout is 30 s, so a pickup within a
 * second can only come from the release, never from an expired lease.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { JobQueue } from '../../src/queue/job-queue.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { waitFor, type Peer } from '../support/process.js';
import { chaosQueues, pending, readLog, scratchDir, startWorker } from './support/harness.js';

const GRACE = 5;
const HOLD = 15;

describe('chaos: SIGTERM under load', () => {
  let server: EmbeddedSqs;
  let direct: SqsTransport;
  const peers: Peer[] = [];
  const scratch = scratchDir('sigterm');

  beforeAll(async () => {
    server = await startEmbeddedSqs();
    direct = new SqsTransport({ endpoint: server.endpoint, region: 'us-east-1' });
  });

  afterAll(async () => {
    await Promise.all(peers.map((p) => p.stop(2_000)));
    await direct?.close();
    await server?.stop();
    scratch.dispose();
  });

  it('finishes or releases every in-flight job, and another worker picks the released ones up within a second', async () => {
    const queues = await chaosQueues(direct, 'chaos-term', 30);
    const producer = new JobQueue({ transport: direct, queueUrl: queues.mainQueueUrl });
    const ids = await producer.enqueueJobs([
      ...Array.from({ length: GRACE }, (_, n) => ({ type: 'chaos.job', payload: { n, kind: 'grace' } })),
      ...Array.from({ length: HOLD }, (_, n) => ({ type: 'chaos.job', payload: { n: GRACE + n, kind: 'hold' } })),
    ]);
    const graceIds = new Set(ids.slice(0, GRACE));
    const holdIds = new Set(ids.slice(GRACE));
    const common = {
      endpoint: server.endpoint,
      queueUrl: queues.mainQueueUrl,
      dlqUrl: queues.dlqUrl,
      mode: 'slow' as const,
      concurrency: 20,
      visibilitySeconds: 30,
      waitSeconds: 20,
    };
    const logA = join(scratch.dir, 'a.jsonl');
    const logB = join(scratch.dir, 'b.jsonl');

    const a = await startWorker({ ...common, log: logA, extraEnv: { CHAOS_HOLD: '1', CALSYNC_SHUTDOWN_GRACE_MS: '500' } });
    peers.push(a);
    await waitFor('worker A to run all 20 jobs', () => readLog(logA).filter((l) => l.e === 'exec').length >= ids.length, {
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    const b = await startWorker({ ...common, log: logB, extraEnv: { CHAOS_HOLD: '0' } });
    peers.push(b);
    await new Promise((r) => setTimeout(r, 500)); // B's long poll is open on an empty queue

    const exited = new Promise<number | null>((resolve) => a.child.once('exit', (code) => resolve(code)));
    const termAt = Date.now();
    process.kill(a.pid, 'SIGTERM');
    const exitCode = await exited;
    const aExitMs = Date.now() - termAt;

    await waitFor('worker B to finish the released jobs', () => readLog(logB).filter((l) => l.e === 'succeeded').length >= HOLD, {
      timeoutMs: 25_000,
      intervalMs: 50,
    });
    expect(await pending(direct, queues.mainQueueUrl)).toBe(0);

    const linesA = readLog(logA);
    const linesB = readLog(logB);
    const released = new Map(linesA.filter((l) => l.e === 'released').map((l) => [l.id!, l.t]));
    const succeededA = new Set(linesA.filter((l) => l.e === 'succeeded').map((l) => l.id!));
    const execB = new Map<string, { t: number; a: number }>();
    for (const l of linesB) if (l.e === 'exec' && !execB.has(l.id!)) execB.set(l.id!, { t: l.t, a: l.a! });
    const succeededB = new Set(linesB.filter((l) => l.e === 'succeeded').map((l) => l.id!));
    const pickupMs = [...released].map(([id, t]) => (execB.get(id)?.t ?? Number.POSITIVE_INFINITY) - t).sort((x, y) => x - y);

    const figures = {
      jobs: ids.length,
      finishedInGraceByA: succeededA.size,
      releasedByA: released.size,
      aExitCode: exitCode,
      aExitMsAfterSigterm: aExitMs,
      pickedUpByB: execB.size,
      attemptsSeenByB: [...new Set([...execB.values()].map((x) => x.a))],
      releaseToPickupMs: { min: pickupMs[0], median: pickupMs[Math.floor(pickupMs.length / 2)], max: pickupMs.at(-1) },
    };
    console.log(`chaos SIGTERM figures: ${JSON.stringify(figures, null, 2)}`);

    expect(exitCode).toBe(0);
    expect(succeededA).toEqual(graceIds);
    expect(new Set(released.keys())).toEqual(holdIds);
    expect(new Set(execB.keys())).toEqual(holdIds);
    expect(succeededB).toEqual(holdIds);
    // Visibility is 30 s: only the release can make them visible this fast.
    expect(pickupMs.at(-1)!).toBeLessThan(1_000);
  });
});
