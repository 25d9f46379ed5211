/**
 * Fuzz cases for dataset manifests (`--data x.csv | x.jsonl | x.ndjson | x.json`): seeded CSV, JSONL and JSON
 * manifests over a few real image files, with hostile cells (traversal, devices, NUL, 100 KB paths, prototype
 * keys), broken structure (unbalanced quotes, deep JSON nesting, invalid UTF-8) and byte-level mutations, plus a
 * few large ones (long cells, many rows). All manifests of a run share one folder with the images, `img/`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deriveSeed, Rng } from '../../src/util/rng.js';
import type { FuzzCase } from './harness.js';
import { flipBits, pick, spliceBytes, truncate } from './mutate.js';
import { png1x1 } from './png.js';

const CLASSES = ['cat', 'dog', 'eel'];
const IMAGES = Array.from({ length: 9 }, (_, i) => `img/${CLASSES[i % 3]}-${i}.png`);

const EDGE_PATHS = ['', ' ', '.', '..', 'img', 'img/', '../../../../../../etc/passwd', '/etc/passwd', '/dev/zero', '/dev/stdin',
  '/proc/self/fd/0', 'img/fifo.png', 'missing.png', 'img/cat-0.png\u0000.txt', 'C:\\windows\\x.png', 'http://127.0.0.1:9/x.png',
  'file:///etc/passwd', `${'a/'.repeat(3000)}x.png`, `${'x'.repeat(100_000)}.png`, 'img/CAT-0.PNG', './img/cat-0.png', 'img//cat-0.png',
  '~/x.png', '$HOME/x.png', '%2e%2e/x.png', 'img/cat-0.png ', '\u202eimg/cat-0.png', 'img/empty.png', 'img/not-an-image.png', 'img/dir.png'];
const EDGE_LABELS = ['', ' ', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '0', '-1', '1e400', 'NaN', '🐱', '\u0000',
  'a,b', 'a"b', '<script>alert(1)</script>', 'x'.repeat(100_000), 'cat ', 'CAT', '../x', '\u202ecat'];

type Row = [path: string, label: string];

function baseRows(rng: Rng): Row[] {
  const count = 3 + rng.nextInt(12);
  return Array.from({ length: count }, (_, i) => { const path = IMAGES[(i + rng.nextInt(3)) % IMAGES.length]!; return [path, CLASSES[IMAGES.indexOf(path) % 3]!]; });
}

const csvCell = (value: string, rng: Rng): string =>
  /[",\n\r]/.test(value) || rng.nextInt(4) === 0 ? `"${value.replaceAll('"', '""')}"` : value;

function renderCsv(rows: readonly Row[], rng: Rng): string {
  const newline = pick(rng, ['\n', '\r\n', '\r']);
  const header = rng.nextInt(3) === 0 ? [] : [pick(rng, ['path,label', 'label,path', 'file,class', 'image,category,extra', 'PATH , Label'])];
  const swapped = header[0]?.startsWith('label') === true;
  return [...header, ...rows.map(([path, label]) => (swapped ? [label, path] : [path, label]).map((cell) => csvCell(cell, rng)).join(','))].join(newline) + newline;
}

function renderJsonl(rows: readonly Row[], rng: Rng): string {
  return rows.map(([path, label]) => JSON.stringify(rng.nextInt(5) === 0 ? { file: path, class: label, extra: [1, { a: null }] } : { path, label })).join('\n') + '\n';
}

/** Text-level edits that keep the manifest mostly well-formed, so they reach the row checks. */
const TEXT_MUTATORS: ReadonlyArray<(rng: Rng, rows: Row[], format: 'csv' | 'json') => string> = [
  (rng, rows) => { const row = pick(rng, rows); row[0] = pick(rng, EDGE_PATHS); return `path := ${JSON.stringify(row[0].slice(0, 40))}${row[0].length > 40 ? `…(${row[0].length})` : ''}`; },
  (rng, rows) => { const row = pick(rng, rows); row[1] = pick(rng, EDGE_LABELS); return `label := ${JSON.stringify(row[1].slice(0, 40))}${row[1].length > 40 ? `…(${row[1].length})` : ''}`; },
  (rng, rows) => { const row = pick(rng, rows); rows.push([row[0], pick(rng, CLASSES)]); return 'same path, maybe another label'; },
  (rng, rows) => { const n = pick(rng, [10, 100, 1000]); for (let i = 0; i < n; i++) rows.push([`img/gen-${i}.png`, `class-${i % (1 + rng.nextInt(500))}`]); return `${n} extra rows (many missing files, many classes)`; },
  (rng, rows) => { rows.length = rng.nextInt(2); return `${rows.length} row(s)`; },
];

