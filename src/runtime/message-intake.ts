/**
 * What a received message is before any machine runs: its signature checked (when the worker has a
 * verifier), its envelope decoded, its job type looked up among the worker's jobs and its payload
 * checked against that type's schema. A message that fails one of the first three never becomes a
 * job: the result names the reason, and the attempt dead-letters the message as invalid. A payload
 * that fails its schema still makes a job: the machine dead-letters it (`INVALID`, `invalid_payload`).
 * Here too: each job type's machine and stepper, built once ({@link knownJobs}), and the envelope
 * read as its machine's input ({@link jobInput}).
 */
import type { JobDefinition } from '../machines/define-job.js';
import { payloadKeys, type PayloadKeys } from '../machines/job-keys.js';
import { createJobMachine, type JobMachine, type JobMachineInput } from '../machines/job-machine.js';
import { createJobStepper, type JobStepper } from '../machines/job-stepper.js';
import { decodeEnvelope, formatIssues, type Envelope } from '../queue/envelope.js';
import type { ReceivedMessage } from '../queue/transport.js';
import { toError } from '../shared/errors.js';
import type { ResolvedWorkerOptions } from './worker-options.js';

/** A job type this worker runs, with its machine and the stepper built once for it. */
export interface KnownJob {
  definition: JobDefinition<any, any>;
  machine: JobMachine;
  stepper: JobStepper;
}

/** The worker's job types by name, each machine and stepper built once. */
export function knownJobs(definitions: readonly JobDefinition<any, any>[]): ReadonlyMap<string, KnownJob> {
  return new Map(
    definitions.map((definition) => {
      const machine = createJobMachine(definition.type);
      return [definition.type, { definition, machine, stepper: createJobStepper(machine) }];
    }),
  );
}

/** The payload against its type's schema: the parsed value, or why it does not fit. */
export type PayloadCheck = { valid: true; data: unknown; keys?: PayloadKeys | undefined } | { valid: false; message: string };

export type Intake =
  | { ok: true; envelope: Envelope; job: KnownJob; payload: PayloadCheck }
  /** Not a job: dead-letter the raw message with `reason` (the envelope too, when it decoded). */
  | { ok: false; reason: string; text: string; envelope?: Envelope };

/** What a message is checked against: the worker's options and its job types. */
export interface IntakeRules {
  options: Pick<ResolvedWorkerOptions, 'verifyMessage' | 'maxMessageBytes'>;
  jobs: ReadonlyMap<string, KnownJob>;
}

/** Checks a received message in order: signature, envelope, job type, payload. Never throws. */
export function takeIn(message: ReceivedMessage, { options, jobs }: IntakeRules): Intake {
  const signatureProblem = options.verifyMessage ? safeVerify(options.verifyMessage, message) : undefined;
  if (signatureProblem !== undefined) return { ok: false, reason: 'bad_signature', text: `signature check failed: ${signatureProblem}` };
  const decoded = decodeEnvelope(message.body, { maxBytes: options.maxMessageBytes });
  if (!decoded.ok) return { ok: false, reason: decoded.reason, text: decoded.message };
  const { envelope } = decoded;
  const job = jobs.get(envelope.type);
  if (!job) return { ok: false, reason: 'unknown_type', text: `type: unknown job type "${envelope.type}"`, envelope };
  return { ok: true, envelope, job, payload: checkPayload(job.definition, envelope.payload) };
}

/** The envelope as its machine's input: what `restoreJob` restores the job from. */
export function jobInput(envelope: Envelope, definition: JobDefinition<any, any>): JobMachineInput {
  return {
    attempt: envelope.attempt,
    history: envelope.history,
    checkpoint: envelope.checkpoint,
    createdAtMs: Date.parse(envelope.createdAt),
    notBeforeMs: envelope.notBefore === undefined ? undefined : Date.parse(envelope.notBefore),
    policy: definition.retry,
    deadlineMs: definition.deadlineMs,
    maximumThrottles: definition.maximumThrottles,
  };
}

/** A schema whose refine or transform throws (e.g. `new URL(x)`) is an invalid payload, not a crash. */
function checkPayload(definition: JobDefinition<any, any>, payload: unknown): PayloadCheck {
  try {
    const parsed = definition.schema.safeParse(payload);
    if (!parsed.success) return { valid: false, message: formatIssues(parsed.error, 'payload') };
    return withKeys(definition, parsed.data);
  } catch (error) {
    const thrown = toError(error);
    return { valid: false, message: `payload: the schema threw ${thrown.name}: ${thrown.message}`.slice(0, 2000) };
  }
}

/** A key that cannot be computed makes the payload invalid: the job could never be claimed by it. */
function withKeys(definition: JobDefinition<any, any>, data: unknown): PayloadCheck {
  try {
    const keys = payloadKeys(definition, data);
    return { valid: true, data, ...(keys ? { keys } : {}) };
  } catch (error) {
    return { valid: false, message: toError(error).message.slice(0, 2000) };
  }
}

function safeVerify(
  verify: (body: string, attributes: Record<string, string>) => string | undefined,
  message: ReceivedMessage,
): string | undefined {
  try {
    return verify(message.body, message.attributes);
  } catch (error) {
    return `verifier threw: ${(error as Error).message}`;
  }
}
