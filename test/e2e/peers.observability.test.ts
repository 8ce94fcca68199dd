/**
 * The telemetry path the worker will use, proven with real peers: OTLP/HTTP JSON into the Collector
 * (running the repository's otel-collector.yaml), OTLP/gRPC on to Jaeger, and back out of Jaeger's
 * query API as one trace with a parent/child pair.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, listeningAddresses } from '../support/go-peer.js';
import { queryTraces, tagValue, type JaegerPeer, type JaegerTrace } from '../support/jaeger.js';
import { startJaeger } from '../support/jaeger.js';
import { startCollector, type CollectorPeer } from '../support/otelcol.js';
import { waitFor } from '../support/process.js';

/** A cold build of Jaeger and the Collector takes minutes on 2 cores; a cached one, milliseconds. */
const BUILD_TIMEOUT_MS = 20 * 60_000;

/** Random hex id whose first byte is non-zero, so Jaeger prints all of it. */
function hexId(bytes: number): string {
  const id = randomBytes(bytes);
  id[0] = (id[0] ?? 0) | 0x10;
  return id.toString('hex');
}

describe('Collector → Jaeger pipeline (real peers on loopback)', () => {
  let jaeger: JaegerPeer | undefined;
  let collector: CollectorPeer | undefined;

  beforeAll(async () => {
    jaeger = await startJaeger();
    collector = await startCollector({ jaegerOtlpGrpcEndpoint: jaeger.otlpGrpcEndpoint });
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await collector?.stop();
    await jaeger?.stop();
  });

  it('listens on 127.0.0.1 only, on the ports it was given', () => {
    const jaegerAddresses = listeningAddresses(jaeger!.pid);
    const collectorAddresses = listeningAddresses(collector!.pid);
    for (const address of [...jaegerAddresses, ...collectorAddresses]) {
      expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    }
    const hostPort = (url: string): string => new URL(url).host;
    expect(jaegerAddresses).toEqual(
      expect.arrayContaining([hostPort(jaeger!.otlpHttpEndpoint), jaeger!.otlpGrpcEndpoint, hostPort(jaeger!.queryUrl)]),
    );
    expect(collectorAddresses).toEqual(
      expect.arrayContaining([hostPort(collector!.otlpHttpEndpoint), collector!.otlpGrpcEndpoint, hostPort(collector!.telemetryUrl)]),
    );
  });

  it('delivers a two-span trace sent as OTLP/JSON to Jaeger with its parent/child reference', async () => {
    const service = `calsync-e2e-${randomBytes(4).toString('hex')}`;
    const traceId = hexId(16);
    const parentSpanId = hexId(8);
    const childSpanId = hexId(8);
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
          scopeSpans: [
            {
              scope: { name: 'calsync-jobs-e2e', version: '0.0.0' },
              spans: [
                {
                  traceId,
                  spanId: parentSpanId,
                  name: 'send calsync-jobs',
                  kind: 4, // PRODUCER
                  startTimeUnixNano: String(nowNs),
                  endTimeUnixNano: String(nowNs + 2_000_000n),
                  attributes: [
                    { key: 'messaging.system', value: { stringValue: 'aws_sqs' } },
                    { key: 'messaging.destination.name', value: { stringValue: 'calsync-jobs' } },
                  ],
                },
                {
                  traceId,
                  spanId: childSpanId,
                  parentSpanId,
                  name: 'process demo.hello',
                  kind: 5, // CONSUMER
                  startTimeUnixNano: String(nowNs + 5_000_000n),
                  endTimeUnixNano: String(nowNs + 9_000_000n),
                  attributes: [
                    { key: 'job.type', value: { stringValue: 'demo.hello' } },
                    { key: 'job.attempt', value: { intValue: '1' } },
                  ],
                },
              ],
            },
          ],
        },
      ],
    };

    const res = await fetch(`${collector!.otlpHttpEndpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);

    // The Collector batches (1 s) and Jaeger batches (100 ms): poll until both spans are stored.
    const trace: JaegerTrace = await waitFor(
      `trace ${traceId} in Jaeger`,
      async () => {
        const traces = await queryTraces(jaeger!.queryUrl, service);
        const found = traces.find((t) => t.traceID === traceId);
        return found && found.spans.length === 2 ? found : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );

    const parent = trace.spans.find((s) => s.spanID === parentSpanId);
    const child = trace.spans.find((s) => s.spanID === childSpanId);
    expect(parent?.operationName).toBe('send calsync-jobs');
    expect(child?.operationName).toBe('process demo.hello');
    expect(parent?.references).toEqual([]);
    expect(child?.references).toEqual([{ refType: 'CHILD_OF', traceID: traceId, spanID: parentSpanId }]);
    expect(tagValue(parent!, 'span.kind')).toBe('producer');
    expect(tagValue(child!, 'span.kind')).toBe('consumer');
    expect(tagValue(child!, 'job.attempt')).toBe(1);
    expect(trace.processes[child!.processID]?.serviceName).toBe(service);

    const services = (await (await fetch(`${jaeger!.queryUrl}/api/services`)).json()) as { data: string[] };
    expect(services.data).toContain(service);
  });

  it('stops both peers by PID', async () => {
    const pids = [collector!.pid, jaeger!.pid];
    await collector!.stop();
    await jaeger!.stop();
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
  });
});
