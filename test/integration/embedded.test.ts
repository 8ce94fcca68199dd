/**
 * The embedded fauxqs server answers SQS on 127.0.0.1 and on no other address.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startEmbeddedSqs, type EmbeddedSqs } from '../../src/ops/embedded-sqs.js';
import { SqsTransport } from '../../src/queue/sqs/sqs-transport.js';

/** Local addresses of listening TCP sockets on `port`, from /proc/net/tcp and tcp6 (hex decoded). */
function listenersOn(port: number): string[] {
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || state !== '0A') continue; // 0A = LISTEN
      const [hexAddress, hexPort] = local.split(':');
      if (!hexAddress || Number.parseInt(hexPort ?? '', 16) !== port) continue;
      found.push(hexAddress.length === 8 ? decodeIpv4(hexAddress) : hexAddress);
    }
  }
  return found;
}

function decodeIpv4(hex: string): string {
  // /proc/net/tcp stores the address little-endian.
  return [6, 4, 2, 0].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)).join('.');
}

function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('timeout');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

describe('startEmbeddedSqs', () => {
  let server: EmbeddedSqs;
  beforeAll(async () => {
    server = await startEmbeddedSqs();
  });
  afterAll(async () => {
    await server.stop();
  });

  test('answers SQS calls on 127.0.0.1', async () => {
    expect(server.endpoint).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.port).toBeGreaterThan(0);
    const transport = new SqsTransport({ endpoint: server.endpoint });
    try {
      const url = await transport.createQueue('embedded-check');
      await transport.send(url, { body: 'ping' });
      const [message] = await transport.receive(url, { waitTimeSeconds: 1 });
      expect(message?.body).toBe('ping');
    } finally {
      await transport.close();
    }
  });

  test('listens on the loopback address only', async () => {
    expect(listenersOn(server.port)).toEqual(['127.0.0.1']);
    const external = Object.values(networkInterfaces())
      .flat()
      .find((info) => info !== undefined && info.family === 'IPv4' && !info.internal);
    if (external) {
      expect(await tryConnect(external.address, server.port)).toBe('ECONNREFUSED');
    }
    expect(await tryConnect('127.0.0.1', server.port)).toBe('connected');
  });

  test('stop closes the port and is idempotent', async () => {
    const other = await startEmbeddedSqs();
    await Promise.all([other.stop(), other.stop()]);
    expect(await tryConnect('127.0.0.1', other.port)).toBe('ECONNREFUSED');
  });
});
