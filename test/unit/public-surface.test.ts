/**
 * The package's public surface (src/index.ts), listed by name: a change to what calsync-jobs exports is
 * deliberate, made here and in the README together. Types are erased at run time; `tsc` checks those.
 */
import { expect, it } from 'vitest';

const EXPORTED = [
  'AttemptTimeoutError',
  'ConfigError',
  'DEFAULT_ATTEMPT_TIMEOUT_MS',
  'DEFAULT_REDACT_PATHS',
  'DEFAULT_RETRY_POLICY',
  'ENVELOPE_VERSION',
  'InvalidJobError',
  'JOB_STATES',
  'JobCancelledError',
  'JobQueue',
  'MemoryJobStore',
  'MemoryTransport',
  'NonRetryableError',
  'PostgresJobStore',
  'RateLimitedError',
  'RetryableError',
  'SIGNATURE_ATTRIBUTE',
  'SQS_LIMITS',
  'SqsTransport',
  'TransportError',
  'WORKER_DEFAULTS',
  'Worker',
  'computeDelay',
  'createJobMachine',
  'createJobQueueFromEnv',
  'createLogger',
  'createSchedules',
  'createWorker',
  'createWorkerTelemetry',
  'decodeDeadLetter',
  'decodeEnvelope',
  'defineJob',
  'encodeEnvelope',
  'enqueueJob',
  'enqueueJobs',
  'ensureQueues',
  'envelopeJsonSchema',
  'envelopeSchema',
  'failureVerdict',
  'isJobDefinition',
  'jobMachine',
  'loadConfig',
  'parseSigningKeys',
  'processJobs',
  'queueNames',
  'resolveRetryPolicy',
  'resolveWorkerOptions',
  'signBody',
  'startEmbeddedSqs',
  'startEmbeddedStore',
  'startMetricsServer',
  'storeRecorder',
  'systemClock',
  'toError',
  'validateJob',
  'verifyBody',
];

it('exports exactly the documented names (no internals: no transport error mapper, limit checkers, SDK client builder or test clock)', async () => {
  const surface = await import('../../src/index.js');
  expect(Object.keys(surface).sort()).toEqual([...EXPORTED].sort());
});
