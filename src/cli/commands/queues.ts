import { loadConfig } from '../../config/config.js';
import { DEFAULTS } from '../../config/settings.js';
import { ensureConfiguredQueues, transportFromConfig } from '../../ops/open-queues.js';
import { ConfigError } from '../../shared/errors.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, connectionFlags, parse, UsageError } from '../args.js';

export const QUEUES_USAGE = `Usage: calsync-jobs queues create [--max-receive-count N] [--visibility-timeout S] [--json]

Creates the main queue and its dead-letter queue (RedrivePolicy, DLQ retention 14 days), or brings
their attributes up to date. Running it twice changes nothing. Prints both URLs.

  --max-receive-count N   CALSYNC_MAX_RECEIVE_COUNT: receives before SQS redrives to the DLQ (default ${DEFAULTS.maxReceiveCount})
  --visibility-timeout S  CALSYNC_VISIBILITY_TIMEOUT_SECONDS (default ${DEFAULTS.visibilityTimeoutSeconds})
  --json                  print one JSON object
${CONNECTION_HELP}`;

export async function queuesCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...CONNECTION_OPTIONS, 'max-receive-count': { type: 'string' }, 'visibility-timeout': { type: 'string' }, json: { type: 'boolean' } },
    QUEUES_USAGE,
    true,
  );
  if (values.help) {
    console.log(QUEUES_USAGE);
    return 0;
  }
  if (positionals[0] !== 'create' || positionals.length !== 1)
    throw new UsageError(`expected "queues create", got "queues ${positionals.join(' ')}"`, QUEUES_USAGE);
  const config = loadConfig(process.env, {
    ...connectionFlags(values),
    maxReceiveCount: values['max-receive-count'],
    visibilityTimeoutSeconds: values['visibility-timeout'],
  });
  if (config.embedded)
    throw new ConfigError('--embedded', 'queues create needs a server that outlives this command; set AWS_ENDPOINT_URL_SQS');
  const transport = transportFromConfig(config);
  try {
    const result = await ensureConfiguredQueues(transport, config);
    if (values.json) {
      console.log(JSON.stringify(result));
    } else {
      for (const change of result.changes) console.log(change);
      if (result.changes.length === 0) console.log('queues already up to date');
      console.log(`main queue: ${result.mainQueueUrl}`);
      console.log(`dead-letter queue: ${result.dlqUrl}`);
    }
    return 0;
  } finally {
    await transport.close();
  }
}
