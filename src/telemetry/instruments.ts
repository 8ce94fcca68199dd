/**
 * The worker's OpenTelemetry instruments. Names are chosen for the Prometheus exporter
 * (`@opentelemetry/exporter-prometheus` 0.223): it appends `_total` to monotonic sums and adds no
 * unit suffix, so counters are named without `_total` and histograms carry their unit (`_seconds`)
 * in the name. See docs/metrics.md for the scraped names.
 */
import type { Counter, Histogram, Meter } from '@opentelemetry/api';

/** OpenTelemetry instrument names (what an OTLP backend sees). */
export const INSTRUMENT_NAMES = {
  processed: 'calsync_jobs_processed',
  failed: 'calsync_jobs_failed',
  retried: 'calsync_jobs_retried',
  deadLettered: 'calsync_jobs_dead_lettered',
  duration: 'calsync_jobs_duration_seconds',
  queueLag: 'calsync_jobs_queue_lag_seconds',
  queueDepth: 'calsync_jobs_queue_depth',
  duplicatesDropped: 'calsync_jobs_duplicates_dropped',
  ticksFired: 'calsync_jobs_schedule_ticks_fired',
  ticksSkipped: 'calsync_jobs_schedule_ticks_skipped',
  tickLag: 'calsync_jobs_schedule_lag_seconds',
  schedulesDue: 'calsync_jobs_schedules_due',
  held: 'calsync_jobs_held',
  keysHeld: 'calsync_jobs_keys_held',
} as const;

/** The names as a Prometheus scrape of the worker's `/metrics` shows them. */
export const PROMETHEUS_NAMES = {
  processed: 'calsync_jobs_processed_total',
  failed: 'calsync_jobs_failed_total',
  retried: 'calsync_jobs_retried_total',
  deadLettered: 'calsync_jobs_dead_lettered_total',
  duration: 'calsync_jobs_duration_seconds',
  queueLag: 'calsync_jobs_queue_lag_seconds',
  queueDepth: 'calsync_jobs_queue_depth',
  duplicatesDropped: 'calsync_jobs_duplicates_dropped_total',
  ticksFired: 'calsync_jobs_schedule_ticks_fired_total',
  ticksSkipped: 'calsync_jobs_schedule_ticks_skipped_total',
  tickLag: 'calsync_jobs_schedule_lag_seconds',
  schedulesDue: 'calsync_jobs_schedules_due',
  held: 'calsync_jobs_held_total',
  keysHeld: 'calsync_jobs_keys_held',
} as const;

/** Attempt durations: 5 ms … 15 min (the longest sensible attempt timeout). */
export const DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900] as const;

/** Queue lag: 10 ms … 1 day (retries wait in SQS delays, long jobs hop past 15 min). */
export const QUEUE_LAG_BUCKETS_SECONDS = [
  0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21_600, 86_400,
] as const;

/** Schedule lag (a tick's fire time to its job enqueued): 5 ms … 10 min (a catch-up run after downtime is late by design). */
export const TICK_LAG_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 600] as const;

export interface JobInstruments {
  processed: Counter;
  failed: Counter;
  retried: Counter;
  deadLettered: Counter;
  duration: Histogram;
  queueLag: Histogram;
  duplicatesDropped: Counter;
  ticksFired: Counter;
  ticksSkipped: Counter;
  tickLag: Histogram;
  held: Counter;
}

export function createJobInstruments(meter: Meter): JobInstruments {
  return {
    processed: meter.createCounter(INSTRUMENT_NAMES.processed, {
      description:
        'Job attempts finished, by job type and outcome (succeeded, retrying, dead, released, deferred, checkpointed, abandoned, cancelled, held).',
      unit: '{attempt}',
    }),
    failed: meter.createCounter(INSTRUMENT_NAMES.failed, {
      description: 'Job attempts that ended with an error, by job type and error type (the error class name).',
      unit: '{attempt}',
    }),
    retried: meter.createCounter(INSTRUMENT_NAMES.retried, {
      description: 'Retries scheduled (a failed attempt re-sent with a delay), by job type.',
      unit: '{job}',
    }),
    deadLettered: meter.createCounter(INSTRUMENT_NAMES.deadLettered, {
      description: 'Messages sent to the dead-letter queue, by job type and reason.',
      unit: '{message}',
    }),
    duration: meter.createHistogram(INSTRUMENT_NAMES.duration, {
      description: 'Wall time of one job attempt, from start to outcome, by job type and outcome.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
    }),
    queueLag: meter.createHistogram(INSTRUMENT_NAMES.queueLag, {
      description: 'Time from enqueue to the start of an attempt, by job type.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...QUEUE_LAG_BUCKETS_SECONDS] },
    }),
    duplicatesDropped: meter.createCounter(INSTRUMENT_NAMES.duplicatesDropped, {
      description:
        'Messages the job store said must not run, deleted unrun, by job type and reason (terminal, cancelled, older_attempt, claim_held).',
      unit: '{message}',
    }),
    ticksFired: meter.createCounter(INSTRUMENT_NAMES.ticksFired, {
      description: 'Schedule ticks whose job was enqueued, by job type and kind (tick, catchup, buffered).',
      unit: '{tick}',
    }),
    ticksSkipped: meter.createCounter(INSTRUMENT_NAMES.ticksSkipped, {
      description:
        'Schedule ticks not run, by job type and reason (overlap: the policy or a catch-up collapsed into one run; missed: past the catch-up window).',
      unit: '{tick}',
    }),
    tickLag: meter.createHistogram(INSTRUMENT_NAMES.tickLag, {
      description: "Time from a schedule tick's fire time (its time plus jitter) to its job enqueued, by job type.",
      unit: 's',
      advice: { explicitBucketBoundaries: [...TICK_LAG_BUCKETS_SECONDS] },
    }),
    held: meter.createCounter(INSTRUMENT_NAMES.held, {
      description:
        'Jobs held back by their keys (not run now, no attempt counted), by job type and reason: concurrency (the key is at its limit) or rate (out of starts, or throttled by a RateLimitedError).',
      unit: '{job}',
    }),
  };
}
