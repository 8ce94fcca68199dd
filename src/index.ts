/** calsync-jobs: a durable job runner on Amazon SQS where every job type is an XState v5 machine. */

// Defining jobs
export {
  defineJob,
  isJobDefinition,
  DEFAULT_ATTEMPT_TIMEOUT_MS,
  type JobContext,
  type JobDefinition,
  type JobHandler,
  type JobOptions,
} from './machines/define-job.js';
export type { JobKeyOptions, KeyOf } from './machines/job-keys.js';
export {
  RetryableError,
  NonRetryableError,
  RateLimitedError,
  type JobErrorOptions,
  type RateLimitedErrorOptions,
} from './machines/errors.js';
export {
  computeDelay,
  resolveRetryPolicy,
  DEFAULT_RETRY_POLICY,
  type RetryPolicy,
  type ResolvedRetryPolicy,
  type Jitter,
} from './machines/retry-policy.js';
export {
  createJobMachine,
  jobMachine,
  failureVerdict,
  type DeadReason,
  type JobError,
  type JobMachineContext,
  type JobMachineEvent,
  type JobMachineInput,
} from './machines/job-machine.js';

// Enqueueing
export {
  validateJob,
  type EnqueueResult,
  type JobQueueOptions,
  type JobRecorder,
  type JobRequest,
  type JobSchemaEntry,
  type RecordedJob,
} from './queue/job-queue.js';
export { JobQueue } from './telemetry/instrumented.js';
export { createJobQueueFromEnv, enqueueJob, enqueueJobs } from './ops/default-queue.js';
export { loadConfig, type CalsyncConfig } from './config/config.js';

// The wire
export {
  decodeEnvelope,
  encodeEnvelope,
  envelopeSchema,
  envelopeJsonSchema,
  ENVELOPE_VERSION,
  type Envelope,
  type HistoryEntry,
  type DecodeResult,
} from './queue/envelope.js';
export { decodeDeadLetter, type DeadLetterRecord, type DecodedDeadLetter } from './queue/dead-letter.js';
export { parseSigningKeys, signBody, verifyBody, SIGNATURE_ATTRIBUTE } from './queue/signing.js';
export { InvalidJobError } from './shared/errors.js';

// Transports and queues
export {
  SQS_LIMITS,
  type BatchFailure,
  type BatchResult,
  type CreateQueueOptions,
  type DeleteEntry,
  type JobTransport,
  type OutgoingBatchEntry,
  type OutgoingMessage,
  type QueueDepth,
  type ReceiveOptions,
  type ReceivedMessage,
} from './queue/transport.js';
export { SqsTransport, type SqsTransportOptions } from './queue/sqs/sqs-transport.js';
export type { SqsClientOptions } from './queue/sqs/sqs-client.js';
export { MemoryTransport, type MemoryTransportOptions } from './queue/memory/memory-transport.js';
export { queueNames, type QueueNameOptions } from './queue/queue-names.js';
export { ensureQueues, type EnsureQueuesOptions, type EnsuredQueues } from './ops/ensure-queues.js';
export { startEmbeddedSqs, type EmbeddedSqs, type EmbeddedSqsOptions } from './ops/embedded-sqs.js';
export { TransportError, ConfigError, toError } from './shared/errors.js';
export { systemClock, type Clock, type Random } from './shared/clock.js';

// Running jobs
export { createWorker, processJobs, Worker } from './telemetry/instrumented.js';
export type { StopOptions, WorkerStats } from './runtime/worker.js';
export type { HandlerMap } from './runtime/process-jobs.js';
export { resolveWorkerOptions, WORKER_DEFAULTS, type WorkerOptions, type ResolvedWorkerOptions } from './runtime/worker-options.js';
export type { WorkerEventMap, WorkerEventName, WorkerState } from './runtime/events.js';
export { createLogger, DEFAULT_REDACT_PATHS, type LoggerSettings } from './runtime/logger.js';
export { AttemptTimeoutError, JobCancelledError } from './runtime/job-error.js';

// The job store (docs/store.md)
export {
  JOB_STATES,
  type CancelResult,
  type JobFilter,
  type JobPage,
  type JobRecord,
  type JobState,
  type JobStore,
} from './store/job-store.js';
export { PostgresJobStore } from './store/postgres-store.js';
export { MemoryJobStore } from './store/memory-store.js';
export { startEmbeddedStore, type EmbeddedStore } from './store/embedded.js';
export { storeRecorder } from './ops/job-recorder.js';
export type { PayloadPolicy } from './store/payload-policy.js';

// Schedules (docs/schedules.md)
export {
  createSchedules,
  type ScheduleDetail,
  type ScheduleRunView,
  type Schedules,
  type SchedulesOptions,
  type ScheduleView,
} from './ops/schedules.js';
export type { ScheduleInput } from './store/schedule-spec.js';
export type { OverlapPolicy, ScheduleStore } from './store/schedule-store.js';
export type { SchedulerOptions } from './runtime/scheduler.js';

// Telemetry (the worker and the producer above emit spans and metrics by default; see docs/metrics.md)
export type { AttemptTelemetry, WorkerTelemetry } from './runtime/attempt-telemetry.js';
export { createWorkerTelemetry } from './telemetry/worker-telemetry.js';
export { startMetricsServer } from './telemetry/metrics-server.js';
