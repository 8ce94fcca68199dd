/**
 * infra/cloudformation.yaml, checked by the real AWS CloudFormation linter (cfn-lint from PyPI, in a
 * cached venv made by scripts/peers/cfn-lint.sh) and read back through cfn-lint's own YAML decoder
 * (which understands the short tags !Sub, !GetAtt, !If ...) for structural assertions.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PEERS_DIR, REPO_ROOT, requireCommand } from '../support/process.js';

const SCRIPT = join(REPO_ROOT, 'scripts', 'peers', 'cfn-lint.sh');
const TEMPLATE = join(REPO_ROOT, 'infra', 'cloudformation.yaml');
const CFN_LINT = join(PEERS_DIR, 'cfn-lint', 'bin', 'cfn-lint');
/** Every rule class, informational included; I4010 only asks for AI-oriented `Context` metadata blocks. */
const LINT_ARGS = [
  '--format',
  'json',
  '--include-checks',
  'I',
  '--ignore-checks',
  'I4010',
  '--non-zero-exit-code',
  'informational',
  '--regions',
  'us-east-1',
  'eu-west-1',
  'ap-southeast-2',
];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: Json;
}
interface Finding {
  Level: string;
  Message: string;
  Rule: { Id: string };
  Location: { Path: Array<string | number> };
}

function run(command: string, args: readonly string[]): SpawnSyncReturns<string> {
  return spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, CALSYNC_PEERS_DIR: PEERS_DIR }, timeout: 300_000 });
}

function lint(file: string): { status: number | null; findings: Finding[]; output: string } {
  const result = run(CFN_LINT, [...LINT_ARGS, '--', file]);
  const output = `${result.stdout}${result.stderr}`;
  let findings: Finding[] = [];
  try {
    findings = JSON.parse(result.stdout) as Finding[];
  } catch {
    throw new Error(`cfn-lint did not print JSON (exit ${result.status}):\n${output}`);
  }
  return { status: result.status, findings, output };
}

type Template = {
  Parameters: Record<string, Record<string, Json>>;
  Resources: Record<string, { Type: string; Condition?: string; Properties: Record<string, Json> }>;
  Outputs: Record<string, Record<string, Json>>;
  Conditions: Record<string, Json>;
};
let template: Template;
let scratch: string | undefined;
let setupError: Error | undefined;

const statements = (policy: string): Statement[] =>
  (template.Resources[policy]!.Properties.PolicyDocument as unknown as { Statement: Statement[] }).Statement;
const actionsOf = (statement: Statement): string[] => (Array.isArray(statement.Action) ? statement.Action : [statement.Action]);
const allActions = (policy: string): string[] => [...new Set(statements(policy).flatMap(actionsOf))].sort();
const MAIN_ARN = { 'Fn::GetAtt': ['MainQueue', 'Arn'] };
const DLQ_ARN = { 'Fn::GetAtt': ['DeadLetterQueue', 'Arn'] };

// Setup errors (a missing python3) are rethrown by every test, so each one FAILS with the line naming
// what to install instead of being reported as skipped.
beforeAll(() => {
  try {
    requireCommand('bash', 'install bash');
    requireCommand(
      process.env.PYTHON ?? 'python3',
      'install Python 3 with the venv module (apt-get install python3 python3-venv), or set PYTHON',
    );
    const installed = run('bash', [SCRIPT, 'install']);
    if (installed.status !== 0) throw new Error(`scripts/peers/cfn-lint.sh install failed:\n${installed.stdout}${installed.stderr}`);
    const decoded = run('bash', [SCRIPT, 'to-json', TEMPLATE]);
    if (decoded.status !== 0) throw new Error(`cfn-lint could not decode the template:\n${decoded.stderr}`);
    template = JSON.parse(decoded.stdout) as Template;
    scratch = mkdtempSync(join(tmpdir(), 'calsync-cfn-'));
  } catch (error) {
    setupError = error as Error;
  }
});

