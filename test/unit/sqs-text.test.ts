import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeJsonForSqs, isSqsSafeText, toSqsJson } from '../../src/queue/sqs-text.js';

/** What AWS SQS allows in a body (code points). */
const SQS_ALLOWED = /^[\t\n\r\u{20}-\u{D7FF}\u{E000}-\u{FFFD}\u{10000}-\u{10FFFF}]*$/u;
/** fauxqs 1.9.2's test (UTF-16 code units: it refuses every character outside the BMP). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the set SQS allows is defined by control characters
const FAUXQS_REFUSED = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD]/;

/** Any code point, plus lone surrogates, U+FFFE/U+FFFF and an emoji more often than chance. */
const nastyUnit = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => String.fromCharCode(unit)),
  fc.constantFrom('\uffff', '\ufffe', '😀', '\u{10ffff}', '\u0000', '\\', '"', '\\u'),
);
const nastyString = fc.string({ unit: nastyUnit, maxLength: 40 });
const nastyJson = fc.jsonValue({ stringUnit: nastyUnit, maxDepth: 4 });

function sendable(text: string): boolean {
  return SQS_ALLOWED.test(text) && !FAUXQS_REFUSED.test(text);
}

describe('toSqsJson', () => {
  it.each([
    ['U+FFFF', '\uffff', '"\\uffff"'],
    ['U+FFFE', 'a\ufffeb', '"a\\ufffeb"'],
    ['an emoji, as its surrogate pair', '😀', '"\\ud83d\\ude00"'],
    ['U+10FFFF', '\u{10ffff}', '"\\udbff\\udfff"'],
    ['a lone high surrogate', 'x\ud800', '"x\\ud800"'],
    ['a lone low surrogate', '\udc00y', '"\\udc00y"'],
    ['a backslash before U+FFFF', '\\\uffff', '"\\\\\\uffff"'],
    ['a NUL (escaped by JSON.stringify already)', '\u0000', '"\\u0000"'],
  ])('escapes %s', (_name, text, expected) => {
    const json = toSqsJson(text);
    expect(json).toBe(expected);
    expect(JSON.parse(json)).toBe(text);
    expect(sendable(json)).toBe(true);
  });

  it('escapes inside keys as well as values', () => {
    const value = { 'k😀': ['\uffff', { '\ud800': 1 }] };
    const json = toSqsJson(value);
    expect(json).toBe('{"k\\ud83d\\ude00":["\\uffff",{"\\ud800":1}]}');
    expect(JSON.parse(json)).toEqual(value);
  });

  it('returns the output of JSON.stringify itself when nothing needs escaping', () => {
    const value = { text: 'plain ascii, é, €, \u{d7ff}, \u{e000}, \u{fffd}, "quoted" \\ \n\t' };
    expect(toSqsJson(value)).toBe(JSON.stringify(value));
    const json = JSON.stringify(value);
    expect(escapeJsonForSqs(json)).toBe(json);
  });

  it('throws for a value with no JSON form', () => {
    expect(() => toSqsJson(undefined)).toThrow(TypeError);
  });

  it('property: any JSON value round-trips through JSON.parse and the text has only allowed characters', () => {
    fc.assert(
      fc.property(nastyJson, (value) => {
        const json = toSqsJson(value);
        expect(sendable(json)).toBe(true);
        expect(isSqsSafeText(json)).toBe(true);
        expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 500 },
    );
  });

  it('property: any string, lone surrogates included, comes back as the same string', () => {
    fc.assert(
      fc.property(nastyString, (text) => {
        const json = toSqsJson(text);
        expect(sendable(json)).toBe(true);
        expect(JSON.parse(json)).toBe(text);
        // Unchanged unless JSON.stringify left something a server refuses.
        if (sendable(JSON.stringify(text))) expect(json).toBe(JSON.stringify(text));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('isSqsSafeText', () => {
  it('agrees with the stricter of SQS and fauxqs on every BMP code unit and on a non-BMP character', () => {
    const disagreements: string[] = [];
    for (let unit = 0; unit <= 0xffff; unit++) {
      const text = String.fromCharCode(unit);
      if (isSqsSafeText(text) !== sendable(text)) disagreements.push(`U+${unit.toString(16)}`);
    }
    expect(disagreements).toEqual([]);
    expect(isSqsSafeText('😀')).toBe(false);
  });
});
