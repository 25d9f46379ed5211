/**
 * Compares two run folders, e.g. the demo's before and after a refactor, ignoring what legitimately differs between
 * identical runs: timestamps, timings and the absolute location of the checkout.
 *
 *   npx tsx scripts/compare-run-folders.ts <before-run> <after-run> [--root <before-root>=<after-root>] [--allow <file>:<path>]…
 *
 * - JSON files (run.json, metrics.json, history.json, labels.json) are compared structurally (key order ignored).
 *   Ignored: `createdAt`, `generatedAt`, `timings`, and every key named `seconds` or ending in `Seconds`.
 * - history.csv without its `seconds` column; skipped.txt as text.
 * - .onnx files byte for byte; when they differ, the decoded graphs and metadata are compared to say where.
 * - report.html as text, with ISO timestamps and formatted durations blanked.
 * - Absolute paths: each folder's checkout root (`<run>/../..` by default, or `--root`) is replaced by `<root>`.
 * - `--allow run.json:formatVersion` accepts a difference you expect (it is still listed, marked allowed).
 * Exit code 0 when nothing differs except allowed differences, 1 otherwise.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { decodeModel } from '../src/onnx/read-model.js';

interface Side { readonly dir: string; readonly root: string }
interface Difference { readonly file: string; readonly path: string; readonly before: string; readonly after: string }

const IGNORED_KEYS = new Set(['createdAt', 'generatedAt', 'timings']);
const isIgnoredKey = (key: string): boolean => IGNORED_KEYS.has(key) || key === 'seconds' || key.endsWith('Seconds');

function parseArgs(argv: readonly string[]): { before: Side; after: Side; allowed: Set<string> } {
  const positional: string[] = [];
  const allowed = new Set<string>();
  let roots: [string, string] | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--allow') allowed.add(argv[++i] ?? '');
    else if (arg === '--root') {
      const [a, b] = (argv[++i] ?? '').split('=');
      if (!a || !b) throw new Error('--root takes <before-root>=<after-root>');
      roots = [resolve(a), resolve(b)];
    } else positional.push(arg);
  }
  if (positional.length !== 2) {
    throw new Error('usage: tsx scripts/compare-run-folders.ts <before-run> <after-run> [--root a=b] [--allow file:path]…');
  }
  const [beforeDir, afterDir] = positional.map((dir) => resolve(dir)) as [string, string];
  return {
    before: { dir: beforeDir, root: roots?.[0] ?? resolve(beforeDir, '..', '..') },
    after: { dir: afterDir, root: roots?.[1] ?? resolve(afterDir, '..', '..') },
    allowed,
  };
}

const normalizePaths = (text: string, side: Side): string => text.split(side.root).join('<root>');

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? 'absent' : text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function compareJson(file: string, before: unknown, after: unknown, path: string, out: Difference[]): void {
  const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object';
  if (Array.isArray(before) && Array.isArray(after)) {
    if (before.length !== after.length) out.push({ file, path: `${path}.length`, before: String(before.length), after: String(after.length) });
    for (let i = 0; i < Math.min(before.length, after.length); i++) compareJson(file, before[i], after[i], `${path}[${i}]`, out);
    return;
  }
  if (isObject(before) && isObject(after) && !Array.isArray(before) && !Array.isArray(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    for (const key of keys) {
      if (isIgnoredKey(key)) continue;
      compareJson(file, before[key], after[key], path === '' ? key : `${path}.${key}`, out);
    }
    return;
  }
  if (!Object.is(before, after)) out.push({ file, path: path === '' ? '(value)' : path, before: show(before), after: show(after) });
}

/** Line differences by longest common subsequence, so one inserted or removed line does not misalign the rest. */
function compareLines(file: string, before: readonly string[], after: readonly string[], out: Difference[]): void {
  const n = before.length, m = after.length;
  const common = new Uint32Array((n + 1) * (m + 1));   // common[i, j] = LCS length of before[i..] and after[j..]
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      common[i * (m + 1) + j] = before[i] === after[j]
        ? common[(i + 1) * (m + 1) + j + 1]! + 1 : Math.max(common[(i + 1) * (m + 1) + j]!, common[i * (m + 1) + j + 1]!);
    }
  }
  const found: Difference[] = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && before[i] === after[j]) { i++; j++; }
    else if (j < m && (i === n || common[i * (m + 1) + j + 1]! >= common[(i + 1) * (m + 1) + j]!)) {
      found.push({ file, path: `after line ${j + 1} added`, before: 'absent', after: show(after[j]) });
      j++;
    } else {
      found.push({ file, path: `before line ${i + 1} removed`, before: show(before[i]), after: 'absent' });
      i++;
    }
  }
  out.push(...found.slice(0, 20));
  if (found.length > 20) out.push({ file, path: `${found.length - 20} more changed lines`, before: '…', after: '…' });
}

