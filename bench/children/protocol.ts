/** Messages between the benchmark orchestrator and its consumer processes (over the fork IPC channel). */

export type ConsumerKind = 'ceiling' | 'calsync' | 'sqs-consumer-message' | 'sqs-consumer-batch';

/**
 * What a consumer does with each job: `noop` returns at once; `fail-once` throws on the first attempt;
 * `hold` waits until the parent says `release`; `pickup` records enqueue → handler-start latency
 * from the payload's `t` (epoch ms at enqueue).
 */
export type HandlerMode = 'noop' | 'fail-once' | 'hold' | 'pickup';

/**
 * calsync's OpenTelemetry, as `calsync-jobs worker` sets it up (startOtel): `off` = OTEL_SDK_DISABLED
 * (the API's no-ops); `default` = what a user gets with `--metrics-port`: the SDK registered, metrics
 * recorded for a Prometheus reader, traces exported nowhere (OTEL_TRACES_EXPORTER unset); `otlp` = the
 * same with traces exported over OTLP/HTTP (protobuf) to `otlpEndpoint` (the bench's local sink).
 */
export type TelemetryMode = 'off' | 'default' | 'otlp';

export interface ConsumerConfig {
  kind: ConsumerKind;
  endpoint: string;
  queueUrl: string;
  dlqUrl: string;
  /** calsync: handlers at once; ceiling: receive/delete loops. */
  concurrency: number;
  telemetry: TelemetryMode;
  /** With `otlp`: `http://127.0.0.1:PORT` of the bench's OTLP sink. */
  otlpEndpoint?: string | undefined;
  /** calsync: CALSYNC_HANDLER_TRACE_CONTEXT (unset: the CLI's default). */
  handlerTraceContext?: boolean | undefined;
  mode: HandlerMode;
  visibilityTimeoutSeconds: number;
  /**
   * Jobs this process is to settle (a single-consumer drain): its CPU and event-loop figures are taken
   * at that settle. Without it (several processes share the queue), at `stop`.
   */
  expect?: number | undefined;
  /**
   * Write a V8 CPU profile (`.cpuprofile`) of the measured window (first handler start to the
   * `expect`-th settle) to this path, taken with the inspector's profiler in this process.
   */
  profileTo?: string | undefined;
  /** Send the job ids of every handler execution with the result. */
  recordIds: boolean;
  /** calsync: time each job from its first handler start to its success (`jobMs`). */
  timeJobs: boolean;
  /**
   * calsync: the job store the worker uses (bench/store.ts): PGlite in this process (as `npm start`
   * runs it) or a PostgreSQL URL. Opened, migrated and wrapped in a counting store before `ready`.
   */
  store?: BenchStoreConfig | undefined;
}

export type BenchStoreConfig = { kind: 'embedded' } | { kind: 'postgres'; url: string };

/** What went through the job store (bench/children/counting-store.ts): calls (= round trips), rows, ms. */
export interface StoreCallCounts {
  calls: { createJobs: number; claim: number; settle: number; renew: number; other: number };
  rows: { createJobs: number; claim: number; settle: number; renew: number };
  ms: { createJobs: number; claim: number; settle: number; renew: number };
}

export type ToChild =
  | { type: 'go' }
  | { type: 'stop' }
  | { type: 'release' }
  | { type: 'measure' }
  /**
   * The child is the producer (before `go`): `n` jobs in 8 lanes of enqueueJobs(10), through the
   * worker's own store when `record` (JobStore.createJobs before each send, as a producer with the
   * store does), else sent bare (the worker creates each row when it claims it). Answered `enqueued`.
   */
  | { type: 'enqueue'; n: number; record: boolean }
  /**
   * After `go`: one job every `intervalMs`, `count` of them, recorded first when `record`; each
   * handler start is timed from the moment its SQS send began (`storePickupMs`). Answered `trickled`.
   */
  | { type: 'trickle'; count: number; intervalMs: number; record: boolean };

export interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
}

export interface ConsumerResult {
  type: 'result';
  settled: number;
  executions: number;
  /** Epoch ms of the first handler start / last settle (0 when none); the drain is timed between them. */
  firstStartAt: number;
  lastSettleAt: number;
  ids?: string[];
  /** Jobs whose payload carries `t` (a trickle): enqueue → handler start, ms, per execution. */
  pickupMs?: number[];
  /** With `timeJobs`: enqueue (payload `t`) or first handler start → final success, ms, per job. */
  jobMs?: number[];
  /**
   * CPU time (user + system) of this process from the first handler start to the last settle, µs
   * (start-up, the first receive's wait and the stop are outside it, for every kind alike).
   */
  cpuMicros: number;
  /** The same from `go` to `stop`. */
  cpuMicrosGoToStop: number;
  /** The main thread's event-loop utilisation from the first handler start to the last settle (0–1): near 1, the process is its own bottleneck. */
  eventLoopBusy?: number;
  /** With a store: what went through it from `go` to `stop` (the prefill's `createJobs` not included). */
  store?: StoreCallCounts;
  /** After a `trickle`: SQS send begun (after createJobs, when recorded) → handler start, ms, per execution. */
  storePickupMs?: number[];
}

export type FromChild =
  | { type: 'ready'; memory: MemorySample }
  | { type: 'progress'; settled: number; started: number; rss: number }
  | { type: 'memory'; memory: MemorySample; started: number }
  | { type: 'error'; message: string }
  | { type: 'enqueued'; ms: number; store?: StoreCallCounts }
  | { type: 'trickled'; lateMs: number }
  | ConsumerResult;
