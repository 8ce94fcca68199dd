/**
 * What the console's overview shows, asked of the servers at once: each queue's depth (visible, in
 * flight, delayed), the job store's activity over the last hour (jobs settled and attempts failed a
 * minute at a time, workers seen in the last 15 minutes) and whether the store answers. A server that
 * fails is reported as such, never thrown: the overview still shows the rest.
 */
import type { JobTransport, QueueDepth } from '../queue/transport.js';
import type { JobActivity, JobStore } from '../store/job-store.js';

export const OVERVIEW_WINDOW = { windowMs: 3_600_000, bucketMs: 60_000, workersWindowMs: 900_000 } as const;

export interface QueueOverview {
  /** `main` or `dlq`. */
  role: 'main' | 'dlq';
  name: string;
  url: string;
  depth: QueueDepth | undefined;
  /** Why the depth is missing. */
  error: string | undefined;
}

export interface StoreOverview {
  /** Where it is, password masked. */
  url: string;
  ok: boolean;
  /** How long the ping took (ms), when it answered. */
  pingMs: number | undefined;
  error: string | undefined;
}

export interface Overview {
  queues: QueueOverview[];
  store: StoreOverview;
  activity: JobActivity | undefined;
}

export interface OverviewSources {
  transport: JobTransport;
  queues: ReadonlyArray<{ role: 'main' | 'dlq'; name: string; url: string }>;
  store: JobStore;
  storeUrl: string;
  /** Reads the time a ping takes. @defaultValue performance.now */
  now?: () => number;
}

const why = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export async function overview(sources: OverviewSources): Promise<Overview> {
  const now = sources.now ?? (() => performance.now());
  const started = now();
  const [queues, ping, activity] = await Promise.all([
    Promise.all(
      sources.queues.map(async (queue): Promise<QueueOverview> => {
        try {
          return { ...queue, depth: await sources.transport.depth(queue.url), error: undefined };
        } catch (error) {
          return { ...queue, depth: undefined, error: why(error) };
        }
      }),
    ),
    sources.store.ping().then(
      () => ({ ok: true, pingMs: now() - started, error: undefined }),
      (error: unknown) => ({ ok: false, pingMs: undefined, error: why(error) }),
    ),
    sources.store.activity(OVERVIEW_WINDOW).catch(() => undefined),
  ]);
  return { queues, store: { url: sources.storeUrl, ...ping }, activity };
}
