/**
 * `calsync-jobs jobs cancel <id>`, `jobs retry <id>` and `jobs prune`: the `jobs` commands that change
 * rows (src/ops/jobs.ts does the work; this file parses and prints).
 */
import { loadConfig, loadPruneSettings } from '../../config/config.js';
import { cancelJob, pruneJobs, retryJob } from '../../ops/jobs.js';
import { asUsage, CONNECTION_HELP, CONNECTION_OPTIONS, connectionFlags, parse, UsageError } from '../args.js';
import { requireStore, withStoreAndQueue } from '../connect.js';

export const JOBS_CANCEL_USAGE = `Usage: calsync-jobs jobs cancel <id> [--json]

Cancels a job: a pending or backoff job never runs again; a running one has its handler's signal
aborted by its worker within one lease period. A job already settled (succeeded, dead, cancelled) is
left as it is: exit 1, saying how it ended. An unknown id: exit 1.

  --json          print {"id", "state": "cancelled", "wasRunning"}
${CONNECTION_HELP}`;

export const JOBS_RETRY_USAGE = `Usage: calsync-jobs jobs retry <id> [--json]

Runs a dead or cancelled job again as a new attempt series: the row becomes pending at attempt 1
(its history kept) and a first-attempt message with the same id, type and stored payload is sent to
the main queue. A job whose payload was not stored (CALSYNC_STORE_PAYLOADS off, or over the cap), or
was stored with fields redacted, is refused and left as it is: redrive a dead one from the DLQ instead. Exit 1 when the job is unknown or
cannot be retried.

  --json          print {"id", "state", "attempt", "retries"}
${CONNECTION_HELP}`;

export const JOBS_PRUNE_USAGE = `Usage: calsync-jobs jobs prune [--older-than D] [--json]

Deletes the jobs settled (succeeded, dead, cancelled) longer ago than D, now. Workers run the same
pass every hour. Pending, running and backoff jobs are never pruned.

  --older-than D  500ms, 30s, 15m, 12h, 7d (default CALSYNC_STORE_RETENTION, 7d)
  --json          print {"pruned", "olderThanMs"}
${CONNECTION_HELP}`;

/** The one `<id>` of cancel and retry; `id` undefined after `--help` was printed. */
function oneId(argv: string[], usage: string): { id: string | undefined; values: Record<string, string | boolean | undefined> } {
  const { values, positionals } = parse(argv, { ...CONNECTION_OPTIONS, json: { type: 'boolean' } }, usage, true);
  if (values.help) {
    console.log(usage);
    return { id: undefined, values };
  }
  if (positionals.length !== 1) throw new UsageError(`expected one job id, got ${positionals.length} argument(s)`, usage);
  return { id: positionals[0]!, values };
}

export async function jobsCancelCommand(argv: string[]): Promise<number> {
  const { id, values } = oneId(argv, JOBS_CANCEL_USAGE);
  if (id === undefined) return 0;
  const opened = await requireStore(loadConfig(process.env, connectionFlags(values)));
  try {
    const result = await cancelJob(opened.store, id);
    if (result.kind === 'not_found') {
      console.error(`calsync-jobs jobs cancel: no job ${id}`);
      return 1;
    }
    if (result.kind === 'settled') {
      console.error(`calsync-jobs jobs cancel: job ${id} already ${result.state}; nothing to cancel`);
      return 1;
    }
    if (values.json) console.log(JSON.stringify({ id, state: 'cancelled', wasRunning: result.wasRunning }));
    else if (result.wasRunning) console.log(`cancelled ${id}: it was running; its worker aborts it within one lease period`);
    else console.log(`cancelled ${id}: it will not run`);
    return 0;
  } finally {
    await opened.close();
  }
}

export async function jobsRetryCommand(argv: string[]): Promise<number> {
  const { id, values } = oneId(argv, JOBS_RETRY_USAGE);
  if (id === undefined) return 0;
  const config = loadConfig(process.env, connectionFlags(values));
  return await withStoreAndQueue(config, 'jobs retry', { record: false }, async (store, queue, connection) => {
    const outcome = await retryJob(store, queue, id);
    switch (outcome.kind) {
      case 'not_found':
        console.error(`calsync-jobs jobs retry: no job ${id}`);
        return 1;
      case 'not_retryable':
        console.error(`calsync-jobs jobs retry: job ${id} is ${outcome.state}; only dead or cancelled jobs can be retried`);
        return 1;
      case 'payload_not_stored': {
        const why = {
          disabled: 'CALSYNC_STORE_PAYLOADS was off',
          too_large: 'over the 16 KiB cap',
          redacted: 'stored with fields redacted',
        }[outcome.why];
        console.error(
          outcome.state === 'dead'
            ? `calsync-jobs jobs retry: payload not stored (${why}); redrive it from the DLQ: calsync-jobs dlq redrive --id ${id}`
            : `calsync-jobs jobs retry: payload not stored (${why}); a cancelled job is not in the DLQ either: enqueue it again`,
        );
        return 1;
      }
      case 'send_failed':
        console.error(
          `calsync-jobs jobs retry: could not send job ${id} (${(outcome.error as Error)?.message ?? String(outcome.error)}); it is cancelled again: retry later`,
        );
        return 1;
      case 'retried': {
        const { job } = outcome;
        if (values.json) console.log(JSON.stringify({ id, state: job.state, attempt: job.attempt, retries: job.retries }));
        else console.log(`retried ${id}: attempt 1 of a new series (retry ${job.retries}), sent to ${connection.queueName}`);
        return 0;
      }
    }
  });
}

/** `7d`, `12h`, `30m`, `45s` or `500ms`: the largest unit that divides it. */
function durationText(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

export async function jobsPruneCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...CONNECTION_OPTIONS, 'older-than': { type: 'string' }, json: { type: 'boolean' } },
    JOBS_PRUNE_USAGE,
    true,
  );
  if (values.help) {
    console.log(JOBS_PRUNE_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, JOBS_PRUNE_USAGE);
  const config = loadConfig(process.env, connectionFlags(values));
  const { olderThanMs } = asUsage(JOBS_PRUNE_USAGE, () => loadPruneSettings(config, { pruneOlderThanMs: values['older-than'] }));
  const opened = await requireStore(config);
  try {
    const pruned = await pruneJobs(opened.store, olderThanMs);
    if (values.json) console.log(JSON.stringify({ pruned, olderThanMs }));
    else console.log(`pruned ${pruned} job(s) settled more than ${durationText(olderThanMs)} ago`);
    return 0;
  } finally {
    await opened.close();
  }
}
