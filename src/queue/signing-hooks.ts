import { ATTRIBUTES, type AttributeHook } from './attributes.js';
import { signBody, verifyBody, type SigningKeys } from './signing.js';

export interface SigningHooks {
  /** Adds the signature attribute to a message about to be sent. */
  signMessage: AttributeHook | undefined;
  /** Undefined when the message may run, else why not (`unsigned`, `mismatch`, ...). */
  verifyMessage: ((body: string, attributes: Record<string, string>) => string | undefined) | undefined;
}

/**
 * The producer and worker hooks for signed envelopes: with keys, every message sent is signed with the
 * first key; with `requireSignature`, a message that is unsigned or fails verification never reaches
 * a handler (the worker dead-letters it with reason `bad_signature`).
 */
export function signingHooks(keys: SigningKeys | undefined, requireSignature: boolean): SigningHooks {
  if (!keys) return { signMessage: undefined, verifyMessage: undefined };
  return {
    signMessage: (body, jobType) => ({ [ATTRIBUTES.signature]: signBody(body, jobType, keys) }),
    verifyMessage: requireSignature
      ? (body, attributes) => {
          const result = verifyBody(body, attributes[ATTRIBUTES.jobType] ?? '', attributes[ATTRIBUTES.signature], keys);
          return result.ok ? undefined : result.reason;
        }
      : undefined,
  };
}
