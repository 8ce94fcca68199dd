/**
 * The one way a named value is checked, for every layer: the settings schema (`config/`), the worker's
 * options (`runtime/worker-options.ts`) and a job's retry policy (`machines/retry-policy.ts`). A failure
 * is one `ConfigError` line in one format: `<name>: expected <what>, got <the value as JSON>` (a secret's
 * length only).
 */
import { z } from 'zod';
import { ConfigError } from './errors.js';

/** What a value must be: a zod schema, and the words a message uses for it ("an integer from 1 to 10"). */
export interface Rule<T> {
  readonly schema: z.ZodType<T>;
  readonly expected: string;
  /** A secret (a token): a failure says how long the value was, never what it was. */
  readonly secret?: boolean;
}

/** Checks `value` against `rule`; returns what the schema made of it, or throws a `ConfigError` naming `name`. */
export function checkOption<T>(name: string, value: unknown, rule: Rule<T>): T {
  const result = rule.schema.safeParse(value);
  if (!result.success) {
    const got = rule.secret ? `a value of ${String(value).length} character(s) (not shown: it is a secret)` : JSON.stringify(value);
    throw new ConfigError(name, `expected ${rule.expected}, got ${got}`);
  }
  return result.data;
}

/** An integer in [min, max] (a number, not text: library options). */
export const integerFrom = (min: number, max: number): Rule<number> => ({
  schema: z.number().int().min(min).max(max),
  expected: `an integer from ${min} to ${max}`,
});
