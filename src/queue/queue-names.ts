/**
 * Queue names on the wire: SQS's limit on a name, and the names calsync-jobs and its CloudFormation
 * stack derive from one prefix (`CALSYNC_QUEUE_PREFIX` = the stack's `QueueNamePrefix`).
 */

/** SQS's limit on a queue name: 1–80 characters from A-Z, a-z, 0-9, `-` and `_`. */
export const MAX_QUEUE_NAME_LENGTH = 80;
/** What the DLQ's name adds to the prefix, here and in infra/cloudformation.yaml (`${QueueNamePrefix}-dlq`). */
export const DLQ_SUFFIX = '-dlq';
/**
 * The longest queue prefix (`CALSYNC_QUEUE_PREFIX`, and the template's `QueueNamePrefix` MaxLength): the
 * longest name derived from it, the DLQ's `<prefix>-dlq`, must fit in {@link MAX_QUEUE_NAME_LENGTH}. 76.
 */
export const MAX_QUEUE_PREFIX_LENGTH = MAX_QUEUE_NAME_LENGTH - DLQ_SUFFIX.length;

/** The prefix with no prefix set; it is also the template's `QueueNamePrefix` default. */
const DEFAULT_PREFIX = 'calsync-jobs';
/** Where the names come from: a prefix, or explicit names that win over it. */
export interface QueueNameOptions {
  /** `staging` names the queues `staging` and `staging-dlq`. @defaultValue `calsync-jobs` */
  prefix?: string | undefined;
  mainQueueName?: string | undefined;
  dlqName?: string | undefined;
}

/**
 * The queue names for `options` (pure): `<prefix>` and `<prefix>-dlq`, the names the CloudFormation
 * stack gives its queues for the same `QueueNamePrefix`; `calsync-jobs` and `calsync-jobs-dlq` with no
 * prefix. An explicit `mainQueueName` / `dlqName` wins over the name the prefix gives.
 */
export function queueNames(options: QueueNameOptions = {}): {
  mainQueueName: string;
  dlqName: string;
} {
  const prefix = options.prefix || DEFAULT_PREFIX;
  return {
    mainQueueName: options.mainQueueName ?? prefix,
    dlqName: options.dlqName ?? `${prefix}${DLQ_SUFFIX}`,
  };
}
