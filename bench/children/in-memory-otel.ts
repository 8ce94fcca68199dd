/**
 * "Telemetry on" for the benchmark: a real OpenTelemetry SDK in the worker process (NodeSDK, W3C
 * propagation, AsyncLocalStorage context) whose spans go through a BatchSpanProcessor into an
 * in-memory exporter and whose metrics are collected every second by a periodic reader into an
 * in-memory exporter. Both exporters are emptied every second, so memory stays flat and no network
 * is involved: what is measured is span creation, context propagation and metric recording.
 */
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { AggregationTemporality, InMemoryMetricExporter, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';

export interface InMemoryOtel {
  /** Spans that reached the exporter so far (a check that tracing really ran). */
  spansExported(): number;
  shutdown(): Promise<void>;
}

export function startInMemoryOtel(): InMemoryOtel {
  const spans = new InMemorySpanExporter();
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const sdk = new NodeSDK({
    serviceName: 'calsync-bench',
    textMapPropagator: new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
    spanProcessors: [new BatchSpanProcessor(spans, { maxQueueSize: 65_536, maxExportBatchSize: 2_048, scheduledDelayMillis: 200 })],
    metricReaders: [new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 1_000 })],
    logRecordProcessors: [],
    instrumentations: [],
    resourceDetectors: [],
  });
  sdk.start();
  let exported = 0;
  const timer = setInterval(() => {
    exported += spans.getFinishedSpans().length;
    spans.reset();
    metricExporter.reset();
  }, 1_000);
  timer.unref();
  return {
    spansExported: () => exported + spans.getFinishedSpans().length,
    async shutdown() {
      clearInterval(timer);
      exported += spans.getFinishedSpans().length;
      await sdk.shutdown();
    },
  };
}
