/**
 * {@link JobTransport} on Amazon SQS (or any SQS-compatible server) through AWS SDK v3.
 */
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  StartMessageMoveTaskCommand,
  type Message,
  type MessageAttributeValue,
  type QueueAttributeName,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { TransportError } from '../../shared/errors.js';
import { checkBatch, checkOutgoing, checkOutgoingBatch, checkReceive, checkVisibility } from '../limits.js';
import { createSqsClient, resolveSqsClientOptions, type SqsClientOptions } from './sqs-client.js';
import { toTransportError } from './sqs-errors.js';
import {
  SQS_LIMITS,
  type BatchResult,
  type CreateQueueOptions,
  type DeleteEntry,
  type JobTransport,
  type MessageMoveStatus,
  type MessageMoveTask,
  type OutgoingBatchEntry,
  type OutgoingMessage,
  type QueueDepth,
  type ReceiveOptions,
  type ReceivedMessage,
} from '../transport.js';

/** Options of {@link SqsTransport}; all optional. */
export interface SqsTransportOptions extends SqsClientOptions {
  /** A ready client; the transport then never destroys it. Other connection options are ignored. */
  client?: SQSClient;
  /** Largest message (body plus attributes) accepted. @defaultValue `SQS_LIMITS.maxMessageBytes` (1 MiB) */
  maxMessageBytes?: number;
  /** Where endpoint, region and credential hints are read. @defaultValue `process.env` */
  env?: NodeJS.ProcessEnv;
  /** Told once when the server refuses MessageGroupId on a standard queue. @defaultValue `process.emitWarning` */
  onNotice?: (message: string) => void;
}

/** A refusal of MessageGroupId itself (a server that allows it only on FIFO queues). */
function refusesGroupId(code: string | undefined, message: string | undefined): boolean {
  return /MessageGroupId/i.test(message ?? '') && !/throttl/i.test(code ?? '');
}

const DEPTH_ATTRIBUTES = [
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
] as const;

/**
 * The SQS transport. The constructor only records options; the client (and its keep-alive agents)
 * is built on the first call and destroyed by {@link SqsTransport.close}.
 */
export class SqsTransport implements JobTransport {
  readonly kind = 'aws_sqs';
  readonly maxMessageBytes: number;
  private readonly options: SqsTransportOptions;
  private ownClient: SQSClient | undefined;
  private closed = false;
  /** The server refused MessageGroupId on a standard queue: it is left out from then on. */
  private groupIdRefused = false;

  constructor(options: SqsTransportOptions = {}) {
    this.options = options;
    this.maxMessageBytes = options.maxMessageBytes ?? SQS_LIMITS.maxMessageBytes;
  }

  /** The SDK client in use (built on first access). After {@link SqsTransport.close}: `TransportClosed`. */
  get client(): SQSClient {
    if (this.closed) throw new TransportError('the SQS transport is closed', { code: 'TransportClosed', retryable: false });
    if (this.options.client) return this.options.client;
    this.ownClient ??= createSqsClient(resolveSqsClientOptions(this.options, this.options.env));
    return this.ownClient;
  }

  /** Deadline of one call (SDK retries included); a receive adds its long-poll wait. */
  get requestTimeoutMs(): number {
    return this.options.requestTimeoutMs ?? 10_000;
  }

