import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { releaseMessages, scanDlq } from '../../src/ops/dlq-scan.js';
import { defineJob } from '../../src/machines/define-job.js';
import { NonRetryableError, RetryableError } from '../../src/machines/errors.js';
import type { EnsuredQueues } from '../../src/ops/ensure-queues.js';
import { deadLetterBody, invalidMessageBody } from '../../src/queue/dead-letter.js';
import { decodeEnvelope } from '../../src/queue/envelope.js';
import type { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import type { JobTransport, ReceiveOptions, ReceivedMessage } from '../../src/queue/transport.js';
import { createWorker, JobQueue } from '../../src/telemetry/instrumented.js';
import { waitFor } from '../support/process.js';
import {
  SERVERS,
  cliEnv,
  createQueues,
  runCli,
  seedDeadJobs,
  testTransport,
  uniquePrefix,
  usageLine,
  type CliServer,
} from './cli-harness.js';
import { useInMemoryTracing } from '../support/tracing.js';

const { exporter, provider } = useInMemoryTracing();

const alwaysFails = defineJob({
  type: 'test.always-fails',
  schema: z.object({ n: z.int() }),
  retry: { initialIntervalMs: 0, maximumAttempts: 3, jitter: 'none' },
  handler: () => {
    throw new RetryableError('the calendar server is still broken');
  },
});
const poison = defineJob({
  type: 'test.poison',
  schema: z.object({}),
  handler: () => {
    throw new NonRetryableError('the account was deleted', { reason: 'poison' });
  },
});

interface Seeded {
  queues: EnsuredQueues;
  prefix: string;
  exhausted: string[];
  poisonId: string;
  invalidId: string;
  /** Job id → trace id of its enqueue span. */
  traceIds: Map<string, string>;
}

/** Runs a real worker until four jobs are dead: two out of attempts, one poison, one invalid payload. */
async function seedWithWorker(transport: SqsTransport): Promise<Seeded> {
  const prefix = uniquePrefix();
  const queues = await createQueues(transport, prefix);
  exporter.reset();
  const checked = new JobQueue({ transport, queueUrl: queues.mainQueueUrl, jobs: [alwaysFails, poison] });
  const exhausted = await checked.enqueueJobs([
    { type: 'test.always-fails', payload: { n: 1 } },
    { type: 'test.always-fails', payload: { n: 2 } },
  ]);
  const poisonId = await checked.enqueueJob({ type: 'test.poison', payload: {} });
  const unchecked = new JobQueue({ transport, queueUrl: queues.mainQueueUrl });
  const invalidId = await unchecked.enqueueJob({ type: 'test.always-fails', payload: { n: 'not a number' } });
  const worker = createWorker({
    transport,
    jobs: [alwaysFails, poison],
    queueUrl: queues.mainQueueUrl,
    dlqUrl: queues.dlqUrl,
    waitTimeSeconds: 1,
    logger: pino({ level: 'silent' }),
  }).start();
  try {
    await waitFor('four dead jobs', async () => (await transport.depth(queues.dlqUrl)).visible === 4, {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
  } finally {
    await worker.stop();
  }
  await provider.forceFlush();
  const traceIds = new Map<string, string>();
  for (const span of exporter.getFinishedSpans()) {
    const jobId = span.attributes['job.id'];
    if (span.attributes['job.operation'] === 'send' && typeof jobId === 'string') traceIds.set(jobId, span.spanContext().traceId);
  }
  return { queues, prefix, exhausted, poisonId, invalidId, traceIds };
}

interface ListedJob {
  id: string | null;
  type: string | null;
  kind: string;
  reason: string;
  attempts: number | null;
  lastError: string | null;
  createdAt: string | null;
  deadLetteredAt: string | null;
  messageId: string;
  traceId: string | null;
}

describe.each(SERVERS)('CLI dlq on $name', ({ start }) => {
  let server: CliServer;
  let transport: SqsTransport;
  let seeded: Seeded;
  beforeAll(async () => {
    server = await start();
    transport = testTransport(server.endpoint);
    seeded = await seedWithWorker(transport);
  });
  afterAll(async () => {
    await transport?.close();
    await server?.stop();
  });

  test('dlq list --json lists the dead jobs a worker wrote and leaves every one in the DLQ', async () => {
    const result = await runCli(['dlq', 'list', '--json'], cliEnv(server.endpoint, seeded.prefix));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const listing = JSON.parse(result.stdout) as { queue: string; count: number; jobs: ListedJob[] };
    expect(listing.queue).toBe(`${seeded.prefix}-dlq`);
    expect(listing.count).toBe(4);
    const byId = new Map(listing.jobs.map((job) => [job.id, job]));
    expect([...byId.keys()].sort()).toEqual([...seeded.exhausted, seeded.poisonId, seeded.invalidId].sort());
    for (const id of seeded.exhausted) {
      expect(byId.get(id)).toMatchObject({
        type: 'test.always-fails',
        kind: 'job',
        reason: 'attempts_exhausted',
        attempts: 3,
        lastError: 'RetryableError: the calendar server is still broken',
      });
    }
    expect(byId.get(seeded.poisonId)).toMatchObject({
      type: 'test.poison',
      reason: 'non_retryable',
      attempts: 1,
      lastError: 'NonRetryableError: the account was deleted',
    });
    expect(byId.get(seeded.invalidId)).toMatchObject({ type: 'test.always-fails', reason: 'invalid_payload', attempts: 1 });
    for (const job of listing.jobs) {
      expect(Date.parse(job.createdAt ?? '')).toBeLessThanOrEqual(Date.parse(job.deadLetteredAt ?? ''));
      expect(job.traceId).toBe(seeded.traceIds.get(job.id!));
    }
    // Not consumed: all four are visible again at once, none in flight.
    expect(await transport.depth(seeded.queues.dlqUrl)).toEqual({ visible: 4, inFlight: 0, delayed: 0 });

    const limited = await runCli(
      ['dlq', 'list', '--type', 'test.always-fails', '--limit', '1', '--json'],
      cliEnv(server.endpoint, seeded.prefix),
    );
    expect(limited.code).toBe(0);
    const one = JSON.parse(limited.stdout) as { jobs: ListedJob[] };
    expect(one.jobs).toHaveLength(1);
    // The invalid-payload job has that type too.
    expect([...seeded.exhausted, seeded.invalidId]).toContain(one.jobs[0]!.id);
    expect(await transport.depth(seeded.queues.dlqUrl)).toEqual({ visible: 4, inFlight: 0, delayed: 0 });
  });

  test('dlq show <id> prints the attempt history and the trace id; an unknown id exits 1', async () => {
    const id = seeded.exhausted[0]!;
    const result = await runCli(['dlq', 'show', id], cliEnv(server.endpoint, seeded.prefix));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`job ${id} (test.always-fails)`);
    expect(result.stdout).toMatch(/reason:\s+attempts_exhausted/);
    expect(result.stdout).toContain(`trace id:        ${seeded.traceIds.get(id)}`);
    const history = result.stdout.split('\n').filter((line) => /^\s+#\d\s/.test(line));
    expect(history).toHaveLength(3);
    history.forEach((line, index) => {
      expect(line).toContain(`#${index + 1} `);
      expect(line).toContain('RetryableError: the calendar server is still broken');
    });
    expect(result.stdout).toContain(`"id": "${id}"`);
    expect(await transport.depth(seeded.queues.dlqUrl)).toEqual({ visible: 4, inFlight: 0, delayed: 0 });

    const missing = await runCli(['dlq', 'show', '11111111-2222-4333-8444-555555555555'], cliEnv(server.endpoint, seeded.prefix));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`no job 11111111-2222-4333-8444-555555555555 in ${seeded.prefix}-dlq (4 message(s) searched)`);
  });

  test('dlq redrive --dry-run lists what would move, warns about exhausted attempts, and changes nothing', async () => {
    const result = await runCli(['dlq', 'redrive', '--type', 'test.always-fails', '--dry-run'], cliEnv(server.endpoint, seeded.prefix));
    expect(result.code).toBe(0);
    // The invalid-payload job has the type too: it would move (and die again until its payload is fixed).
    expect(result.stdout).toContain('dry run: would redrive 3 job(s) (skipped 1)');
    for (const id of [...seeded.exhausted, seeded.invalidId]) expect(result.stdout).toContain(id);
    expect(result.stdout).not.toContain(seeded.poisonId);
    expect(result.stderr).toContain('2 job(s) died with attempts_exhausted');
    expect(await transport.depth(seeded.queues.dlqUrl)).toEqual({ visible: 4, inFlight: 0, delayed: 0 });
    expect(await transport.depth(seeded.queues.mainQueueUrl)).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
  });

  test('dlq redrive --id and --type move exactly the chosen jobs, envelope without its record, trace kept', async () => {
    const prefix = uniquePrefix();
    const queues = await createQueues(transport, prefix);
    const envelopes = await seedDeadJobs(transport, queues.dlqUrl, 6, (index) =>
      index < 3 ? { type: 'a.job', reason: 'attempts_exhausted' } : { type: 'b.job', reason: 'non_retryable' },
    );
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const chosen = { ...envelopes[0]!, id: '0d6a4c1e-6f7b-4f55-9a1e-3c2b1a0f9e8d' };
    await transport.send(queues.dlqUrl, {
      body: deadLetterBody(chosen, { reason: 'attempts_exhausted', at: new Date().toISOString() }),
      attributes: { traceparent, 'job-type': chosen.type },
    });
    await transport.send(queues.dlqUrl, {
      body: invalidMessageBody('not json at all', { reason: 'not_json', at: new Date().toISOString() }, 1 << 20),
    });
    const env = cliEnv(server.endpoint, prefix);

    const byId = await runCli(['dlq', 'redrive', '--id', chosen.id], env);
    expect(byId.code).toBe(0);
    expect(byId.stdout).toContain('redrove 1 job(s) (skipped 7) via receive → send → delete');
    expect(byId.stderr).toContain('1 job(s) died with attempts_exhausted');
    const [moved] = await drainWithAttributes(transport, queues.mainQueueUrl);
    expect(moved).toBeDefined();
    const body = JSON.parse(moved!.body) as Record<string, unknown>;
    expect(body.deadLetter).toBeUndefined();
    expect(decodeEnvelope(moved!.body)).toEqual({ ok: true, envelope: chosen });
    expect(moved!.attributes.traceparent?.split('-')[1]).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(moved!.attributes['job-type']).toBe(chosen.type);

    const byType = await runCli(['dlq', 'redrive', '--type', 'b.job', '--reset-attempts'], env);
    expect(byType.code).toBe(0);
    expect(byType.stdout).toContain('redrove 3 job(s) (skipped 4) via receive → send → delete');
    expect(byType.stderr).toBe('');
    const bodies = (await drainWithAttributes(transport, queues.mainQueueUrl)).map((m) => decodeEnvelope(m.body));
    const redriven = bodies.flatMap((d) => (d.ok ? [d.envelope] : []));
    expect(redriven.map((e) => e.id).sort()).toEqual(
      envelopes
        .slice(3)
        .map((e) => e.id)
        .sort(),
    );
    for (const envelope of redriven) {
      expect(envelope.attempt).toBe(1);
      expect(envelope.history).toBeUndefined();
    }
    // Left: the three a.job jobs and the message that is not a job.
    expect(await transport.depth(queues.dlqUrl)).toEqual({ visible: 4, inFlight: 0, delayed: 0 });
  });

  test('dlq purge needs --yes (exit 2 with the usage line); with it the DLQ is emptied', async () => {
    const prefix = uniquePrefix();
    const queues = await createQueues(transport, prefix);
    await seedDeadJobs(transport, queues.dlqUrl, 3);
    const env = cliEnv(server.endpoint, prefix);
    const refused = await runCli(['dlq', 'purge'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('refusing to purge the dead-letter queue without --yes');
    expect(usageLine(refused.stderr)).toBe('Usage: calsync-jobs dlq purge --yes');
    expect((await transport.depth(queues.dlqUrl)).visible).toBe(3);
    const purged = await runCli(['dlq', 'purge', '--yes'], env);
    expect(purged.code).toBe(0);
    expect(purged.stdout).toContain(`purged ${prefix}-dlq (about 3 message(s))`);
    await waitFor('the purge to take effect', async () => (await transport.depth(queues.dlqUrl)).visible === 0, { timeoutMs: 10_000 });
  });

  test('a listing receives each message once even when the server hands one out twice', async () => {
    const prefix = uniquePrefix();
    const queues = await createQueues(transport, prefix);
    const envelopes = await seedDeadJobs(transport, queues.dlqUrl, 12);
    const scan = await scanDlq(repeatingFirstMessage(transport), queues.dlqUrl);
    expect(scan.matched.map((m) => m.decoded.envelope?.id).sort()).toEqual(envelopes.map((e) => e.id).sort());
    expect(scan.held.size).toBe(12);
    // Release what the scan holds; every message is visible again.
    await releaseMessages(transport, queues.dlqUrl, scan.held.values());
    expect(await transport.depth(queues.dlqUrl)).toEqual({ visible: 12, inFlight: 0, delayed: 0 });
  });
});

async function drainWithAttributes(transport: SqsTransport, url: string): Promise<ReceivedMessage[]> {
  const out: ReceivedMessage[] = [];
  for (;;) {
    const batch = await transport.receive(url, { maxMessages: 10, waitTimeSeconds: 1 });
    if (batch.length === 0) return out;
    out.push(...batch);
    await transport.deleteBatch(
      url,
      batch.map((m, i) => ({ id: String(i), receiptHandle: m.receiptHandle })),
    );
  }
}

/** The transport, except that the second receive hands out the first receive's first message again (as SQS may). */
function repeatingFirstMessage(inner: SqsTransport): JobTransport {
  let first: ReceivedMessage | undefined;
  let calls = 0;
  const receive = async (queueUrl: string, options?: ReceiveOptions): Promise<ReceivedMessage[]> => {
    const batch = await inner.receive(queueUrl, options);
    calls++;
    if (calls === 1) first = batch[0];
    return calls === 2 && first ? [first, ...batch] : batch;
  };
  return Object.assign(Object.create(inner) as JobTransport, { receive });
}
