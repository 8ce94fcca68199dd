/**
 * One conformance suite, four implementations: the in-memory transport, fauxqs embedded in this
 * process, ElasticMQ run natively and moto (`moto_server` from a Python venv). Differences from AWS are listed per server (docs/sqs-servers.md) and
 * flip only the expectation they concern.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { MemoryTransport } from '../../src/queue/memory/memory-transport.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { startElasticMq, type ElasticMq } from '../support/elasticmq.js';
import { startMoto, type Moto } from '../support/moto.js';
import { batchCases } from './conformance/batch.cases.js';
import { deliveryCases } from './conformance/delivery.cases.js';
import { moveCases } from './conformance/move.cases.js';
import type { Difference, Harness } from './conformance/harness.js';

function conformance(name: string, start: () => Promise<{ harness: Harness; stop(): Promise<void> }>): void {
  describe.concurrent(name, () => {
    let running: { harness: Harness; stop(): Promise<void> } | undefined;
    beforeAll(async () => {
      running = await start();
    });
    afterAll(async () => {
      await running?.stop();
    });
    const harness = (): Harness => {
      if (!running) throw new Error(`${name} did not start`);
      return running.harness;
    };
    deliveryCases(harness);
    batchCases(harness);
    moveCases(harness);
  });
}

function sqsHarness(name: string, endpoint: string, differences: Difference[]): Harness {
  return { name, transport: new SqsTransport({ endpoint, region: 'us-east-1' }), differences: new Set(differences) };
}

conformance('MemoryTransport', async () => {
  const transport = new MemoryTransport();
  return { harness: { name: 'memory', transport, differences: new Set() }, stop: () => transport.close() };
});

conformance('SqsTransport on fauxqs (embedded)', async () => {
  let server: EmbeddedSqs | undefined = await startEmbeddedSqs();
  const harness = sqsHarness('fauxqs', server.endpoint, ['deleteBatchAcceptsBogusHandle', 'noMessageMove']);
  return {
    harness,
    async stop() {
      await harness.transport.close();
      await server?.stop();
      server = undefined;
    },
  };
});

conformance('SqsTransport on ElasticMQ (native)', async () => {
  const server: ElasticMq = await startElasticMq();
  const harness = sqsHarness('elasticmq', server.endpoint, []);
  return {
    harness,
    async stop() {
      await harness.transport.close();
      await server.stop();
    },
  };
});

conformance('SqsTransport on moto (moto_server)', async () => {
  const server: Moto = await startMoto();
  const harness = sqsHarness('moto', server.endpoint, ['noMessageMove']);
  return {
    harness,
    async stop() {
      await harness.transport.close();
      await server.stop();
    },
  };
});
