/**
 * One meaning and one limit for the queue prefix: `queueNames({ prefix })` names the queues exactly as
 * infra/cloudformation.yaml does from the same `QueueNamePrefix`, and `CALSYNC_QUEUE_PREFIX` has the
 * template's length limit. The template is read as text (no YAML dependency, no Python): only the few
 * lines this needs, and an expression the reader does not understand fails the test instead of passing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DLQ_SUFFIX, MAX_QUEUE_NAME_LENGTH, MAX_QUEUE_PREFIX_LENGTH, queueNames } from '../../src/queue/queue-names.js';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/shared/errors.js';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const TEMPLATE = read('infra/cloudformation.yaml').split('\n');

const indent = (line: string): number => line.length - line.trimStart().length;
const meaningful = (line: string): boolean => line.trim() !== '' && !line.trimStart().startsWith('#');

/** The lines under `key:` at `depth` spaces inside `lines` (the key's own line excluded). */
function section(lines: readonly string[], key: string, depth: number): string[] {
  const start = lines.findIndex((line) => indent(line) === depth && line.trim() === `${key}:`);
  if (start < 0) throw new Error(`infra/cloudformation.yaml: no "${key}:" at indent ${depth}`);
  const body: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (meaningful(line) && indent(line) <= depth) break;
    body.push(line);
  }
  return body;
}

/** `key: value` directly inside `lines` (the shallowest indent), unquoted. */
function scalar(lines: readonly string[], key: string): string | undefined {
  const depth = Math.min(...lines.filter(meaningful).map(indent));
  const line = lines.find((l) => indent(l) === depth && l.trimStart().startsWith(`${key}:`));
  if (line === undefined) return undefined;
  const value = line.slice(line.indexOf(':') + 1).trim();
  return /^'.*'$|^".*"$/.test(value) ? value.slice(1, -1) : value;
}

/** Evaluates `!Ref Param`, `!Sub '...${Param}...'` or a literal with the given parameter values. */
function evaluate(expression: string, parameters: Record<string, string>): string {
  const param = (name: string): string => {
    const value = parameters[name];
    if (value === undefined) throw new Error(`unexpected reference to ${name} in ${expression}`);
    return value;
  };
  const ref = /^!Ref\s+([A-Za-z0-9]+)$/.exec(expression);
  if (ref) return param(ref[1]!);
  const sub = /^!Sub\s+(?:'([^']*)'|"([^"]*)"|([^'"\s]+))$/.exec(expression);
  if (sub) return (sub[1] ?? sub[2] ?? sub[3]!).replace(/\$\{([A-Za-z0-9:]+)\}/g, (_, name: string) => param(name));
  if (/^[A-Za-z0-9_-]+$/.test(expression)) return expression;
  throw new Error(`cannot evaluate QueueName ${JSON.stringify(expression)}`);
}

const resources = section(TEMPLATE, 'Resources', 0);
const resourceNames = resources
  .filter((line) => indent(line) === 2 && /^\s+[A-Za-z0-9]+:\s*$/.test(line))
  .map((line) => line.trim().slice(0, -1));
const resource = (name: string): string[] => section(resources, name, 2);
const queues = resourceNames.filter((name) => scalar(resource(name), 'Type') === 'AWS::SQS::Queue');
const queueNameOf = (name: string): string => {
  const expression = scalar(section(resource(name), 'Properties', 4), 'QueueName');
  if (expression === undefined) throw new Error(`${name} has no explicit QueueName`);
  return expression;
};
/** The queue another queue's RedrivePolicy points at is the DLQ. */
const dlqResource = (() => {
  const targets = resources
    .map((line) => /deadLetterTargetArn:\s*!GetAtt\s+([A-Za-z0-9]+)\.Arn/.exec(line)?.[1])
    .filter((t): t is string => t !== undefined);
  expect(targets).toHaveLength(1);
  return targets[0]!;
})();
const mainResource = queues.find((name) => name !== dlqResource)!;
const prefixParameter = section(section(TEMPLATE, 'Parameters', 0), 'QueueNamePrefix', 2);

/** The names the stack gives its two queues when deployed with `QueueNamePrefix=prefix`. */
const templateNames = (prefix: string) => ({
  mainQueueName: evaluate(queueNameOf(mainResource), { QueueNamePrefix: prefix }),
  dlqName: evaluate(queueNameOf(dlqResource), { QueueNamePrefix: prefix }),
});

