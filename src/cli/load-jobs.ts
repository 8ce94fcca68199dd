import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
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
    throw new ConfigError('--jobs', `expected a module whose default export is a non-empty array of job definitions (defineJob), in ${specifier ?? 'src/jobs'}`);
  }
  const bad = loaded.findIndex((item) => !isJobDefinition(item));
  if (bad >= 0) throw new ConfigError('--jobs', `default export item ${bad} is not a job definition made by defineJob()`);
  return loaded as JobDefinition<any, any>[];
}
