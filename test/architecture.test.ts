/**
 * The import graph of src/ (static imports, `export … from`, `import type` and dynamic `import()`), checked against
 * ARCHITECTURE.md: no cycle between files, no cycle between top-level folders, every folder imports only from lower
 * layers, and only src/runtime/ imports onnxruntime.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';

const SRC = resolve(new URL('../src', import.meta.url).pathname);

/**
 * Layers, bottom to top (ARCHITECTURE.md): a folder (or a file directly in src/) may import only from lower layers.
 * Folders on the same layer do not import each other.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['errors.ts', 'types.ts'],
  ['util'],
  ['image', 'onnx', 'runtime', 'train'],
  ['audit', 'embed', 'export', 'registry'],
  ['run'],
  ['report', 'serve'],
  ['workflows'],
  ['cli'],
  ['index.ts', 'testing.ts'],
];

/**
 * File cycles tolerated while someone fixes them, each with its owner, e.g.
 * `{ files: ['cli/commands/one-shot.ts', 'cli/commands/run-one-shot.ts'], owner: 'h-cli' }` (fixed). The test fails
 * when a listed cycle is gone (delete its line: the list only shrinks) and when any other cycle appears. Empty now.
 */
const KNOWN_FILE_CYCLES: ReadonlyArray<{ readonly files: readonly string[]; readonly owner: string }> = [];

const ONNXRUNTIME = /^onnxruntime-(node|web|common)(\/|$)/;

interface ImportEdge { readonly from: string; readonly to: string; readonly specifier: string }

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [relative(SRC, path)] : [];
  });
}

/** Every import of every file: relative ones resolved to src-relative paths, bare ones as written. */
function importGraph(): { files: string[]; local: ImportEdge[]; bare: ImportEdge[] } {
  const files = sourceFiles(SRC);
  const local: ImportEdge[] = [], bare: ImportEdge[] = [];
  for (const file of files) {
    const text = readFileSync(join(SRC, file), 'utf8');
    // preProcessFile finds `import`, `export … from`, `import type`, `import()` and `require()`, ignoring comments and strings.
    for (const { fileName: specifier } of ts.preProcessFile(text, true, true).importedFiles) {
      if (!specifier.startsWith('.')) {
        bare.push({ from: file, to: specifier, specifier });
        continue;
      }
      // `./x.js` is x.ts, or a plain JavaScript module (image/resample-kernels.js, shared with the serve page).
      const written = resolve(dirname(join(SRC, file)), specifier);
      const typescript = written.replace(/\.js$/, '.ts');
      const target = existsSync(typescript) ? typescript : written;
      assert.ok(existsSync(target), `${file} imports "${specifier}", which does not exist`);
      local.push({ from: file, to: relative(SRC, target), specifier });
    }
  }
  return { files, local, bare };
}

