import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decodeEnvelope, newEnvelope } from '../../src/queue/envelope.js';
import { InvalidJobError, TransportError } from '../../src/shared/errors.js';
import { JobQueue, type JobRecorder } from '../../src/queue/job-queue.js';
import { storeRecorder } from '../../src/ops/job-recorder.js';
import { MemoryJobStore } from '../../src/store/memory-store.js';
import { messageBytes } from '../../src/queue/limits.js';
import { ManualClock } from '../support/manual-clock.js';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import type { BatchResult, OutgoingBatchEntry } from '../../src/queue/transport.js';
import { RecordingTransport } from '../support/runtime-harness.js';

const jobs = [
  { type: 'calendar.sync', schema: z.object({ calendarId: z.string(), blob: z.string().optional() }) },
  { type: 'demo.hello', schema: z.object({ name: z.string() }) },
];

async function setup(options: { maxMessageBytes?: number; transportMaxBytes?: number } = {}) {
  const clock = new ManualClock(Date.parse('2026-03-01T00:00:00.000Z'));
  const memory = new MemoryTransport({ clock, maxMessageBytes: options.transportMaxBytes ?? options.maxMessageBytes });
  const queueUrl = await memory.createQueue('jobs');
  const transport = new RecordingTransport(memory);
  const queue = new JobQueue({
    transport,
    queueUrl,
    jobs,
    clock,
    ...(options.maxMessageBytes ? { maxMessageBytes: options.maxMessageBytes } : {}),
  });
  return { clock, memory, transport, queue, queueUrl };
}

async function rejection(promise: Promise<unknown>): Promise<InvalidJobError> {
  try {
    await promise;
  } catch (error) {
    if (InvalidJobError.is(error)) return error;
    throw error;
  }
  throw new Error('expected an InvalidJobError');
}

describe('JobQueue.enqueueJob', () => {
  it('sends a decodable first-attempt envelope with the job-type attribute', async () => {
    const { queue, transport, queueUrl, memory } = await setup();
    const id = await queue.enqueueJob({ type: 'demo.hello', payload: { name: 'Ada' }, idempotencyKey: 'k-1' });
    expect(transport.requests).toEqual({ sendBatch: 1 });
    const [message] = await memory.receive(queueUrl, { waitTimeSeconds: 0 });
    const decoded = decodeEnvelope(message!.body);
    expect(decoded.ok && decoded.envelope).toMatchObject({
      v: 1,
      id,
      type: 'demo.hello',
      attempt: 1,
      payload: { name: 'Ada' },
      idempotencyKey: 'k-1',
      createdAt: '2026-03-01T00:00:00.000Z',
    });
    expect(message!.attributes['job-type']).toBe('demo.hello');
  });

  it('rejects a bad payload naming the field, before any request', async () => {
    const { queue, transport } = await setup();
    const error = await rejection(queue.enqueueJob({ type: 'calendar.sync', payload: { calendarId: 42 } }));
    expect(error.code).toBe('invalid_payload');
    expect(error.field).toBe('payload.calendarId');
    expect(error.message).toBe('payload.calendarId: expected string, received number');
    expect(transport.requestCount).toBe(0);
  });

  it('rejects an unknown type listing the known ones, before any request', async () => {
    const { queue, transport } = await setup();
    const error = await rejection(queue.enqueueJob({ type: 'calendar.nope', payload: {} }));
    expect(error.code).toBe('unknown_type');
    expect(error.field).toBe('type');
    expect(error.message).toBe('type: unknown job type "calendar.nope" (known: calendar.sync, demo.hello)');
    expect(transport.requestCount).toBe(0);
  });

  it.each([
    [{ delayMs: -1 }, 'delayMs'],
    [{ delayMs: Number.NaN }, 'delayMs'],
    [{ idempotencyKey: '' }, 'idempotencyKey'],
    [{ idempotencyKey: 'k'.repeat(257) }, 'idempotencyKey'],
  ])('rejects %j naming the option, before any request', async (extra, field) => {
    const { queue, transport } = await setup();
    const error = await rejection(queue.enqueueJob({ type: 'demo.hello', payload: { name: 'a' }, ...extra }));
    expect(error.code).toBe('invalid_option');
    expect(error.field).toBe(field);
    expect(transport.requestCount).toBe(0);
  });

  it('rejects an oversize job with the configured limit, before any request', async () => {
    const { queue, transport } = await setup({ maxMessageBytes: 262_144 });
    const error = await rejection(queue.enqueueJob({ type: 'calendar.sync', payload: { calendarId: 'c', blob: 'x'.repeat(262_144) } }));
    expect(error.code).toBe('too_large');
    expect(error.field).toBe('payload');
    expect(error.message).toMatch(/^payload: the message would be \d+ bytes, over the 262144-byte limit$/);
    expect(transport.requestCount).toBe(0);
  });

  it('sends delays up to 900 s as DelaySeconds (rounded up) and longer ones as notBefore + 900 s', async () => {
    const { queue, transport, clock } = await setup();
    await queue.enqueueJob({ type: 'demo.hello', payload: { name: 'a' }, delayMs: 1_500 });
    await queue.enqueueJob({ type: 'demo.hello', payload: { name: 'b' }, delayMs: 900_000 });
    await queue.enqueueJob({ type: 'demo.hello', payload: { name: 'c' }, delayMs: 3_600_000 });
    const sends = transport.records.filter((r) => r.op === 'send');
    expect(sends.map((s) => s.op === 'send' && s.delaySeconds)).toEqual([2, 900, 900]);
    const notBefore = sends.map((s) => {
      const decoded = s.op === 'send' ? decodeEnvelope(s.body) : undefined;
      return decoded?.ok ? decoded.envelope.notBefore : 'undecodable';
    });
    expect(notBefore).toEqual([undefined, undefined, new Date(clock.now() + 3_600_000).toISOString()]);
  });
});

