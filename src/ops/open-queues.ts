/**
 * From a configuration to a transport and queue URLs, the one way: the CLI's connections
 * (src/cli/connect.ts) and the producer from the environment (default-queue.ts) both come through here.
 */
import type { Logger } from 'pino';
import type { CalsyncConfig } from '../config/config.js';
import { SqsTransport } from '../queue/sqs/sqs-transport.js';
import { startEmbeddedSqs, type EmbeddedSqs } from './embedded-sqs.js';
import { ensureQueues, type EnsuredQueues } from './ensure-queues.js';

/** The SQS transport `config` describes (region, endpoint, maxMessageBytes); `endpoint` overrides the configured one. */
export function transportFromConfig(config: CalsyncConfig, endpoint: string | undefined = config.endpoint): SqsTransport {
  return new SqsTransport({ region: config.region, ...(endpoint ? { endpoint } : {}), maxMessageBytes: config.maxMessageBytes });
}

/** Creates the configured queues, or brings their attributes (redrive count, visibility timeout) up to date. */
export function ensureConfiguredQueues(transport: SqsTransport, config: CalsyncConfig): Promise<EnsuredQueues> {
  return ensureQueues(transport, {
    mainQueueName: config.queueName,
    dlqName: config.dlqName,
    maxReceiveCount: config.maxReceiveCount,
    visibilityTimeoutSeconds: config.visibilityTimeoutSeconds,
  });
}

export interface OpenQueues {
  transport: SqsTransport;
  queueUrl: string;
  queueName: string;
  dlqUrl: string;
  dlqName: string;
  /** Set when this process runs the SQS server itself (`embedded`). */
  embedded: EmbeddedSqs | undefined;
  /** Closes the transport, then stops the embedded server. */
  close(): Promise<void>;
}

export interface OpenQueuesOptions {
  logger?: Logger | undefined;
  /** Look up the DLQ's URL too. A producer sets false: it may not be allowed to see the DLQ. @defaultValue true */
  dlq?: boolean;
}

/**
 * Starts the embedded server when `config.embedded`, builds the transport, creates the queues when
 * `config.createQueues` (or embedded), then takes the URLs from the config or looks them up by name.
 * With `dlq: false` the DLQ is not looked up (`dlqUrl` is then known only when configured or created).
 */
export async function openQueues(config: CalsyncConfig, options?: OpenQueuesOptions & { dlq?: true }): Promise<OpenQueues>;
export async function openQueues(
  config: CalsyncConfig,
  options: OpenQueuesOptions,
): Promise<Omit<OpenQueues, 'dlqUrl'> & { dlqUrl: string | undefined }>;
export async function openQueues(
  config: CalsyncConfig,
  options: OpenQueuesOptions = {},
): Promise<Omit<OpenQueues, 'dlqUrl'> & { dlqUrl: string | undefined }> {
  let embedded: EmbeddedSqs | undefined;
  let endpoint = config.endpoint;
  if (config.embedded) {
    embedded = await startEmbeddedSqs({ region: config.region });
    endpoint = embedded.endpoint;
    options.logger?.info({ endpoint }, 'embedded SQS server listening on 127.0.0.1');
  }
  const transport = transportFromConfig(config, endpoint);
  const close = async (): Promise<void> => {
    await transport.close();
    await embedded?.stop();
  };
  try {
    let queueUrl = config.queueUrl;
    let dlqUrl = config.dlqUrl;
    if (config.createQueues || embedded) {
      const ensured = await ensureConfiguredQueues(transport, config);
      queueUrl ??= ensured.mainQueueUrl;
      dlqUrl ??= ensured.dlqUrl;
    }
    queueUrl ??= await transport.getQueueUrl(config.queueName);
    if (options.dlq !== false) dlqUrl ??= await transport.getQueueUrl(config.dlqName);
    return {
      transport,
      queueUrl,
      queueName: lastSegment(queueUrl),
      dlqUrl,
      dlqName: dlqUrl === undefined ? config.dlqName : lastSegment(dlqUrl),
      embedded,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

const lastSegment = (url: string): string => url.split('/').filter(Boolean).pop() ?? url;
