/**
 * Peers built from Go sources by the scripts in `scripts/peers/` (Jaeger, the OpenTelemetry Collector,
 * the compose checker): run the script's cached `install`, and read which TCP ports a process listens on.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { PEERS_DIR, REPO_ROOT, requireCommand, waitFor, type Peer } from './process.js';

const GO_INSTALL = 'install Go 1.25+ (apt-get install golang-go, or the official tarball) and put `go` on PATH';

/**
 * Runs `scripts/peers/<script> install` (a no-op once built) and returns the binary's path. Fails with
 * "go is not installed: ..." when Go is missing; a cold build takes minutes, so call it from a hook.
 */
export async function installGoPeer(script: string): Promise<string> {
  requireCommand('go', GO_INSTALL);
  const path = join(REPO_ROOT, 'scripts', 'peers', script);
  const env = { ...process.env, CALSYNC_PEERS_DIR: PEERS_DIR };
  const { code, output } = await run('bash', [path, 'install'], env);
  if (code !== 0) throw new Error(`${script} install failed (exit ${code}):\n${output.slice(-4_000)}`);
  const printed = await run('bash', [path, 'path'], env);
  return printed.output.trim();
}

/** Runs a command to completion, collecting stdout + stderr. */
export async function run(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; output: string }> {
  return await new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, output }));
  });
}

/** Like `waitFor`, but gives up at once, with the peer's output, if the peer exits first. */
export async function waitForPeer<T>(
  peer: Peer,
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
): Promise<T> {
  let onExit: (() => void) | undefined;
  const exited = new Promise<never>((_, reject) => {
    onExit = () => reject(new Error(`${peer.name} exited before ${what}:\n${peer.output().slice(-4_000)}`));
    peer.child.once('exit', onExit);
    if (peer.child.exitCode !== null || peer.child.signalCode !== null) onExit();
  });
  try {
    return await Promise.race([waitFor(what, check, { timeoutMs }), exited]);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('timed out')) {
      error.message += `\n${peer.name} output:\n${peer.output().slice(-4_000)}`;
    }
    throw error;
  } finally {
    if (onExit) peer.child.off('exit', onExit);
  }
}

/** Whether a process with this PID exists (a reaped child no longer does). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The TCP addresses a process listens on, as `host:port` (IPv6 hosts in brackets), read from
 * `/proc/<pid>/fd` and `/proc/net/tcp{,6}` — the same facts `ss -ltnp` shows, without needing `ss`.
 */
export function listeningAddresses(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1]) inodes.add(match[1]);
    } catch {
      /* the descriptor closed meanwhile */
    }
  }
  const found: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const [local, state, inode] = [cols[1], cols[3], cols[9]];
      if (!local || state !== '0A' || !inode || !inodes.has(inode)) continue; // 0A = LISTEN
      const [hexHost = '', hexPort = ''] = local.split(':');
      found.push(`${decodeHost(hexHost)}:${Number.parseInt(hexPort, 16)}`);
    }
  }
  return found.sort();
}

function decodeHost(hex: string): string {
  // /proc/net/tcp* stores each 32-bit word of the address in host (little-endian) byte order.
  const bytes: number[] = [];
  for (let word = 0; word < hex.length; word += 8) {
    const chunk = hex.slice(word, word + 8);
    for (let i = 6; i >= 0; i -= 2) bytes.push(Number.parseInt(chunk.slice(i, i + 2), 16));
  }
  if (bytes.length === 4) return bytes.join('.');
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return bytes.slice(12).join('.'); // IPv4-mapped IPv6
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return `[${groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}]`;
}
