/**
 * The repository's otel-collector.yaml is a valid Collector config for the Collector we build
 * (scripts/peers/otelcol-builder.yaml), with its defaults (as docker-compose runs it) and with the
 * loopback overrides the tests use; and `otelcol validate` really rejects a broken config.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../support/go-peer.js';
import { COLLECTOR_CONFIG, installCollector } from '../support/otelcol.js';

/** The process environment without any OTEL_COLLECTOR_* override: the file's own defaults apply. */
function defaultEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OTEL_COLLECTOR_')));
}

describe('otel-collector.yaml', () => {
  let bin = '';
  let dir = '';

  beforeAll(async () => {
    bin = await installCollector();
    dir = await mkdtemp(join(tmpdir(), 'calsync-otelcol-config-'));
  }, 20 * 60_000); // a cold Go build takes minutes on 2 cores

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('validates with its default environment (as docker-compose runs it)', async () => {
    const result = await run(bin, ['validate', `--config=${COLLECTOR_CONFIG}`], defaultEnv());
    expect(result.output).not.toMatch(/error/i);
    expect(result.code).toBe(0);
  });

  it('validates with loopback endpoints and self-telemetry switched off', async () => {
    const result = await run(bin, ['validate', `--config=${COLLECTOR_CONFIG}`], {
      ...defaultEnv(),
      OTEL_COLLECTOR_GRPC_ENDPOINT: '127.0.0.1:14317',
      OTEL_COLLECTOR_HTTP_ENDPOINT: '127.0.0.1:14318',
      OTEL_COLLECTOR_JAEGER_ENDPOINT: '127.0.0.1:24317',
      OTEL_COLLECTOR_DEBUG_VERBOSITY: 'detailed',
      OTEL_COLLECTOR_TELEMETRY_LEVEL: 'none',
    });
    expect(result.code, result.output).toBe(0);
  });

  it('has the components docker-compose and the tests rely on', async () => {
    const text = await readFile(COLLECTOR_CONFIG, 'utf8');
    for (const needle of ['memory_limiter:', 'batch:', 'otlp_grpc/jaeger:', 'debug:', 'traces:', 'metrics:']) {
      expect(text).toContain(needle);
    }
    const components = await run(bin, ['components']);
    expect(components.code, components.output).toBe(0);
    for (const name of ['otlp', 'memory_limiter', 'batch', 'otlp_grpc', 'otlp_http', 'debug']) {
      expect(components.output).toMatch(new RegExp(`name: ${name}\\b`));
    }
  });

  it('is rejected by `otelcol validate` when a pipeline names an unknown exporter', async () => {
    const broken = (await readFile(COLLECTOR_CONFIG, 'utf8')).replace(
      'exporters: [otlp_grpc/jaeger, debug]',
      'exporters: [otlp_grpc/nowhere, debug]',
    );
    expect(broken).toContain('otlp_grpc/nowhere');
    const file = join(dir, 'broken.yaml');
    await writeFile(file, broken);
    const result = await run(bin, ['validate', `--config=${file}`], defaultEnv());
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('otlp_grpc/nowhere');
  });

  it('is rejected when an override variable holds a bad value', async () => {
    const result = await run(bin, ['validate', `--config=${COLLECTOR_CONFIG}`], {
      ...defaultEnv(),
      OTEL_COLLECTOR_DEBUG_VERBOSITY: 'loud',
    });
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('loud');
  });
});
