/**
 * Envelope v1: the wire contract. Any producer that writes this JSON body with the AWS SDK alone gets
 * its job run; `schema/job-envelope.v1.json` is generated from {@link envelopeSchema}.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { toSqsJson } from './sqs-text.js';
import { SQS_LIMITS } from './transport.js';

export const ENVELOPE_VERSION = 1;

export const historyEntrySchema = z
  .object({
    attempt: z.int().min(1).describe('The attempt that failed (1-based).'),
    at: z.iso.datetime({ offset: true }).describe('When the attempt ended.'),
    durationMs: z.number().min(0).describe('How long the attempt ran.'),
    kind: z.enum(['failed', 'timeout', 'worker_lost']).describe('How the attempt ended.'),
    error: z.object({
      name: z.string().max(200),
      message: z.string().max(2000),
      reason: z.string().max(200).optional(),
    }),
  })
  .describe('One failed attempt.');

export const envelopeSchema = z
  .object({
    v: z.literal(ENVELOPE_VERSION).describe('Envelope version.'),
    id: z.uuid().describe('Job id: stays the same across retries.'),
    type: z.string().min(1).max(128).describe('Job type, e.g. "calendar.sync".'),
    payload: z.unknown().describe('The job input, validated by the job type’s schema.'),
    attempt: z.int().min(1).describe('1 on the first attempt.'),
    createdAt: z.iso.datetime({ offset: true }).describe('When the job was first enqueued (ISO-8601).'),
    idempotencyKey: z.string().min(1).max(256).optional(),
    notBefore: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('Do not run before this time; an early arrival is re-sent for the rest of the wait.'),
    history: z.array(historyEntrySchema).max(1000).optional().describe('Failed attempts so far, oldest first.'),
    historyOmitted: z
      .int()
      .min(1)
      .optional()
      .describe('How many history entries were left out to keep the message within the size limit (the first and the latest are kept).'),
    checkpoint: z.unknown().optional().describe('Progress saved by a multi-step job.'),
  })
  .describe('calsync-jobs message body, version 1.');

export type HistoryEntry = z.output<typeof historyEntrySchema>;
export type Envelope = z.output<typeof envelopeSchema>;

/** Why a body could not be decoded; each one ends in the DLQ with this reason. */
export type DecodeFailureReason = 'oversize' | 'not_json' | 'unsafe_json' | 'unknown_version' | 'invalid_envelope';

export type DecodeResult = { ok: true; envelope: Envelope } | { ok: false; reason: DecodeFailureReason; message: string };

export interface DecodeOptions {
  /** Bodies larger than this are rejected before parsing. @defaultValue 1 MiB */
  maxBytes?: number;
  /** Deeper JSON is rejected before any handler runs. @defaultValue 64 */
  maxDepth?: number;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Formats zod issues as `path: message`, e.g. `payload.calendarId: expected string, received number`. */
export function formatIssues(error: z.ZodError, prefix = ''): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.') || '(root)';
      const message = issue.message.replace(/^Invalid input: /, '');
      return `${path}: ${message}`;
    })
    .join('; ');
}

/**
 * Rejects prototype-pollution keys and absurd nesting, walking iteratively (no recursion to blow).
 *
 * Depth first, each container's children last to first; a container's forbidden keys are checked as
 * it is entered. No path string or stack entry is made per node (issue 10, defect 12: that cost
 * 15–45× JSON.parse on a wide body): only the containers on the way from the root are kept, in three
 * stacks (the container, its keys, the index of the child being walked), and the path of a problem
 * (`payload.a[0].constructor`) is read off them only when one is found.
 */
export function checkJsonSafety(value: unknown, maxDepth: number): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  return walkJson(value, maxDepth, true);
}

/**
 * Whether the JSON text `body` can hold a forbidden key: one of them spelled out, or any `\u`
 * escape (which could spell one). Without, {@link checkJsonSafety}'s key check has nothing to find.
 */
function mayHoldForbiddenKey(body: string): boolean {
  return body.includes('\\u') || body.includes('__proto__') || body.includes('constructor') || body.includes('prototype');
}

/**
 * {@link checkJsonSafety} of `parsed`, the value of the JSON text `body`, with the same answer: when
 * the text cannot hold a forbidden key, only the depth is walked (no key checked: 15–25% less time
 * than the full walk in bench/decode.ts's bodies), and a problem found is described by the full walk.
 */
export function checkParsedBodySafety(body: string, parsed: unknown, maxDepth: number): string | undefined {
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  if (mayHoldForbiddenKey(body)) return walkJson(parsed, maxDepth, true);
  return walkJson(parsed, maxDepth, false) === undefined ? undefined : walkJson(parsed, maxDepth, true);
}

