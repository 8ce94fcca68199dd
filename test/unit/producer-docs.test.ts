/**
 * docs/producers.md cannot drift from the code: its worked signing example is checked against
 * src/queue/signing.ts, its Python producer parses and signs the example the same way, and its
 * claims about what the worker refuses hold for decodeEnvelope.
 */
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope } from '../../src/queue/envelope.js';
import { parseSigningKeys, SIGNATURE_ATTRIBUTE, signBody, verifyBody } from '../../src/queue/signing.js';
import { REPO_ROOT, requireCommand } from '../support/process.js';

const DOC = readFileSync(join(REPO_ROOT, 'docs', 'producers.md'), 'utf8');

/** The text of the section under `heading` (up to the next heading of the same or a higher level). */
function section(heading: string): string {
  const start = DOC.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`docs/producers.md has no "${heading}" section`);
  const level = heading.match(/^#+/)![0];
  const rest = DOC.slice(start + heading.length + 2);
  const end = rest.search(new RegExp(`\\n#{1,${level.length}} `));
  return end < 0 ? rest : rest.slice(0, end);
}

/** The value on the `label:` line of the worked example's text blocks. */
function line(text: string, label: string): string {
  const match = text.match(new RegExp(`^${label}:\\s+(\\S.*?)\\s*$`, 'm'));
  if (!match) throw new Error(`the worked example has no "${label}:" line`);
  return match[1]!;
}

const example = section('### Worked example');
const key = line(example, 'key');
const jobType = line(example, 'job-type');
const body = line(example, 'body');
const prefixHex = line(example, 'prefix').replace(/\s+/g, '');
const hmacHex = line(example, 'HMAC');
const signature = line(example, 'signature');

function pythonSnippet(): string {
  const blocks = [...DOC.matchAll(/```python\n([\s\S]*?)```/g)];
  expect(blocks, 'docs/producers.md holds exactly one python block').toHaveLength(1);
  return blocks[0]![1]!;
}

