/**
 * `calsync-jobs dlq redrive`: dead jobs back to the main queue. Argument handling and printing only;
 * how jobs move (StartMessageMoveTask where the transport has it, else receive → send → delete) is
 * src/ops/dlq-redrive.ts.
 */
import { MANUAL_METHOD, NATIVE_METHOD, redriveDlq, type RedriveResult } from '../../ops/dlq-redrive.js';
import { summarize, type DlqMessage, type Selection } from '../../ops/dlq-scan.js';
import { loadConfig } from '../../config/config.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connectionFlags, parse, UsageError } from '../args.js';
import { connectForDlq, openConfiguredStore } from '../connect.js';
import { startOtel } from '../../telemetry/sdk.js';
import { createProgress } from '../progress.js';
import { interruptSignal } from '../signals.js';
import { listTable } from './dlq-read.js';

export const DLQ_REDRIVE_USAGE = `Usage: calsync-jobs dlq redrive (--type T | --id ID... | --all) [--reset-attempts] [--dry-run] [--json]

Moves dead jobs back to the main queue.

  --type T            jobs of this type
  --id ID             this job (repeat for several)
  --all               everything. Uses StartMessageMoveTask where the server has it (AWS, ElasticMQ):
                      the server moves every message as it is, messages that are not jobs included
                      (they are dead-lettered again), attempts not reset. Where StartMessageMoveTask
                      fails (not implemented, or any error but an authorisation one), or with
                      --reset-attempts, moves by receive → send → delete and skips messages that are
                      not jobs (counted). The output says which way was taken, and why.
  --reset-attempts    start over: attempt 1, history cleared. Without it a job keeps its attempt and
                      history, so one that died of attempts_exhausted gets one more attempt and no retries.
  --dry-run           list what would move; change nothing
  --json              print one JSON object with the counts, "method" and, when StartMessageMoveTask
                      failed, "fallback" (its code, HTTP status and message) instead of text; notes
                      go to stderr

With a job store configured (--store, CALSYNC_STORE_URL), each job's row is made runnable again
(pending, at the attempt its message carries) just before the job is sent back, so workers run it
rather than drop it as already dead; --all then moves by receive → send → delete too.

Receive → send → delete sends each job before deleting its DLQ copy: an interruption can leave a
duplicate, never a loss. Prints "redrove N job(s) (skipped M) via <method>".
${CONNECTION_HELP}`;

export async function dlqRedriveCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...CONNECTION_OPTIONS,
      type: { type: 'string' },
      id: { type: 'string', multiple: true },
      all: { type: 'boolean' },
      'reset-attempts': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    DLQ_REDRIVE_USAGE,
    true,
  );
  if (values.help) {
    console.log(DLQ_REDRIVE_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, DLQ_REDRIVE_USAGE);
  const ids = values.id as unknown as string[] | undefined;
  const type = values.type as string | undefined;
  const all = values.all === true;
  const chosen = [type !== undefined, ids !== undefined, all].filter(Boolean).length;
  if (chosen !== 1) throw new UsageError('choose exactly one of --type T, --id ID or --all', DLQ_REDRIVE_USAGE);
  const resetAttempts = values['reset-attempts'] === true;
  const dryRun = values['dry-run'] === true;
  const selection: Selection = { type, ids };

  // The store first: an unreachable one stops the redrive before anything moved.
  const opened = await openConfiguredStore(loadConfig(process.env, connectionFlags(values)));
  const connection = await connectForDlq(values).catch(async (error: unknown) => {
    await opened?.close();
    throw error;
  });
  const otel = await startOtel({ serviceName: 'calsync-cli' });
  const interrupt = interruptSignal();
  // Notes on the way taken: with --json on stderr, so that stdout is one JSON object.
  const note = (line: string): void => (values.json ? console.error(line) : console.log(line));
  try {
    const { result, listed } = await redriveDlq(connection, {
      selection,
      all,
      resetAttempts,
      dryRun,
      signal: interrupt.signal,
      note,
      warn: (line) => console.error(line),
      progress: (label, total) => createProgress({ label, ...(total === undefined ? {} : { total }) }),
      ...(opened
        ? {
            beforeSend: async (jobs: ReadonlyArray<{ jobId: string; attempt: number }>) => {
              await opened.store.reopenJobs(jobs);
            },
          }
        : {}),
    });
    report(result, listed, all);
    if (interrupt.signal.aborted) {
      console.error('calsync-jobs dlq redrive: interrupted');
      return 1;
    }
    return result.failed > 0 ? 1 : 0;
  } finally {
    interrupt.dispose();
    await otel.shutdown().catch(() => undefined);
    await connection.close();
    await opened?.close();
  }

  function report(result: RedriveResult, listed: DlqMessage[], allSelected: boolean): void {
    if (values.json) {
      console.log(JSON.stringify({ ...result, ...(result.dryRun ? { jobs: listed.map(summarize) } : {}) }));
      return;
    }
    for (const warning of result.warnings) console.error(`warning: ${warning}`);
    if (result.dryRun) {
      if (listed.length > 0) console.log(listTable(listed.map(summarize)).join('\n'));
      console.log(`dry run: would redrive ${result.redrove} job(s) (skipped ${result.skipped}) via ${MANUAL_METHOD}; nothing was changed`);
      if (allSelected)
        console.log(
          `(without --dry-run, --all first tries ${NATIVE_METHOD}, which moves every message as it is, messages that are not jobs included)`,
        );
    } else {
      console.log(`redrove ${result.redrove} job(s) (skipped ${result.skipped}) via ${result.method}`);
    }
    if (result.skipped > 0) {
      console.log(
        `left in the DLQ: ${result.notSelected} not selected, ${result.notAJob} not a job (no envelope; see "calsync-jobs dlq list")`,
      );
    }
  }
}
