/**
 * Signed envelopes: an HMAC-SHA256 over the message body and its `job-type` attribute, carried in
 * the `calsync-signature` MessageAttribute, so a worker can refuse jobs from anyone who can reach
 * the queue but does not hold a key (a misconfigured IAM policy, a leaked producer credential of
 * another service, a stray test script pointed at production).
 *
 * What is signed, byte for byte (other producers must compute the same):
 *
 * ```
 * "calsync-jobs:v1" 0x00 | uint32 big-endian byte length of jobType | jobType (UTF-8) | body bytes
 * ```
 *
 * - The exact body bytes as sent (UTF-8 of the SQS body string), not a re-serialised JSON object:
 *   JSON has many spellings of one value, and the verifier must not parse untrusted input first.
 * - The `job-type` attribute, because the runtime routes on it: without it, a captured signed body
 *   could be re-sent under another job type and run by a handler its producer never chose. It is
 *   length-prefixed so no (jobType, body) pair can be shifted into another.
 * - Not `traceparent` / `tracestate`: tracing context is advisory and instrumentation may rewrite it
 *   at send time, after signing.
 *
 * A signature does not stop the replay of an identical message; the envelope's `id` and
 * `idempotencyKey` do. Keys carry ids so they can rotate: the first key signs, every key verifies.
 *
 * Pure: `node:crypto` only, no I/O, no clock.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../shared/errors.js';
import { ATTRIBUTES } from './attributes.js';

/** The MessageAttribute that carries the signature. */
export const SIGNATURE_ATTRIBUTE = ATTRIBUTES.signature;

/** The version tag that starts every signature value and the signed data's domain label. */
export const SIGNATURE_VERSION = 'v1';

/** The default environment variable that holds the keys, for error messages. */
export const SIGNING_KEYS_SETTING = 'CALSYNC_SIGNING_KEYS';

/** Key ids: 1–32 of `A-Z a-z 0-9 _ -` (never `:` or `,`, which delimit). */
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/** A raw secret must have at least this many characters; a `base64:` secret must decode to this many bytes. */
export const MIN_SECRET_LENGTH = 32;

const DOMAIN = Buffer.from(`calsync-jobs:${SIGNATURE_VERSION}\0`, 'utf8');
const MAC_BYTES = 32;
const MAC_BASE64URL = /^[A-Za-z0-9_-]{43}$/;
const BASE64_PREFIX = 'base64:';

/**
 * One HMAC key. The secret lives in a private field: it is invisible to `JSON.stringify`,
 * `util.inspect` and loggers, and never leaves this module.
 */
export class SigningKey {
  /** Named in the signature so verifiers pick the right key during a rotation. */
  readonly id: string;
  readonly #secret: Buffer;

  /** @throws TypeError when `id` does not match {@link KEY_ID_PATTERN} or `secret` is shorter than 32 bytes. */
  constructor(id: string, secret: Uint8Array) {
    if (!KEY_ID_PATTERN.test(id)) throw new TypeError('signing key id must match [A-Za-z0-9_-]{1,32}');
    if (secret.byteLength < MIN_SECRET_LENGTH) throw new TypeError(`signing key secret must have at least ${MIN_SECRET_LENGTH} bytes`);
    this.id = id;
    this.#secret = Buffer.from(secret); // a copy: later changes to the caller's buffer do not leak in
  }

