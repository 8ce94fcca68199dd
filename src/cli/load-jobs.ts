import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { isJobDefinition, type JobDefinition } from '../machines/define-job.js';
import { ConfigError } from '../shared/errors.js';

/**
 * Loads job definitions from a module whose default export is an array of `defineJob` results
 * (a path relative to the working directory, or a package name). Without one: the project's own jobs.
 */
export async function loadJobs(specifier: string | undefined): Promise<JobDefinition<any, any>[]> {
  let loaded: unknown;
  if (specifier === undefined) {
    loaded = (await import('../jobs/index.js')).default;
  } else {
    const path = isAbsolute(specifier) ? specifier : resolve(process.cwd(), specifier);
    const target = existsSync(path) ? pathToFileURL(path).href : specifier;
    try {
      loaded = ((await import(target)) as { default?: unknown }).default;
    } catch (error) {
      throw new ConfigError('--jobs', `could not load ${JSON.stringify(specifier)}: ${(error as Error).message}`);
    }
  }
  if (!Array.isArray(loaded) || loaded.length === 0) {
    throw new ConfigError(
      '--jobs',
      `expected a module whose default export is a non-empty array of job definitions (defineJob), in ${specifier ?? 'src/jobs'}`,
    );
  }
  const bad = loaded.findIndex((item) => !isJobDefinition(item));
  if (bad >= 0) throw new ConfigError('--jobs', `default export item ${bad} is not a job definition made by defineJob()`);
  return loaded as JobDefinition<any, any>[];
}

/** How long a worker process waits for the jobs' `close` hooks before it goes on (and exits) anyway. */
export const CLOSE_JOBS_LIMIT_MS = 5_000;

/**
 * Runs the `close` hook of every job that has one (a function shared by several definitions runs once;
 * all run at once), so what the job modules opened (pools, clients) is released. Called by the worker
 * process after `worker.stop()`. A failing hook does not stop the others: each failure is logged and
 * they are thrown together once all have ended. Hooks still running after `timeoutMs` are logged and
 * left behind, so a stuck one cannot keep the process from exiting.
 */
export async function closeJobs(
  jobs: readonly JobDefinition<any, any>[],
  options: { logger?: Logger; timeoutMs?: number } = {},
): Promise<void> {
  const hooks = new Map<() => Promise<void> | void, string[]>();
  for (const job of jobs) if (job.close) hooks.set(job.close, [...(hooks.get(job.close) ?? []), job.type]);
  if (hooks.size === 0) return;
  const timeoutMs = options.timeoutMs ?? CLOSE_JOBS_LIMIT_MS;
  const pending = new Set<string>();
  const errors: unknown[] = [];
  const all = Promise.all(
    [...hooks].map(async ([close, types]) => {
      const name = types.join(', ');
      pending.add(name);
      try {
        await close();
      } catch (error) {
        errors.push(error);
        options.logger?.error({ err: error, jobs: types }, 'closing a job failed');
      } finally {
        pending.delete(name);
      }
    }),
  );
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
    timer.unref();
  });
  try {
    if ((await Promise.race([all, timedOut])) === 'timeout') {
      options.logger?.warn({ jobs: [...pending], timeoutMs }, 'closing jobs: still running at the limit; going on without them');
    }
  } finally {
    clearTimeout(timer);
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `closing ${errors.length} jobs failed`);
}
