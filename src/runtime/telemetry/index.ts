export {
  createWorkerTelemetry,
  UNKNOWN_JOB_TYPE,
  type AttemptInfo,
  type AttemptOutcome,
  type AttemptResult,
  type AttemptTelemetry,
  type WorkerTelemetry,
  type WorkerTelemetryOptions,
} from './worker-telemetry.js';
export {
  DURATION_BUCKETS_SECONDS,
  INSTRUMENT_NAMES,
  PROMETHEUS_NAMES,
  QUEUE_LAG_BUCKETS_SECONDS,
} from './instruments.js';
export { QUEUE_DEPTH_DEFAULTS, resolveQueueDepthInterval, type QueueDepthOptions, type QueueRole } from './queue-depth.js';
export {
  startMetricsServer,
  type MetricsRequestHandler,
  type MetricsServer,
  type MetricsServerOptions,
} from './metrics-server.js';
