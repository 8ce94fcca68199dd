/**
 * `calsync-jobs dlq redrive`: dead jobs back to the main queue.
 *
 * Two ways. `--all` (no filter, no rewrite) asks the server to do it with StartMessageMoveTask
 * (AWS, ElasticMQ 1.6+), which moves every message as it is. When StartMessageMoveTask fails for any
 * reason but an authorisation error (fauxqs answers `InvalidAction`, moto 5.2.5 HTTP 500 with an HTML
 * page), and with a filter (`--type`, `--id`) or `--reset-attempts`, it moves by hand: receive from the
 * DLQ, send the envelope (without its `deadLetter` record) to the main queue, and only then delete
 * the DLQ copy, so a crash in between can duplicate a job but never lose one. A message received
 * twice in one run is sent once (dedupe by MessageId).
 */
import {
  ListMessageMoveTasksCommand,
  StartMessageMoveTaskCommand,
  type ListMessageMoveTasksResultEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Envelope } from '../../queue/envelope.js';
import { encodeEnvelope } from '../../queue/envelope.js';
import { TransportError } from '../../shared/errors.js';
import { toTransportError } from '../../queue/sqs/sqs-errors.js';
import { extractContext, withProducerSpan } from '../../queue/tracing.js';
import type { JobTransport } from '../../queue/transport.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, parse, UsageError } from '../args.js';
import type { Connection } from '../connect.js';
import { startOtel } from '../otel.js';
import { createProgress } from '../progress.js';
import { listTable } from './dlq-read.js';
import {
  connectForDlq,
  interruptSignal,
  releaseMessages,
  selects,
  summarize,
  toDlqMessage,
  type DlqMessage,
  type Selection,
} from './dlq-scan.js';

export const DLQ_REDRIVE_USAGE = `Usage: calsync-jobs dlq redrive (--type T | --id ID... | --all) [--reset-attempts] [--dry-run] [--json]

Moves dead jobs back to the main queue.

  --type T            jobs of this type
  --id ID             this job (repeat for several)
  --all               everything. Uses StartMessageMoveTask where the server has it (AWS, ElasticMQ):
                      the server moves every message as it is, messages that are not jobs included
                      (they are dead-lettered again), attempts not reset. Where StartMessageMoveTask
                      fails (not implemented, or any error but an authorisation one), or with
                      --reset-attempts, moves by receive → send → delete and skips messages that are
                      not jobs (counted). The output says which way was taken, and why.
  --reset-attempts    start over: attempt 1, history cleared. Without it a job keeps its attempt and
                      history, so one that died of attempts_exhausted gets one more attempt and no retries.
  --dry-run           list what would move; change nothing
  --json              print one JSON object with the counts, "method" and, when StartMessageMoveTask
                      failed, "fallback" (its code, HTTP status and message) instead of text; notes
                      go to stderr

Receive → send → delete sends each job before deleting its DLQ copy: an interruption can leave a
duplicate, never a loss. Prints "redrove N job(s) (skipped M) via <method>".
${CONNECTION_HELP}`;

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

/**
 * Error codes by which AWS refuses the caller: missing permission, bad or expired credentials. Moving
 * by hand would only hide the problem (and needs permissions of its own), so these stop the command.
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

/** Why `--all` moved by hand: how StartMessageMoveTask failed. */
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
  /** Set when `--all` tried StartMessageMoveTask, it failed, and the jobs were moved by hand. */
  fallback?: RedriveFallback;
}

type ReceivePathOptions = { selection: Selection; all: boolean; resetAttempts: boolean; signal: AbortSignal };

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

async function sendBack(connection: Connection, message: DlqMessage, envelope: Envelope): Promise<void> {
  const body = encodeEnvelope(envelope);
  await withProducerSpan(
    { destination: connection.queueName, jobId: envelope.id, jobType: envelope.type, attempt: envelope.attempt, operation: 'redrive' },
    async (carrier) => {
      // With no OpenTelemetry SDK the carrier is empty: keep the job in its own trace anyway.
      const trace = carrier.traceparent
        ? carrier
        : Object.fromEntries(Object.entries(message.attributes).filter(([key]) => key === 'traceparent' || key === 'tracestate'));
      const attributes = { ...trace, 'job-type': envelope.type, ...connection.signMessage?.(body, envelope.type) };
      return connection.transport.send(connection.queueUrl, { body, attributes });
    },
    extractContext(message.attributes),
  );
}