describe('JobQueue.enqueueJobs', () => {
  it('sends 25 jobs in batches of 10, 10 and 5, returning the ids in order', async () => {
    const { queue, transport, memory, queueUrl } = await setup();
    const ids = await queue.enqueueJobs(Array.from({ length: 25 }, (_, i) => ({ type: 'demo.hello', payload: { name: `n${i}` } })));
    expect(ids).toHaveLength(25);
    expect(new Set(ids).size).toBe(25);
    expect(transport.requests).toEqual({ sendBatch: 3 });
    const sent = transport.records.filter((r) => r.op === 'send');
    const sentIds = sent.map((s) => {
      const decoded = s.op === 'send' ? decodeEnvelope(s.body) : undefined;
      return decoded?.ok ? decoded.envelope.id : '';
    });
    expect(sentIds).toEqual(ids);
    expect((await memory.depth(queueUrl)).visible).toBe(25);
  });

  it('names the bad job by index and sends nothing when one of them is bad', async () => {
    const { queue, transport } = await setup();
    const batch = Array.from({ length: 25 }, (_, i) => ({ type: 'demo.hello', payload: i === 17 ? { name: 7 } : { name: 'ok' } }));
    const error = await rejection(queue.enqueueJobs(batch));
    expect(error.field).toBe('jobs[17].payload.name');
    expect(error.message).toBe('jobs[17].payload.name: expected string, received number');
    expect(transport.requestCount).toBe(0);
  });

  it('splits large messages so no batch goes over 1 MiB', async () => {
    const { queue, transport } = await setup();
    const blob = 'x'.repeat(300_000);
    await queue.enqueueJobs(Array.from({ length: 25 }, (_, i) => ({ type: 'calendar.sync', payload: { calendarId: `c${i}`, blob } })));
    const batches = batchesOf(transport);
    expect(batches.map((b) => b.length)).toEqual([3, 3, 3, 3, 3, 3, 3, 3, 1]);
    for (const batch of batches) expect(batch.reduce((sum, e) => sum + messageBytes(e), 0)).toBeLessThanOrEqual(1_048_576);
  });

  // A server that enforces 256 KiB per message (ElasticMQ strict, older AWS) also enforces 256 KiB per
  // batch. With maxMessageBytes 262144 the batches must stay under 262144 bytes in all.
  it('keeps byte-limited batches under the configured limit (256 KiB servers)', async () => {
    const { queue, transport } = await setup({ maxMessageBytes: 262_144 });
    const blob = 'x'.repeat(60_000);
    await queue.enqueueJobs(Array.from({ length: 25 }, (_, i) => ({ type: 'calendar.sync', payload: { calendarId: `c${i}`, blob } })));
    const batches = batchesOf(transport);
    expect(batches.flat()).toHaveLength(25);
    for (const batch of batches) expect(batch.reduce((sum, e) => sum + messageBytes(e), 0)).toBeLessThanOrEqual(262_144);
  });

  it('retries entries that fail transiently and fails on a sender fault', async () => {
    const { memory, queueUrl, clock } = await setup();
    let calls = 0;
    const flaky = Object.create(memory) as MemoryTransport;
    flaky.sendBatch = async (url: string, entries: readonly OutgoingBatchEntry[]): Promise<BatchResult> => {
      calls++;
      if (calls === 1) {
        const [first, ...rest] = entries;
        const result = await memory.sendBatch(url, rest);
        return { ...result, failed: [{ id: first!.id, code: 'InternalError', message: 'try again', senderFault: false }] };
      }
      return memory.sendBatch(url, entries);
    };
    const queue = new JobQueue({ transport: flaky, queueUrl, jobs, clock });
    await queue.enqueueJobs([0, 1, 2].map((i) => ({ type: 'demo.hello', payload: { name: `n${i}` } })));
    expect(calls).toBe(2);
    expect((await memory.depth(queueUrl)).visible).toBe(3);

    const broken = Object.create(memory) as MemoryTransport;
    broken.sendBatch = async (_url: string, entries: readonly OutgoingBatchEntry[]): Promise<BatchResult> => ({
      successful: [],
      failed: entries.map((e) => ({ id: e.id, code: 'InvalidMessageContents', message: 'bad', senderFault: true })),
    });
    const failing = new JobQueue({ transport: broken, queueUrl, jobs, clock });
    const error = await failing.enqueueJob({ type: 'demo.hello', payload: { name: 'x' } }).catch((e: unknown) => e);
    expect(TransportError.is(error)).toBe(true);
    expect(error).toMatchObject({ code: 'InvalidMessageContents', retryable: false });
  });
});

