/**
 * docker-compose.yml is checked the way `docker compose config` checks it — there is no Docker engine
 * or compose plugin here — by compose-go (the loader inside Docker Compose): Compose Specification
 * JSON schema, interpolation, and references between services, volumes and dependencies. Then the
 * normalised model is checked for what docs/local-dev.md promises.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installGoPeer, run } from '../support/go-peer.js';
import { REPO_ROOT } from '../support/process.js';

const COMPOSE_FILE = join(REPO_ROOT, 'docker-compose.yml');

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string | null>;
  ports?: { target: number; published?: string; host_ip?: string }[];
  volumes?: { type: string; source: string; target: string; read_only?: boolean }[];
  profiles?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[] };
}

interface ComposeProject {
  name: string;
  services: Record<string, ComposeService>;
}

describe('docker-compose.yml', () => {
  let bin = '';
  let dir = '';

  beforeAll(async () => {
    bin = await installGoPeer('compose-config.sh');
    dir = await mkdtemp(join(tmpdir(), 'calsync-compose-'));
  }, 20 * 60_000); // a cold Go build takes minutes on 2 cores

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Loads a compose file with every profile enabled; throws with the loader's message if invalid. */
  async function load(file: string, env: NodeJS.ProcessEnv = {}): Promise<ComposeProject> {
    const result = await run(bin, ['-profile', '*', '-format', 'json', file], { ...process.env, ...env });
    if (result.code !== 0) throw new Error(result.output);
    return JSON.parse(result.output) as ComposeProject;
  }

  it('is a valid Compose file with the promised services', async () => {
    const project = await load(COMPOSE_FILE);
    expect(project.name).toBe('calsync-jobs');
    expect(Object.keys(project.services).sort()).toEqual(
      ['elasticmq', 'jaeger', 'localstack', 'otel-collector', 'postgres', 'radicale', 'worker'].sort(),
    );
  });

  it('keeps LocalStack out of the default profile', async () => {
    const project = await load(COMPOSE_FILE);
    expect(project.services.localstack?.profiles).toEqual(['localstack']);
    expect(Object.keys(project.services.localstack?.environment ?? {})).toContain('LOCALSTACK_AUTH_TOKEN');
    for (const [name, service] of Object.entries(project.services)) {
      if (name !== 'localstack') expect(service.profiles ?? []).toEqual([]);
    }
    const defaults = await run(bin, ['-format', 'json', COMPOSE_FILE]);
    expect(defaults.code, defaults.output).toBe(0);
    expect(Object.keys((JSON.parse(defaults.output) as ComposeProject).services)).not.toContain('localstack');
  });

  it('wires the worker to ElasticMQ, the Collector, Radicale and PostgreSQL', async () => {
    const worker = (await load(COMPOSE_FILE)).services.worker!;
    expect(worker.build?.dockerfile).toBe('Dockerfile');
    expect(worker.command).toEqual(['node', 'bin/calsync-jobs.js', 'worker']);
    const env = worker.environment ?? {};
    expect(env).toMatchObject({
      AWS_ENDPOINT_URL_SQS: 'http://elasticmq:9324',
      AWS_REGION: 'us-east-1',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318',
      OTEL_SERVICE_NAME: 'calsync-worker',
      CALSYNC_DATABASE_URL: 'postgres://calsync:calsync@postgres:5432/calsync',
      CALSYNC_STORE_URL: 'postgres://calsync:calsync@postgres:5432/calsync',
    });
    expect(JSON.parse(env.CALSYNC_ACCOUNTS ?? 'null')).toEqual({
      demo: { serverUrl: 'http://radicale:5232', username: 'demo', password: 'demo' },
    });
    expect(worker.ports).toContainEqual(expect.objectContaining({ target: 9464, published: '9464' }));
    expect(Object.keys(worker.depends_on ?? {}).sort()).toEqual(['elasticmq', 'otel-collector', 'postgres', 'radicale']);
  });

  it('wires every calsync-jobs process (worker, and an api when there is one) to the job store on PostgreSQL', async () => {
    const project = await load(COMPOSE_FILE);
    const postgres = project.services.postgres!;
    expect(postgres.image).toBe('postgres:15');
    expect(postgres.healthcheck?.test).toEqual(['CMD-SHELL', 'pg_isready -U calsync -d calsync']);
    const pg = postgres.environment ?? {};
    const expected = `postgres://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@postgres:5432/${pg.POSTGRES_DB}`;
    // Services that run this repository's image: the worker today, the api (or any other command) later.
    const ours = Object.entries(project.services).filter(
      ([, s]) => s.build?.dockerfile === 'Dockerfile' || s.image?.startsWith('calsync-jobs:'),
    );
    expect(ours.map(([name]) => name)).toContain('worker');
    for (const [name, service] of ours) {
      expect(service.environment?.CALSYNC_STORE_URL, name).toBe(expected);
      // The worker migrates the store at start-up: PostgreSQL must accept connections first.
      expect(service.depends_on?.postgres, name).toEqual(expect.objectContaining({ condition: 'service_healthy' }));
    }
  });

  it('mounts configs that exist in the repository', async () => {
    const project = await load(COMPOSE_FILE);
    const mounts = Object.values(project.services)
      .flatMap((s) => s.volumes ?? [])
      .filter((v) => v.type === 'bind');
    expect(mounts.map((m) => m.target).sort()).toEqual(
      ['/config/config', '/config/users', '/etc/otelcol/config.yaml', '/opt/elasticmq.conf'].sort(),
    );
    for (const mount of mounts) {
      expect(existsSync(mount.source), mount.source).toBe(true);
      expect(mount.read_only).toBe(true);
    }
    expect(existsSync(join(REPO_ROOT, 'Dockerfile'))).toBe(true);
    expect(existsSync(join(REPO_ROOT, '.dockerignore'))).toBe(true);
  });

  it('pre-creates the job queue with its dead-letter queue in ElasticMQ', async () => {
    const conf = await readFile(join(REPO_ROOT, 'deploy', 'elasticmq.conf'), 'utf8');
    expect(conf).toMatch(/calsync-jobs\s*\{[^}]*deadLettersQueue\s*\{\s*name\s*=\s*"calsync-jobs-dlq"\s*maxReceiveCount\s*=\s*5\s*\}/);
    expect(conf).toMatch(/calsync-jobs-dlq\s*\{/);
    expect((await readFile(join(REPO_ROOT, 'deploy', 'radicale', 'users'), 'utf8')).trim()).toBe('demo:demo');
  });

  it('publishes every port on 127.0.0.1 only', async () => {
    const project = await load(COMPOSE_FILE);
    const ports = Object.values(project.services).flatMap((s) => s.ports ?? []);
    expect(ports.length).toBeGreaterThan(5);
    for (const port of ports) expect(port.host_ip).toBe('127.0.0.1');
  });

  it('rejects what `docker compose config` rejects', async () => {
    const original = await readFile(COMPOSE_FILE, 'utf8');
    const cases: [string, string][] = [
      ['unknown key', original.replace('    image: postgres:15\n', '    image: postgres:15\n    imagee: typo\n')],
      [
        'dependency on a missing service',
        original.replace(
          '        condition: service_healthy\n',
          '        condition: service_healthy\n      nosuchservice:\n        condition: service_started\n',
        ),
      ],
      ['wrong type', original.replace('      retries: 30\n', '      retries: many\n')],
    ];
    for (const [what, text] of cases) {
      expect(text, what).not.toBe(original);
      const file = join(dir, 'docker-compose.yml');
      await writeFile(file, text);
      const result = await run(bin, ['-profile', '*', file]);
      expect(result.code, `${what}: ${result.output}`).not.toBe(0);
      expect(result.output, what).toMatch(/invalid compose file/);
    }
  });
});