/** Receive → send → delete, or with `dryRun` receive → release. */
async function redriveByHand(
  connection: Connection,
  options: ReceivePathOptions & { dryRun: boolean; listed: DlqMessage[] },
): Promise<RedriveResult> {
  const { transport, dlqUrl } = connection;
  const total = Number((await transport.getQueueAttributes(dlqUrl, ['ApproximateNumberOfMessages'])).ApproximateNumberOfMessages ?? 0);
  const progress = createProgress({ label: options.dryRun ? 'scanning' : 'redriving', total });
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
          options.listed.push(message);
          left.set(message.messageId, message);
          continue;
        }
        toSend.push({ message, envelope: redrivenEnvelope(envelope, options.resetAttempts) });
      }
      const sent = await Promise.allSettled(toSend.map(({ message, envelope }) => sendBack(connection, message, envelope)));
      const toDelete = [...deleteOnly];
      sent.forEach((outcome, index) => {
        const { message } = toSend[index]!;
        if (outcome.status === 'fulfilled') {
          moved.add(message.messageId);
          toDelete.push(message);
        } else {
          failed++;
          left.set(message.messageId, message);
          console.error(`failed to send job ${message.decoded.envelope?.id}: ${(outcome.reason as Error).message}`);
        }
      });
      if (toDelete.length > 0) {
        const result = await transport.deleteBatch(
          dlqUrl,
          toDelete.map((message, index) => ({ id: String(index), receiptHandle: message.receiptHandle })),
        );
        for (const failure of result.failed) {
          failed++;
          console.error(
            `sent, but could not delete ${toDelete[Number(failure.id)]?.messageId} from the DLQ (${failure.code}): a duplicate stays there`,
          );
        }
      }
      progress.update(options.dryRun ? seen : moved.size, Math.max(total, seen));
    }
  } finally {
    progress.finish();
    const { failed: unreleased } = await releaseMessages(transport, dlqUrl, left.values());
    if (unreleased > 0)
      console.error(`warning: ${unreleased} message(s) left in the DLQ stay hidden until their 60 s visibility timeout ends`);
  }
  return {
    method: MANUAL_METHOD,
    dryRun: options.dryRun,
    redrove: options.dryRun ? options.listed.length : moved.size,
    skipped: notSelected + notAJob,
    notSelected,
    notAJob,
    failed,
    warnings: reasonWarnings(reasons, options.resetAttempts, options.dryRun),
  };
}

/**
 * StartMessageMoveTask and wait for it. When it cannot start (any failure but an authorisation error),
 * returns how it failed, for the caller to move by hand; an authorisation error is thrown.
 */
