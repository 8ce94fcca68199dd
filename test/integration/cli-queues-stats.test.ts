/**
 * `calsync-jobs queues create` and `calsync-jobs stats`, run as the real binary against ElasticMQ and
 * fauxqs: the queues it creates (read back through the API), idempotence, and the depths stats reports.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createLiveBlock, createProgress } from '../../src/cli/progress.js';
import type { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { REPO_ROOT } from '../support/process.js';
import { BIN, SERVERS, cliEnv, createQueues, runCli, testTransport, uniquePrefix, type CliServer } from './cli-harness.js';

describe.each(SERVERS)('CLI queues + stats on $name', ({ start }) => {
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

  test('queues create makes the DLQ and a main queue redriving to it; a second run changes nothing', async () => {
    const prefix = uniquePrefix();
    const env = cliEnv(server.endpoint, prefix);
    const first = await runCli(['queues', 'create', '--max-receive-count', '3'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`created ${prefix}-dlq`);
    expect(first.stdout).toContain(`created ${prefix}\n`);

    const mainUrl = await transport.getQueueUrl(`${prefix}`);
    const dlqUrl = await transport.getQueueUrl(`${prefix}-dlq`);
    const main = await transport.getQueueAttributes(mainUrl);
    const dlq = await transport.getQueueAttributes(dlqUrl);
    const redrive = JSON.parse(main.RedrivePolicy ?? '{}') as { deadLetterTargetArn?: string; maxReceiveCount?: unknown };
    expect(redrive.deadLetterTargetArn).toBe(dlq.QueueArn);
    expect(Number(redrive.maxReceiveCount)).toBe(3);
    // ElasticMQ never reports MessageRetentionPeriod (docs/sqs-servers.md); fauxqs does.
    expect(dlq.MessageRetentionPeriod).toBe(server.reportsRetention ? '1209600' : undefined);

    const second = await runCli(['queues', 'create', '--max-receive-count', '3'], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('queues already up to date');
    expect(second.stdout).not.toContain('created');
    expect(await transport.getQueueAttributes(mainUrl)).toEqual(main);
  });

  test('stats --json reports visible, in-flight and delayed counts of both queues, and no invented age', async () => {
    const prefix = uniquePrefix();
    const queues = await createQueues(transport, prefix);
    for (let i = 0; i < 3; i++) await transport.send(queues.mainQueueUrl, { body: `{"visible":${i}}` });
    await transport.send(queues.mainQueueUrl, { body: '{"delayed":true}', delaySeconds: 600 });
    await transport.send(queues.mainQueueUrl, { body: '{"in-flight":true}' });
    await transport.send(queues.mainQueueUrl, { body: '{"in-flight":true}' });
    // Take two of the visible ones into flight for a while.
    let inFlight = 0;
    while (inFlight < 2)
      inFlight += (
        await transport.receive(queues.mainQueueUrl, { maxMessages: 2 - inFlight, waitTimeSeconds: 1, visibilityTimeoutSeconds: 600 })
      ).length;
    for (let i = 0; i < 4; i++) await transport.send(queues.dlqUrl, { body: `{"dead":${i}}` });

    const result = await runCli(['stats', '--json'], cliEnv(server.endpoint, prefix));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const stats = JSON.parse(lines[0]!) as Record<string, any>;
    expect(stats.main).toMatchObject({ name: `${prefix}`, visible: 3, inFlight: 2, delayed: 1, oldestMessageAgeSeconds: null });
    expect(stats.dlq).toMatchObject({ name: `${prefix}-dlq`, visible: 4, inFlight: 0, delayed: 0, oldestMessageAgeSeconds: null });
    expect(stats.notes.join(' ')).toContain('ApproximateAgeOfOldestMessage');
    expect(Number.isNaN(Date.parse(stats.at))).toBe(false);
  });

  test('stats --watch --json prints one object per refresh when not a TTY and exits 0 on SIGINT', async () => {
    const prefix = uniquePrefix();
    const queues = await createQueues(transport, prefix);
    await transport.send(queues.dlqUrl, { body: '{"dead":true}' });
    const child = spawn(process.execPath, [BIN, 'stats', '--watch', '--json', '--interval-ms', '200'], {
      cwd: REPO_ROOT,
      env: cliEnv(server.endpoint, prefix),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const deadline = Date.now() + 30_000;
    while (stdout.split('\n').filter(Boolean).length < 3 && Date.now() < deadline && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGINT');
    const code = await exited;
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const refreshes = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { at: string; dlq: { visible: number } });
    expect(refreshes.length).toBeGreaterThanOrEqual(3);
    for (const refresh of refreshes) expect(refresh.dlq.visible).toBe(1);
    expect(new Set(refreshes.map((r) => r.at)).size).toBe(refreshes.length);
  });
});

describe('terminal output helpers', () => {
  const stream = (isTTY: boolean) => {
    const chunks: string[] = [];
    return { chunks, isTTY, write: (text: string) => chunks.push(text) };
  };

  test('a live block redraws in place on a TTY: cursor up and clear for each line drawn before', () => {
    const tty = stream(true);
    const block = createLiveBlock(tty);
    block.render(['a', 'b']);
    block.render(['c', 'd']);
    expect(tty.chunks).toEqual(['a\nb\n', '\x1b[1A\x1b[2K\x1b[1A\x1b[2K\r', 'c\nd\n']);
  });

  test('a live block appends plain lines when not a TTY; a progress bar draws nothing there', () => {
    const pipe = stream(false);
    createLiveBlock(pipe).render(['x']);
    const progress = createProgress({ label: 'moving', total: 10, stream: pipe });
    progress.update(5);
    progress.finish();
    expect(pipe.chunks).toEqual(['x\n']);
  });

  test('a progress bar on a TTY shows done/total and clears itself when finished', () => {
    const tty = stream(true);
    let now = 0;
    const progress = createProgress({ label: 'moving', total: 4, stream: tty, now: () => now });
    progress.update(2);
    now += 50;
    progress.update(3); // throttled
    now += 100;
    progress.update(4);
    progress.finish();
    expect(tty.chunks).toHaveLength(3);
    expect(tty.chunks[0]).toContain('moving [███████████████░░░░░░░░░░░░░░░] 2/4');
    expect(tty.chunks[1]).toContain('4/4');
    expect(tty.chunks[2]).toBe('\r\x1b[2K');
  });
});
