import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkJsonSafety,
  decodeEnvelope,
  encodeEnvelope,
  envelopeJsonSchema,
  newEnvelope,
  type Envelope,
} from '../../src/queue/envelope.js';
import { REPO_ROOT } from '../support/process.js';

const NOW = Date.parse('2026-01-02T03:04:05.000Z');

function valid(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    v: 1,
    id: '0f8fad5b-d9cb-469f-a165-70867728950e',
    type: 'calendar.sync',
    payload: { calendarId: 'cal-1' },
    attempt: 1,
    createdAt: '2026-01-02T03:04:05.000Z',
    ...overrides,
  };
}

function failure(body: string, options?: Parameters<typeof decodeEnvelope>[1]) {
  const result = decodeEnvelope(body, options);
  if (result.ok) throw new Error(`expected ${body.slice(0, 80)} to be rejected`);
  return result;
}

describe('decodeEnvelope', () => {
  it('round-trips a full envelope through encodeEnvelope', () => {
    const envelope: Envelope = {
      ...(valid() as Envelope),
      idempotencyKey: 'k-1',
      notBefore: '2026-01-02T04:00:00.000Z',
      history: [{ attempt: 1, at: '2026-01-02T03:05:00.000Z', durationMs: 12, kind: 'failed', error: { name: 'Error', message: 'boom', reason: 'x' } }],
      checkpoint: { page: 3 },
    };
    const decoded = decodeEnvelope(encodeEnvelope(envelope));
    expect(decoded).toEqual({ ok: true, envelope });
  });

  it('builds a first-attempt envelope that decodes', () => {
    const envelope = newEnvelope({ type: 'demo.hello', payload: { name: 'a' }, now: NOW, idempotencyKey: 'k', notBefore: new Date(NOW + 5000) });
    expect(envelope).toMatchObject({ v: 1, attempt: 1, createdAt: '2026-01-02T03:04:05.000Z', notBefore: '2026-01-02T03:04:10.000Z', idempotencyKey: 'k' });
    expect(decodeEnvelope(encodeEnvelope(envelope)).ok).toBe(true);
  });

  it.each([
    ['id', { id: 'not-a-uuid' }, /^id: /],
    ['type', { type: '' }, /^type: /],
    ['attempt', { attempt: 0 }, /^attempt: Too small: expected number to be >=1/],
    ['attempt', { attempt: 1.5 }, /^attempt: expected int/],
    ['attempt', { attempt: 'one' }, /^attempt: expected number, received string/],
    ['createdAt', { createdAt: 'yesterday' }, /^createdAt: /],
    ['notBefore', { notBefore: 12 }, /^notBefore: /],
    ['idempotencyKey', { idempotencyKey: '' }, /^idempotencyKey: /],
    ['history.0.kind', { history: [{ attempt: 1, at: '2026-01-02T03:04:05Z', durationMs: 0, kind: 'exploded', error: { name: 'E', message: 'm' } }] }, /^history\.0\.kind: /],
    ['history.0.error.name', { history: [{ attempt: 1, at: '2026-01-02T03:04:05Z', durationMs: 0, kind: 'failed', error: { message: 'm' } }] }, /^history\.0\.error\.name: expected string/],
  ])('names the bad field %s', (_field, overrides, pattern) => {
    const result = failure(JSON.stringify(valid(overrides)));
    expect(result.reason).toBe('invalid_envelope');
    expect(result.message).toMatch(pattern);
  });

  it('names every missing field', () => {
    const result = failure(JSON.stringify({ v: 1 }));
    expect(result.reason).toBe('invalid_envelope');
    for (const field of ['id', 'type', 'attempt', 'createdAt']) expect(result.message).toContain(`${field}: `);
  });

  it.each([
    ['__proto__', '{"v":1,"payload":{"__proto__":{"admin":true}}}', 'payload.__proto__: forbidden key'],
    ['constructor', '{"v":1,"payload":{"a":[{"constructor":{"prototype":{}}}]}}', 'payload.a[0].constructor: forbidden key'],
    ['prototype', '{"prototype":1}', 'prototype: forbidden key'],
  ])('rejects a %s key as unsafe_json, naming where it is', (_key, body, message) => {
    const result = failure(body);
    expect(result).toEqual({ ok: false, reason: 'unsafe_json', message });
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('rejects 10,000-deep arrays and objects as unsafe_json without overflowing the stack', () => {
    const arrays = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const objects = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    for (const body of [arrays, objects, JSON.stringify(valid()).replace('{"calendarId":"cal-1"}', objects)]) {
      const result = failure(body);
      expect(result.reason).toBe('unsafe_json');
      expect(result.message).toMatch(/nesting deeper than 64 levels$/);
    }
  });

  it('walks a deep value with a huge maxDepth iteratively', () => {
    let value: unknown = 1;
    for (let i = 0; i < 200_000; i++) value = { a: value };
    expect(checkJsonSafety(value, Number.POSITIVE_INFINITY)).toBeUndefined();
    expect(checkJsonSafety(value, 100)).toMatch(/nesting deeper than 100 levels$/);
  });

  it('rejects an oversize body before parsing it, naming the sizes', () => {
    const body = JSON.stringify(valid({ payload: 'x'.repeat(300) }));
    const result = failure(body, { maxBytes: 256 });
    expect(result.reason).toBe('oversize');
    expect(result.message).toBe(`body is ${Buffer.byteLength(body)} bytes, over the 256-byte limit`);
    // Multi-byte characters count as bytes, not characters.
    expect(failure('"é"'.padEnd(200, ' ') + 'é'.repeat(40), { maxBytes: 220 }).reason).toBe('oversize');
    // Over the default of 1 MiB.
    expect(failure(' '.repeat(1_048_577)).reason).toBe('oversize');
  });

  it.each([
    ['v: 2', { v: 2 }, 'v: expected 1, got 2'],
    ['v: "1"', { v: '1' }, 'v: expected 1, got "1"'],
    ['no v', { v: undefined }, 'v: expected 1, got nothing'],
  ])('rejects %s as unknown_version', (_name, overrides, message) => {
    expect(failure(JSON.stringify(valid(overrides)))).toEqual({ ok: false, reason: 'unknown_version', message });
  });

  it.each([['[]'], ['"text"'], ['null'], ['42']])('rejects the non-object %s', (body) => {
    expect(failure(body)).toEqual({ ok: false, reason: 'invalid_envelope', message: '(root): expected a JSON object' });
  });

  it('rejects a body that is not JSON', () => {
    const result = failure('{"v":1,');
    expect(result.reason).toBe('not_json');
    expect(result.message).toMatch(/^body is not JSON: /);
  });
});

describe('the committed JSON Schema', () => {
  it('matches the zod schema (run `npm run schema` after changing the envelope)', () => {
    const committed = readFileSync(join(REPO_ROOT, 'schema', 'job-envelope.v1.json'), 'utf8');
    const generated = `${JSON.stringify(envelopeJsonSchema(), null, 2)}\n`;
    expect(generated === committed, 'schema/job-envelope.v1.json is stale: run `npm run schema` and commit the result').toBe(true);
  });

  it('describes the wire contract fields', () => {
    const schema = envelopeJsonSchema() as { required?: string[]; properties?: Record<string, unknown> };
    expect(schema.required?.sort()).toEqual(['attempt', 'createdAt', 'id', 'payload', 'type', 'v'].sort());
    expect(Object.keys(schema.properties ?? {}).sort()).toEqual(
      ['v', 'id', 'type', 'payload', 'attempt', 'createdAt', 'idempotencyKey', 'notBefore', 'history', 'checkpoint'].sort(),
    );
  });
});