function walkJson(value: object, maxDepth: number, checkKeys: boolean): string | undefined {
  // The ancestors of the container being entered; frame i is at depth i.
  const nodes: object[] = [];
  const keyStack: Array<string[] | undefined> = [];
  const indexStack: number[] = [];
  let entering: object = value;
  for (;;) {
    // Enter `entering` at depth nodes.length.
    const depth = nodes.length;
    if (depth >= maxDepth) return `${pathOf(keyStack, indexStack) || '(root)'}: nesting deeper than ${maxDepth} levels`;
    let node: object = entering;
    let keys: string[] | undefined;
    let index: number;
    if (Array.isArray(node)) {
      keys = undefined;
      index = node.length;
    } else {
      keys = Object.keys(node);
      index = keys.length;
      for (let i = 0; checkKeys && i < index; i++) {
        const key = keys[i]!;
        if (FORBIDDEN_KEYS.has(key)) {
          const path = pathOf(keyStack, indexStack);
          return `${path ? `${path}.${key}` : key}: forbidden key`;
        }
      }
    }
    // Find the next container to enter: the next child of `node`, or of the nearest ancestor left.
    for (;;) {
      if (--index >= 0) {
        const child: unknown = keys === undefined ? (node as unknown[])[index] : (node as Record<string, unknown>)[keys[index]!];
        if (typeof child === 'object' && child !== null) {
          nodes.push(node);
          keyStack.push(keys);
          indexStack.push(index);
          entering = child;
          break;
        }
        continue;
      }
      if (nodes.length === 0) return undefined;
      node = nodes.pop()!;
      keys = keyStack.pop();
      index = indexStack.pop()!;
    }
  }
}

/** `a.b[2].c` from the walk's stacks (the same spelling as the keys and indexes of the path). */
function pathOf(keyStack: ReadonlyArray<string[] | undefined>, indexStack: readonly number[]): string {
  let path = '';
  for (let i = 0; i < keyStack.length; i++) {
    const keys = keyStack[i];
    const index = indexStack[i]!;
    if (keys === undefined) path = `${path}[${index}]`;
    else path = path ? `${path}.${keys[index]!}` : keys[index]!;
  }
  return path;
}

/** Decodes a message body. Never throws: a failure names the reason and the bad field. */
export function decodeEnvelope(body: string, options: DecodeOptions = {}): DecodeResult {
  const maxBytes = options.maxBytes ?? SQS_LIMITS.maxMessageBytes;
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > maxBytes) return { ok: false, reason: 'oversize', message: `body is ${bytes} bytes, over the ${maxBytes}-byte limit` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    return { ok: false, reason: 'not_json', message: `body is not JSON: ${(error as Error).message}` };
  }
  const unsafe = checkParsedBodySafety(body, parsed, options.maxDepth ?? 64);
  if (unsafe) return { ok: false, reason: 'unsafe_json', message: unsafe };
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, reason: 'invalid_envelope', message: '(root): expected a JSON object' };
  }
  const version = (parsed as { v?: unknown }).v;
  if (version !== ENVELOPE_VERSION) {
    return {
      ok: false,
      reason: 'unknown_version',
      message: `v: expected ${ENVELOPE_VERSION}, got ${JSON.stringify(version) ?? 'nothing'}`,
    };
  }
  const result = envelopeSchema.safeParse(parsed);
  if (!result.success) return { ok: false, reason: 'invalid_envelope', message: formatIssues(result.error) };
  return { ok: true, envelope: result.data };
}

/**
 * Serialises an envelope as JSON every SQS server accepts (characters SQS or fauxqs refuse are
 * written as `\uXXXX` escapes: see sqs-text.ts); the caller checks the size against the server's limit.
 */
export function encodeEnvelope(envelope: Envelope): string {
  return toSqsJson(envelope);
}

export interface NewEnvelopeInput {
  type: string;
  payload: unknown;
  idempotencyKey?: string | undefined;
  notBefore?: Date | undefined;
  id?: string;
  now: number;
}

/** A first-attempt envelope. */
export function newEnvelope(input: NewEnvelopeInput): Envelope {
  return {
    v: ENVELOPE_VERSION,
    id: input.id ?? randomUUID(),
    type: input.type,
    payload: input.payload,
    attempt: 1,
    createdAt: new Date(input.now).toISOString(),
    ...(input.idempotencyKey === undefined ? {} : { idempotencyKey: input.idempotencyKey }),
    ...(input.notBefore === undefined ? {} : { notBefore: input.notBefore.toISOString() }),
  };
}

/** The JSON Schema of the body, generated from the zod schema (committed as schema/job-envelope.v1.json). */
export function envelopeJsonSchema(): Record<string, unknown> {
  return {
    $id: 'https://calsync-jobs.dev/schema/job-envelope.v1.json',
    title: 'calsync-jobs job envelope v1',
    ...z.toJSONSchema(envelopeSchema, { target: 'draft-2020-12' }),
  };
}
