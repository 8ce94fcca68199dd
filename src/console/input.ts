/**
 * Every console endpoint's input through one zod schema: path parameters, the query (unknown
 * parameters refused) and forms. A failure is a {@link BadInput} naming the field, answered 400.
 */
import type { z } from 'zod';

export class BadInput extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'BadInput';
  }
}

/** An id that is not there: 404 with what was looked for. */
export class NotFound extends Error {
  override name = 'NotFound';
}

/** The value as `schema` makes it, or a {@link BadInput} for its first issue. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') throw new BadInput(issue.keys.join(', '), `unknown ${where} parameter (not one of this page's)`);
  const field = issue.path.length > 0 ? issue.path.join('.') : where;
  throw new BadInput(field, issue.message);
}

/** A query as an object: one value a name (the last one), or an array where a name may repeat. */
export function queryObject(url: string, repeated: readonly string[] = []): Record<string, string | string[]> {
  const params = new URL(url).searchParams;
  const out: Record<string, string | string[]> = {};
  for (const name of new Set(params.keys())) {
    const values = params.getAll(name);
    out[name] = repeated.includes(name) ? values : values[values.length - 1]!;
  }
  return out;
}
