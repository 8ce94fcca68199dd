/**
 * Turns a configuration into a transport and queue URLs: the embedded server when asked (or when
 * nothing is configured in development), the queues created when asked, signing hooks when keys are set.
 */
import type { Logger } from 'pino';
import { ensureQueues } from '../ops/ensure-queues.js';
import { loadConfig, type CalsyncConfig } from '../config/config.js';
import { startEmbeddedSqs, type EmbeddedSqs } from '../ops/embedded-sqs.js';
import { signingHooks, type SigningHooks } from '../queue/signing-hooks.js';
import { SqsTransport } from '../queue/sqs/sqs-transport.js';
import type { JobTransport } from '../queue/transport.js';
import { createLogger } from '../runtime/logger.js';
import { ConfigError } from '../shared/errors.js';
import { connectionFlags } from './args.js';

export interface Connection {
  transport: JobTransport;
  queueUrl: string;
  dlqUrl: string;
  queueName: string;
  dlqName: string;
  /** Set when this process runs the SQS server itself. */
  embedded: EmbeddedSqs | undefined;
  signMessage: SigningHooks['signMessage'];
  verifyMessage: SigningHooks['verifyMessage'];
  close(): Promise<void>;
}

export async function connect(config: CalsyncConfig, logger?: Logger): Promise<Connection> {
  let embedded: EmbeddedSqs | undefined;
  let endpoint = config.endpoint;
  if (config.embedded) {
    embedded = await startEmbeddedSqs({ region: config.region });
    endpoint = embedded.endpoint;
    logger?.info({ endpoint }, 'embedded SQS server listening on 127.0.0.1');
  }
  const transport = new SqsTransport({ region: config.region, ...(endpoint ? { endpoint } : {}), maxMessageBytes: config.maxMessageBytes });
  const close = async (): Promise<void> => {
    await transport.close();
    await embedded?.stop();
  };
  try {
    // loadConfig already named the queues from CALSYNC_QUEUE_PREFIX / _NAME (queueNames in bootstrap.ts).
    const names = { mainQueueName: config.queueName, dlqName: config.dlqName };
    let queueUrl = config.queueUrl;
    let dlqUrl = config.dlqUrl;
    if (config.createQueues || embedded) {
      const ensured = await ensureQueues(transport, {
        ...names,
        maxReceiveCount: config.maxReceiveCount,
        visibilityTimeoutSeconds: config.visibilityTimeoutSeconds,
      });
      queueUrl ??= ensured.mainQueueUrl;
      dlqUrl ??= ensured.dlqUrl;
    }
    queueUrl ??= await transport.getQueueUrl(names.mainQueueName);
    dlqUrl ??= await transport.getQueueUrl(names.dlqName);
    return {
      transport,
      queueUrl,
      dlqUrl,
      queueName: lastSegment(queueUrl),
      dlqName: lastSegment(dlqUrl),
      embedded,
      ...signingHooks(config.signingKeys, config.requireSignature),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Connects for a `dlq` subcommand: a shared server (never an embedded one), quiet logs. */
export async function connectForDlq(values: Record<string, string | boolean | undefined>): Promise<Connection> {
  const config = loadConfig(process.env, connectionFlags(values));
  if (config.embedded)
    throw new ConfigError('--embedded', 'dlq commands read a server shared with the workers; set AWS_ENDPOINT_URL_SQS instead');
  return connect(config, createLogger({ level: config.logLevel === 'info' ? 'warn' : config.logLevel }));
}

const lastSegment = (url: string): string => url.split('/').filter(Boolean).pop() ?? url;
