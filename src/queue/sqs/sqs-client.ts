/**
 * Builds the `SQSClient` that {@link SqsTransport} uses when none is given: endpoint and region from
 * the standard environment, dummy credentials for local servers, and a keep-alive HTTP agent with
 * enough sockets for many concurrent long polls.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { SQSClient, type SQSClientConfig } from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/** How to reach SQS. Every field is optional; see each default. */
export interface SqsClientOptions {
  /** @defaultValue `AWS_REGION`, then `AWS_DEFAULT_REGION`, then `us-east-1` */
  region?: string;
  /** A local server such as `http://127.0.0.1:9324`. @defaultValue `AWS_ENDPOINT_URL_SQS`, then `AWS_ENDPOINT_URL` */
  endpoint?: string;
  /** @defaultValue the SDK's provider chain; `test`/`test` when an endpoint is set and the env has none */
  credentials?: SQSClientConfig['credentials'];
  /** SDK attempts per call, retries included. @defaultValue 3 (the SDK's) */
  maxAttempts?: number;
  /** Sockets per agent; each long poll holds one for up to 20 s. @defaultValue 64 */
  maxSockets?: number;
  /** TCP connect timeout. @defaultValue 5000 */
  connectionTimeoutMs?: number;
  /**
   * Deadline of every SQS call, SDK retries included (a receive gets its long-poll wait on top): a
   * server that accepts and never answers fails the call with `RequestTimeout` instead of hanging it.
   * @defaultValue 10000
   */
  requestTimeoutMs?: number;
}

/** {@link SqsClientOptions} with every default applied. */
export interface ResolvedSqsClientOptions {
  region: string;
  endpoint: string | undefined;
  credentials: SQSClientConfig['credentials'] | undefined;
  maxAttempts: number | undefined;
  maxSockets: number;
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
}

const CREDENTIAL_ENV = ['AWS_ACCESS_KEY_ID', 'AWS_PROFILE', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_FULL_URI'];

/** Applies defaults from `env` (pure: no client is built). */
export function resolveSqsClientOptions(options: SqsClientOptions = {}, env: NodeJS.ProcessEnv = process.env): ResolvedSqsClientOptions {
  const endpoint = options.endpoint ?? nonEmpty(env.AWS_ENDPOINT_URL_SQS) ?? nonEmpty(env.AWS_ENDPOINT_URL);
  const envHasCredentials = CREDENTIAL_ENV.some((name) => nonEmpty(env[name]) !== undefined);
  const credentials =
    options.credentials ?? (endpoint !== undefined && !envHasCredentials ? { accessKeyId: 'test', secretAccessKey: 'test' } : undefined);
  return {
    region: options.region ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? 'us-east-1',
    endpoint,
    credentials,
    maxAttempts: options.maxAttempts,
    maxSockets: options.maxSockets ?? 64,
    connectionTimeoutMs: options.connectionTimeoutMs ?? 5_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
  };
}

/** Builds a client from resolved options. The caller owns it and must `destroy()` it. */
export function createSqsClient(resolved: ResolvedSqsClientOptions): SQSClient {
  const agentOptions = { keepAlive: true, maxSockets: resolved.maxSockets };
  const config: SQSClientConfig = {
    region: resolved.region,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
      connectionTimeout: resolved.connectionTimeoutMs,
    }),
  };
  if (resolved.endpoint !== undefined) config.endpoint = resolved.endpoint;
  if (resolved.credentials !== undefined) config.credentials = resolved.credentials;
  if (resolved.maxAttempts !== undefined) config.maxAttempts = resolved.maxAttempts;
  return new SQSClient(config);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
