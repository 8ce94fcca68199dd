/**
 * The SQS wire as the rest of calsync-jobs sees it. Two implementations: `SqsTransport`
 * (AWS SDK v3, any SQS-compatible server) and `MemoryTransport` (in process, injected clock).
 * Queues are addressed by URL; `getQueueUrl` / `createQueue` turn a name into one.
 *
 * Optional methods are capabilities: a transport that has one declares it by implementing it, and a
 * caller checks for the method (`transport.startMessageMove`) and takes its declared fallback when it
 * is absent, never by reaching into an implementation.
 */

/** SQS hard limits that every transport enforces the same way. */
export const SQS_LIMITS = {
  maxBatchEntries: 10,
  maxDelaySeconds: 900,
  maxVisibilityTimeoutSeconds: 43_200,
  maxWaitTimeSeconds: 20,
  maxMessageAttributes: 10,
  /** AWS raised the limit from 256 KiB to 1 MiB in 2025; some servers still enforce 256 KiB. */
  maxMessageBytes: 1_048_576,
} as const;

/** A message to send. `attributes` become String MessageAttributes. */
export interface OutgoingMessage {
  body: string;
  /** 0–900. */
  delaySeconds?: number;
  attributes?: Readonly<Record<string, string>>;
  /**
   * SQS MessageGroupId (a job's `fairnessKey`): on a standard queue, SQS fair queues. A server that
   * refuses it on a standard queue gets the message without it (the SQS transport says so once).
   */
  groupId?: string;
}

/** One entry of a batch send; `id` is unique within the batch (SQS batch entry id rules). */
export interface OutgoingBatchEntry extends OutgoingMessage {
  id: string;
}

export interface ReceivedMessage {
  messageId: string;
  receiptHandle: string;
  body: string;
  /** String MessageAttributes (binary ones are dropped). */
  attributes: Record<string, string>;
  /** ApproximateReceiveCount: 1 on the first delivery. */
  receiveCount: number;
  /** SentTimestamp, epoch milliseconds. */
  sentTimestamp: number;
  /** ApproximateFirstReceiveTimestamp, epoch milliseconds, where the server reports it. */
  firstReceivedAt?: number;
}

export interface ReceiveOptions {
  /** 1–10; default 10. */
  maxMessages?: number;
  /** 0–20 long poll; default 20. */
  waitTimeSeconds?: number;
  /** Overrides the queue's visibility timeout for these messages. */
  visibilityTimeoutSeconds?: number;
  /** Aborting resolves the receive early with whatever arrived (usually nothing). */
  signal?: AbortSignal;
}

export interface BatchFailure {
  id: string;
  code: string;
  message: string;
  /** True when retrying the same entry cannot help (SQS `SenderFault`). */
  senderFault: boolean;
}

export interface BatchResult {
  successful: Array<{ id: string; messageId?: string }>;
  failed: BatchFailure[];
}

export interface DeleteEntry {
  id: string;
  receiptHandle: string;
}

/** Approximate counts, as SQS reports them. */
export interface QueueDepth {
  visible: number;
  inFlight: number;
  delayed: number;
}

export interface CreateQueueOptions {
  /** Raw SQS attributes, e.g. `{ VisibilityTimeout: '30', RedrivePolicy: '{...}' }`. */
  attributes?: Readonly<Record<string, string>>;
}

/**
 * A server-side move started by {@link JobTransport.startMessageMove}; pass it back to
 * {@link JobTransport.messageMoveStatus}.
 */
export interface MessageMoveTask {
  /** The server's id of the task (SQS `TaskHandle`, what CancelMessageMoveTask takes); absent when it gave none. */
  readonly taskHandle?: string;
  /** The source queue as the server names it in its task listings (SQS: the queue's ARN). */
  readonly source: string;
}

/** How a move task stands (SQS ListMessageMoveTasks). */
export interface MessageMoveStatus {
  /** `RUNNING`, `COMPLETED`, `CANCELLING`, `CANCELLED` or `FAILED` (SQS's names, passed through). */
  status: string;
  /** Messages moved so far (approximate). */
  moved: number;
  /** Messages still to move (approximate), where the server says. */
  toMove?: number;
  /** Why a `FAILED` task failed, where the server says. */
  failureReason?: string;
}

/** {@link MessageMoveStatus.status} values after which a task does nothing more. */
export const MESSAGE_MOVE_ENDED: ReadonlySet<string> = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

export interface JobTransport {
  /** Human-readable name for logs and telemetry (`aws_sqs`, `memory`). */
  readonly kind: string;
  /**
   * True when aborting a receive (its `signal`) can never lose a message to the dead request. Servers
   * such as fauxqs and moto keep an aborted long poll open and hand it messages sent meanwhile, which
   * then come back with a receive count of 2; so `stop()` lets an in-flight receive finish (within the
   * grace period) and gives back what it returns, unless this is true. @defaultValue false
   */
  readonly receiveAbortLosesNothing?: boolean;
  getQueueUrl(name: string, signal?: AbortSignal): Promise<string>;
  /** Creates the queue or returns the existing one's URL; the same attributes twice is a no-op. */
  createQueue(name: string, options?: CreateQueueOptions, signal?: AbortSignal): Promise<string>;
  getQueueAttributes(queueUrl: string, names?: readonly string[], signal?: AbortSignal): Promise<Record<string, string>>;
  setQueueAttributes(queueUrl: string, attributes: Readonly<Record<string, string>>, signal?: AbortSignal): Promise<void>;
  send(queueUrl: string, message: OutgoingMessage, signal?: AbortSignal): Promise<{ messageId: string }>;
  /** At most 10 entries; an 11th is a `TransportError` with code `TooManyEntriesInBatchRequest`. */
  sendBatch(queueUrl: string, entries: readonly OutgoingBatchEntry[], signal?: AbortSignal): Promise<BatchResult>;
  receive(queueUrl: string, options?: ReceiveOptions): Promise<ReceivedMessage[]>;
  delete(queueUrl: string, receiptHandle: string, signal?: AbortSignal): Promise<void>;
  /** Reports per-entry failures; never throws for an entry's failure alone. */
  deleteBatch(queueUrl: string, entries: readonly DeleteEntry[], signal?: AbortSignal): Promise<BatchResult>;
  changeVisibility(queueUrl: string, receiptHandle: string, visibilityTimeoutSeconds: number, signal?: AbortSignal): Promise<void>;
  depth(queueUrl: string, signal?: AbortSignal): Promise<QueueDepth>;
  purge(queueUrl: string, signal?: AbortSignal): Promise<void>;
  /**
   * Capability: asks the server to move every message of `sourceQueueUrl` (a dead-letter queue) to
   * `destinationQueueUrl`, as they are (SQS StartMessageMoveTask; AWS and ElasticMQ have it). Present
   * on `SqsTransport`, which cannot know in advance whether the server implements the action: a server
   * that does not fails the call with a `TransportError` (fauxqs: `InvalidAction`; moto: HTTP 500 with
   * an HTML page), as does a refusal (`AccessDenied`, …). Absent on `MemoryTransport`. Callers without
   * it move messages by receive → send → delete.
   */
  startMessageMove?(sourceQueueUrl: string, destinationQueueUrl: string, signal?: AbortSignal): Promise<MessageMoveTask>;
  /**
   * Capability, present together with {@link JobTransport.startMessageMove}: how `task` stands;
   * undefined while the server lists no task for its source.
   */
  messageMoveStatus?(task: MessageMoveTask, signal?: AbortSignal): Promise<MessageMoveStatus | undefined>;
  /** Releases sockets and timers. */
  close(): Promise<void>;
}
