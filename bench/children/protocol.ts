/** Messages between the benchmark orchestrator and its consumer processes (over the fork IPC channel). */

export type ConsumerKind = 'ceiling' | 'calsync' | 'sqs-consumer-message' | 'sqs-consumer-batch';

/**
 * What a consumer does with each job: `noop` returns at once; `fail-once` throws on the first attempt;
 * `hold` waits until the parent says `release`; `pickup` records enqueue → handler-start latency
 * from the payload's `t` (epoch ms at enqueue).
 */
export type HandlerMode = 'noop' | 'fail-once' | 'hold' | 'pickup';

export interface ConsumerConfig {
  kind: ConsumerKind;
  endpoint: string;
  queueUrl: string;
  dlqUrl: string;
  /** calsync: handlers at once; ceiling: receive/delete loops. */
  concurrency: number;
  telemetry: boolean;
  mode: HandlerMode;
  visibilityTimeoutSeconds: number;
  /** Send the job ids of every handler execution with the result. */
  recordIds: boolean;
  /** calsync: time each job from its first handler start to its success (`jobMs`). */
  timeJobs: boolean;
}

export type ToChild = { type: 'go' } | { type: 'stop' } | { type: 'release' } | { type: 'measure' };

export interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
}

export interface ConsumerResult {
  type: 'result';
  settled: number;
  executions: number;
  /** Epoch ms of the first handler start / last settle (0 when none). */
  firstStartAt: number;
  lastSettleAt: number;
  ids?: string[];
  /** Jobs whose payload carries `t` (a trickle): enqueue → handler start, ms, per execution. */
  pickupMs?: number[];
  /** With `timeJobs`: enqueue (payload `t`) or first handler start → final success, ms, per job. */
  jobMs?: number[];
  spans?: number;
  /** CPU time (user + system) of this process from `go` to `stop`, µs. */
  cpuMicros: number;
}

export type FromChild =
  | { type: 'ready'; memory: MemorySample }
  | { type: 'progress'; settled: number; started: number }
  | { type: 'memory'; memory: MemorySample; started: number }
  | { type: 'error'; message: string }
  | ConsumerResult;
