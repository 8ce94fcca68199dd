/**
 * A worker process for the schedule benchmark (bench/schedules.ts): the calsync-jobs worker with the
 * job store on PostgreSQL and a no-op `bench.tick` job, the scheduler on or off. Counts the store
 * round trips it makes (a wrapper on its store's methods: the scheduler's claimDue, advance and
 * createJobs, and the job path's claim, settle and renew), the ticks it fired and each one's lag (the
 * telemetry port's recordTickLag), the jobs it ran, and its own CPU time between `start` and `stop`.
 *
 * IPC: → `{ type: 'ready' }`; ← `{ type: 'start' }` (zero the counts); ← `{ type: 'stop' }` →
 * `{ type: 'result', ... }`, then it stops and exits.
 */
import { pino } from 'pino';
import { z } from 'zod';
import { defineJob } from '../../src/machines/define-job.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { noopWorkerTelemetry } from '../../src/runtime/attempt-telemetry.js';
import { createWorker } from '../../src/runtime/worker.js';
import { PostgresJobStore } from '../../src/store/postgres-store.js';

export interface SchedulerWorkerConfig {
  sqsEndpoint: string;
  queueUrl: string;
  dlqUrl: string;
  storeUrl: string;
  scheduler: boolean;
  /** The scheduler's passes at once (BENCH_SCHEDULES_PASSES). @defaultValue the scheduler's default */
  passes?: number | undefined;
}

export interface SchedulerWorkerResult {
  type: 'result';
  cpuMicros: number;
  ticks: number;
  lagsMs: number[];
  /** Epoch ms each tick was enqueued, in the order of lagsMs (for the worst seconds of the window). */
  enqueuedAtMs: number[];
  jobsRun: number;
  calls: Record<string, number>;
}

const config = JSON.parse(process.env.BENCH_SCHEDULER_WORKER ?? '') as SchedulerWorkerConfig;
const store = await PostgresJobStore.connect(config.storeUrl, { max: 10 });
let calls: Record<string, number> = {};
let ticks = 0;
let jobsRun = 0;
let lagsMs: number[] = [];
let enqueuedAtMs: number[] = [];
let cpuAtStart = process.cpuUsage();

function count<T extends object>(target: T, names: readonly (keyof T & string)[]): void {
  for (const name of names) {
    const method = (target[name] as (...args: unknown[]) => unknown).bind(target);
    (target as Record<string, unknown>)[name] = (...args: unknown[]) => {
      calls[name] = (calls[name] ?? 0) + 1;
      return method(...args);
    };
  }
}
count(store, ['createJobs', 'getJob', 'claim', 'settle', 'renew']);
count(store.schedules, ['claimDue', 'advance']);

const tick = defineJob({
  type: 'bench.tick',
  schema: z.object({ n: z.number() }),
  handler: async () => {
    jobsRun++;
  },
});
const transport = new SqsTransport({ endpoint: config.sqsEndpoint, region: 'us-east-1' });
const worker = createWorker({
  transport,
  jobs: [tick],
  queueUrl: config.queueUrl,
  dlqUrl: config.dlqUrl,
  concurrency: 50,
  store,
  scheduler: config.scheduler && config.passes !== undefined ? { passes: config.passes } : config.scheduler,
  logger: pino({ level: 'warn' }, process.stderr),
  telemetry: {
    ...noopWorkerTelemetry,
    recordTicksFired: (_type, _kind, n) => {
      ticks += n;
    },
    recordTickLag: (_type, lagMs) => {
      lagsMs.push(lagMs);
      enqueuedAtMs.push(Date.now());
    },
  },
});
worker.start();
process.send?.({ type: 'ready' });
process.on('message', (message: { type: string }) => {
  if (message.type === 'start') {
    calls = {};
    ticks = 0;
    jobsRun = 0;
    lagsMs = [];
    enqueuedAtMs = [];
    cpuAtStart = process.cpuUsage();
  } else if (message.type === 'stop') {
    const cpu = process.cpuUsage(cpuAtStart);
    const result: SchedulerWorkerResult = { type: 'result', cpuMicros: cpu.user + cpu.system, ticks, lagsMs, enqueuedAtMs, jobsRun, calls };
    process.send?.(result, undefined, {}, () => {
      void worker
        .stop({ graceMs: 2_000 })
        .then(() => store.close())
        .finally(() => transport.close().finally(() => process.exit(0)));
    });
  }
});
