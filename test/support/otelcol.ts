/**
 * A real OpenTelemetry Collector (built by `scripts/peers/otelcol.sh` from scripts/peers/otelcol-builder.yaml)
 * running the repository's own `otel-collector.yaml`, with every endpoint moved to a free loopback port
 * through the environment variables that file reads.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { installGoPeer, run, waitForPeer } from './go-peer.js';
import { REPO_ROOT, freePort, spawnPeer } from './process.js';

/** The config docker-compose mounts; tests run the same file. */
export const COLLECTOR_CONFIG = join(REPO_ROOT, 'otel-collector.yaml');

export interface CollectorPeer {
  /** Base URL of the OTLP/HTTP receiver, e.g. `http://127.0.0.1:43123` (append `/v1/traces`). */
  readonly otlpHttpEndpoint: string;
  /** `host:port` of the OTLP/gRPC receiver. */
  readonly otlpGrpcEndpoint: string;
  /** Where the Collector serves its own Prometheus metrics (`${url}/metrics`). */
  readonly telemetryUrl: string;
  readonly pid: number;
  /** The Collector's log so far (the debug exporter writes there). */
  output(): string;
  /** Stops the process (SIGTERM, then SIGKILL); idempotent. */
  stop(): Promise<void>;
}

export interface CollectorOptions {
  /** `host:port` of Jaeger's OTLP/gRPC receiver (`JaegerPeer.otlpGrpcEndpoint`). */
  readonly jaegerOtlpGrpcEndpoint: string;
  /** `basic` | `normal` | `detailed`; @defaultValue `'basic'` */
  readonly debugVerbosity?: string;
}

/** Builds the Collector if needed (cached) and returns the binary's path. */
export async function installCollector(): Promise<string> {
  return await installGoPeer('otelcol.sh');
}

/** Runs `otelcol validate --config=<file>` with the given environment; throws with its output if invalid. */
export async function validateCollectorConfig(env: NodeJS.ProcessEnv = {}, config = COLLECTOR_CONFIG): Promise<void> {
  const bin = await installCollector();
  const { code, output } = await run(bin, ['validate', `--config=${config}`], { ...process.env, ...env });
  if (code !== 0) throw new Error(`otelcol validate --config=${config} failed (exit ${code}):\n${output}`);
}

/**
 * Validates and starts the Collector with the repository's otel-collector.yaml, all listeners on
 * 127.0.0.1 free ports, exporting traces to the given Jaeger; resolves once both receivers accept.
 */
export async function startCollector(options: CollectorOptions): Promise<CollectorPeer> {
  const bin = await installCollector();
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const telemetryPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    OTEL_COLLECTOR_GRPC_ENDPOINT: `127.0.0.1:${grpcPort}`,
    OTEL_COLLECTOR_HTTP_ENDPOINT: `127.0.0.1:${httpPort}`,
    OTEL_COLLECTOR_JAEGER_ENDPOINT: options.jaegerOtlpGrpcEndpoint,
    OTEL_COLLECTOR_DEBUG_VERBOSITY: options.debugVerbosity ?? 'basic',
    OTEL_COLLECTOR_TELEMETRY_HOST: '127.0.0.1',
    OTEL_COLLECTOR_TELEMETRY_PORT: String(telemetryPort),
  };
  await validateCollectorConfig(env);
  const peer = spawnPeer('otelcol', bin, [`--config=${COLLECTOR_CONFIG}`], { env: { ...process.env, ...env } });
  const otlpHttpEndpoint = `http://127.0.0.1:${httpPort}`;
  try {
    await waitForPeer(peer, 'the Collector OTLP/HTTP receiver', async () => {
      // An empty export is a valid request: 200 once the traces pipeline runs.
      const res = await fetch(`${otlpHttpEndpoint}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      return res.ok;
    });
    await waitForPeer(peer, 'the Collector OTLP/gRPC receiver', () => tcpAccepts('127.0.0.1', grpcPort));
  } catch (error) {
    await peer.stop();
    throw error;
  }
  return {
    otlpHttpEndpoint,
    otlpGrpcEndpoint: `127.0.0.1:${grpcPort}`,
    telemetryUrl: `http://127.0.0.1:${telemetryPort}`,
    pid: peer.pid,
    output: () => peer.output(),
    stop: () => peer.stop(),
  };
}

/** Whether a TCP connection to host:port is accepted. */
export async function tcpAccepts(host: string, port: number): Promise<boolean> {
  return await new Promise((resolveAccept) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolveAccept(true);
    });
    socket.once('error', () => resolveAccept(false));
  });
}
