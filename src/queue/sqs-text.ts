/**
 * JSON that every SQS server accepts as a message body.
 *
 * SQS allows only `#x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD | #x10000–#x10FFFF` in a body and
 * refuses anything else with `InvalidMessageContents` (U+FFFE and U+FFFF get through
 * `JSON.stringify` unescaped). fauxqs 1.9.2 is stricter: it tests the body with
 * `/[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD]/` on UTF-16 code units, so it refuses every character
 * outside the BMP too (an emoji, U+10000, U+10FFFF: measured against the embedded server, see
 * test/integration/sqs-text.test.ts). So every UTF-16 code unit outside that BMP set is written as
 * its JSON `\uXXXX` escape: a non-BMP character becomes its surrogate pair (`😀` → `\ud83d\ude00`),
 * and the text still parses to the same string. `JSON.stringify` already escapes control characters
 * and (well-formed since ES2019) lone surrogates; a lone surrogate in JSON text from elsewhere is
 * escaped here as well.
 *
 * The escapes only ever replace a character inside a JSON string literal (JSON's structural
 * characters are ASCII), so the result parses to exactly the value `JSON.stringify` described.
 */

/**
 * The UTF-16 code units that fauxqs or SQS refuse and that valid JSON text can hold raw: surrogates
 * (paired or lone) and U+FFFE/U+FFFF. The other refused characters are U+0000–U+001F but \t \n \r,
 * which JSON cannot hold raw (inside a string they must be escaped, outside it only \t \n \r and
 * space are allowed). A class of characters above U+00FF only: V8 answers it without a scan for a
 * one-byte (Latin-1) string, which most bodies are.
 */
const REFUSED_IN_JSON = /[\ud800-\udfff\ufffe\uffff]/;
const REFUSED_IN_JSON_ALL = /[\ud800-\udfff\ufffe\uffff]/g;
/** Any UTF-16 code unit fauxqs or SQS refuse (for text that need not be JSON). */
const REFUSED = /[^\t\n\r\u0020-\ud7ff\ue000-\ufffd]/;

function escapeUnit(unit: string): string {
  return `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * Escapes every character of a JSON text that an SQS server may refuse. `json` must be valid JSON
 * (then every such character sits inside a string literal, where an escape means the same).
 * Returns `json` itself when nothing needs escaping.
 */
export function escapeJsonForSqs(json: string): string {
  return REFUSED_IN_JSON.test(json) ? json.replace(REFUSED_IN_JSON_ALL, escapeUnit) : json;
}

/**
 * `JSON.stringify(value)` made safe to send as an SQS message body on every server: the same JSON,
 * with the characters SQS or fauxqs refuse written as `\uXXXX` escapes. `JSON.parse` of the result
 * equals `JSON.parse(JSON.stringify(value))`. When no character needs escaping (the common case,
 * one regex test) the output of `JSON.stringify` is returned unchanged.
 *
 * @throws TypeError when `value` has no JSON form (`undefined`, a function, a symbol) or is circular.
 */
export function toSqsJson(value: unknown): string {
  const json = JSON.stringify(value) as string | undefined;
  if (json === undefined) throw new TypeError('toSqsJson: the value has no JSON form');
  return escapeJsonForSqs(json);
}

/** True when every character of `text` is allowed in an SQS body on every server (AWS and fauxqs). */
export function isSqsSafeText(text: string): boolean {
  return !REFUSED.test(text);
}
