/**
 * Dead jobs back to the main queue: the library under `calsync-jobs dlq redrive`.
 *
 * Two ways. `all` (no filter, no rewrite) asks the server to do it when the transport has the
 * move-task capability (`startMessageMove` / `messageMoveStatus`: StartMessageMoveTask on AWS and
 * ElasticMQ 1.6+), which moves every message as it is. When the move fails to start for any reason but
 * an authorisation error (fauxqs answers `InvalidAction`, moto 5.2.5 HTTP 500 with an HTML page), when
 * the transport lacks the capability (the in-memory one), and with a filter (`type`, `ids`) or
 * `resetAttempts`, it moves by hand: receive from the DLQ, send the envelope (without its `deadLetter`
 * record) to the main queue, and only then delete the DLQ copy, so a crash in between can duplicate a
 * job but never lose one. A message received twice in one run is sent once (dedupe by MessageId).
 *
 * With a `beforeSend` hook (the CLI's, when a job store is configured: it reopens each job's row at the
 * attempt its message carries, or the worker would drop the message as already terminal), the hook runs
 * for each batch before it is sent, and `all` moves by hand too, since a server-side move cannot call it.
 */
import { ATTRIBUTES, jobAttributes } from '../queue/attributes.js';
import type { Envelope } from '../queue/envelope.js';
import { encodeEnvelope } from '../queue/envelope.js';
import { SendBatcher, SETTLE_SEND_RETRY } from '../queue/send-batcher.js';
import type { SigningHooks } from '../queue/signing-hooks.js';
import { extractContext, withProducerSpan } from '../telemetry/tracing.js';
import { MESSAGE_MOVE_ENDED, SQS_LIMITS, type JobTransport, type MessageMoveStatus, type MessageMoveTask } from '../queue/transport.js';
import { sleep, systemClock, type Clock } from '../shared/clock.js';
import { TransportError } from '../shared/errors.js';
import { releaseMessages, selects, summarize, toDlqMessage, type DlqMessage, type Selection } from './dlq-scan.js';

/** Error codes by which a server says it does not implement an action (fauxqs: InvalidAction). */
const UNSUPPORTED = new Set([
  'InvalidAction',
  'UnsupportedOperation',
  'UnknownOperation',
  'UnknownOperationException',
  'NotImplemented',
  'InvalidRequest',
]);

export const NATIVE_METHOD = 'StartMessageMoveTask';
export const MANUAL_METHOD = 'receive → send → delete';

/** How often a running move task is polled. */
const MOVE_POLL_MS = 500;

/**
 * Error codes by which AWS refuses the caller: missing permission, bad or expired credentials. Moving
 * by hand would only hide the problem (and needs permissions of its own), so these stop the redrive.
 */
const AUTHORIZATION = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'UnauthorizedAccess',
  'NotAuthorized',
  'AuthFailure',
  'AuthorizationError',
  'InvalidClientTokenId',
  'InvalidAccessKeyId',
  'UnrecognizedClientException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'InvalidSecurity',
  'ExpiredToken',
  'ExpiredTokenException',
  'RequestExpired',
  'KMS.AccessDeniedException',
  'OptInRequired',
]);

/** Codes that SQS answers with HTTP 403 although they are no refusal of the caller. */
const FORBIDDEN_BUT_NOT_AUTHORIZATION = new Set(['OverLimit', 'PurgeQueueInProgress', ...UNSUPPORTED]);

/** Codes among {@link AUTHORIZATION} that mean a missing permission (the others: bad credentials). */
const PERMISSION = /^(AccessDenied|Unauthorized|NotAuthorized|AuthorizationError|KMS\.AccessDenied|OptInRequired)/;

/** A refusal of the caller rather than a server that cannot move: by code, or HTTP 401/403. */
export function isAuthorizationError(error: TransportError): boolean {
  if (AUTHORIZATION.has(error.code)) return true;
  const status = httpStatus(error);
  return (status === 401 || status === 403) && !FORBIDDEN_BUT_NOT_AUTHORIZATION.has(error.code);
}