beforeEach(() => {
  if (setupError) throw setupError;
});

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('cfn-lint', () => {
  it('finds nothing in infra/cloudformation.yaml (errors, warnings and informational rules)', () => {
    const { status, findings, output } = lint(TEMPLATE);
    expect(findings, output).toEqual([]);
    expect(status).toBe(0);
  });

  /** A copy of the template with one edit, linted; the edit must have changed something. */
  function lintEdited(name: string, from: string, to: string): { status: number | null; findings: Finding[] } {
    const original = readFileSync(TEMPLATE, 'utf8');
    const edited = original.replace(from, to);
    expect(edited).not.toBe(original);
    const file = join(scratch!, name);
    writeFileSync(file, edited);
    return lint(file);
  }

  it('really catches errors: a typo in a resource type fails the lint', () => {
    const { status, findings } = lintEdited('typo.yaml', 'Type: AWS::SQS::Queue', 'Type: AWS::SQS::Queeu');
    expect(status).not.toBe(0);
    expect(findings.map((f) => [f.Rule.Id, f.Location.Path.join('/')])).toContainEqual(['E3006', 'Resources/DeadLetterQueue/Type']);
  });

  it('catches a misspelled IAM action', () => {
    const { status, findings } = lintEdited('action.yaml', '- sqs:ChangeMessageVisibility', '- sqs:ChangeMessageVisiblity');
    expect(status).not.toBe(0);
    expect(findings.map((f) => f.Rule.Id)).toContain('W3037');
  });

  it('catches a store output that outlives its condition (no store, no policy)', () => {
    const { status, findings } = lintEdited(
      'store-condition.yaml',
      '  WorkerStoreSecretPolicyArn:\n    Condition: HasStore\n',
      '  WorkerStoreSecretPolicyArn:\n',
    );
    expect(status).not.toBe(0);
    expect(findings.map((f) => [f.Rule.Id, f.Location.Path.join('/')])).toContainEqual([
      'W1001',
      'Outputs/WorkerStoreSecretPolicyArn/Value',
    ]);
  });

  it('proves why the DLQ builds the main queue ARN with !Sub: !GetAtt would be circular', () => {
    const { status, findings } = lintEdited(
      'circular.yaml',
      "- !Sub 'arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${QueueNamePrefix}'",
      '- !GetAtt MainQueue.Arn',
    );
    expect(status).not.toBe(0);
    expect(findings.map((f) => f.Rule.Id)).toContain('E3004');
  });
});