async function redriveNatively(
  connection: Connection,
  client: SQSClient,
  signal: AbortSignal,
  note: (line: string) => void,
): Promise<RedriveResult | RedriveFallback> {
  const [dlq, main] = await Promise.all([
    connection.transport.getQueueAttributes(connection.dlqUrl, ['QueueArn']),
    connection.transport.getQueueAttributes(connection.queueUrl, ['QueueArn']),
  ]);
  if (!dlq.QueueArn || !main.QueueArn)
    throw new TransportError('a queue reported no QueueArn', { code: 'InvalidResponse', retryable: false });
  let taskHandle: string | undefined;
  try {
    const started = await client.send(new StartMessageMoveTaskCommand({ SourceArn: dlq.QueueArn, DestinationArn: main.QueueArn }));
    taskHandle = started.TaskHandle;
  } catch (error) {
    const transportError = toTransportError(error, { operation: 'StartMessageMoveTask', queue: connection.dlqUrl });
    // Moving by hand would hide a refusal (and needs permissions of its own): stop and say why.
    if (isAuthorizationError(transportError)) throw refused(transportError, connection.dlqUrl);
    // Not implemented (fauxqs: InvalidAction), or a failure of any other kind (moto 5.2.5: HTTP 500
    // with an HTML page): the receive path moves the jobs with SendMessage/DeleteMessage instead.
    const fallback = fallbackFrom(transportError);
    note(describeFallback(fallback));
    return fallback;
  }
  note(`moving with ${NATIVE_METHOD} (task ${taskHandle ?? 'without a handle'}): every message goes back as it is`);
  const progress = createProgress({ label: 'moving' });
  let task: ListMessageMoveTasksResultEntry | undefined;
  try {
    for (;;) {
      const listed = await client.send(new ListMessageMoveTasksCommand({ SourceArn: dlq.QueueArn, MaxResults: 10 }));
      // AWS returns the handle only while a task runs; the newest task comes first.
      task = listed.Results?.find((entry) => entry.TaskHandle === taskHandle) ?? listed.Results?.[0];
      const moved = task?.ApproximateNumberOfMessagesMoved ?? 0;
      progress.update(moved, moved + (task?.ApproximateNumberOfMessagesToMove ?? 0));
      if (task?.Status === 'COMPLETED' || task?.Status === 'FAILED' || task?.Status === 'CANCELLED') break;
      if (signal.aborted) {
        progress.finish();
        console.error(
          `interrupted: the move task keeps running on the server (ListMessageMoveTasks shows it; CancelMessageMoveTask stops it)`,
        );
        return {
          method: NATIVE_METHOD,
          dryRun: false,
          redrove: moved,
          skipped: 0,
          notSelected: 0,
          notAJob: 0,
          failed: 1,
          warnings: [],
          ...(taskHandle ? { taskHandle } : {}),
        };
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    progress.finish();
  }
  const ok = task?.Status === 'COMPLETED';
  if (!ok) console.error(`the move task ended ${task?.Status}: ${task?.FailureReason ?? 'no reason given'}`);
  return {
    method: NATIVE_METHOD,
    dryRun: false,
    redrove: task?.ApproximateNumberOfMessagesMoved ?? 0,
    skipped: 0,
    notSelected: 0,
    notAJob: 0,
    failed: ok ? 0 : 1,
    warnings: [
      'the server moved every message as it was: attempts were not reset, and messages that are not jobs went back too (workers dead-letter them again)',
    ],
    ...(taskHandle ? { taskHandle } : {}),
  };
}

const sdkClient = (transport: JobTransport): SQSClient | undefined => {
  const client = (transport as { client?: unknown }).client;
  return typeof client === 'object' && client !== null && typeof (client as SQSClient).send === 'function'
    ? (client as SQSClient)
    : undefined;
};

export async function dlqRedriveCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...CONNECTION_OPTIONS,
      type: { type: 'string' },
      id: { type: 'string', multiple: true },
      all: { type: 'boolean' },
      'reset-attempts': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    DLQ_REDRIVE_USAGE,
    true,
  );
  if (values.help) {
    console.log(DLQ_REDRIVE_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, DLQ_REDRIVE_USAGE);
  const ids = values.id as unknown as string[] | undefined;
  const type = values.type as string | undefined;
  const all = values.all === true;
  const chosen = [type !== undefined, ids !== undefined, all].filter(Boolean).length;
  if (chosen !== 1) throw new UsageError('choose exactly one of --type T, --id ID or --all', DLQ_REDRIVE_USAGE);
  const resetAttempts = values['reset-attempts'] === true;
  const dryRun = values['dry-run'] === true;
  const selection: Selection = { type, ids };

  const connection = await connectForDlq(values);
  const otel = await startOtel({ serviceName: 'calsync-cli' });
  const interrupt = interruptSignal();
  // Notes on the way taken: with --json on stderr, so that stdout is one JSON object.
  const note = (line: string): void => (values.json ? console.error(line) : console.log(line));
  try {
    let result: RedriveResult | undefined;
    let fallback: RedriveFallback | undefined;
    const client = sdkClient(connection.transport);
    if (all && !resetAttempts && !dryRun && client) {
      const native = await redriveNatively(connection, client, interrupt.signal, note);
      if ('from' in native) fallback = native;
      else result = native;
    } else if (all && resetAttempts && !dryRun) note(`--reset-attempts rewrites each job: moving by ${MANUAL_METHOD}`);
    const listed: DlqMessage[] = [];
    if (!result) {
      result = await redriveByHand(connection, { selection, all, resetAttempts, dryRun, listed, signal: interrupt.signal });
      if (fallback) result.fallback = fallback;
    }
    report(result, listed, all);
    if (interrupt.signal.aborted) {
      console.error('calsync-jobs dlq redrive: interrupted');
      return 1;
    }
    return result.failed > 0 ? 1 : 0;
  } finally {
    interrupt.dispose();
    await otel.shutdown().catch(() => undefined);
    await connection.close();
  }

  function report(result: RedriveResult, listed: DlqMessage[], allSelected: boolean): void {
    if (values.json) {
      console.log(JSON.stringify({ ...result, ...(result.dryRun ? { jobs: listed.map(summarize) } : {}) }));
      return;
    }
    for (const warning of result.warnings) console.error(`warning: ${warning}`);
    if (result.dryRun) {
      if (listed.length > 0) console.log(listTable(listed.map(summarize)).join('\n'));
      console.log(`dry run: would redrive ${result.redrove} job(s) (skipped ${result.skipped}) via ${MANUAL_METHOD}; nothing was changed`);
      if (allSelected)
        console.log(
          `(without --dry-run, --all first tries ${NATIVE_METHOD}, which moves every message as it is, messages that are not jobs included)`,
        );
    } else {
      console.log(`redrove ${result.redrove} job(s) (skipped ${result.skipped}) via ${result.method}`);
    }
    if (result.skipped > 0) {
      console.log(
        `left in the DLQ: ${result.notSelected} not selected, ${result.notAJob} not a job (no envelope; see "calsync-jobs dlq list")`,
      );
    }
  }
}
