/**
 * Queue depth as an observable gauge. A scrape must never wait on SQS (and GetQueueAttributes costs
 * money), so the gauge's callback only reports cached values; a background refresh on the injected
 * clock polls each queue at most once per interval.
 */
import { diag, type ObservableGauge, type ObservableResult } from '@opentelemetry/api';
import type { QueueDepth } from '../queue/transport.js';
import type { QueueDepthOptions, QueueRole } from '../runtime/attempt-telemetry.js';
import type { Clock } from '../shared/clock.js';

export const QUEUE_DEPTH_DEFAULTS = {
  intervalMs: 15_000,
  minimumIntervalMs: 5_000,
} as const;

const QUEUES: readonly QueueRole[] = ['main', 'dlq'];

/** The interval actually used: default 15 s, never below 5 s, non-numbers give the default. */
export function resolveQueueDepthInterval(intervalMs: number | undefined): number {
  if (intervalMs === undefined || !Number.isFinite(intervalMs)) return QUEUE_DEPTH_DEFAULTS.intervalMs;
  return Math.max(QUEUE_DEPTH_DEFAULTS.minimumIntervalMs, Math.floor(intervalMs));
}

function isDepth(value: unknown): value is QueueDepth {
  if (value === null || typeof value !== 'object') return false;
  const depth = value as Record<string, unknown>;
  return ['visible', 'inFlight', 'delayed'].every(
    (key) => typeof depth[key] === 'number' && Number.isFinite(depth[key]) && (depth[key] as number) >= 0,
  );
}

function unref(handle: unknown): void {
  if (handle !== null && typeof handle === 'object' && 'unref' in handle) {
    const fn = (handle as { unref?: unknown }).unref;
    if (typeof fn === 'function') fn.call(handle);
  }
}

/**
 * Starts polling `read` for both queues and reports the cached values through `gauge`.
 * A failing or malformed read keeps the previous value; nothing here throws into the SDK.
 */
export function startQueueDepthPoller(
  gauge: ObservableGauge,
  read: (queue: QueueRole) => Promise<QueueDepth>,
  clock: Clock,
  options: QueueDepthOptions = {},
): { stop(): void } {
  const intervalMs = resolveQueueDepthInterval(options.intervalMs);
  const cache = new Map<QueueRole, QueueDepth>();
  const pending = new Set<QueueRole>();
  let stopped = false;
  let timer: unknown;

  const poll = (queue: QueueRole): void => {
    // A read still running from the last tick is not doubled: at most one read per queue per interval.
    if (pending.has(queue)) return;
    pending.add(queue);
    let result: Promise<QueueDepth>;
    try {
      result = Promise.resolve(read(queue));
    } catch (error) {
      result = Promise.reject(error);
    }
    result
      .then(
        (depth) => {
          if (stopped) return;
          if (isDepth(depth)) cache.set(queue, { visible: depth.visible, inFlight: depth.inFlight, delayed: depth.delayed });
          else diag.warn(`calsync-jobs: queue depth read for ${queue} returned no counts; keeping the last value`);
        },
        (error: unknown) => {
          if (!stopped) diag.warn(`calsync-jobs: queue depth read for ${queue} failed; keeping the last value`, error);
        },
      )
      .finally(() => pending.delete(queue));
  };

  const tick = (): void => {
    if (stopped) return;
    for (const queue of QUEUES) poll(queue);
    timer = clock.setTimeout(tick, intervalMs);
    unref(timer);
  };

  const observe = (result: ObservableResult): void => {
    try {
      for (const [queue, depth] of cache) {
        result.observe(depth.visible, { queue, state: 'visible' });
        result.observe(depth.inFlight, { queue, state: 'in_flight' });
        result.observe(depth.delayed, { queue, state: 'delayed' });
      }
    } catch (error) {
      diag.warn('calsync-jobs: queue depth observation failed', error);
    }
  };

  gauge.addCallback(observe);
  tick();

  return {
    stop(): void {
      if (stopped) return;
      stopped = true;
      clock.clearTimeout(timer);
      gauge.removeCallback(observe);
      cache.clear();
    },
  };
}