function dropCsvColumn(text: string, column: string): string[] {
  const rows = text.split('\n').map((line) => line.split(','));
  const index = rows[0]?.indexOf(column) ?? -1;
  return rows.map((cells) => cells.filter((_, i) => i !== index).join(','));
}

/** report.html with what changes between identical runs blanked: ISO times and durations. */
function normalizeReport(text: string): string[] {
  return text
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
    .replace(/\b\d+ min \d+ s\b/g, '<duration>')
    .replace(/\b\d+(\.\d+)? s\b/g, '<duration>')
    .split(/(?=<(?:tr|section|div|h[1-3]|footer)\b)/);
}

function compareModels(file: string, before: Uint8Array, after: Uint8Array, out: Difference[]): void {
  if (Buffer.compare(before, after) === 0) return;
  let where = `${before.length} vs ${after.length} bytes`;
  try {
    const [a, b] = [decodeModel(before), decodeModel(after)];
    const metadata = (model: typeof a) => Object.fromEntries((model.metadata_props ?? []).map((entry) => [entry.key ?? '', entry.value ?? '']));
    const metaBefore = metadata(a), metaAfter = metadata(b);
    for (const key of new Set([...Object.keys(metaBefore), ...Object.keys(metaAfter)])) {
      if (metaBefore[key] !== metaAfter[key]) out.push({ file, path: `metadata ${key}`, before: show(metaBefore[key]), after: show(metaAfter[key]) });
    }
    const graphBytes = (model: typeof a) => JSON.stringify(model.graph);
    if (graphBytes(a) !== graphBytes(b)) where += '; the graphs differ';
    else where += '; the graphs are equal';
  } catch (error) {
    where += `; cannot decode (${(error as Error).message})`;
  }
  out.push({ file, path: '(bytes)', before: where, after: '' });
}

async function compareFile(name: string, before: Side, after: Side, out: Difference[]): Promise<void> {
  const [a, b] = [join(before.dir, name), join(after.dir, name)];
  if (!existsSync(a) || !existsSync(b)) {
    out.push({ file: name, path: '(file)', before: existsSync(a) ? 'present' : 'absent', after: existsSync(b) ? 'present' : 'absent' });
    return;
  }
  if (name.endsWith('.onnx')) {
    compareModels(name, await readFile(a), await readFile(b), out);
    return;
  }
  const [textA, textB] = [normalizePaths(await readFile(a, 'utf8'), before), normalizePaths(await readFile(b, 'utf8'), after)];
  if (name.endsWith('.json')) compareJson(name, JSON.parse(textA), JSON.parse(textB), '', out);
  else if (name === 'history.csv') compareLines(name, dropCsvColumn(textA, 'seconds'), dropCsvColumn(textB, 'seconds'), out);
  else if (name.endsWith('.html')) compareLines(name, normalizeReport(textA), normalizeReport(textB), out);
  else compareLines(name, textA.split('\n'), textB.split('\n'), out);
}

const { before, after, allowed } = parseArgs(process.argv.slice(2));
const names = [...new Set([...await readdir(before.dir), ...await readdir(after.dir)])].sort();
const differences: Difference[] = [];
for (const name of names) await compareFile(name, before, after, differences);

process.stdout.write(`before: ${before.dir} (root ${before.root})\nafter:  ${after.dir} (root ${after.root})\n` +
  `files: ${names.join(', ')}\nignored: ${[...IGNORED_KEYS].join(', ')}, *seconds/*Seconds keys, ISO times and durations in report.html\n\n`);
let unexpected = 0;
for (const difference of differences) {
  const isAllowed = allowed.has(`${difference.file}:${difference.path}`);
  if (!isAllowed) unexpected++;
  process.stdout.write(`${isAllowed ? 'allowed ' : 'DIFFERS '} ${difference.file}: ${difference.path}: ${difference.before}` +
    `${difference.after === '' ? '' : ` → ${difference.after}`}\n`);
}
process.stdout.write(unexpected === 0
  ? `\nIdentical apart from timestamps and timings${differences.length > 0 ? ` and ${differences.length} allowed difference(s)` : ''}.\n`
  : `\n${unexpected} difference(s).\n`);
process.exitCode = unexpected === 0 ? 0 : 1;