  /** HMAC-SHA256 of `parts`, in order. */
  mac(...parts: readonly Uint8Array[]): Buffer {
    const hmac = createHmac('sha256', this.#secret);
    for (const part of parts) hmac.update(part);
    return hmac.digest();
  }

  toJSON(): { id: string } {
    return { id: this.id };
  }
}

/** A non-empty key list: the first key signs, all of them verify. */
export type SigningKeys = readonly [SigningKey, ...SigningKey[]];

export type VerifyFailure = 'unsigned' | 'unknown_key' | 'malformed' | 'mismatch';

export type VerifyResult = { ok: true; keyId: string } | { ok: false; reason: VerifyFailure };

/**
 * Parses `id:secret,id2:secret2`. A secret is either at least 32 characters used as their UTF-8 bytes,
 * or `base64:<standard or url-safe base64>` decoding to at least 32 bytes (`openssl rand -base64 32`).
 * The prefix makes the key bytes unambiguous: a 44-character text secret may happen to be valid base64.
 * Secrets cannot contain `,`. Whitespace around entries is ignored.
 *
 * @throws ConfigError naming `setting` and the 1-based entry number; the message never contains a secret.
 */
export function parseSigningKeys(value: string, setting: string = SIGNING_KEYS_SETTING): SigningKeys {
  const entries = value.split(',').map((entry) => entry.trim());
  if (entries.length === 1 && entries[0] === '') {
    throw new ConfigError(setting, 'no signing keys: expected "id:secret[,id2:secret2...]"');
  }
  const keys: SigningKey[] = [];
  const seen = new Set<string>();
  entries.forEach((entry, index) => {
    const where = `entry ${index + 1} of ${entries.length}`;
    const colon = entry.indexOf(':');
    if (colon < 0) throw new ConfigError(setting, `${where}: expected "id:secret" (no ":" found)`);
    const id = entry.slice(0, colon);
    const secret = entry.slice(colon + 1);
    if (!KEY_ID_PATTERN.test(id)) {
      throw new ConfigError(setting, `${where}: the key id must be 1-32 characters from A-Z, a-z, 0-9, "_" and "-"`);
    }
    if (seen.has(id)) throw new ConfigError(setting, `${where}: key id "${id}" appears twice`);
    seen.add(id);
    keys.push(new SigningKey(id, secretBytes(secret, setting, `${where} (key id "${id}")`)));
  });
  return keys as unknown as SigningKeys;
}

function secretBytes(secret: string, setting: string, where: string): Buffer {
  if (secret.startsWith(BASE64_PREFIX)) {
    const encoded = secret.slice(BASE64_PREFIX.length);
    const bytes = decodeBase64(encoded);
    if (bytes === undefined) throw new ConfigError(setting, `${where}: the secret after "base64:" is not valid base64`);
    if (bytes.byteLength < MIN_SECRET_LENGTH) {
      throw new ConfigError(
        setting,
        `${where}: a base64 secret must decode to at least ${MIN_SECRET_LENGTH} bytes, got ${bytes.byteLength}`,
      );
    }
    return bytes;
  }
  if (secret.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(setting, `${where}: the secret must have at least ${MIN_SECRET_LENGTH} characters, got ${secret.length}`);
  }
  return Buffer.from(secret, 'utf8');
}

/** Strict decoding (Node's own decoder silently skips bad characters); accepts both alphabets, padding optional. */
function decodeBase64(encoded: string): Buffer | undefined {
  const unpadded = encoded.replace(/={1,2}$/, '');
  if (!/^[A-Za-z0-9+/]*$/.test(unpadded) && !/^[A-Za-z0-9_-]*$/.test(unpadded)) return undefined;
  if (unpadded.length % 4 === 1) return undefined;
  if (encoded.length !== unpadded.length && encoded.length % 4 !== 0) return undefined;
  return Buffer.from(unpadded.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

function signedParts(body: string | Uint8Array, jobType: string): Uint8Array[] {
  const type = Buffer.from(jobType, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(type.byteLength);
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return [DOMAIN, length, type, bytes];
}

/**
 * The `calsync-signature` attribute value for a message: `v1:<keyId>:<base64url HMAC-SHA256>`,
 * signed with the first key.
 *
 * @param body the exact SQS MessageBody (a string is signed as its UTF-8 bytes)
 * @param jobType the `job-type` MessageAttribute sent with it
 */
export function signBody(body: string | Uint8Array, jobType: string, keys: SigningKeys): string {
  const key = keys[0];
  if (key === undefined) throw new TypeError('signBody needs at least one signing key');
  return `${SIGNATURE_VERSION}:${key.id}:${key.mac(...signedParts(body, jobType)).toString('base64url')}`;
}

/**
 * Checks a message's signature against every key. The MAC comparison is constant-time.
 * `unsigned`: no attribute; `malformed`: not `v1:<id>:<43 base64url characters>`;
 * `unknown_key`: a well-formed signature by a key not in `keys` (removed, or never ours);
 * `mismatch`: the body, the job type or the MAC was changed.
 */
export function verifyBody(
  body: string | Uint8Array,
  jobType: string,
  attributeValue: string | undefined,
  keys: readonly SigningKey[],
): VerifyResult {
  if (attributeValue === undefined) return { ok: false, reason: 'unsigned' };
  const parts = attributeValue.split(':');
  if (parts.length !== 3) return { ok: false, reason: 'malformed' };
  const [version, keyId, encodedMac] = parts as [string, string, string];
  if (version !== SIGNATURE_VERSION || !KEY_ID_PATTERN.test(keyId) || !MAC_BASE64URL.test(encodedMac)) {
    return { ok: false, reason: 'malformed' };
  }
  const given = Buffer.from(encodedMac, 'base64url');
  // 43 characters carry 258 bits: refuse the non-canonical spellings of the same 32 bytes.
  if (given.byteLength !== MAC_BYTES || given.toString('base64url') !== encodedMac) return { ok: false, reason: 'malformed' };
  const key = keys.find((candidate) => candidate.id === keyId);
  if (key === undefined) return { ok: false, reason: 'unknown_key' };
  const expected = key.mac(...signedParts(body, jobType));
  return timingSafeEqual(expected, given) ? { ok: true, keyId } : { ok: false, reason: 'mismatch' };
}