function configError(env: NodeJS.ProcessEnv, flags = {}): ConfigError {
  try {
    loadConfig(env, flags);
  } catch (error) {
    if (ConfigError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('queue names: queueNames() and infra/cloudformation.yaml agree', () => {
  it('the template has exactly a main queue and its DLQ', () => {
    expect(queues.sort()).toEqual([dlqResource, mainResource].sort());
  });

  it.each(['calsync-jobs', 'calsync-jobs-staging', 'x', 'a'.repeat(MAX_QUEUE_PREFIX_LENGTH)])(
    'prefix %s names the queues as the stack does',
    (prefix) => {
      expect(queueNames({ prefix })).toEqual(templateNames(prefix));
    },
  );

  it('the stack deployed with QueueNamePrefix=calsync-jobs-staging is found with CALSYNC_QUEUE_PREFIX=calsync-jobs-staging', () => {
    const config = loadConfig({ CALSYNC_QUEUE_PREFIX: 'calsync-jobs-staging' });
    expect({ mainQueueName: config.queueName, dlqName: config.dlqName }).toEqual(templateNames('calsync-jobs-staging'));
    expect(config).toMatchObject({
      queuePrefix: 'calsync-jobs-staging',
      queueName: 'calsync-jobs-staging',
      dlqName: 'calsync-jobs-staging-dlq',
    });
  });

  it('no prefix gives the defaults, which are the template default prefix', () => {
    expect(queueNames()).toEqual({ mainQueueName: 'calsync-jobs', dlqName: 'calsync-jobs-dlq' });
    expect(queueNames()).toEqual(templateNames(scalar(prefixParameter, 'Default')!));
    expect(loadConfig({})).toMatchObject({ queuePrefix: undefined, queueName: 'calsync-jobs', dlqName: 'calsync-jobs-dlq' });
  });

  it('an explicit queue name wins over the name the prefix gives', () => {
    expect(queueNames({ prefix: 'p', mainQueueName: 'jobs' })).toEqual({ mainQueueName: 'jobs', dlqName: 'p-dlq' });
    expect(queueNames({ prefix: 'p', dlqName: 'dead' })).toEqual({ mainQueueName: 'p', dlqName: 'dead' });
    expect(loadConfig({ CALSYNC_QUEUE_PREFIX: 'p', CALSYNC_DLQ_NAME: 'dead' })).toMatchObject({ queueName: 'p', dlqName: 'dead' });
  });
});

describe('one prefix limit: 80 (SQS queue name) minus "-dlq"', () => {
  it('is 76, and the longest derived name (the DLQ) is exactly 80', () => {
    expect(DLQ_SUFFIX).toBe('-dlq');
    expect(MAX_QUEUE_PREFIX_LENGTH).toBe(MAX_QUEUE_NAME_LENGTH - DLQ_SUFFIX.length);
    expect(MAX_QUEUE_PREFIX_LENGTH).toBe(76);
    const longest = templateNames('a'.repeat(MAX_QUEUE_PREFIX_LENGTH));
    expect(Math.max(longest.mainQueueName.length, longest.dlqName.length)).toBe(MAX_QUEUE_NAME_LENGTH);
  });

  it("the template's QueueNamePrefix MinLength / MaxLength / AllowedPattern carry the same limit", () => {
    expect(scalar(prefixParameter, 'MinLength')).toBe('1');
    expect(Number(scalar(prefixParameter, 'MaxLength'))).toBe(MAX_QUEUE_PREFIX_LENGTH);
    expect(scalar(prefixParameter, 'AllowedPattern')).toBe(`^[A-Za-z0-9_-]{1,${MAX_QUEUE_PREFIX_LENGTH}}$`);
    expect(scalar(prefixParameter, 'ConstraintDescription')).toContain(`1-${MAX_QUEUE_PREFIX_LENGTH} characters`);
  });

  it('CALSYNC_QUEUE_PREFIX accepts 76 characters and refuses 77, naming the setting and the range', () => {
    const ok = 'a'.repeat(MAX_QUEUE_PREFIX_LENGTH);
    expect(loadConfig({ CALSYNC_QUEUE_PREFIX: ok })).toMatchObject({ queueName: ok, dlqName: `${ok}-dlq` });
    const tooLong = 'a'.repeat(MAX_QUEUE_PREFIX_LENGTH + 1);
    const error = configError({ CALSYNC_QUEUE_PREFIX: tooLong });
    expect(error.setting).toBe('CALSYNC_QUEUE_PREFIX');
    expect(error.message).toBe(`CALSYNC_QUEUE_PREFIX: expected 1–76 letters, digits, '-' or '_', got "${tooLong}"`);
    expect(configError({}, { queuePrefix: tooLong }).setting).toBe('--queue-prefix');
  });

  it('config and template accept and refuse the same prefixes', () => {
    const pattern = new RegExp(scalar(prefixParameter, 'AllowedPattern')!);
    const accepted = (prefix: string): boolean => {
      try {
        loadConfig({ CALSYNC_QUEUE_PREFIX: prefix });
        return true;
      } catch (error) {
        if (ConfigError.is(error)) return false;
        throw error;
      }
    };
    for (const prefix of ['calsync-jobs-staging', 'A_b-9', 'a'.repeat(76), 'a'.repeat(77), 'has space', 'dot.ted', 'slash/ed', 'ünï']) {
      expect(accepted(prefix), prefix).toBe(pattern.test(prefix));
    }
  });
});

describe('the operator can run "calsync-jobs stats"', () => {
  it('the operator policy grants GetQueueAttributes and GetQueueUrl on the DLQ and on the main queue', () => {
    const policy = resource('OperatorPolicy');
    const statements = policy
      .join('\n')
      .split(/\n\s*- Sid: /)
      .slice(1);
    const actionsOn = (target: string): string[] =>
      statements
        .filter((s) => new RegExp(`Resource: !GetAtt ${target}\\.Arn`).test(s))
        .flatMap((s) => [...s.matchAll(/- (sqs:[A-Za-z]+)/g)].map((m) => m[1]!));
    for (const target of [dlqResource, mainResource]) {
      expect(actionsOn(target), target).toEqual(expect.arrayContaining(['sqs:GetQueueAttributes', 'sqs:GetQueueUrl']));
    }
  });

  it("docs/aws.md's OperatorPolicy row lists them on the DLQ", () => {
    const row = read('docs/aws.md')
      .split('\n')
      .find((line) => line.startsWith('| `OperatorPolicy`'));
    const onDlq = row?.slice(row.indexOf('On the DLQ'), row.indexOf('On the main queue'));
    expect(onDlq).toContain('`GetQueueAttributes`');
    expect(onDlq).toContain('`GetQueueUrl`');
  });
});

describe('the pages say the same', () => {
  it.each(['README.md', 'docs/aws.md', 'docs/operations.md'])('%s never prepends the prefix to the default names', (page) => {
    expect(read(page)).not.toMatch(/[A-Za-z>]-calsync-jobs(-dlq)?\b/);
  });
});
