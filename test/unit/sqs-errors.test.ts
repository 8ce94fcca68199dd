/**
 * The SDK → TransportError mapping and the SQS client option defaults (pure; no server).
 */
import { QueueDoesNotExist, RequestThrottled, InvalidAttributeValue } from '@aws-sdk/client-sqs';
import { describe, expect, test } from 'vitest';
import { resolveSqsClientOptions } from '../../src/queue/sqs/sqs-client.js';
import { toTransportError } from '../../src/queue/sqs/sqs-errors.js';
import { TransportError } from '../../src/shared/errors.js';

const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode } });

describe('toTransportError', () => {
  test.each([
    ['modeled QueueDoesNotExist', new QueueDoesNotExist({ message: 'gone', ...meta(400) }), 'QueueDoesNotExist', false],
    [
      'query-compatible NonExistentQueue code',
      Object.assign(new Error('x'), { name: 'Error', Code: 'AWS.SimpleQueueService.NonExistentQueue' }),
      'QueueDoesNotExist',
      false,
    ],
    ['throttling', new RequestThrottled({ message: 'slow down', ...meta(400) }), 'RequestThrottled', true],
    ['bad attribute', new InvalidAttributeValue({ message: 'bad', ...meta(400) }), 'InvalidAttributeValue', false],
    ['prefixed code', Object.assign(new Error('x'), { name: 'AWS.SimpleQueueService.QueueNameExists' }), 'QueueNameExists', false],
    ['5xx', Object.assign(new Error('boom'), { name: 'InternalError', $fault: 'server', ...meta(500) }), 'InternalError', true],
    ['unknown 503', Object.assign(new Error('x'), { name: 'SomethingNew', ...meta(503) }), 'SomethingNew', true],
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'ECONNREFUSED', true],
    [
      'happy-eyeballs AggregateError',
      Object.assign(new AggregateError([Object.assign(new Error('r'), { code: 'ECONNRESET' })], 'agg')),
      'ECONNRESET',
      true,
    ],
    ['abort', Object.assign(new Error('aborted'), { name: 'AbortError' }), 'AbortError', false],
  ])('%s → %s (retryable %s)', (_label, thrown, code, retryable) => {
    const error = toTransportError(thrown, { operation: 'SendMessage', queue: 'http://host/1/q' });
    expect(TransportError.is(error)).toBe(true);
    expect(error).toMatchObject({ code, retryable });
    expect(error.cause).toBe(thrown);
  });

  test('a missing queue names the queue and the operation', () => {
    const error = toTransportError(new QueueDoesNotExist({ message: 'x', ...meta(400) }), {
      operation: 'GetQueueUrl',
      queue: 'calsync-jobs',
    });
    expect(error.message).toBe('GetQueueUrl: queue calsync-jobs does not exist');
  });

  test('a TransportError passes through unchanged', () => {
    const original = new TransportError('x', { code: 'MessageTooLong', retryable: false });
    expect(toTransportError(original, { operation: 'SendMessage' })).toBe(original);
  });
});

describe('resolveSqsClientOptions', () => {
  test('defaults: us-east-1, no endpoint, SDK credential chain', () => {
    expect(resolveSqsClientOptions({}, {})).toEqual({
      region: 'us-east-1',
      endpoint: undefined,
      credentials: undefined,
      maxAttempts: undefined,
      maxSockets: 64,
      connectionTimeoutMs: 5_000,
      requestTimeoutMs: 10_000,
    });
  });

  test('a local endpoint from AWS_ENDPOINT_URL_SQS gets dummy credentials when the env has none', () => {
    const resolved = resolveSqsClientOptions({}, { AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9324', AWS_REGION: 'eu-west-1' });
    expect(resolved).toMatchObject({
      endpoint: 'http://127.0.0.1:9324',
      region: 'eu-west-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
  });

  test('real credentials in the env are never replaced; options win over env', () => {
    const env = { AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9324', AWS_ACCESS_KEY_ID: 'AKIA', AWS_SECRET_ACCESS_KEY: 's' };
    expect(resolveSqsClientOptions({}, env).credentials).toBeUndefined();
    expect(resolveSqsClientOptions({ endpoint: 'http://127.0.0.1:1', region: 'ap-south-1' }, env)).toMatchObject({
      endpoint: 'http://127.0.0.1:1',
      region: 'ap-south-1',
    });
  });
});
