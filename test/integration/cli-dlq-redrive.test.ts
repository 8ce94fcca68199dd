/**
 * `calsync-jobs dlq redrive --all` with 1,000 dead jobs, as the real binary against ElasticMQ (which
 * has StartMessageMoveTask) and fauxqs (which answers InvalidAction, so the CLI falls back to
 * receive → send → delete). Every job is counted by id on the main queue afterwards: none lost, none
 * doubled.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SqsTransport } from '../../src/queue/sqs-transport.js';
import { decodeEnvelope } from '../../src/queue/envelope.js';
import { invalidMessageBody } from '../../src/queue/dead-letter.js';
import { SERVERS, cliEnv, createQueues, drain, jobIds, runCli, seedDeadJobs, testTransport, totalDepth, uniquePrefix, type CliServer } from './cli-harness.js';

const JOBS = 1_000;
const NOT_JOBS = 3;

describe.each(SERVERS)('CLI dlq redrive of 1,000 jobs on $name', ({ start }) => {
  let server: CliServer;
  let transport: SqsTransport;
  beforeAll(async () => {
    server = await start();
    transport = testTransport(server.endpoint);
  });
  afterAll(async () => {
    await transport?.close();
    await server?.stop();
  });

  async function seed(prefix: string) {
    const queues = await createQueues(transport, prefix);
    const envelopes = await seedDeadJobs(transport, queues.dlqUrl, JOBS, (index) => ({ type: index % 2 ? 'x.even' : 'x.odd', reason: 'attempts_exhausted' }));
    for (let i = 0; i < NOT_JOBS; i++) {
      await transport.send(queues.dlqUrl, { body: invalidMessageBody(`garbage ${i}`, { reason: 'not_json', at: new Date().toISOString() }, 1 << 20) });
    }
    expect(await totalDepth(transport, queues.dlqUrl)).toBe(JOBS + NOT_JOBS);
    return { queues, ids: envelopes.map((e) => e.id).sort() };
  }

  test('--all loses no job: every id arrives on the main queue exactly once', async () => {
    const prefix = uniquePrefix();
    const { queues, ids } = await seed(prefix);
    const result = await runCli(['dlq', 'redrive', '--all'], cliEnv(server.endpoint, prefix));
    expect(result.code, result.stderr).toBe(0);

    const bodies = await drain(transport, queues.mainQueueUrl);
    const arrived = jobIds(bodies).sort();
    expect(arrived).toHaveLength(JOBS);
    expect(new Set(arrived).size).toBe(JOBS);
    expect(arrived).toEqual(ids);
    if (server.nativeMove) {
      // The server moved every message as it was: the records ride along, the non-jobs too.
      expect(result.stdout).toContain('moving with StartMessageMoveTask');
      expect(result.stdout).toContain(`redrove ${JOBS + NOT_JOBS} job(s) (skipped 0) via StartMessageMoveTask`);
      expect(bodies).toHaveLength(JOBS + NOT_JOBS);
      expect(await totalDepth(transport, queues.dlqUrl)).toBe(0);
    } else {
      expect(result.stdout).toContain('StartMessageMoveTask is not available on this server (InvalidAction): moving by receive → send → delete');
      expect(result.stdout).toContain(`redrove ${JOBS} job(s) (skipped ${NOT_JOBS}) via receive → send → delete`);
      expect(bodies).toHaveLength(JOBS);
      expect(bodies.every((body) => (JSON.parse(body) as { deadLetter?: unknown }).deadLetter === undefined)).toBe(true);
      expect(await totalDepth(transport, queues.dlqUrl)).toBe(NOT_JOBS);
    }
  });

  test('--all --reset-attempts always moves by hand: every id once, attempt 1, history cleared, non-jobs left', async () => {
    const prefix = uniquePrefix();
    const { queues, ids } = await seed(prefix);
    const result = await runCli(['dlq', 'redrive', '--all', '--reset-attempts'], cliEnv(server.endpoint, prefix));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toContain('moving with StartMessageMoveTask');
    expect(result.stdout).toContain(`redrove ${JOBS} job(s) (skipped ${NOT_JOBS}) via receive → send → delete`);
    expect(result.stderr).toBe('');

    const bodies = await drain(transport, queues.mainQueueUrl);
    expect(bodies).toHaveLength(JOBS);
    expect(jobIds(bodies).sort()).toEqual(ids);
    for (const body of bodies) {
      const decoded = decodeEnvelope(body);
      expect(decoded.ok && decoded.envelope.attempt === 1 && decoded.envelope.history === undefined).toBe(true);
    }
    expect(await totalDepth(transport, queues.dlqUrl)).toBe(NOT_JOBS);
  });
});