  /**
   * Runs one SDK call with the caller's signal and a deadline: a server that accepts the connection
   * and never answers fails the call with a retryable `RequestTimeout` instead of hanging it.
   */
  private async call<T>(
    operation: string,
    queue: string | undefined,
    run: (signal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
    extraMs = 0,
  ): Promise<T> {
    const timeoutMs = this.requestTimeoutMs + extraMs;
    const deadline = AbortSignal.timeout(timeoutMs);
    try {
      return await run(signal === undefined ? deadline : AbortSignal.any([signal, deadline]));
    } catch (error) {
      if (deadline.aborted && !signal?.aborted) {
        throw new TransportError(`${operation} got no answer within ${timeoutMs} ms${queue === undefined ? '' : ` (${queue})`}`, {
          code: 'RequestTimeout',
          retryable: true,
          cause: error,
        });
      }
      throw toTransportError(error, queue === undefined ? { operation } : { operation, queue });
    }
  }

  async getQueueUrl(name: string, signal?: AbortSignal): Promise<string> {
    return this.call(
      'GetQueueUrl',
      name,
      async (sig) => {
        const out = await this.client.send(new GetQueueUrlCommand({ QueueName: name }), { abortSignal: sig });
        return required(out.QueueUrl, 'GetQueueUrl returned no QueueUrl');
      },
      signal,
    );
  }

  async createQueue(name: string, options: CreateQueueOptions = {}, signal?: AbortSignal): Promise<string> {
    return this.call(
      'CreateQueue',
      name,
      async (sig) => {
        const command = new CreateQueueCommand({ QueueName: name, Attributes: { ...options.attributes } });
        const out = await this.client.send(command, { abortSignal: sig });
        return required(out.QueueUrl, 'CreateQueue returned no QueueUrl');
      },
      signal,
    );
  }

  async getQueueAttributes(queueUrl: string, names: readonly string[] = ['All'], signal?: AbortSignal): Promise<Record<string, string>> {
    return this.call(
      'GetQueueAttributes',
      queueUrl,
      async (sig) => {
        const command = new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: names as QueueAttributeName[] });
        const out = await this.client.send(command, { abortSignal: sig });
        return { ...out.Attributes };
      },
      signal,
    );
  }

  async setQueueAttributes(queueUrl: string, attributes: Readonly<Record<string, string>>, signal?: AbortSignal): Promise<void> {
    await this.call(
      'SetQueueAttributes',
      queueUrl,
      (sig) => this.client.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: { ...attributes } }), { abortSignal: sig }),
      signal,
    );
  }

  async send(queueUrl: string, message: OutgoingMessage, signal?: AbortSignal): Promise<{ messageId: string }> {
    checkOutgoing(message, this.maxMessageBytes);
    const once = (withGroup: boolean) =>
      this.call(
        'SendMessage',
        queueUrl,
        async (sig) => {
          const command = new SendMessageCommand({
            QueueUrl: queueUrl,
            MessageBody: message.body,
            DelaySeconds: message.delaySeconds,
            MessageAttributes: toAttributes(message.attributes),
            ...(withGroup ? { MessageGroupId: message.groupId } : {}),
          });
          const out = await this.client.send(command, { abortSignal: sig });
          return { messageId: required(out.MessageId, 'SendMessage returned no MessageId') };
        },
        signal,
      );
    const withGroup = message.groupId !== undefined && !this.groupIdRefused;
    try {
      return await once(withGroup);
    } catch (error) {
      if (!withGroup || !TransportError.is(error) || error.retryable || !refusesGroupId(error.code, error.message)) throw error;
      this.noteGroupIdRefused(error.message);
      return await once(false);
    }
  }

  private noteGroupIdRefused(why: string): void {
    if (this.groupIdRefused) return;
    this.groupIdRefused = true;
    const text = `this SQS server refuses MessageGroupId on a standard queue (${why}); fairness keys are left out of every send from now on`;
    (this.options.onNotice ?? ((m: string) => process.emitWarning(m, 'CalsyncJobsNotice')))(text);
  }

  async sendBatch(queueUrl: string, entries: readonly OutgoingBatchEntry[], signal?: AbortSignal): Promise<BatchResult> {
    checkOutgoingBatch(entries, this.maxMessageBytes);
    if (entries.length === 0) return { successful: [], failed: [] };
    const once = (batch: readonly OutgoingBatchEntry[]) =>
      this.call(
        'SendMessageBatch',
        queueUrl,
        async (sig) => {
          const command = new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: batch.map((e) => ({
              Id: e.id,
              MessageBody: e.body,
              DelaySeconds: e.delaySeconds,
              MessageAttributes: toAttributes(e.attributes),
              ...(e.groupId !== undefined && !this.groupIdRefused ? { MessageGroupId: e.groupId } : {}),
            })),
          });
          const out = await this.client.send(command, { abortSignal: sig });
          return toBatchResult(out.Successful, out.Failed);
        },
        signal,
      );
    const grouped = !this.groupIdRefused && entries.some((e) => e.groupId !== undefined);
    let result: BatchResult;
    try {
      result = await once(entries);
    } catch (error) {
      if (!grouped || !TransportError.is(error) || error.retryable || !refusesGroupId(error.code, error.message)) throw error;
      this.noteGroupIdRefused(error.message);
      return await once(entries);
    }
    const refused = grouped ? result.failed.filter((f) => refusesGroupId(f.code, f.message)) : [];
    if (refused.length === 0) return result;
    this.noteGroupIdRefused(refused[0]!.message);
    const again = await once(entries.filter((e) => refused.some((f) => f.id === e.id)));
    return {
      successful: [...result.successful, ...again.successful],
      failed: [...result.failed.filter((f) => !refused.includes(f)), ...again.failed],
    };
  }

  async receive(queueUrl: string, options: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    const { maxMessages, waitTimeSeconds } = checkReceive(options);
    const { signal } = options;
    if (signal?.aborted) return [];
    try {
      return await this.call(
        'ReceiveMessage',
        queueUrl,
        async (sig) => {
          const command = new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: maxMessages,
            WaitTimeSeconds: waitTimeSeconds,
            VisibilityTimeout: options.visibilityTimeoutSeconds,
            MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp', 'ApproximateFirstReceiveTimestamp'],
            MessageAttributeNames: ['All'],
          });
          const out = await this.client.send(command, { abortSignal: sig });
          return (out.Messages ?? []).map(toReceived);
        },
        signal,
        waitTimeSeconds * 1000,
      );
    } catch (error) {
      if (signal?.aborted) return [];
      throw error;
    }
  }

  async delete(queueUrl: string, receiptHandle: string, signal?: AbortSignal): Promise<void> {
    await this.call(
      'DeleteMessage',
      queueUrl,
      (sig) => this.client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }), { abortSignal: sig }),
      signal,
    );
  }

  async deleteBatch(queueUrl: string, entries: readonly DeleteEntry[], signal?: AbortSignal): Promise<BatchResult> {
    checkBatch(entries);
    if (entries.length === 0) return { successful: [], failed: [] };
    return this.call(
      'DeleteMessageBatch',
      queueUrl,
      async (sig) => {
        const command = new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: entries.map((e) => ({ Id: e.id, ReceiptHandle: e.receiptHandle })),
        });
        const out = await this.client.send(command, { abortSignal: sig });
        return toBatchResult(out.Successful, out.Failed);
      },
      signal,
    );
  }

  async changeVisibility(queueUrl: string, receiptHandle: string, visibilityTimeoutSeconds: number, signal?: AbortSignal): Promise<void> {
    checkVisibility(visibilityTimeoutSeconds);
    await this.call(
      'ChangeMessageVisibility',
      queueUrl,
      (sig) =>
        this.client.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: queueUrl,
            ReceiptHandle: receiptHandle,
            VisibilityTimeout: visibilityTimeoutSeconds,
          }),
          { abortSignal: sig },
        ),
      signal,
    );
  }

  async depth(queueUrl: string, signal?: AbortSignal): Promise<QueueDepth> {
    const attributes = await this.getQueueAttributes(queueUrl, DEPTH_ATTRIBUTES, signal);
    return {
      visible: Number(attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(attributes.ApproximateNumberOfMessagesDelayed ?? 0),
    };
  }

  async purge(queueUrl: string, signal?: AbortSignal): Promise<void> {
    await this.call(
      'PurgeQueue',
      queueUrl,
      (sig) => this.client.send(new PurgeQueueCommand({ QueueUrl: queueUrl }), { abortSignal: sig }),
      signal,
    );
  }

  /**
   * StartMessageMoveTask from `sourceQueueUrl` to `destinationQueueUrl` (both looked up for their
   * `QueueArn` first). Every failure is a mapped `TransportError`, its `cause` the SDK error (with
   * `$metadata.httpStatusCode`); a queue that reports no ARN is `InvalidResponse`.
   */
  async startMessageMove(sourceQueueUrl: string, destinationQueueUrl: string, signal?: AbortSignal): Promise<MessageMoveTask> {
    const [source, destination] = await Promise.all([this.queueArn(sourceQueueUrl, signal), this.queueArn(destinationQueueUrl, signal)]);
    return this.call(
      'StartMessageMoveTask',
      sourceQueueUrl,
      async (sig) => {
        const command = new StartMessageMoveTaskCommand({ SourceArn: source, DestinationArn: destination });
        const out = await this.client.send(command, { abortSignal: sig });
        return out.TaskHandle === undefined ? { source } : { taskHandle: out.TaskHandle, source };
      },
      signal,
    );
  }

  /**
   * ListMessageMoveTasks for the task's source: the entry with the task's handle, else the newest
   * (AWS returns the handle only while a task runs; the newest task comes first).
   */
  async messageMoveStatus(task: MessageMoveTask, signal?: AbortSignal): Promise<MessageMoveStatus | undefined> {
    return this.call(
      'ListMessageMoveTasks',
      task.source,
      async (sig) => {
        const out = await this.client.send(new ListMessageMoveTasksCommand({ SourceArn: task.source, MaxResults: 10 }), {
          abortSignal: sig,
        });
        const entry = out.Results?.find((result) => result.TaskHandle === task.taskHandle) ?? out.Results?.[0];
        if (entry === undefined) return undefined;
        return {
          status: entry.Status ?? 'RUNNING',
          moved: entry.ApproximateNumberOfMessagesMoved ?? 0,
          ...(entry.ApproximateNumberOfMessagesToMove === undefined ? {} : { toMove: entry.ApproximateNumberOfMessagesToMove }),
          ...(entry.FailureReason === undefined ? {} : { failureReason: entry.FailureReason }),
        };
      },
      signal,
    );
  }

  private async queueArn(queueUrl: string, signal?: AbortSignal): Promise<string> {
    const { QueueArn: arn } = await this.getQueueAttributes(queueUrl, ['QueueArn'], signal);
    if (!arn) throw new TransportError(`queue ${queueUrl} reported no QueueArn`, { code: 'InvalidResponse', retryable: false });
    return arn;
  }

  /** Destroys the client this transport built (not one passed in); later calls fail. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.ownClient?.destroy();
    this.ownClient = undefined;
  }
}

function required<T>(value: T | undefined, message: string): T {
  if (value === undefined) throw new TransportError(message, { code: 'InvalidResponse', retryable: true });
  return value;
}

function toAttributes(attributes: Readonly<Record<string, string>> | undefined): Record<string, MessageAttributeValue> | undefined {
  if (attributes === undefined) return undefined;
  const entries = Object.entries(attributes);
  if (entries.length === 0) return undefined;
  return Object.fromEntries(entries.map(([k, v]) => [k, { DataType: 'String', StringValue: v }]));
}

function toReceived(message: Message): ReceivedMessage {
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    if (value.StringValue !== undefined) attributes[name] = value.StringValue;
  }
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes,
    receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 1),
    sentTimestamp: Number(message.Attributes?.SentTimestamp ?? 0),
    ...(message.Attributes?.ApproximateFirstReceiveTimestamp === undefined
      ? {}
      : { firstReceivedAt: Number(message.Attributes.ApproximateFirstReceiveTimestamp) }),
  };
}

function toBatchResult(
  successful: Array<{ Id?: string; MessageId?: string }> | undefined,
  failed: Array<{ Id?: string; Code?: string; Message?: string; SenderFault?: boolean }> | undefined,
): BatchResult {
  return {
    successful: (successful ?? []).map((s) =>
      s.MessageId === undefined ? { id: s.Id ?? '' } : { id: s.Id ?? '', messageId: s.MessageId },
    ),
    failed: (failed ?? []).map((f) => ({
      id: f.Id ?? '',
      code: f.Code ?? 'Unknown',
      message: f.Message ?? '',
      senderFault: f.SenderFault ?? false,
    })),
  };
}
