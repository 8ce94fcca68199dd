/**
 * Decode cost: `decodeEnvelope` (size check, JSON.parse, the safety walk, the zod envelope schema)
 * against `JSON.parse` of the same body, timed alternately in this process, so the ratio holds on a
 * busy machine. Bodies: wide 1 MiB payloads of several shapes (issue 10, defect 12: the safety walk
 * once built a path string per node and cost 15–45× JSON.parse on them) and a typical 1 KiB job.
 *
 * Part of `npm run bench`; alone: `npx tsx bench/decode.ts` (BENCH_RUNS, BENCH_QUICK as there).
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { decodeEnvelope } from '../src/queue/envelope.js';
import { SQS_LIMITS } from '../src/queue/transport.js';
import { median, spread, type Spread } from './stats.js';

export interface DecodeRow {
  name: string;
  kib: number;
  /** JSON.parse, µs per KiB of body (median per run, then median of runs). */
  parseUsPerKiB: Spread;
  decodeUsPerKiB: Spread;
  /** decodeEnvelope time / JSON.parse time of the same body in the same run. */
  ratio: Spread;
}

/** The target printed by `npm run bench`. */
export const DECODE_TARGET_RATIO = 3;

function envelopeBody(payload: unknown): string {
  return JSON.stringify({
    v: 1,
    id: '0f8fad5b-d9cb-469f-a165-70867728950e',
    type: 'bench.decode',
    payload,
    attempt: 1,
    createdAt: '2026-01-02T03:04:05.000Z',
  });
}

/** The largest body `payload(n)` makes that is at most `limit` bytes (binary search on n). */
function fill(limit: number, payload: (n: number) => unknown): string {
  let high = 1;
  while (Buffer.byteLength(envelopeBody(payload(high))) <= limit) high *= 2;
  let low = high / 2;
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (Buffer.byteLength(envelopeBody(payload(mid))) <= limit) low = mid;
    else high = mid;
  }
  return envelopeBody(payload(low));
}

const list = (make: (i: number) => unknown) => (n: number) => Array.from({ length: n }, (_, i) => make(i));

/** The bodies measured, each a valid envelope under the 1 MiB default limit. */
export function decodeBodies(): Array<{ name: string; body: string }> {
  const limit = SQS_LIMITS.maxMessageBytes - 64;
  return [
    {
      name: 'wide: 1 MiB array of numbers',
      body: fill(
        limit,
        list((i) => i),
      ),
    },
    {
      name: 'wide: 1 MiB array of small objects',
      body: fill(
        limit,
        list((i) => ({ id: i, name: `item-${i}`, tags: ['a', 'b'], meta: { x: i, y: true } })),
      ),
    },
    {
      name: 'wide: 1 MiB object with many keys',
      body: fill(limit, (n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`key${i}`, i]))),
    },
    {
      name: 'typical: 1 KiB job',
      body: fill(1024, (n) => ({ calendarId: 'cal-1', events: list((i) => ({ id: `e${i}`, at: '2026-01-02T03:04:05Z' }))(n) })),
    },
  ];
}

function timeOnce(fn: () => unknown): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

/** `runs` rounds; in each, every body is parsed and decoded alternately `reps` times. */
export function decodeRows(runs: number, quick = false): DecodeRow[] {
  const bodies = decodeBodies();
  const perRun = new Map<string, Array<{ parse: number; decode: number }>>(bodies.map((b) => [b.name, []]));
  for (let run = 0; run < runs; run++) {
    for (const { name, body } of bodies) {
      const big = body.length > 100_000;
      const reps = quick ? (big ? 5 : 500) : big ? 21 : 5_000;
      const check = decodeEnvelope(body);
      if (!check.ok) throw new Error(`bench body ${name} does not decode: ${check.message}`);
      for (let i = 0; i < 3; i++) {
        JSON.parse(body);
        decodeEnvelope(body);
      }
      const parse: number[] = [];
      const decode: number[] = [];
      // Small bodies are timed in blocks of 50 so the timer's resolution does not dominate.
      const block = big ? 1 : 50;
      for (let i = 0; i < reps; i += block) {
        parse.push(
          timeOnce(() => {
            for (let j = 0; j < block; j++) JSON.parse(body);
          }) / block,
        );
        decode.push(
          timeOnce(() => {
            for (let j = 0; j < block; j++) decodeEnvelope(body);
          }) / block,
        );
      }
      perRun.get(name)!.push({ parse: median(parse), decode: median(decode) });
    }
  }
  return bodies.map(({ name, body }) => {
    const kib = Buffer.byteLength(body) / 1024;
    const rs = perRun.get(name)!;
    return {
      name,
      kib,
      parseUsPerKiB: spread(rs.map((r) => (r.parse * 1000) / kib)),
      decodeUsPerKiB: spread(rs.map((r) => (r.decode * 1000) / kib)),
      ratio: spread(rs.map((r) => r.decode / r.parse)),
    };
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.env.BENCH_QUICK === '1';
  const rows = decodeRows(Number(process.env.BENCH_RUNS ?? (quick ? 1 : 3)), quick);
  for (const r of rows) {
    console.log(
      `${r.name} (${r.kib.toFixed(0)} KiB): JSON.parse ${r.parseUsPerKiB.median.toFixed(2)} µs/KiB, decodeEnvelope ${r.decodeUsPerKiB.median.toFixed(2)} µs/KiB, ${r.ratio.median.toFixed(2)} × JSON.parse (runs ${r.ratio.min.toFixed(2)}–${r.ratio.max.toFixed(2)})`,
    );
  }
}