function refused(error: TransportError, dlqUrl: string): TransportError {
  const status = httpStatus(error);
  const why = PERMISSION.test(error.code)
    ? `these credentials may not move messages out of ${dlqUrl}: grant sqs:StartMessageMoveTask and sqs:ListMessageMoveTasks on the DLQ (OperatorPolicy in docs/aws.md)`
    : 'the credentials were not accepted (wrong, expired, or for another account): check AWS_PROFILE or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN';
  return new TransportError(
    `${NATIVE_METHOD} was refused (${error.code}${status !== undefined ? `, HTTP ${status}` : ''}: ${fallbackFrom(error).message}); ${why}. Nothing was moved`,
    { code: error.code, retryable: false, cause: error },
  );
}

function httpStatus(error: TransportError): number | undefined {
  const status = (error.cause as { $metadata?: { httpStatusCode?: unknown } } | undefined)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Why `all` moved by hand: how StartMessageMoveTask failed. */
export interface RedriveFallback {
  from: typeof NATIVE_METHOD;
  /** The normalised error code (`InvalidAction` on fauxqs; moto's HTML page gives `SyntaxError`). */
  code: string;
  httpStatus?: number;
  /** The first line of the error, at most 200 characters. */
  message: string;
}

function fallbackFrom(error: TransportError): RedriveFallback {
  const cause = error.cause instanceof Error ? error.cause.message : error.message;
  const firstLine = (cause.split('\n')[0] ?? '').trim();
  const status = httpStatus(error);
  return {
    from: NATIVE_METHOD,
    code: error.code,
    ...(status !== undefined ? { httpStatus: status } : {}),
    message: firstLine.length > 200 ? `${firstLine.slice(0, 199)}…` : firstLine,
  };
}

function describeFallback(fallback: RedriveFallback): string {
  if (UNSUPPORTED.has(fallback.code))
    return `${NATIVE_METHOD} is not available on this server (${fallback.code}): moving by ${MANUAL_METHOD}`;
  const status = fallback.httpStatus !== undefined ? `, HTTP ${fallback.httpStatus}` : '';
  return `${NATIVE_METHOD} failed (${fallback.code}${status}: ${fallback.message}): moving by ${MANUAL_METHOD} instead`;
}

export interface RedriveResult {
  method: typeof NATIVE_METHOD | typeof MANUAL_METHOD;
  dryRun: boolean;
  /** Jobs sent to the main queue (or that would be). */
  redrove: number;
  /** Messages left in the DLQ: `notSelected` + `notAJob`. */
  skipped: number;
  notSelected: number;
  notAJob: number;
  /** Sends or deletes that failed; those messages stay in the DLQ (a failed delete: a duplicate in both). */
  failed: number;
  /** Selected jobs whose reason means they will die again soon unless reset. */
  warnings: string[];
  taskHandle?: string;
  /** Set when `all` tried StartMessageMoveTask, it failed, and the jobs were moved by hand. */
  fallback?: RedriveFallback;
}

/** The queues a redrive moves between (a CLI `Connection` is one). */
export interface RedriveQueues {
  transport: JobTransport;
  queueUrl: string;
  /** The main queue's name, for the producer span. */
  queueName: string;
  dlqUrl: string;
  signMessage?: SigningHooks['signMessage'];
}

/** A progress display (the CLI's bar); `total` may be unknown, or become known later. */
export interface RedriveProgress {
  update(done: number, total?: number): void;
  finish(): void;
}

export interface RedriveOptions {
  /** Which jobs (ignored with `all`, which takes everything). */
  selection: Selection;
  all: boolean;
  /** Start over: attempt 1, history cleared (moves by hand). */
  resetAttempts: boolean;
  /** Receive and release only; `listed` gets what would move. */
  dryRun: boolean;
  /** Aborting stops the redrive (a server-side move task keeps running). */
  signal: AbortSignal;
  /** Times the move task's polls. @defaultValue systemClock */
  clock?: Clock;
  /** A line about the way taken (the CLI: stdout, or stderr with `--json`). */
  note?: (line: string) => void;
  /** A line about something that went wrong (the CLI: stderr). */
  warn?: (line: string) => void;
  /** A progress display for `label` (`moving`, `redriving`, `scanning`). */
  progress?: (label: string, total?: number) => RedriveProgress;
  /**
   * Runs before each batch of jobs is sent back, with the attempt each message carries (after
   * `resetAttempts`). When it throws, that batch is not sent (counted as failed, left in the DLQ).
   */
  beforeSend?: (jobs: ReadonlyArray<{ jobId: string; attempt: number }>) => Promise<void>;
}

export interface RedriveOutcome {
  result: RedriveResult;
  /** With `dryRun`: the jobs that would move. */
  listed: DlqMessage[];
}

const NO_PROGRESS: RedriveProgress = { update: () => undefined, finish: () => undefined };

/**
 * Moves dead jobs back: natively for `all` where the transport can (see the file's header), by hand
 * otherwise. An authorisation error from the native move is thrown (a `TransportError` naming the
 * permission to grant); nothing has moved then.
 */
export async function redriveDlq(queues: RedriveQueues, options: RedriveOptions): Promise<RedriveOutcome> {
  const note = options.note ?? (() => undefined);
  const { transport } = queues;
  let fallback: RedriveFallback | undefined;
  const native = options.all && !options.resetAttempts && !options.dryRun;
  if (native && options.beforeSend) note(`the job store reopens each job before it is sent back: moving by ${MANUAL_METHOD}`);
  else if (native && transport.startMessageMove && transport.messageMoveStatus) {
    const native = await redriveNatively(
      queues,
      { ...options, note },
      transport.startMessageMove.bind(transport),
      transport.messageMoveStatus.bind(transport),
    );
    if (!('from' in native)) return { result: native, listed: [] };
    fallback = native;
  } else if (options.all && options.resetAttempts && !options.dryRun)
    note(`--reset-attempts rewrites each job: moving by ${MANUAL_METHOD}`);
  const listed: DlqMessage[] = [];
  const result = await redriveByHand(queues, options, listed);
  if (fallback) result.fallback = fallback;
  return { result, listed };
}

/** The body sent back: the envelope alone (the zod-decoded envelope has no `deadLetter` key). */
export function redrivenEnvelope(envelope: Envelope, resetAttempts: boolean): Envelope {
  if (!resetAttempts) return envelope;
  const { history: _history, ...rest } = envelope;
  return { ...rest, attempt: 1 };
}

function reasonWarnings(reasons: Map<string, number>, resetAttempts: boolean, would: boolean): string[] {
  const warnings: string[] = [];
  const exhausted = reasons.get('attempts_exhausted') ?? 0;
  if (exhausted > 0 && !resetAttempts) {
    warnings.push(
      `${exhausted} job(s) died with attempts_exhausted; ${would ? 'if redriven' : 'redriven'} without --reset-attempts each gets one more attempt and no retries`,
    );
  }
  const deadline = reasons.get('deadline_exceeded') ?? 0;
  if (deadline > 0)
    warnings.push(`${deadline} job(s) died with deadline_exceeded; the deadline counts from createdAt, so they will die again at once`);
  return warnings;
}

async function sendBack(queues: RedriveQueues, sender: SendBatcher, message: DlqMessage, envelope: Envelope): Promise<void> {
  const body = encodeEnvelope(envelope);
  await withProducerSpan(
    { destination: queues.queueName, jobId: envelope.id, jobType: envelope.type, attempt: envelope.attempt, operation: 'redrive' },
    async (carrier) => {
      // With no OpenTelemetry SDK the carrier is empty: keep the job in its own trace anyway.
      const trace = carrier.traceparent
        ? carrier
        : Object.fromEntries(
            Object.entries(message.attributes).filter(([key]) => key === ATTRIBUTES.traceparent || key === ATTRIBUTES.tracestate),
          );
      const attributes = jobAttributes(body, envelope.type, queues.signMessage, trace);
      return await sender.send(queues.queueUrl, { body, attributes });
    },
    extractContext(message.attributes),
  );
}

/** Receive → send → delete, or with `dryRun` receive → release. */
async function redriveByHand(queues: RedriveQueues, options: RedriveOptions, listed: DlqMessage[]): Promise<RedriveResult> {
  const { transport, dlqUrl } = queues;
  // The one send path: each receive's messages go out as one batch (flushed below), with the settles' retry policy.
  const sender = new SendBatcher({
    transport,
    clock: options.clock ?? systemClock,
    maxMessageBytes: SQS_LIMITS.maxMessageBytes,
    retry: SETTLE_SEND_RETRY,
  });
  const warn = options.warn ?? (() => undefined);
  const total = Number((await transport.getQueueAttributes(dlqUrl, ['ApproximateNumberOfMessages'])).ApproximateNumberOfMessages ?? 0);
  const progress = options.progress?.(options.dryRun ? 'scanning' : 'redriving', total) ?? NO_PROGRESS;
  const moved = new Set<string>();
  const left = new Map<string, DlqMessage>();
  const reasons = new Map<string, number>();
  let notSelected = 0;
  let notAJob = 0;
  let failed = 0;
  let seen = 0;
  try {
    while (!options.signal.aborted) {
      const batch = await transport.receive(dlqUrl, {
        maxMessages: 10,
        waitTimeSeconds: 1,
        visibilityTimeoutSeconds: 60,
        signal: options.signal,
      });
      if (batch.length === 0) break;
      const toSend: Array<{ message: DlqMessage; envelope: Envelope }> = [];
      const deleteOnly: DlqMessage[] = [];
      for (const received of batch) {
        if (moved.has(received.messageId)) {
          // Already sent in this run and seen again (a delete that did not stick): delete, do not resend.
          deleteOnly.push(toDlqMessage(received));
          continue;
        }
        const earlier = left.get(received.messageId);
        if (earlier) {
          earlier.receiptHandle = received.receiptHandle;
          continue;
        }
        seen++;
        const message = toDlqMessage(received);
        const envelope = message.decoded.envelope;
        if (!envelope) {
          left.set(message.messageId, message);
          if (options.all) notAJob++;
          else notSelected++;
          continue;
        }
        if (!selects(options.selection, message)) {
          left.set(message.messageId, message);
          notSelected++;
          continue;
        }
        const reason = summarize(message).reason;
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
        if (options.dryRun) {
          listed.push(message);
          left.set(message.messageId, message);
          continue;
        }
        toSend.push({ message, envelope: redrivenEnvelope(envelope, options.resetAttempts) });
      }
      if (toSend.length > 0 && options.beforeSend) {
        const reopened = await options.beforeSend(toSend.map(({ envelope }) => ({ jobId: envelope.id, attempt: envelope.attempt }))).then(
          () => true,
          (error: unknown) => {
            warn(`could not reopen ${toSend.length} job(s) in the store, left in the DLQ: ${(error as Error)?.message ?? String(error)}`);
            return false;
          },
        );
        if (!reopened) {
          failed += toSend.length;
          for (const { message } of toSend.splice(0)) left.set(message.messageId, message);
        }
      }
      const sending = toSend.map(({ message, envelope }) => sendBack(queues, sender, message, envelope));
      sender.flush(queues.queueUrl);
      const sent = await Promise.allSettled(sending);
      const toDelete = [...deleteOnly];
      sent.forEach((outcome, index) => {
        const { message } = toSend[index]!;
        if (outcome.status === 'fulfilled') {
          moved.add(message.messageId);
          toDelete.push(message);
        } else {
          failed++;
          left.set(message.messageId, message);
          warn(`failed to send job ${message.decoded.envelope?.id}: ${(outcome.reason as Error).message}`);
        }
      });
      if (toDelete.length > 0) {
        const result = await transport.deleteBatch(
          dlqUrl,
          toDelete.map((message, index) => ({ id: String(index), receiptHandle: message.receiptHandle })),
        );
        for (const failure of result.failed) {
          failed++;
          warn(
            `sent, but could not delete ${toDelete[Number(failure.id)]?.messageId} from the DLQ (${failure.code}): a duplicate stays there`,
          );
        }
      }
      progress.update(options.dryRun ? seen : moved.size, Math.max(total, seen));
    }
  } finally {
    progress.finish();
    const { failed: unreleased } = await releaseMessages(transport, dlqUrl, left.values());
    if (unreleased > 0) warn(`warning: ${unreleased} message(s) left in the DLQ stay hidden until their 60 s visibility timeout ends`);
  }
  return {
    method: MANUAL_METHOD,
    dryRun: options.dryRun,
    redrove: options.dryRun ? listed.length : moved.size,
    skipped: notSelected + notAJob,
    notSelected,
    notAJob,
    failed,
    warnings: reasonWarnings(reasons, options.resetAttempts, options.dryRun),
  };
}

/**
 * Starts the move task and polls it on the clock until it ends. When it cannot start (any failure but
 * an authorisation error), returns how it failed, for the caller to move by hand; an authorisation
 * error is thrown.
 */
async function redriveNatively(
  queues: RedriveQueues,
  options: RedriveOptions & { note: (line: string) => void },
  start: NonNullable<JobTransport['startMessageMove']>,
  status: NonNullable<JobTransport['messageMoveStatus']>,
): Promise<RedriveResult | RedriveFallback> {
  const clock = options.clock ?? systemClock;
  const warn = options.warn ?? (() => undefined);
  let task: MessageMoveTask;
  try {
    task = await start(queues.dlqUrl, queues.queueUrl);
  } catch (error) {
    if (!TransportError.is(error)) throw error;
    // Moving by hand would hide a refusal (and needs permissions of its own): stop and say why.
    if (isAuthorizationError(error)) throw refused(error, queues.dlqUrl);
    // Not implemented (fauxqs: InvalidAction), or a failure of any other kind (moto 5.2.5: HTTP 500
    // with an HTML page): the receive path moves the jobs with SendMessage/DeleteMessage instead.
    const fallback = fallbackFrom(error);
    options.note(describeFallback(fallback));
    return fallback;
  }
  const { taskHandle } = task;
  options.note(`moving with ${NATIVE_METHOD} (task ${taskHandle ?? 'without a handle'}): every message goes back as it is`);
  const progress = options.progress?.('moving') ?? NO_PROGRESS;
  const summary = (moved: number, failed: number, warnings: string[]): RedriveResult => ({
    method: NATIVE_METHOD,
    dryRun: false,
    redrove: moved,
    skipped: 0,
    notSelected: 0,
    notAJob: 0,
    failed,
    warnings,
    ...(taskHandle ? { taskHandle } : {}),
  });
  let state: MessageMoveStatus | undefined;
  try {
    for (;;) {
      // Not given the signal: after an interrupt the last poll still reports how far the task got.
      state = await status(task);
      const moved = state?.moved ?? 0;
      progress.update(moved, moved + (state?.toMove ?? 0));
      if (state && MESSAGE_MOVE_ENDED.has(state.status)) break;
      if (options.signal.aborted) {
        progress.finish();
        warn('interrupted: the move task keeps running on the server (ListMessageMoveTasks shows it; CancelMessageMoveTask stops it)');
        return summary(moved, 1, []);
      }
      // Aborted while waiting: poll once more at once, then report the interruption.
      await sleep(MOVE_POLL_MS, clock, options.signal).catch(() => undefined);
    }
  } finally {
    progress.finish();
  }
  const ok = state.status === 'COMPLETED';
  if (!ok) warn(`the move task ended ${state.status}: ${state.failureReason ?? 'no reason given'}`);
  return summary(state.moved, ok ? 0 : 1, [
    'the server moved every message as it was: attempts were not reset, and messages that are not jobs went back too (workers dead-letter them again)',
  ]);
}
