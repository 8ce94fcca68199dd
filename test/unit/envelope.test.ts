import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkJsonSafety,
  checkParsedBodySafety,
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
      history: [
        {
          attempt: 1,
          at: '2026-01-02T03:05:00.000Z',
          durationMs: 12,
          kind: 'failed',
          error: { name: 'Error', message: 'boom', reason: 'x' },
        },
      ],
      checkpoint: { page: 3 },
    };
    const decoded = decodeEnvelope(encodeEnvelope(envelope));
    expect(decoded).toEqual({ ok: true, envelope });
  });

  it('builds a first-attempt envelope that decodes', () => {
    const envelope = newEnvelope({
      type: 'demo.hello',
      payload: { name: 'a' },
      now: NOW,
      idempotencyKey: 'k',
      notBefore: new Date(NOW + 5000),
    });
    expect(envelope).toMatchObject({
      v: 1,
      attempt: 1,
      createdAt: '2026-01-02T03:04:05.000Z',
      notBefore: '2026-01-02T03:04:10.000Z',
      idempotencyKey: 'k',
    });
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
    [
      'history.0.kind',
      { history: [{ attempt: 1, at: '2026-01-02T03:04:05Z', durationMs: 0, kind: 'exploded', error: { name: 'E', message: 'm' } }] },
      /^history\.0\.kind: /,
    ],
    [
      'history.0.error.name',
      { history: [{ attempt: 1, at: '2026-01-02T03:04:05Z', durationMs: 0, kind: 'failed', error: { message: 'm' } }] },
      /^history\.0\.error\.name: expected string/,
    ],
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

/**
 * checkJsonSafety before issue 10 (defect 12), kept verbatim as the reference for its messages: it
 * built a path string (and a tuple) for every node, which made decoding a wide body 15–45× JSON.parse.
 */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
function checkJsonSafetyBefore(value: unknown, maxDepth: number): string | undefined {
  const stack: Array<[unknown, number, string]> = [[value, 0, '']];
  while (stack.length > 0) {
    const [node, depth, path] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (depth >= maxDepth) return `${path || '(root)'}: nesting deeper than ${maxDepth} levels`;
    if (Array.isArray(node)) {
      node.forEach((item, index) => {
        stack.push([item, depth + 1, `${path}[${index}]`]);
      });
      continue;
    }
    for (const key of Object.keys(node)) {
      const child = path ? `${path}.${key}` : key;
      if (FORBIDDEN_KEYS.has(key)) return `${child}: forbidden key`;
      stack.push([(node as Record<string, unknown>)[key], depth + 1, child]);
    }
  }
  return undefined;
}

type Tree = null | boolean | number | string | { array: Tree[] } | { object: Array<[string, Tree]> };

/** JSON text for a generated tree (objects as entry lists, so `__proto__` becomes an own key once parsed). */
function treeJson(tree: Tree): string {
  if (tree === null || typeof tree !== 'object') return JSON.stringify(tree);
  if ('array' in tree) return `[${tree.array.map(treeJson).join(',')}]`;
  return `{${tree.object.map(([key, value]) => `${JSON.stringify(key)}:${treeJson(value)}`).join(',')}}`;
}

const keyArb = fc.oneof(
  { arbitrary: fc.constantFrom('a', 'b', '', 'x.y', '0', '[1]', 'Constructor', 'proto'), weight: 12 },
  { arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype'), weight: 1 },
);
const { tree: treeArb } = fc.letrec<{ tree: Tree; leaf: Tree; array: Tree; object: Tree }>((tie) => ({
  tree: fc.oneof({ maxDepth: 12, depthIdentifier: 'tree' }, tie('leaf'), tie('array'), tie('object')),
  leaf: fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.boolean(), fc.constant(null)),
  array: fc.array(tie('tree'), { maxLength: 4, depthIdentifier: 'tree' }).map((array) => ({ array })),
  object: fc.array(fc.tuple(keyArb, tie('tree')), { maxLength: 4, depthIdentifier: 'tree' }).map((object) => ({ object })),
}));

describe('checkJsonSafety (defect 12: paths are built only on failure)', () => {
  it('property: gives exactly the message of the implementation that built a path per node', () => {
    const seen = { safe: 0, forbidden: 0, deep: 0 };
    fc.assert(
      fc.property(treeArb, fc.oneof(fc.integer({ min: 0, max: 8 }), fc.constant(Number.POSITIVE_INFINITY)), (tree, maxDepth) => {
        const value: unknown = JSON.parse(treeJson(tree));
        const expected = checkJsonSafetyBefore(value, maxDepth);
        expect(checkJsonSafety(value, maxDepth)).toBe(expected);
        if (expected === undefined) seen.safe++;
        else if (expected.endsWith('forbidden key')) seen.forbidden++;
        else seen.deep++;
      }),
      { numRuns: 3000 },
    );
    // The corpus reached every outcome.
    expect(seen.safe).toBeGreaterThan(100);
    expect(seen.forbidden).toBeGreaterThan(100);
    expect(seen.deep).toBeGreaterThan(100);
  });

  it.each([
    // Several problems: the one found first is the same (children are walked last to first).
    ['{"a":{"constructor":1},"b":[[[[1]]]]}', 3, 'b[0][0]: nesting deeper than 3 levels'],
    ['{"a":[[[[1]]]],"b":{"constructor":1}}', 3, 'b.constructor: forbidden key'],
    ['{"x":{"":{"":{"prototype":1}}}}', 64, 'x...prototype: forbidden key'],
    ['[[{"a":[{"__proto__":{}}]}]]', 64, '[0][0].a[0].__proto__: forbidden key'],
    ['{"a":[]}', 1, 'a: nesting deeper than 1 levels'],
    ['[]', 0, '(root): nesting deeper than 0 levels'],
  ])('%s with maxDepth %s: %s', (body, maxDepth, message) => {
    expect(checkJsonSafety(JSON.parse(body), maxDepth)).toBe(message);
    expect(checkJsonSafetyBefore(JSON.parse(body), maxDepth)).toBe(message);
  });

  it('property: the check on the body text gives the same answer as the full walk, escapes and all (issue 17)', () => {
    // Some keys written with their first character as a \\uXXXX escape: "\\u005f_proto__" is __proto__ once parsed.
    let n = 0;
    const escaped = (tree: Tree, mask: number): string => {
      if (tree === null || typeof tree !== 'object') return JSON.stringify(tree);
      if ('array' in tree) return `[${tree.array.map((t) => escaped(t, mask)).join(',')}]`;
      const key = (k: string): string =>
        /^\w/.test(k) && (n++ + mask) % 2 === 0
          ? `"\\u${k.charCodeAt(0).toString(16).padStart(4, '0')}${JSON.stringify(k).slice(2)}`
          : JSON.stringify(k);
      return `{${tree.object.map(([k, value]) => `${key(k)}:${escaped(value, mask)}`).join(',')}}`;
    };
    const escapeSome = (tree: Tree, mask: number): string => (mask % 3 === 0 ? treeJson(tree) : escaped(tree, mask));
    fc.assert(
      fc.property(treeArb, fc.integer({ min: 0, max: 8 }), fc.nat(), (tree, maxDepth, mask) => {
        const body = escapeSome(tree, mask);
        const value: unknown = JSON.parse(body);
        expect(checkParsedBodySafety(body, value, maxDepth)).toBe(checkJsonSafety(value, maxDepth));
      }),
      { numRuns: 3000 },
    );
  });

  it('rejects a forbidden key spelled with an escape', () => {
    const body = JSON.stringify(valid()).replace('"calendarId"', '"\\u005f_proto__":{"admin":true},"calendarId"');
    expect(JSON.parse(body).payload).toHaveProperty('__proto__');
    expect(decodeEnvelope(body)).toEqual({ ok: false, reason: 'unsafe_json', message: 'payload.__proto__: forbidden key' });
  });

  it('needs no memory per node: a 2,000,000-element payload decodes in a process with a 96 MB heap', () => {
    // The path-per-node walk held a tuple and a path string for every pending node (over 250 MB
    // here) and died of "JavaScript heap out of memory"; the walk now keeps only the ancestors.
    const envelope = pathToFileURL(join(REPO_ROOT, 'src', 'queue', 'envelope.ts')).href;
    const code = `
      import { decodeEnvelope } from ${JSON.stringify(envelope)};
      const payload = new Array(2_000_000).fill(0);
      const body = JSON.stringify({ v: 1, id: '0f8fad5b-d9cb-469f-a165-70867728950e', type: 'a.b', payload, attempt: 1, createdAt: '2026-01-02T03:04:05.000Z' });
      const result = decodeEnvelope(body, { maxBytes: 16 << 20 });
      console.log(JSON.stringify({ ok: result.ok }));
    `;
    const child = spawnSync(process.execPath, ['--max-old-space-size=96', '--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.stderr.split('\n').find((line) => /heap|FATAL|Error/.test(line))).toBeUndefined();
    expect({ status: child.status, stdout: child.stdout.trim() }).toEqual({ status: 0, stdout: '{"ok":true}' });
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
      [
        'v',
        'id',
        'type',
        'payload',
        'attempt',
        'createdAt',
        'idempotencyKey',
        'notBefore',
        'history',
        'historyOmitted',
        'checkpoint',
      ].sort(),
    );
  });
});
