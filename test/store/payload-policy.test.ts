/** What of a payload the store keeps: nothing when off; redacted with the log paths; left out when too large. */
import { describe, expect, test } from 'vitest';
import { DEFAULT_REDACT_PATHS } from '../../src/runtime/logger.js';
import { STORE_PAYLOAD_MAX_BYTES, storedPayload } from '../../src/store/payload-policy.js';

const policy = { enabled: true, redactPaths: [...DEFAULT_REDACT_PATHS] };

describe('storedPayload', () => {
  test('off: nothing is kept, and the row says why', () => {
    expect(storedPayload({ a: 1 }, { ...policy, enabled: false })).toEqual({ payloadOmitted: 'disabled' });
  });

  test('the logger paths apply to { payload }, and the caller’s payload is left as it was', () => {
    const payload = { token: 't', password: 'p', accessToken: 'a', calendarId: 'c1', nested: { password: 'deeper', keep: 1 } };
    const before = structuredClone(payload);
    expect(storedPayload(payload, policy)).toEqual({
      payload: {
        token: '[redacted]',
        password: '[redacted]',
        accessToken: '[redacted]',
        calendarId: 'c1',
        nested: { password: 'deeper', keep: 1 },
      },
    });
    expect(payload).toEqual(before);
    const extra = { ...policy, redactPaths: [...policy.redactPaths, 'payload.nested.password', 'payload.list[*].secret'] };
    expect(storedPayload({ nested: { password: 'x' }, list: [{ secret: 1 }, { secret: 2, ok: true }] }, extra)).toEqual({
      payload: { nested: { password: '[redacted]' }, list: [{ secret: '[redacted]' }, { secret: '[redacted]', ok: true }] },
    });
  });

  test('plain values and no paths pass through; an undefined payload gives nothing to store', () => {
    expect(storedPayload('text', policy)).toEqual({ payload: 'text' });
    expect(storedPayload(null, policy)).toEqual({ payload: null });
    expect(storedPayload([1, { password: 'x' }], { ...policy, redactPaths: [] })).toEqual({ payload: [1, { password: 'x' }] });
    expect(storedPayload(undefined, policy)).toEqual({});
  });

  test('the cap counts UTF-8 bytes of the JSON after redaction', () => {
    // {"s":"…"} is 8 bytes of JSON around the string.
    const fits = { s: 'x'.repeat(STORE_PAYLOAD_MAX_BYTES - 8) };
    expect(storedPayload(fits, policy)).toEqual({ payload: fits });
    expect(storedPayload({ s: 'x'.repeat(STORE_PAYLOAD_MAX_BYTES - 7) }, policy)).toEqual({ payloadOmitted: 'too_large' });
    // Three bytes a character: 6 of them are 18 bytes of string.
    expect(storedPayload({ s: '€'.repeat(6) }, { ...policy, maxBytes: 25 })).toEqual({ payloadOmitted: 'too_large' });
    expect(storedPayload({ s: '€'.repeat(6) }, { ...policy, maxBytes: 26 })).toEqual({ payload: { s: '€'.repeat(6) } });
    // A large secret is censored first, so the payload fits.
    expect(storedPayload({ token: 'x'.repeat(STORE_PAYLOAD_MAX_BYTES) }, policy)).toEqual({ payload: { token: '[redacted]' } });
  });
});
