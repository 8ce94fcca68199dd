/**
 * A corpus of malformed message bodies, generated from a seed: random bytes as base64 and as latin1
 * text, invalid UTF-16 (lone surrogates, raw and as JSON escapes), ~1 MiB of JSON, nesting 10,000
 * deep, unknown `v`, unknown job types, `__proto__` / `constructor` keys, wrong field types, JSON that
 * is not an object, and envelopes whose payload fails the job's schema. None of them may reach a handler.
 */
import { prng } from './fate.js';

export interface PoisonMessage {
  kind: string;
  body: string;
}

const UUID = '6f1c2a4e-0b7d-4c3e-9a51-2d8e7f3b1c09';
const NOW = '2026-11-29T12:00:00.000Z';
const envelope = (over: Record<string, unknown>): Record<string, unknown> => ({
  v: 1,
  id: UUID,
  type: 'chaos.job',
  payload: { n: 1 },
  attempt: 1,
  createdAt: NOW,
  ...over,
});

/** Characters SQS accepts in a body: #x9 #xA #xD, #x20–#xD7FF, #xE000–#xFFFD, #x10000–#x10FFFF. */
function sqsSafe(text: string): string {
  return text.replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD]/gu, ' ');
}

function nested(depth: number, open: string, close: string): string {
  return open.repeat(depth) + close.repeat(depth);
}

/** The generators, by kind; each takes a random source. */
const GENERATORS: Record<string, (random: () => number) => string> = {
  base64: (r) => Buffer.from(Array.from({ length: 1 + Math.floor(r() * 2_000) }, () => Math.floor(r() * 256))).toString('base64'),
  latin1: (r) =>
    sqsSafe(Buffer.from(Array.from({ length: 1 + Math.floor(r() * 2_000) }, () => Math.floor(r() * 256))).toString('latin1')) || ' ',
  lone_surrogate_escape: (r) =>
    JSON.stringify(envelope({})).replace('"n":1', `"n":"\\ud${(0x800 + Math.floor(r() * 0x7ff)).toString(16)}"`),
  lone_surrogate_in_type: () => `{"v":1,"id":"${UUID}","type":"chaos.\\udc00job","payload":{"n":1},"attempt":1,"createdAt":"${NOW}"}`,
  deep_array: () => nested(10_000, '[', ']'),
  deep_object: () => `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`,
  deep_payload: () => JSON.stringify(envelope({})).replace('{"n":1}', `{"n":1,"x":${nested(100, '[', ']')}}`),
  unknown_v: (r) => JSON.stringify(envelope({ v: [0, 2, '1', 1.5, null, 99][Math.floor(r() * 6)] })),
  missing_v: () => JSON.stringify((({ v: _v, ...rest }) => rest)(envelope({}))),
  unknown_type: (r) => JSON.stringify(envelope({ type: `nope.${Math.floor(r() * 1e6)}` })),
  proto_key: () =>
    `{"v":1,"__proto__":{"polluted":true},"id":"${UUID}","type":"chaos.job","payload":{"n":1},"attempt":1,"createdAt":"${NOW}"}`,
  proto_in_payload: () => JSON.stringify(envelope({})).replace('{"n":1}', '{"n":1,"__proto__":{"isAdmin":true}}'),
  constructor_key: () => JSON.stringify(envelope({ payload: { n: 1, constructor: { prototype: { x: 1 } } } })),
  wrong_id: (r) => JSON.stringify(envelope({ id: [123, 'not-a-uuid', null, {}][Math.floor(r() * 4)] })),
  wrong_attempt: (r) => JSON.stringify(envelope({ attempt: ['1', 0, -1, 1.5, null][Math.floor(r() * 5)] })),
  wrong_created_at: () => JSON.stringify(envelope({ createdAt: 'yesterday' })),
  wrong_history: () => JSON.stringify(envelope({ history: 'lots' })),
  wrong_payload: (r) => JSON.stringify(envelope({ payload: [{ n: 'x' }, null, 'text', { m: 1 }, [1, 2]][Math.floor(r() * 5)] })),
  not_object: (r) => ['null', '42', '"text"', '[1,2,3]', 'true', ' '][Math.floor(r() * 6)]!,
  truncated_json: () => JSON.stringify(envelope({})).slice(0, 40),
};

/** Sent one per request (a batch is limited to 1 MiB): ~1 MiB bodies just under the limit. */
export function bigBodies(): PoisonMessage[] {
  const limit = 1_048_576 - 1_024; // room for the message attributes SendMessage adds (none here) and rounding
  const pad = (prefix: string, suffix: string): string => prefix + 'x'.repeat(limit - prefix.length - suffix.length) + suffix;
  return [
    { kind: 'big_json_unknown_v', body: pad('{"junk":"', '"}') },
    { kind: 'big_json_array', body: pad('["', '"]') },
    {
      kind: 'big_envelope_bad_payload',
      body: pad(`{"v":1,"id":"${UUID}","type":"chaos.job","attempt":1,"createdAt":"${NOW}","payload":{"n":"`, '"}}'),
    },
  ];
}

/** `count` small poison bodies (plus {@link bigBodies}, sent apart), kinds in rotation. */
export function poisonCorpus(seed: string, count: number): PoisonMessage[] {
  const random = prng(`${seed}:poison`);
  const kinds = Object.keys(GENERATORS);
  return Array.from({ length: count }, (_, i) => {
    const kind = kinds[i % kinds.length]!;
    return { kind, body: GENERATORS[kind]!(random) };
  });
}
