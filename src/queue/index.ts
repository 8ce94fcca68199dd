/** The queue layer's public surface: transports, limits, errors, clocks, bootstrap, embedded server. */
export * from './transport.js';
export { TransportError, ConfigError, toError } from '../shared/errors.js';
export { systemClock, systemRandom, sleep, type Clock, type Random } from '../shared/clock.js';
export { ManualClock } from './manual-clock.js';
export { messageBytes, checkOutgoing, checkOutgoingBatch, checkBatch, checkReceive, checkVisibility } from './limits.js';
export { toTransportError, type ErrorContext } from './sqs-errors.js';
export { createSqsClient, resolveSqsClientOptions, type SqsClientOptions, type ResolvedSqsClientOptions } from './sqs-client.js';
export { SqsTransport, type SqsTransportOptions } from './sqs-transport.js';
export { MemoryTransport, type MemoryTransportOptions } from './memory-transport.js';
export { memoryQueueArn } from './memory-queue.js';
export { ensureQueues, queueNames, type EnsureQueuesOptions, type EnsuredQueues } from './bootstrap.js';
export { startEmbeddedSqs, type EmbeddedSqs, type EmbeddedSqsOptions } from './embedded.js';
