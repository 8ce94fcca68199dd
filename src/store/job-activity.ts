/**
 * The shape of `JobStore.activity`, shared by both stores so that a window means the same everywhere:
 * `ceil(windowMs / bucketMs)` buckets ending at the store's now, oldest first, every one present (zero
 * when nothing happened), and the workers most recently seen first.
 */
import type { ActivityQuery, JobActivity, WorkerSeen } from './job-store.js';

export interface ActivityCount {
  kind: 'succeeded' | 'dead' | 'failed';
  /** Index from the window's start; counts outside 0…count-1 are dropped. */
  bucket: number;
  n: number;
}

export function activityOf(
  now: number,
  query: ActivityQuery,
  count: number,
  counts: readonly ActivityCount[],
  workers: readonly WorkerSeen[],
): JobActivity {
  const since = now - query.windowMs;
  const buckets = Array.from({ length: count }, (_, i) => ({ start: since + i * query.bucketMs, succeeded: 0, dead: 0, failed: 0 }));
  for (const { kind, bucket, n } of counts) {
    const target = buckets[Math.min(bucket, count - 1)];
    if (target !== undefined && bucket >= 0) target[kind] += n;
  }
  return { now, buckets, workers: [...workers].sort((a, b) => b.lastSeenAt - a.lastSeenAt || (a.worker < b.worker ? -1 : 1)) };
}