/** Strongly connected components with more than one node (or a self-loop): the cycles. Tarjan's algorithm. */
function cycles(nodes: readonly string[], edges: ReadonlyArray<readonly [string, string]>): string[][] {
  const next = new Map<string, string[]>(nodes.map((node) => [node, []]));
  for (const [from, to] of edges) next.get(from)?.push(to);
  const index = new Map<string, number>(), low = new Map<string, number>(), onStack = new Set<string>();
  const stack: string[] = [], found: string[][] = [];
  let counter = 0;
  const visit = (node: string): void => {
    index.set(node, counter); low.set(node, counter); counter++;
    stack.push(node); onStack.add(node);
    for (const to of next.get(node) ?? []) {
      if (!index.has(to)) { visit(to); low.set(node, Math.min(low.get(node)!, low.get(to)!)); }
      else if (onStack.has(to)) low.set(node, Math.min(low.get(node)!, index.get(to)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do { member = stack.pop()!; onStack.delete(member); component.push(member); } while (member !== node);
    if (component.length > 1 || (next.get(node) ?? []).includes(node)) found.push(component.sort());
  }
  for (const node of nodes) if (!index.has(node)) visit(node);
  return found.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** `train` for src/train/…, `errors.ts` for a file directly in src/. */
const unitOf = (file: string): string => file.split('/')[0]!;

/** Where a cycle goes, e.g. `a.ts → b.ts → a.ts`, following real edges. */
function describeCycle(component: readonly string[], edges: ReadonlyArray<readonly [string, string]>): string {
  const members = new Set(component);
  const path = [component[0]!];
  while (path.length <= component.length) {
    const last = path[path.length - 1]!;
    const to = edges.find(([from, target]) => from === last && members.has(target) && (target === component[0] || !path.includes(target)));
    if (!to) break;
    path.push(to[1]);
    if (to[1] === component[0]) break;
  }
  return path.join(' → ');
}

const graph = importGraph();

describe('architecture: the import graph of src/', () => {
  it('has no cycle between files except the known ones, and each known one still exists', () => {
    const edges = graph.local.map((edge) => [edge.from, edge.to] as const);
    const found = cycles(graph.files, edges);
    const key = (files: readonly string[]) => [...files].sort().join(' | ');
    const known = new Set(KNOWN_FILE_CYCLES.map((cycle) => key(cycle.files)));
    const unexpected = found.filter((component) => !known.has(key(component)));
    assert.deepEqual(unexpected.map((component) => describeCycle(component, edges)), [],
      'new import cycle(s) between files: move the shared part into a module both can import');
    const gone = KNOWN_FILE_CYCLES.filter((cycle) => !found.some((component) => key(component) === key(cycle.files)));
    assert.deepEqual(gone.map((cycle) => `${key(cycle.files)} (${cycle.owner})`), [],
      'a known cycle is fixed: delete it from KNOWN_FILE_CYCLES so it cannot come back');
  });

  it('has no cycle between top-level folders', () => {
    const units = [...new Set(graph.files.map(unitOf))].sort();
    const edges = graph.local.filter((edge) => unitOf(edge.from) !== unitOf(edge.to)).map((edge) => [unitOf(edge.from), unitOf(edge.to)] as const);
    const found = cycles(units, edges);
    assert.deepEqual(found.map((component) => {
      const witnesses = graph.local.filter((edge) => component.includes(unitOf(edge.from)) && component.includes(unitOf(edge.to)) &&
        unitOf(edge.from) !== unitOf(edge.to)).map((edge) => `${edge.from} → ${edge.to}`);
      return `${describeCycle(component, edges)} (${[...new Set(witnesses)].join('; ')})`;
    }), []);
  });

  it('imports only from lower layers (ARCHITECTURE.md), and every folder has a layer', () => {
    const layerOf = new Map(LAYERS.flatMap((units, layer) => units.map((unit) => [unit, layer] as const)));
    const units = [...new Set(graph.files.map(unitOf))].sort();
    assert.deepEqual(units.filter((unit) => !layerOf.has(unit)), [],
      'a new top-level folder or file: give it a layer in LAYERS here and in ARCHITECTURE.md');
    const upward = graph.local.filter((edge) => unitOf(edge.from) !== unitOf(edge.to) &&
      layerOf.get(unitOf(edge.from))! <= layerOf.get(unitOf(edge.to))!);
    assert.deepEqual(upward.map((edge) => `${edge.from} imports ${edge.specifier} (${unitOf(edge.to)} is not below ${unitOf(edge.from)})`), []);
  });

  it('imports onnxruntime only in src/runtime/', () => {
    const outside = graph.bare.filter((edge) => ONNXRUNTIME.test(edge.to) && unitOf(edge.from) !== 'runtime');
    assert.deepEqual(outside.map((edge) => `${edge.from} imports ${edge.to}`), [],
      'only src/runtime/ may load onnxruntime: add what you need to src/runtime/ and import it from there');
  });

  it('sees every kind of import (a check of the checker)', () => {
    const text = [
      "import a from './a.js';", "import type { B } from './b.js';", "export { c } from './c.js';",
      "const d = await import('./d.js');", "// import e from './e.js';", "const f = \"import g from './g.js'\";",
      "import ort from 'onnxruntime-node';", "const w = await import('onnxruntime-web/wasm');",
    ].join('\n');
    const found = ts.preProcessFile(text, true, true).importedFiles.map((file) => file.fileName).sort();
    assert.deepEqual(found, ['./a.js', './b.js', './c.js', './d.js', 'onnxruntime-node', 'onnxruntime-web/wasm']);
    assert.ok(ONNXRUNTIME.test('onnxruntime-common') && !ONNXRUNTIME.test('onnxruntime-nodes'));
    assert.deepEqual(cycles(['a', 'b', 'c'], [['a', 'b'], ['b', 'a'], ['b', 'c']]), [['a', 'b']]);
    assert.deepEqual(cycles(['a'], [['a', 'a']]), [['a']]);
  });
});
