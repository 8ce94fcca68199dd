/**
 * Creates (or brings up to date) the main queue and its dead-letter queue.
 */
import { DEFAULTS as SETTING_DEFAULTS } from '../config/settings.js';
import { TransportError } from '../shared/errors.js';
import { queueNames } from '../queue/queue-names.js';
import type { JobTransport } from '../queue/transport.js';

/** Options of {@link ensureQueues}; all optional. */
export interface EnsureQueuesOptions {
  /**
   * Names both queues exactly as infra/cloudformation.yaml does from its `QueueNamePrefix`: the main
   * queue is `<prefix>`, the DLQ `<prefix>-dlq` (`calsync-jobs-staging` → `calsync-jobs-staging`,
   * `calsync-jobs-staging-dlq`). 1–{@link MAX_QUEUE_PREFIX_LENGTH} characters. @defaultValue 'calsync-jobs'
   */
  prefix?: string;
  /** Wins over the name the prefix gives. @defaultValue `<prefix>`, else 'calsync-jobs' */
  mainQueueName?: string;
  /** Wins over the name the prefix gives. @defaultValue `<prefix>-dlq`, else 'calsync-jobs-dlq' */
  dlqName?: string;
  /** Receives before SQS moves a message to the DLQ. @defaultValue 5 */
  maxReceiveCount?: number;
  /** The main queue's VisibilityTimeout. @defaultValue 30 */
  visibilityTimeoutSeconds?: number;
  /** The DLQ's MessageRetentionPeriod. @defaultValue 1209600 (14 days, the SQS maximum) */
  dlqRetentionSeconds?: number;
  signal?: AbortSignal;
}

/** What {@link ensureQueues} made sure of. */
export interface EnsuredQueues {
  mainQueueUrl: string;
  dlqUrl: string;
  mainQueueName: string;
  dlqName: string;
  /** What was done, e.g. `created calsync-jobs-dlq`, `set VisibilityTimeout on calsync-jobs`; empty when nothing changed. */
  changes: string[];
}

const DEFAULTS = {
  maxReceiveCount: SETTING_DEFAULTS.maxReceiveCount,
  visibilityTimeoutSeconds: SETTING_DEFAULTS.visibilityTimeoutSeconds,
  dlqRetentionSeconds: 1_209_600,
} as const;

/**
 * Makes sure the DLQ (MessageRetentionPeriod 14 days) and then the main queue (RedrivePolicy to the
 * DLQ, VisibilityTimeout) exist. Idempotent: a second run changes nothing. When a queue already
 * exists with other values for these attributes, they are updated with SetQueueAttributes instead
 * of failing the way CreateQueue would; attributes not named here, and attributes the server does not
 * report (ElasticMQ never reports MessageRetentionPeriod), are left alone. The DLQ's ARN is
 * read back from its `QueueArn` attribute, never built, since servers format ARNs differently.
 */
export async function ensureQueues(transport: JobTransport, options: EnsureQueuesOptions = {}): Promise<EnsuredQueues> {
  const { mainQueueName, dlqName } = queueNames(options);
  const maxReceiveCount = options.maxReceiveCount ?? DEFAULTS.maxReceiveCount;
  const changes: string[] = [];
  const { signal } = options;

  const dlqUrl = await ensureQueue(
    transport,
    dlqName,
    { MessageRetentionPeriod: String(options.dlqRetentionSeconds ?? DEFAULTS.dlqRetentionSeconds) },
    changes,
    signal,
  );
  const dlqArn = (await transport.getQueueAttributes(dlqUrl, ['QueueArn'], signal)).QueueArn;
  if (!dlqArn) throw new TransportError(`queue ${dlqName} reported no QueueArn`, { code: 'InvalidResponse', retryable: false });
  const mainQueueUrl = await ensureQueue(
    transport,
    mainQueueName,
    {
      VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? DEFAULTS.visibilityTimeoutSeconds),
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount }),
    },
    changes,
    signal,
  );
  return { mainQueueUrl, dlqUrl, mainQueueName, dlqName, changes };
}

async function ensureQueue(
  transport: JobTransport,
  name: string,
  wanted: Record<string, string>,
  changes: string[],
  signal: AbortSignal | undefined,
): Promise<string> {
  let url: string;
  try {
    url = await transport.getQueueUrl(name, signal);
  } catch (error) {
    if (!TransportError.is(error) || error.code !== 'QueueDoesNotExist') throw error;
    const created = await transport.createQueue(name, { attributes: wanted }, signal);
    changes.push(`created ${name}`);
    return created;
  }
  const current = await transport.getQueueAttributes(url, Object.keys(wanted), signal);
  // An attribute the server does not report at all (ElasticMQ: MessageRetentionPeriod) cannot be
  // compared; it is left alone rather than set again on every run.
  const stale = Object.entries(wanted).filter(([key, value]) => {
    const have = current[key];
    return have !== undefined && !sameAttribute(key, have, value);
  });
  if (stale.length > 0) {
    await transport.setQueueAttributes(url, Object.fromEntries(stale), signal);
    for (const [key] of stale) changes.push(`set ${key} on ${name}`);
  }
  return url;
}

/** RedrivePolicy is compared as JSON (servers differ in spacing and in number vs string). */
function sameAttribute(key: string, current: string, wanted: string): boolean {
  if (key !== 'RedrivePolicy') return current === wanted;
  try {
    const a = JSON.parse(current) as Record<string, unknown>;
    const b = JSON.parse(wanted) as Record<string, unknown>;
    return a.deadLetterTargetArn === b.deadLetterTargetArn && Number(a.maxReceiveCount) === Number(b.maxReceiveCount);
  } catch {
    return false;
  }
}
