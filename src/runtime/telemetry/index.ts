export { createWorkerTelemetry, type AttemptOutcome, type AttemptTelemetry, type WorkerTelemetry } from './worker-telemetry.js';
export { INSTRUMENT_NAMES, PROMETHEUS_NAMES } from './instruments.js';
export { resolveQueueDepthInterval, type QueueRole } from './queue-depth.js';
export { startMetricsServer, type MetricsServer } from './metrics-server.js';