/** Runs `code` after defining the doc's Python functions (boto3 stubbed: nothing is sent). */
function runPython(code: string): string {
  requireCommand('python3', 'install Python 3 (apt-get install python3)');
  const prelude = [
    'import sys, types',
    "sys.modules.setdefault('boto3', types.ModuleType('boto3'))",
    "ns = {'__name__': 'producer_doc'}",
    "exec(compile(sys.stdin.read(), 'producers.md', 'exec'), ns)",
  ].join('\n');
  const child = spawnSync('python3', ['-c', `${prelude}\n${code}`], { input: pythonSnippet(), encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`python3 failed (${child.status}):\n${child.stderr}`);
  return child.stdout.trim();
}

describe('docs/producers.md: the worked signing example', () => {
  it('gives the signature signBody computes, and it verifies', () => {
    const keys = parseSigningKeys(key);
    expect(signBody(body, jobType, keys)).toBe(signature);
    expect(verifyBody(body, jobType, signature, keys)).toEqual({ ok: true, keyId: keys[0].id });
    expect(SIGNATURE_ATTRIBUTE).toBe('calsync-signature');
    expect(DOC).toContain('`calsync-signature`');
  });

  it('spells out the MAC input and the HMAC as the layout table describes them', () => {
    const typeBytes = Buffer.from(jobType, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(typeBytes.byteLength);
    const prefix = Buffer.concat([Buffer.from('calsync-jobs:v1\u0000', 'ascii'), length, typeBytes]);
    expect(prefixHex).toBe(prefix.toString('hex'));
    const bodyBytes = Buffer.from(body, 'utf8');
    expect(example).toContain(`${prefix.byteLength} bytes`);
    expect(example).toContain(`${bodyBytes.byteLength} bytes of the body (${prefix.byteLength + bodyBytes.byteLength} bytes in all)`);

    const secret = Buffer.from(key.slice(key.indexOf(':base64:') + ':base64:'.length), 'base64');
    expect([...secret]).toEqual(Array.from({ length: 32 }, (_, i) => i)); // "the 32 bytes 00 01 02 … 1f"
    const mac = createHmac('sha256', secret)
      .update(Buffer.concat([prefix, bodyBytes]))
      .digest();
    expect(hmacHex).toBe(mac.toString('hex'));
    expect(signature).toBe(`v1:${key.split(':')[0]}:${mac.toString('base64url')}`);
    expect(signature.split(':')[2]).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('uses a body that is a valid new job, the same one the body section shows', () => {
    const decoded = decodeEnvelope(body);
    if (!decoded.ok) throw new Error(decoded.message);
    expect(decoded.envelope).toMatchObject({ v: 1, type: jobType, attempt: 1 });
    expect(decoded.envelope.history).toBeUndefined();
    expect(decoded.envelope.checkpoint).toBeUndefined();
    expect(section('## The message body: a new job')).toContain(`\`\`\`json\n${body}\n\`\`\``);
  });
});

describe('docs/producers.md: the Python producer', () => {
  it('is valid Python', () => {
    requireCommand('python3', 'install Python 3 (apt-get install python3)');
    const child = spawnSync('python3', ['-c', 'import ast,sys; ast.parse(sys.stdin.read())'], { input: pythonSnippet(), encoding: 'utf8' });
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
  });

  it('signs the worked example to its signature', () => {
    const out = runPython(
      `print(ns['sign'](${JSON.stringify(body)}, ${JSON.stringify(jobType)}, *ns['signing_key'](${JSON.stringify(key)})))`,
    );
    expect(out).toBe(signature);
  });

  it.each([
    ['a text secret', `text-key:${'s'.repeat(40)}`],
    [
      'a url-safe base64 secret without padding',
      `url-key:base64:${Buffer.from(Array.from({ length: 40 }, (_, i) => 250 - i)).toString('base64url')}`,
    ],
    ['the first of several keys', `first:${'f'.repeat(32)},second:${'g'.repeat(32)}`],
  ])('reads %s the way the worker does', (_name, entry) => {
    const text = '{"v":1,"note":"Zo\\u00eb"}';
    const out = runPython(`print(ns['sign'](${JSON.stringify(text)}, 'pay.out', *ns['signing_key'](${JSON.stringify(entry)})))`);
    expect(out).toBe(signBody(text, 'pay.out', parseSigningKeys(entry)));
  });

  it('writes a body that decodes as a new job, in ASCII only, with the attributes the doc names', () => {
    const out = runPython(`
import json
sent = {}
class FakeSqs:
    def send_message(self, **kwargs):
        sent.update(kwargs)
job_id = ns['enqueue'](FakeSqs(), 'http://queue', 'demo.hello', {'name': 'Zo\\u00eb \\U0001F40D \\uffff'}, idempotency_key='k-1', delay_seconds=3600, key=ns['signing_key'](${JSON.stringify(key)}))
print(json.dumps({'id': job_id, **sent}))
`);
    const sent = JSON.parse(out) as {
      id: string;
      MessageBody: string;
      DelaySeconds: number;
      MessageAttributes: Record<string, { DataType: string; StringValue: string }>;
    };
    expect(sent.MessageBody).toMatch(/^[\x20-\x7e]*$/);
    const decoded = decodeEnvelope(sent.MessageBody);
    if (!decoded.ok) throw new Error(decoded.message);
    expect(decoded.envelope).toMatchObject({
      id: sent.id,
      type: 'demo.hello',
      attempt: 1,
      idempotencyKey: 'k-1',
      payload: { name: 'Zoë 🐍 \uffff' },
    });
    expect(Date.parse(decoded.envelope.notBefore!) - Date.parse(decoded.envelope.createdAt)).toBe(3_600_000);
    expect(sent.DelaySeconds).toBe(900);
    const attributes = sent.MessageAttributes;
    expect(Object.values(attributes).map((a) => a.DataType)).toEqual(Object.values(attributes).map(() => 'String'));
    expect(attributes['job-type']!.StringValue).toBe('demo.hello');
    expect(verifyBody(sent.MessageBody, 'demo.hello', attributes[SIGNATURE_ATTRIBUTE]!.StringValue, parseSigningKeys(key)).ok).toBe(true);
  });
});

describe('docs/producers.md: what the worker refuses', () => {
  const refused = section('## What the worker refuses beyond the schema');
  const withPayload = (payload: unknown): string => JSON.stringify({ ...(JSON.parse(body) as object), payload });

  it.each(['__proto__', 'constructor', 'prototype'])('refuses the key %s anywhere in the body', (name) => {
    expect(refused).toContain(`\`${name}\``);
    const result = decodeEnvelope(withPayload({ deep: [{ ok: 1 }] }).replace('"ok"', JSON.stringify(name)));
    expect(result).toMatchObject({ ok: false, reason: 'unsafe_json' });
  });

  it('lets a payload nest 63 levels but not 64', () => {
    expect(refused).toContain('nested 64 levels deep');
    expect(refused).toContain('a payload may nest 63 levels');
    const nest = (levels: number): unknown => (levels === 0 ? 0 : [nest(levels - 1)]);
    expect(decodeEnvelope(withPayload(nest(63))).ok).toBe(true);
    expect(decodeEnvelope(withPayload(nest(64)))).toMatchObject({ ok: false, reason: 'unsafe_json' });
  });

  it('names the message decodeEnvelope gives for a bad id', () => {
    const result = decodeEnvelope(body.replace(/"id":"[^"]+"/, '"id":"x"'));
    expect(result).toMatchObject({ ok: false, reason: 'invalid_envelope' });
    expect(refused).toContain(`\`${(result as { message: string }).message}\``);
  });

  it('accepts both createdAt spellings the doc shows', () => {
    for (const createdAt of ['2026-01-02T03:04:05.000Z', '2026-01-02T03:04:05.123+00:00']) {
      expect(section('## The message body: a new job')).toContain(`\`${createdAt}\``);
      expect(decodeEnvelope(JSON.stringify({ ...(JSON.parse(body) as object), createdAt })).ok).toBe(true);
    }
  });
});