/** Hostile manifests written as is, each run once per fuzz run (the big ones cost up to a second each). */
const HOSTILE_MANIFESTS: ReadonlyArray<readonly [name: string, extension: string, content: () => string | Uint8Array]> = [
  ['unbalanced-quote', '.csv', () => '"img/cat-0.png,cat\nimg/dog-1.png,dog\n'],
  ['unclosed-2mb-quoted-cell', '.csv', () => `path,label\n"${'x'.repeat(2_000_000)}`],
  ['4mb-cell', '.csv', () => `path,label\n${'a'.repeat(4_000_000)},cat\n`],
  ['400k-columns', '.csv', () => `path,label\n${'img/cat-0.png,cat,'.repeat(200_000)}\n`],
  ['1m-blank-lines', '.csv', () => `${'\n'.repeat(1_000_000)}img/cat-0.png,cat\nimg/dog-1.png,dog\n`],
  ['200k-duplicate-rows', '.csv', () => `path,label\n${'img/cat-0.png,cat\n'.repeat(200_000)}`],
  ['utf16-bom', '.csv', () => Uint8Array.from([0xff, 0xfe, 0x70, 0x00, 0x61, 0x00, 0x2c, 0x00, 0x0a])],
  ['invalid-utf8', '.csv', () => Uint8Array.from([0xc3, 0x28, 0x2c, 0x63, 0x0a, 0xed, 0xa0, 0x80, 0x2c, 0x64, 0x0a])],
  ['json-nested-1m-unterminated', '.jsonl', () => `{"path":${'['.repeat(1_000_000)}`],
  ['json-array-nested-100k', '.json', () => `${'['.repeat(100_000)}${']'.repeat(100_000)}`],
  ['jsonl-label-nested-5000', '.jsonl', () => `{"path":"img/cat-0.png","label":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}\n`],
  ['proto-keys', '.jsonl', () => '{"__proto__":{"path":"img/cat-0.png","label":"cat"}}\n{"path":"img/dog-1.png","label":"dog","__proto__":null}\n'],
  ['numbers-out-of-range', '.jsonl', () => '{"path":"img/cat-0.png","label":1e400}\n{"path":"img/dog-1.png","label":-0}\n'],
  ['4mb-json-string', '.jsonl', () => `{"path":"img/cat-0.png","label":"${'x'.repeat(4_000_000)}"}\n`],
  ['truncated-json-array', '.json', () => '[{"path":"img/cat-0.png","label":"cat"},{"path":"img/dog-1.png","label":"dog"}'],
  ['non-object-lines', '.ndjson', () => 'null\n1\n"x"\n[]\ntrue\n'],
  ['100k-duplicate-lines', '.jsonl', () => '{"path":"img/cat-0.png","label":"cat"}\n'.repeat(100_000)],
  ['10k-rows-10k-classes', '.csv', () => `path,label\n${Array.from({ length: 10_000 }, (_, i) => `img/gen-${i}.png,class-${i}`).join('\n')}\n`],
];

const EXTENSIONS = { csv: ['.csv'], jsonl: ['.jsonl', '.ndjson'], json: ['.json'] } as const;

/** Writes the shared images folder: 9 PNGs, an empty file, a text file named .png, a folder named .png, a FIFO. */
export function writeManifestFolder(root: string): void {
  mkdirSync(join(root, 'img', 'dir.png'), { recursive: true });
  IMAGES.forEach((path, i) => writeFileSync(join(root, path), png1x1(0x204080 * (i + 1))));
  writeFileSync(join(root, 'img', 'empty.png'), '');
  writeFileSync(join(root, 'img', 'not-an-image.png'), 'hello\n');
  if (!existsSync(join(root, 'img', 'fifo.png'))) execFileSync('mkfifo', [join(root, 'img', 'fifo.png')]);
}

/**
 * `count` manifest cases, deterministic for a seed: first each of HOSTILE_MANIFESTS, then seeded
 * CSV/JSONL/JSON manifests with 1–2 cell or row edits, 2 in 5 with a byte-level mutation on top.
 */
export function* manifestCases(root: string, count: number, seed: number): Generator<FuzzCase> {
  writeManifestFolder(root);
  let index = 0;
  const nextId = (): string => `manifest-${String(index++).padStart(4, '0')}`;
  for (const [name, extension, content] of HOSTILE_MANIFESTS) {
    if (index >= count) break;
    const id = nextId();
    const path = join(root, `${id}${extension}`);
    writeFileSync(path, content());
    yield { id, target: 'manifest', path, description: `hostile ${name}` };
  }
  while (index < count) {
    const id = nextId();
    const rng = new Rng(deriveSeed(seed, index));
    const format = pick(rng, ['csv', 'csv', 'jsonl', 'json'] as const);
    const path = join(root, `${id}${pick(rng, EXTENSIONS[format])}`);
    const rows = baseRows(rng);
    const edits: string[] = [];
    for (let i = 1 + rng.nextInt(2); i > 0; i--) {
      if (rows.length === 0) rows.push([IMAGES[0]!, CLASSES[0]!]);
      edits.push(pick(rng, TEXT_MUTATORS)(rng, rows, format === 'csv' ? 'csv' : 'json'));
    }
    let content: string | Uint8Array = format === 'csv' ? renderCsv(rows, rng) : format === 'jsonl' ? renderJsonl(rows, rng)
      : JSON.stringify(rows.map(([p, label]) => ({ path: p, label })));
    let description = edits.join(' + ');
    if (rng.nextInt(5) < 2) {
      const mutation = pick(rng, [flipBits, truncate, spliceBytes])(rng, new Uint8Array(Buffer.from(content)));
      content = mutation.bytes;
      description += ` + ${mutation.description}`;
    }
    writeFileSync(path, content);
    yield { id, target: 'manifest', path, description: `${format}: ${description}` };
  }
}

/** Valid manifests of each format: they must scan, and warm the worker up. */
export function manifestWarmupCases(root: string): FuzzCase[] {
  writeManifestFolder(root);
  const rng = new Rng(1);
  const rows: Row[] = IMAGES.map((path, i) => [path, CLASSES[i % 3]!]);
  const files: Array<[string, string]> = [
    ['warmup.csv', `path,label\n${rows.map((row) => row.join(',')).join('\n')}\n`],
    ['warmup.jsonl', renderJsonl(rows, rng)],
    ['warmup.json', JSON.stringify(rows.map(([path, label]) => ({ path, label })))],
  ];
  return files.map(([name, text]) => {
    writeFileSync(join(root, name), text);
    return { id: name, target: 'manifest' as const, path: join(root, name), description: `valid ${name}` };
  });
}