function batchesOf(transport: RecordingTransport): Array<Array<{ body: string; attributes: Record<string, string> }>> {
  // Each sendBatch call appends its entries to records in one go; split them by request count.
  const sends = transport.records.filter((r): r is Extract<typeof r, { op: 'send' }> => r.op === 'send');
  const sizes = transport.batchSizes;
  const out: Array<Array<{ body: string; attributes: Record<string, string> }>> = [];
  let at = 0;
  for (const size of sizes) {
    out.push(sends.slice(at, at + size).map((s) => ({ body: s.body, attributes: s.attributes })));
    at += size;
  }
  return out;
}

describe('JobQueue with a recorder (the job store)', () => {
  async function withStore(options: { failSends?: boolean } = {}) {
    const { clock, memory, queueUrl } = await setup();
    const store = new MemoryJobStore({ now: () => clock.now() });
    const calls: string[] = [];
    const recorder = storeRecorder(store, { enabled: true, redactPaths: ['payload.secret'] });
    const counting: JobRecorder = {
      record: (jobs) => {
        calls.push(`record ${jobs.length}`);
        return recorder.record(jobs);
      },
      forget: (ids) => {
        calls.push(`forget ${ids.length}`);
        return recorder.forget(ids);
      },
    };
    const broken = Object.create(memory) as MemoryTransport;
    broken.sendBatch = async (_url: string, entries: readonly OutgoingBatchEntry[]): Promise<BatchResult> => ({
      successful: [],
      failed: entries.map((e) => ({ id: e.id, code: 'InvalidMessageContents', message: 'bad', senderFault: true })),
    });
    const transport = new RecordingTransport(options.failSends ? broken : memory);
    const queue = new JobQueue({ transport, queueUrl, jobs, clock, recorder: counting });
    return { clock, memory, queueUrl, store, calls, transport, queue };
  }

  it('records the row (pending, payload redacted) before sending, and says it was new', async () => {
    const { queue, store, memory, queueUrl, calls, clock } = await withStore();
    const result = await queue.enqueue({ type: 'demo.hello', payload: { name: 'Ada' }, idempotencyKey: 'k-1', delayMs: 5_000 });
    expect(result).toEqual({ id: expect.any(String), deduplicated: false });
    expect(calls).toEqual(['record 1']);
    const row = await store.getJob(result.id);
    expect(row).toMatchObject({
      state: 'pending',
      type: 'demo.hello',
      idempotencyKey: 'k-1',
      attempt: 1,
      createdAt: clock.now(),
      scheduledAt: clock.now() + 5_000,
      payload: { name: 'Ada' },
    });
    clock.advance(5_000);
    const [message] = await memory.receive(queueUrl, { waitTimeSeconds: 0 });
    expect(decodeEnvelope(message!.body)).toMatchObject({ ok: true, envelope: { id: result.id } });
  });

  it('applies the payload policy: the recorder redacts the stored copy, the message keeps the payload', async () => {
    const { queue, store, memory, queueUrl } = await withStore();
    const id = await queue.enqueueJob({ type: 'calendar.sync', payload: { calendarId: 'c', blob: 'b', secret: 's' } as never });
    expect((await store.getJob(id))?.payload).toEqual({ calendarId: 'c', blob: 'b', secret: '[redacted]' });
    const [message] = await memory.receive(queueUrl, { waitTimeSeconds: 0 });
    expect(decodeEnvelope(message!.body)).toMatchObject({ ok: true, envelope: { payload: { calendarId: 'c', secret: 's' } } });
  });

  it('a second enqueue with the same key and type sends nothing and returns the first id', async () => {
    const { queue, memory, queueUrl, transport } = await withStore();
    const first = await queue.enqueue({ type: 'demo.hello', payload: { name: 'a' }, idempotencyKey: 'same' });
    const second = await queue.enqueue({ type: 'demo.hello', payload: { name: 'b' }, idempotencyKey: 'same' });
    const otherType = await queue.enqueue({ type: 'calendar.sync', payload: { calendarId: 'c' }, idempotencyKey: 'same' });
    expect(second).toEqual({ id: first.id, deduplicated: true });
    expect(otherType.deduplicated).toBe(false);
    expect(transport.requests).toEqual({ sendBatch: 2 });
    expect((await memory.depth(queueUrl)).visible).toBe(2);
    expect(await queue.enqueueJob({ type: 'demo.hello', payload: { name: 'c' }, idempotencyKey: 'same' })).toBe(first.id);
  });

  it('enqueueMany records once and sends only the new jobs, duplicates within the call included', async () => {
    const { queue, memory, queueUrl, calls } = await withStore();
    const earlier = await queue.enqueue({ type: 'demo.hello', payload: { name: 'x' }, idempotencyKey: 'k-0' });
    calls.length = 0;
    const results = await queue.enqueueMany([
      { type: 'demo.hello', payload: { name: 'a' }, idempotencyKey: 'k-0' },
      { type: 'demo.hello', payload: { name: 'b' }, idempotencyKey: 'k-1' },
      { type: 'demo.hello', payload: { name: 'c' }, idempotencyKey: 'k-1' },
      { type: 'demo.hello', payload: { name: 'd' } },
    ]);
    expect(calls).toEqual(['record 4']);
    expect(results.map((r) => r.deduplicated)).toEqual([true, false, true, false]);
    expect(results[0]!.id).toBe(earlier.id);
    expect(results[2]!.id).toBe(results[1]!.id);
    expect((await memory.depth(queueUrl)).visible).toBe(3);
  });

  it('forgets the rows it could not send, so a later retry with the same key is sent', async () => {
    const failing = await withStore({ failSends: true });
    const error = await failing.queue.enqueue({ type: 'demo.hello', payload: { name: 'a' }, idempotencyKey: 'retry-me' }).catch((e) => e);
    expect(TransportError.is(error)).toBe(true);
    expect(failing.calls).toEqual(['record 1', 'forget 1']);
    expect((await failing.store.listJobs()).jobs).toEqual([]);
    const working = new JobQueue({
      transport: failing.memory,
      queueUrl: failing.queueUrl,
      jobs,
      recorder: storeRecorder(failing.store, { enabled: true, redactPaths: [] }),
    });
    expect(await working.enqueue({ type: 'demo.hello', payload: { name: 'a' }, idempotencyKey: 'retry-me' })).toMatchObject({
      deduplicated: false,
    });
  });

  it('validates every job before any store call', async () => {
    const { queue, calls, transport } = await withStore();
    const error = await rejection(
      queue.enqueueMany([
        { type: 'demo.hello', payload: { name: 'ok' }, idempotencyKey: 'a' },
        { type: 'demo.hello', payload: { name: 7 } },
      ]),
    );
    expect(error.field).toBe('jobs[1].payload.name');
    expect(calls).toEqual([]);
    expect(transport.requestCount).toBe(0);
  });

  it('sendEnvelope sends a built envelope as it is, with the job-type attribute, and records nothing', async () => {
    const { queue, memory, queueUrl, calls, clock } = await withStore();
    const envelope = { ...newEnvelope({ type: 'demo.hello', payload: { name: 'again' }, now: clock.now() }), history: [] };
    await queue.sendEnvelope(envelope);
    expect(calls).toEqual([]);
    const [message] = await memory.receive(queueUrl, { waitTimeSeconds: 0 });
    expect(decodeEnvelope(message!.body)).toMatchObject({ ok: true, envelope: { id: envelope.id, attempt: 1 } });
    expect(message!.attributes['job-type']).toBe('demo.hello');
  });
});