describe('template structure', () => {
  it('has the documented parameters and defaults', () => {
    const defaults = Object.fromEntries(Object.entries(template.Parameters).map(([name, p]) => [name, p.Default]));
    expect(defaults).toEqual({
      QueueNamePrefix: 'calsync-jobs',
      MaxReceiveCount: 5,
      VisibilityTimeoutSeconds: 30,
      AlarmTopicArn: '',
      OldestMessageAgeAlarmSeconds: 900,
      StoreSecretArn: '',
    });
  });

  it('takes the job store secret as an optional full Secrets Manager ARN', () => {
    const parameter = template.Parameters.StoreSecretArn!;
    expect(parameter.Type).toBe('String');
    const pattern = new RegExp(parameter.AllowedPattern as string);
    const accepted = [
      '',
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:calsync/store-url-AbC123',
      'arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:calsync_store.url@prod-a1B2c3',
    ];
    const refused = [
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:calsync/store-url', // partial: no suffix
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:*',
      'arn:aws:secretsmanager:eu-west-1:123456789012:secret:calsync-*-AbC123',
      'arn:aws:ssm:eu-west-1:123456789012:parameter/calsync/store-url',
      'postgres://calsync:secret@db:5432/calsync',
    ];
    for (const arn of accepted) expect(pattern.test(arn), arn).toBe(true);
    for (const arn of refused) expect(pattern.test(arn), arn).toBe(false);
    // Empty means no store: the condition that gates the policy and the outputs.
    expect(template.Conditions.HasStore).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'StoreSecretArn' }, ''] }] });
  });

  it('lets only the worker execution policy read the store secret: one action on exactly that ARN', () => {
    const policy = template.Resources.WorkerStoreSecretPolicy!;
    expect(policy.Type).toBe('AWS::IAM::ManagedPolicy');
    expect(policy.Condition).toBe('HasStore');
    expect(policy.Properties.ManagedPolicyName).toEqual({ 'Fn::Sub': '${QueueNamePrefix}-worker-store-secret-${AWS::Region}' });
    const [statement, ...more] = statements('WorkerStoreSecretPolicy');
    expect(more).toEqual([]);
    expect(statement!.Effect).toBe('Allow');
    expect(actionsOf(statement!)).toEqual(['secretsmanager:GetSecretValue']);
    expect(statement!.Resource).toEqual({ Ref: 'StoreSecretArn' });
    // No other policy of the stack touches Secrets Manager or KMS (the default aws/secretsmanager key
    // needs no kms:Decrypt), and nothing else depends on the secret.
    for (const [name, resource] of Object.entries(template.Resources)) {
      if (resource.Type !== 'AWS::IAM::ManagedPolicy' || name === 'WorkerStoreSecretPolicy') continue;
      expect(allActions(name).join(' '), name).not.toMatch(/secretsmanager|kms/);
      expect(JSON.stringify(resource), name).not.toContain('StoreSecretArn');
    }
    expect(allActions('WorkerStoreSecretPolicy').join(' ')).not.toMatch(/kms|\*/);
  });

  it('encrypts both queues with SSE-SQS', () => {
    for (const queue of ['MainQueue', 'DeadLetterQueue']) {
      expect(template.Resources[queue]!.Type).toBe('AWS::SQS::Queue');
      expect(template.Resources[queue]!.Properties.SqsManagedSseEnabled, queue).toBe(true);
    }
  });

  it('keeps dead letters 14 days and jobs 4 days', () => {
    expect(template.Resources.DeadLetterQueue!.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    expect(template.Resources.MainQueue!.Properties.MessageRetentionPeriod).toBe(4 * 24 * 3600);
  });

  it('redrives the main queue into the DLQ, and the DLQ accepts only the main queue', () => {
    const main = template.Resources.MainQueue!.Properties;
    expect(main.QueueName).toEqual({ Ref: 'QueueNamePrefix' });
    expect(main.VisibilityTimeout).toEqual({ Ref: 'VisibilityTimeoutSeconds' });
    expect(main.RedrivePolicy).toEqual({ deadLetterTargetArn: DLQ_ARN, maxReceiveCount: { Ref: 'MaxReceiveCount' } });
    const dlq = template.Resources.DeadLetterQueue!.Properties;
    expect(dlq.QueueName).toEqual({ 'Fn::Sub': '${QueueNamePrefix}-dlq' });
    // The ARN names exactly the main queue's explicit name.
    expect(dlq.RedriveAllowPolicy).toEqual({
      redrivePermission: 'byQueue',
      sourceQueueArns: [{ 'Fn::Sub': 'arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${QueueNamePrefix}' }],
    });
  });

  it('the producer policy only enqueues into the main queue', () => {
    expect(allActions('ProducerPolicy')).toEqual(['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage']);
    for (const statement of statements('ProducerPolicy')) {
      expect(statement.Effect).toBe('Allow');
      expect(statement.Resource).toEqual(MAIN_ARN);
      expect(actionsOf(statement).join(' ')).not.toMatch(/Receive|Delete|Purge|\*/);
    }
  });

  it('the worker policy covers exactly what a worker does, and never consumes the DLQ', () => {
    expect(allActions('WorkerPolicy')).toEqual([
      'sqs:ChangeMessageVisibility',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:ReceiveMessage',
      'sqs:SendMessage',
    ]);
    const byResource = new Map(statements('WorkerPolicy').map((s) => [JSON.stringify(s.Resource), actionsOf(s).sort()]));
    expect([...byResource.keys()].sort()).toEqual([JSON.stringify(DLQ_ARN), JSON.stringify(MAIN_ARN)].sort());
    expect(byResource.get(JSON.stringify(MAIN_ARN))).toEqual(allActions('WorkerPolicy'));
    expect(byResource.get(JSON.stringify(DLQ_ARN))).toEqual(['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage']);
  });

  it('the operator policy can redrive the DLQ (StartMessageMoveTask) and purge', () => {
    const [dlq, main] = [DLQ_ARN, MAIN_ARN].map((arn) =>
      statements('OperatorPolicy')
        .filter((s) => JSON.stringify(s.Resource) === JSON.stringify(arn))
        .flatMap(actionsOf),
    );
    expect(dlq).toEqual(
      expect.arrayContaining([
        'sqs:StartMessageMoveTask',
        'sqs:ListMessageMoveTasks',
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:PurgeQueue',
      ]),
    );
    expect(main).toEqual(expect.arrayContaining(['sqs:SendMessage', 'sqs:PurgeQueue']));
    expect(main).not.toContain('sqs:ReceiveMessage');
  });

  it('alarms on dead letters and queue lag, notifying only when a topic is given', () => {
    expect(template.Conditions.HasAlarmTopic).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AlarmTopicArn' }, ''] }] });
    const conditional = { 'Fn::If': ['HasAlarmTopic', [{ Ref: 'AlarmTopicArn' }], { Ref: 'AWS::NoValue' }] };
    const dead = template.Resources.DeadLetterAlarm!.Properties;
    expect(dead).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['DeadLetterQueue', 'QueueName'] } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: conditional,
    });
    const age = template.Resources.OldestMessageAgeAlarm!.Properties;
    expect(age).toMatchObject({
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['MainQueue', 'QueueName'] } }],
      Threshold: { Ref: 'OldestMessageAgeAlarmSeconds' },
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: conditional,
    });
  });

  it('exports queue URLs, ARNs and policy ARNs', () => {
    const names = [
      'QueueUrl',
      'QueueArn',
      'DeadLetterQueueUrl',
      'DeadLetterQueueArn',
      'ProducerPolicyArn',
      'WorkerPolicyArn',
      'OperatorPolicyArn',
    ];
    for (const name of names) {
      expect(template.Outputs[name]?.Export, name).toEqual({ Name: { 'Fn::Sub': `\${AWS::StackName}-${name}` } });
    }
    for (const name of ['StoreSecretArn', 'WorkerStoreSecretPolicyArn']) {
      expect(template.Outputs[name]?.Condition, name).toBe('HasStore');
      expect(template.Outputs[name]?.Export, name).toEqual({ Name: { 'Fn::Sub': `\${AWS::StackName}-${name}` } });
    }
    expect(template.Outputs.StoreSecretArn!.Value).toEqual({ Ref: 'StoreSecretArn' });
    expect(template.Outputs.WorkerStoreSecretPolicyArn!.Value).toEqual({ Ref: 'WorkerStoreSecretPolicy' });
    expect(template.Outputs.QueueUrl!.Value).toEqual({ Ref: 'MainQueue' });
    expect(template.Outputs.DeadLetterQueueUrl!.Value).toEqual({ Ref: 'DeadLetterQueue' });
  });
});
