/**
 * The layer rule of docs/architecture.md, enforced: every import inside src/ points down the layers
 * table, and no module imports itself back through a cycle. A folder not in the table fails too, so
 * a new folder is placed deliberately.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/process.js';

const SRC = join(REPO_ROOT, 'src');

/** Each layer and the layers it may import (values); `types:` entries allow type-only imports. */
const LAYERS: Record<string, readonly string[]> = {
  shared: [],
  queue: ['shared'],
  machines: ['shared', 'types:queue'],
  store: ['shared', 'types:queue'],
  runtime: ['shared', 'queue', 'machines', 'store'],
  telemetry: ['shared', 'queue', 'machines', 'store', 'runtime'],
  config: ['shared', 'queue', 'machines', 'store', 'runtime', 'telemetry'],
  ops: ['shared', 'queue', 'machines', 'store', 'runtime', 'telemetry', 'config'],
  jobs: ['shared', 'machines'],
  api: ['shared', 'queue', 'machines', 'store', 'runtime', 'telemetry', 'config', 'ops', 'jobs'],
  console: ['shared', 'queue', 'machines', 'store', 'runtime', 'telemetry', 'config', 'ops', 'jobs', 'api'],
  cli: ['shared', 'queue', 'machines', 'store', 'runtime', 'telemetry', 'config', 'ops', 'jobs', 'api', 'console'],
  index: ['shared', 'queue', 'machines', 'store', 'runtime', 'telemetry', 'config', 'ops', 'jobs'],
};

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** The relative imports of one file (static, re-exports and dynamic), resolved to .ts paths. */
function importsOf(file: string, text: string): Import[] {
  const found: Import[] = [];
  const statement = /(?:^|\n)\s*(import|export)\s+(type\s+)?[^;'"]*?from\s*['"](\.[^'"]+)['"]/g;
  for (const match of text.matchAll(statement)) {
    found.push({ from: file, to: resolve(dirname(file), match[3]!.replace(/\.js$/, '.ts')), typeOnly: match[2] !== undefined });
  }
  for (const match of text.matchAll(/(?:^|\n)\s*import\s*['"](\.[^'"]+)['"]/g)) {
    found.push({ from: file, to: resolve(dirname(file), match[1]!.replace(/\.js$/, '.ts')), typeOnly: false });
  }
  for (const match of text.matchAll(/import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) {
    found.push({ from: file, to: resolve(dirname(file), match[1]!.replace(/\.js$/, '.ts')), typeOnly: false });
  }
  return found;
}

/** The layer of a file under src/: its first folder, or `index` for src/index.ts. */
function layerOf(file: string): string {
  const [first, ...rest] = relative(SRC, file).split('/');
  return rest.length === 0 ? first!.replace(/\.ts$/, '') : first!;
}

/** Every import that points the wrong way, as `src/a/x.ts -> src/b/y.ts (a may not import b)`. */
function violations(imports: readonly Import[]): string[] {
  const out: string[] = [];
  for (const { from, to, typeOnly } of imports) {
    const source = layerOf(from);
    const target = layerOf(to);
    if (source === target) continue;
    const allowed = LAYERS[source];
    if (allowed === undefined) {
      out.push(`${relative(REPO_ROOT, from)}: the folder src/${source}/ is not in the layers table`);
      continue;
    }
    if (allowed.includes(target) || (typeOnly && allowed.includes(`types:${target}`))) continue;
    const how = allowed.includes(`types:${target}`) ? ' except for types (use import type)' : '';
    out.push(`${relative(REPO_ROOT, from)} -> ${relative(REPO_ROOT, to)} (${source} may not import ${target}${how})`);
  }
  return out;
}

/** Import cycles among modules (type-only imports included: they still tie the modules together). */
function cycles(imports: readonly Import[]): string[][] {
  const graph = new Map<string, string[]>();
  for (const { from, to } of imports) graph.set(from, [...(graph.get(from) ?? []), to]);
  // Tarjan's strongly connected components.
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    indices.set(node, index);
    low.set(node, index);
    index += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!indices.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, indices.get(next)!));
      }
    }
    if (low.get(node) === indices.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(relative(REPO_ROOT, member));
      } while (member !== node);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!indices.has(node)) visit(node);
  return found;
}

describe('the layer rule', () => {
  const imports = sourceFiles(SRC).flatMap((file) => importsOf(file, readFileSync(file, 'utf8')));

  it('reads the imports of src/ (sanity: the scan sees the tree)', () => {
    expect(imports.length).toBeGreaterThan(100);
    expect(imports.some((i) => layerOf(i.from) === 'runtime' && layerOf(i.to) === 'machines')).toBe(true);
  });

  it('every import points down the layers table', () => {
    expect(violations(imports)).toEqual([]);
  });

  it('no import cycles', () => {
    expect(cycles(imports)).toEqual([]);
  });

  it('catches an import that points the wrong way, and a cycle', () => {
    const q = join(SRC, 'queue', 'x.ts');
    const r = join(SRC, 'runtime', 'y.ts');
    const m = join(SRC, 'machines', 'z.ts');
    expect(violations(importsOf(q, "import { Worker } from '../runtime/y.js';"))).toEqual([
      'src/queue/x.ts -> src/runtime/y.ts (queue may not import runtime)',
    ]);
    expect(violations(importsOf(m, "import type { Envelope } from '../queue/x.js';"))).toEqual([]);
    expect(violations(importsOf(m, "import { decode } from '../queue/x.js';"))).toEqual([
      'src/machines/z.ts -> src/queue/x.ts (machines may not import queue except for types (use import type))',
    ]);
    expect(
      cycles([...importsOf(r, "import { a } from './w.js';"), ...importsOf(join(SRC, 'runtime', 'w.ts'), "export { b } from './y.js';")]),
    ).toEqual([['src/runtime/w.ts', 'src/runtime/y.ts']]);
  });
});
