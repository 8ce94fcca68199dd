import { createHmac, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/shared/errors.js';
import { SIGNATURE_ATTRIBUTE, SigningKey, parseSigningKeys, signBody, verifyBody, type SigningKeys } from '../../src/queue/signing.js';

const OLD_SECRET = 'old-secret-0123456789abcdefghijklmnop';
const NEW_SECRET = 'new-secret-0123456789abcdefghijklmnop';
const OTHER_SECRET = 'zzz-secret-0123456789abcdefghijklmnop';
const BODY = JSON.stringify({
  v: 1,
  id: 'job-1',
  type: 'calendar.sync',
  payload: { calendarId: 'c1' },
  attempt: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
});
const TYPE = 'calendar.sync';

const keysOf = (value: string): SigningKeys => parseSigningKeys(value);
const OLD = keysOf(`old:${OLD_SECRET}`);

function parseError(value: string, setting?: string): ConfigError {
  try {
    parseSigningKeys(value, setting);
  } catch (error) {
    expect(ConfigError.is(error)).toBe(true);
    return error as ConfigError;
  }
  throw new Error(`parseSigningKeys(${JSON.stringify(value)}) did not throw`);
}

describe('signBody / verifyBody', () => {
  it('round-trips and names the signing key', () => {
    const signature = signBody(BODY, TYPE, OLD);
    expect(SIGNATURE_ATTRIBUTE).toBe('calsync-signature');
    expect(signature).toMatch(/^v1:old:[A-Za-z0-9_-]{43}$/);
    expect(verifyBody(BODY, TYPE, signature, OLD)).toEqual({ ok: true, keyId: 'old' });
    // The same bytes as a Buffer verify too: a string is signed as its UTF-8 bytes.
    expect(verifyBody(Buffer.from(BODY, 'utf8'), TYPE, signature, OLD)).toEqual({ ok: true, keyId: 'old' });
  });

  it('signs the documented byte layout (other producers can reproduce it)', () => {
    const type = Buffer.from(TYPE, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(type.byteLength);
    const mac = createHmac('sha256', Buffer.from(OLD_SECRET, 'utf8'))
      .update(Buffer.concat([Buffer.from('calsync-jobs:v1\0', 'utf8'), length, type, Buffer.from(BODY, 'utf8')]))
      .digest('base64url');
    expect(signBody(BODY, TYPE, OLD)).toBe(`v1:old:${mac}`);
  });

  it('rotation: the first key signs, every key verifies, a removed key is unknown', () => {
    const signedByOld = signBody(BODY, TYPE, OLD);
    const rotating = keysOf(`new:${NEW_SECRET},old:${OLD_SECRET}`);
    expect(verifyBody(BODY, TYPE, signedByOld, rotating)).toEqual({ ok: true, keyId: 'old' });
    const signedByNew = signBody(BODY, TYPE, rotating);
    expect(signedByNew.startsWith('v1:new:')).toBe(true);
    expect(verifyBody(BODY, TYPE, signedByNew, rotating)).toEqual({ ok: true, keyId: 'new' });
    const rotated = keysOf(`new:${NEW_SECRET}`);
    expect(verifyBody(BODY, TYPE, signedByOld, rotated)).toEqual({ ok: false, reason: 'unknown_key' });
  });

  it('rejects a forged signature: right key id, MAC from another secret', () => {
    const forged = signBody(BODY, TYPE, keysOf(`old:${OTHER_SECRET}`));
    expect(forged.split(':')[1]).toBe('old');
    expect(verifyBody(BODY, TYPE, forged, OLD)).toEqual({ ok: false, reason: 'mismatch' });
    const randomMac = `v1:old:${randomBytes(32).toString('base64url')}`;
    expect(verifyBody(BODY, TYPE, randomMac, OLD)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('rejects a replayed signature on an edited payload', () => {
    const signature = signBody(BODY, TYPE, OLD);
    const edited = BODY.replace('"calendarId":"c1"', '"calendarId":"c2"');
    expect(edited).not.toBe(BODY);
    expect(verifyBody(edited, TYPE, signature, OLD)).toEqual({ ok: false, reason: 'mismatch' });
    // Re-serialising the "same" JSON differently is an edit too: the exact bytes are signed.
    const reformatted = JSON.stringify(JSON.parse(BODY) as unknown, null, 1);
    expect(verifyBody(reformatted, TYPE, signature, OLD)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('rejects a changed job-type attribute, including one shifted into the body', () => {
    const signature = signBody(BODY, TYPE, OLD);
    expect(verifyBody(BODY, 'calendar.write', signature, OLD)).toEqual({ ok: false, reason: 'mismatch' });
    // Without the length prefix, (type "ab", body "c") and (type "a", body "bc") would sign the same bytes.
    const shifted = signBody('c', 'ab', OLD);
    expect(verifyBody('bc', 'a', shifted, OLD)).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('reports a message without the attribute as unsigned', () => {
    expect(verifyBody(BODY, TYPE, undefined, OLD)).toEqual({ ok: false, reason: 'unsigned' });
  });

  it.each([
    ['empty', ''],
    ['no separators', 'garbage'],
    ['unknown version', `v2:old:${'A'.repeat(43)}`],
    ['missing mac', 'v1:old:'],
    ['missing key id', `v1::${'A'.repeat(43)}`],
    ['key id with a bad character', `v1:o.d:${'A'.repeat(43)}`],
    ['too many parts', `v1:old:${'A'.repeat(43)}:x`],
    ['short mac', `v1:old:${'A'.repeat(42)}`],
    ['long mac', `v1:old:${'A'.repeat(44)}`],
    ['standard base64 alphabet', `v1:old:${'A'.repeat(42)}+`],
    ['padded mac', `v1:old:${'A'.repeat(42)}=`],
    ['non-canonical trailing bits', `v1:old:${'A'.repeat(42)}B`],
  ])('reports a malformed signature: %s', (_name, value) => {
    expect(verifyBody(BODY, TYPE, value, OLD)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('property: changing any single byte of the body fails verification', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 512 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.string({ minLength: 1, maxLength: 40 }),
        (body, position, flip, jobType) => {
          const signature = signBody(body, jobType, OLD);
          expect(verifyBody(body, jobType, signature, OLD)).toEqual({ ok: true, keyId: 'old' });
          const changed = Uint8Array.from(body);
          const index = position % changed.length;
          changed[index] = (changed[index]! ^ flip) & 0xff;
          expect(verifyBody(changed, jobType, signature, OLD)).toEqual({ ok: false, reason: 'mismatch' });
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('parseSigningKeys', () => {
  it('parses ids and secrets in order, raw or base64, ignoring spaces around entries', () => {
    const base64 = randomBytes(32).toString('base64');
    const keys = parseSigningKeys(` k1:${NEW_SECRET} , k_2-b:base64:${base64},k3:base64:${randomBytes(48).toString('base64url')}`);
    expect(keys.map((key) => key.id)).toEqual(['k1', 'k_2-b', 'k3']);
    // A base64 secret signs with its decoded bytes.
    const direct = [new SigningKey('k_2-b', Buffer.from(base64, 'base64'))] as const;
    expect(signBody(BODY, TYPE, [keys[1]!])).toBe(signBody(BODY, TYPE, direct));
  });

  it.each([
    ['empty', '', 'no signing keys'],
    ['no colon', 'abc', 'entry 1 of 1'],
    ['empty entry', `a:${OLD_SECRET},`, 'entry 2 of 2'],
    ['bad id', `k1:${OLD_SECRET},bad id:${NEW_SECRET}`, 'entry 2 of 2'],
    ['id too long', `${'k'.repeat(33)}:${OLD_SECRET}`, 'entry 1 of 1'],
    ['duplicate id', `k1:${OLD_SECRET},k1:${NEW_SECRET}`, 'entry 2 of 2'],
    ['short secret', `k1:${OLD_SECRET},k2:short-secret-1234,k3:${NEW_SECRET}`, 'entry 2 of 3'],
    ['base64 of too few bytes', `k1:base64:${Buffer.from('sixteen-byte-key').toString('base64')}`, 'entry 1 of 1'],
    ['invalid base64', `k1:base64:${'*'.repeat(44)}`, 'entry 1 of 1'],
  ])('rejects %s with a ConfigError naming the setting and the entry', (_name, value, where) => {
    const error = parseError(value);
    expect(error.setting).toBe('CALSYNC_SIGNING_KEYS');
    expect(error.message).toMatch(/^CALSYNC_SIGNING_KEYS: /);
    expect(error.message).toContain(where);
  });

  it('never echoes a secret in an error', () => {
    const long = 'mysupersecretvaluewithoutanycolon0123456789';
    const b64 = 'c2l4dGVlbi1ieXRlLWtleQ==';
    const cases: Array<[value: string, secret: string]> = [
      ['k1:short-secret-1234', 'short-secret-1234'],
      [`k1:${OLD_SECRET},k2:short-secret-1234`, 'short-secret-1234'],
      [long, long], // the colon was forgotten: the whole entry may be a secret
      [`bad id:${long}`, long],
      [`k1:${long},k1:${OLD_SECRET}`, OLD_SECRET], // duplicate id
      [`k1:base64:${b64}`, b64],
      [`k1:base64:${'*'.repeat(44)}`, '*'.repeat(44)],
    ];
    for (const [value, secret] of cases) {
      const error = parseError(value, 'signing.keys');
      expect(error.message).toMatch(/^signing\.keys: entry \d of \d/);
      expect(error.message).not.toContain(secret);
      expect(error.message).not.toContain(OLD_SECRET);
    }
  });

  it('keeps secrets out of JSON and util.inspect', () => {
    const keys = keysOf(`new:${NEW_SECRET},old:${OLD_SECRET}`);
    const shown = `${JSON.stringify(keys)} ${inspect(keys, { depth: 5, showHidden: true })}`;
    expect(shown).toContain('new');
    expect(shown).not.toContain(NEW_SECRET);
    expect(shown).not.toContain(OLD_SECRET);
  });
});
