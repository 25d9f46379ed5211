/**
 * Labelled image datasets: a folder per class (Keras `image_dataset_from_directory` layout) or a CSV / JSONL
 * manifest. Scanning only lists and stats files; nothing is decoded, so it is fast and runs before any backbone work.
 */
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { FinetuneError, nearestNames } from '../errors.js';
import { mapLimit } from '../util/map-limit.js';

/** One labelled image. */
export interface DatasetItem {
  /** Absolute path. */
  readonly path: string;
  /** Path relative to `Dataset.root`, with `/` separators. The stable key for sorting and splitting. */
  readonly relativePath: string;
  /** Index into `Dataset.classNames`. */
  readonly label: number;
  readonly className: string;
}

/** A file that was left out, and why. */
export interface SkippedFile {
  readonly path: string;
  readonly reason: string;
}

export interface Dataset {
  /** The dataset folder, or the folder holding the manifest. */
  readonly root: string;
  /** `folder` for the folder-per-class layout, `manifest` for CSV/JSONL. */
  readonly source: 'folder' | 'manifest';
  /** Class names in index order: sorted (numerically when every name is a whole number), unless given. */
  readonly classNames: readonly string[];
  /** Sorted by label, then by `relativePath` (code-point order), whatever order the filesystem lists them in. */
  readonly items: readonly DatasetItem[];
  /** Files left out, sorted by path. */
  readonly skipped: readonly SkippedFile[];
}

export interface ScanDatasetOptions {
  /**
   * Fix the class names and their order, e.g. to scan a test folder with the training run's classes. Classes
   * found in the data must be among them; listed classes without images are allowed, and fewer than 2 classes are
   * accepted. @defaultValue the sorted class names found
   */
  classNames?: readonly string[];
}

/** Extensions sharp decodes (with the prebuilt libvips). Compared lower-case. */
export const IMAGE_EXTENSIONS: readonly string[] = Object.freeze(
  ['.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);

/** Image formats we recognise but cannot decode, with the reason shown in the skipped list. */
const UNSUPPORTED_IMAGE_EXTENSIONS: Readonly<Record<string, string>> = Object.freeze({
  '.bmp': 'BMP is not supported by sharp/libvips; convert it to PNG',
  '.dib': 'BMP is not supported by sharp/libvips; convert it to PNG',
  '.heic': 'HEIC (HEVC) is not supported by the prebuilt sharp; convert it to JPEG',
  '.heif': 'HEIF (HEVC) is not supported by the prebuilt sharp; convert it to JPEG',
  '.svg': 'vector images are not used for training; rasterise it to PNG',
  '.jxl': 'JPEG XL is not supported by the prebuilt sharp; convert it to JPEG or PNG',
  '.jp2': 'JPEG 2000 is not supported by the prebuilt sharp; convert it to JPEG or PNG',
  '.ico': 'ICO is not supported by sharp; convert it to PNG',
  '.psd': 'PSD is not supported by sharp; export it to PNG',
  '.raw': 'camera RAW files are not supported; convert them to JPEG',
  '.cr2': 'camera RAW files are not supported; convert them to JPEG',
  '.nef': 'camera RAW files are not supported; convert them to JPEG',
  '.dng': 'camera RAW files are not supported; convert them to JPEG',
});

const MANIFEST_EXTENSIONS = ['.csv', '.jsonl', '.ndjson', '.json'] as const;
const PATH_KEYS = ['path', 'file', 'filename', 'filepath', 'image'] as const;
const LABEL_KEYS = ['label', 'class', 'classname', 'class_name', 'category'] as const;
const STAT_CONCURRENCY = 64;
const LIST_LIMIT = 10;

/**
 * Lists a labelled dataset: `source` is a folder (`<source>/<class>/**\/<image>`; nested sub-folders count for
 * their top-level class; hidden files and folders are ignored) or a `.csv`/`.jsonl` manifest of `path,label` rows
 * (header optional, paths relative to the manifest).
 *
 * Non-image extensions, formats sharp cannot decode (BMP, HEIC…), zero-byte and missing files are not errors:
 * they are listed in `skipped` with the reason. Throws FinetuneError('DATASET_INVALID') when the source is missing,
 * has no class folders, has classes with no usable image (all named), or fewer than 2 classes.
 */
export async function scanDataset(source: string, options: ScanDatasetOptions = {}): Promise<Dataset> {
  const root = resolve(source);
  let stats: Stats;
  try {
    stats = await stat(root);
  } catch (cause) {
    throw new FinetuneError('DATASET_INVALID', `Dataset "${source}" does not exist.`,
      'Pass a folder with one sub-folder per class (data/<class>/<image>.jpg) or a .csv/.jsonl manifest.', { cause });
  }
  if (options.classNames !== undefined) checkGivenClassNames(options.classNames);
  if (stats.isDirectory()) return scanFolder(root, source, options);
  const extension = extname(root).toLowerCase();
  if (stats.isFile() && (MANIFEST_EXTENSIONS as readonly string[]).includes(extension))
    return scanManifest(root, source, extension, options);
  throw new FinetuneError('DATASET_INVALID',
    `Dataset "${source}" is neither a folder nor a manifest (${MANIFEST_EXTENSIONS.join(', ')}).`,
    'Pass a folder with one sub-folder per class, or a CSV/JSONL file of path,label rows.');
}

/**
 * Throws FinetuneError('CLASS_COUNT_MISMATCH') when the dataset does not have `expected` classes (`--classes N`),
 * listing the classes found.
 */
export function validateClassCount(dataset: Dataset, expected: number): void {
  if (!Number.isInteger(expected) || expected < 1)
    throw new RangeError(`validateClassCount: 'expected' must be a positive integer, got ${expected}.`);
  const found = dataset.classNames.length;
  if (found === expected) return;
  throw new FinetuneError('CLASS_COUNT_MISMATCH',
    `Expected ${expected} classes (--classes ${expected}), but "${dataset.root}" has ${found}: ${listNames(dataset.classNames)}.`,
    found > expected
      ? 'Remove the extra class folders or manifest labels, or drop --classes.'
      : 'Add the missing classes, or drop --classes to use the classes found.');
}

/** The skipped list as text, one `path<TAB>reason` line per file (the content of `skipped.txt`). */
export function formatSkipped(skipped: readonly SkippedFile[]): string {
  let text = '';
  for (const file of skipped) text += `${file.path}\t${file.reason}\n`;
  return text;
}

/** Sort order for class names: numeric when every name is a whole number ("2" before "10"), else code points. */
export function compareClassNames(names: readonly string[]): (a: string, b: string) => number {
  const numeric = names.length > 0 && names.every((name) => /^(0|[1-9]\d{0,14})$/.test(name));
  return numeric ? (a, b) => Number(a) - Number(b) : compareCodePoints;
}

// #region folders

interface Candidate { path: string; className: string; origin?: string }

async function scanFolder(root: string, source: string, options: ScanDatasetOptions): Promise<Dataset> {
  const skipped: SkippedFile[] = [];
  const classFolders: Array<{ name: string; path: string }> = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const path = join(root, entry.name);
    const kind = await entryKind(entry, path);
    if (kind === 'directory') classFolders.push({ name: entry.name, path });
    else if (kind === 'file') skipped.push({ path, reason: 'not inside a class folder' });
  }
  if (classFolders.length === 0)
    throw new FinetuneError('DATASET_INVALID',
      `Dataset folder "${source}" has no class sub-folders${skipped.length > 0 ? ` (it holds ${skipped.length} loose file(s))` : ''}.`,
      'Arrange the images as <folder>/<class name>/<image>.jpg, one sub-folder per class (the Keras layout).');

  const candidates: Candidate[] = [];
  const visited = new Set<string>();
  for (const folder of classFolders) {
    for (const path of await listFilesRecursively(folder.path, visited, skipped))
      candidates.push({ path, className: folder.name });
  }
  const usable = await filterUsable(candidates, skipped);
  return assemble(root, 'folder', source, classFolders.map((f) => f.name), usable, candidates, skipped, options);
}

async function entryKind(entry: { isDirectory(): boolean; isFile(): boolean; isSymbolicLink(): boolean },
    path: string): Promise<'directory' | 'file' | 'other'> {
  if (entry.isDirectory()) return 'directory';
  if (entry.isFile()) return 'file';
  if (entry.isSymbolicLink()) {
    try {
      const target = await stat(path);
      return target.isDirectory() ? 'directory' : target.isFile() ? 'file' : 'other';
    } catch {
      return 'file'; // a dangling link: listed as skipped by filterUsable
    }
  }
  return 'other';
}

/** Every non-hidden file under `dir`, following symbolic links, each real directory visited once. */
async function listFilesRecursively(dir: string, visited: Set<string>, skipped: SkippedFile[]): Promise<string[]> {
  const files: string[] = [];
  const pending = [dir];
  while (pending.length > 0) {
    const current = pending.pop()!;
    let real: string;
    try {
      real = await realpath(current);
    } catch (cause) {
      skipped.push({ path: current, reason: `cannot read folder: ${(cause as Error).message}` });
      continue;
    }
    if (visited.has(real)) continue;
    visited.add(real);
    let entries;
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch (cause) {
      skipped.push({ path: current, reason: `cannot read folder: ${(cause as Error).message}` });
      continue;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const path = join(current, entry.name);
      const kind = await entryKind(entry, path);
      if (kind === 'directory') pending.push(path);
      else if (kind === 'file') files.push(path);
    }
  }
  return files;
}

// #endregion

// #region manifests

interface ManifestRow { line: number; path: string; label: string }

async function scanManifest(manifestPath: string, source: string, extension: string,
    options: ScanDatasetOptions): Promise<Dataset> {
  const root = dirname(manifestPath);
  const text = (await readFile(manifestPath, 'utf8')).replace(/^\uFEFF/, '');
  const rows = extension === '.csv' ? parseCsvManifest(text, source) : parseJsonManifest(text, source, extension);
  if (rows.length === 0)
    throw new FinetuneError('DATASET_INVALID', `Manifest "${source}" lists no images.`,
      'Write one "path,label" row per image (CSV) or one {"path": …, "label": …} object per line (JSONL).');

  const skipped: SkippedFile[] = [];
  const candidates: Candidate[] = [];
  const seen = new Map<string, ManifestRow>();
  const conflicts: string[] = [];
  for (const row of rows) {
    const path = resolve(root, row.path);
    const previous = seen.get(path);
    if (previous !== undefined) {
      if (previous.label !== row.label)
        conflicts.push(`"${row.path}" is "${previous.label}" on line ${previous.line} and "${row.label}" on line ${row.line}`);
      else skipped.push({ path, reason: `duplicate manifest entry (line ${row.line}, first on line ${previous.line})` });
      continue;
    }
    seen.set(path, row);
    candidates.push({ path, className: row.label, origin: `line ${row.line}` });
  }
  if (conflicts.length > 0)
    throw new FinetuneError('DATASET_INVALID',
      `Manifest "${source}" gives ${conflicts.length} image(s) two different labels: ${listNames(conflicts)}.`,
      'Each image must have exactly one label; multi-label datasets are not supported.');
  const usable = await filterUsable(candidates, skipped);
  const classNames = [...new Set(candidates.map((c) => c.className))];
  return assemble(root, 'manifest', source, classNames, usable, candidates, skipped, options);
}

function parseCsvManifest(text: string, source: string): ManifestRow[] {
  const records = parseCsv(text);
  if (records.length === 0) return [];
  let pathColumn = 0, labelColumn = 1, start = 0;
  const header = records[0]!.cells.map((cell) => cell.trim().toLowerCase());
  const headerPath = header.findIndex((cell) => (PATH_KEYS as readonly string[]).includes(cell));
  const headerLabel = header.findIndex((cell) => (LABEL_KEYS as readonly string[]).includes(cell));
  if (headerPath !== -1 && headerLabel !== -1) {
    pathColumn = headerPath; labelColumn = headerLabel; start = 1;
  }
  const rows: ManifestRow[] = [];
  const bad: string[] = [];
  for (let index = start; index < records.length; index++) {
    const { line, cells } = records[index]!;
    const path = cells[pathColumn]?.trim() ?? '';
    const label = cells[labelColumn]?.trim() ?? '';
    if (path === '' || label === '') bad.push(`line ${line}`);
    else rows.push({ line, path, label });
  }
  if (bad.length > 0)
    throw new FinetuneError('DATASET_INVALID',
      `Manifest "${source}" has ${bad.length} row(s) without a path and a label: ${listNames(bad)}.`,
      'Each row needs "path,label" (quote paths that contain commas); a header row "path,label" is optional.');
  return rows;
}

/** RFC 4180 records: quoted fields may hold commas, quotes ("") and newlines. Blank lines are dropped. */
function parseCsv(text: string): Array<{ line: number; cells: string[] }> {
  const records: Array<{ line: number; cells: string[] }> = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1, recordLine = 1;
  const endRecord = (): void => {
    cells.push(cell);
    if (cells.length > 1 || cells[0]!.trim() !== '') records.push({ line: recordLine, cells });
    cells = []; cell = '';
  };
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (char === '"') quoted = false;
      else { if (char === '\n') line++; cell += char; }
    } else if (char === '"' && cell.trim() === '') { cell = ''; quoted = true; }
    else if (char === ',') { cells.push(cell); cell = ''; }
    else if (char === '\n' || char === '\r') {
      if (char === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      recordLine = line;
    } else cell += char;
  }
  if (cell !== '' || cells.length > 0) endRecord();
  return records;
}

function parseJsonManifest(text: string, source: string, extension: string): ManifestRow[] {
  const objects: Array<{ line: number; value: unknown }> = [];
  const bad: string[] = [];
  if (extension === '.json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (cause) {
      throw new FinetuneError('DATASET_INVALID', `Manifest "${source}" is not valid JSON: ${(cause as Error).message}`,
        'Write an array of {"path": …, "label": …} objects, or use JSONL (one object per line).', { cause });
    }
    if (!Array.isArray(parsed))
      throw new FinetuneError('DATASET_INVALID', `Manifest "${source}" is not a JSON array.`,
        'Write an array of {"path": …, "label": …} objects, or use JSONL (one object per line).');
    parsed.forEach((value, index) => objects.push({ line: index + 1, value }));
  } else {
    const lines = text.split(/\r?\n/);
    for (let index = 0; index < lines.length; index++) {
      const content = lines[index]!.trim();
      if (content === '') continue;
      try {
        objects.push({ line: index + 1, value: JSON.parse(content) });
      } catch {
        bad.push(`line ${index + 1}`);
      }
    }
  }
  const rows: ManifestRow[] = [];
  for (const { line, value } of objects) {
    const record = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
    const path = firstField(record, PATH_KEYS);
    const label = firstField(record, LABEL_KEYS);
    if (typeof path !== 'string' || path.trim() === '' ||
        !((typeof label === 'string' && label.trim() !== '') || (typeof label === 'number' && Number.isFinite(label))))
      bad.push(`${extension === '.json' ? 'entry' : 'line'} ${line}`);
    else rows.push({ line, path: path.trim(), label: String(label).trim() });
  }
  if (bad.length > 0)
    throw new FinetuneError('DATASET_INVALID',
      `Manifest "${source}" has ${bad.length} entr${bad.length === 1 ? 'y' : 'ies'} that are not {"path": string, "label": string | number}: ${listNames(bad)}.`,
      'Write one JSON object per line, e.g. {"path": "cats/1.jpg", "label": "cat"}.');
  return rows;
}

function firstField(record: Record<string, unknown>, keys: readonly string[]): unknown {
  for (const [key, value] of Object.entries(record)) if (keys.includes(key.toLowerCase())) return value;
  return undefined;
}

// #endregion

// #region shared

/** Keeps candidates with a decodable image extension and a non-empty regular file; the rest go to `skipped`. */
async function filterUsable(candidates: readonly Candidate[], skipped: SkippedFile[]): Promise<Candidate[]> {
  const reasons = await mapLimit(candidates, STAT_CONCURRENCY, async (candidate): Promise<string | null> => {
    const extension = extname(candidate.path).toLowerCase();
    const unsupported = UNSUPPORTED_IMAGE_EXTENSIONS[extension];
    if (unsupported !== undefined) return unsupported;
    if (!IMAGE_EXTENSIONS.includes(extension))
      return extension === '' ? 'no file extension, not an image' : `not an image (extension ${extension})`;
    let stats: Stats;
    try {
      stats = await stat(candidate.path);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      return code === 'ENOENT' ? `file not found${candidate.origin ? ` (${candidate.origin})` : ''}`
        : `cannot read: ${(cause as Error).message}`;
    }
    if (!stats.isFile()) return 'not a regular file';
    if (stats.size === 0) return 'empty file (0 bytes)';
    return null;
  });
  const usable: Candidate[] = [];
  for (let index = 0; index < candidates.length; index++) {
    const reason = reasons[index];
    if (reason === null || reason === undefined) usable.push(candidates[index]!);
    else skipped.push({ path: candidates[index]!.path, reason });
  }
  return usable;
}

function assemble(root: string, kind: 'folder' | 'manifest', source: string, foundClasses: readonly string[],
    usable: readonly Candidate[], candidates: readonly Candidate[], skipped: SkippedFile[],
    options: ScanDatasetOptions): Dataset {
  const what = kind === 'folder' ? 'class folder' : 'class';
  const counts = new Map<string, number>();
  for (const candidate of usable) counts.set(candidate.className, (counts.get(candidate.className) ?? 0) + 1);
  const fileCounts = new Map<string, number>(); // usable or not, per class
  for (const candidate of candidates)
    fileCounts.set(candidate.className, (fileCounts.get(candidate.className) ?? 0) + 1);

  let classNames: string[];
  if (options.classNames !== undefined) {
    classNames = [...options.classNames];
    const unknown = foundClasses.filter((name) => !classNames.includes(name));
    if (unknown.length > 0)
      throw new FinetuneError('DATASET_INVALID',
        `Dataset "${source}" has ${what}(es) not among the ${classNames.length} expected classes: ${listNames(unknown)}.`,
        `Expected classes: ${listNames(classNames)}` +
        `${unknown[0] !== undefined ? ` (did you mean "${nearestNames(unknown[0], classNames, 1)[0]}" for "${unknown[0]}"?)` : ''}.`);
  } else {
    classNames = [...foundClasses].sort(compareClassNames(foundClasses));
  }

  const empty = foundClasses.filter((name) => (counts.get(name) ?? 0) === 0);
  if (empty.length > 0) {
    const described = empty.map((name) => {
      const total = fileCounts.get(name) ?? 0;
      return total > 0 ? `"${name}" (${total} file(s), all skipped)` : `"${name}"`;
    });
    throw new FinetuneError('DATASET_INVALID',
      `Dataset "${source}" has ${empty.length} ${what}(es) with no usable images: ${listNames(described)}.`,
      `Add JPEG/PNG/WebP images to ${empty.length === 1 ? 'it' : 'them'} or remove ${empty.length === 1 ? 'it' : 'them'}` +
      `${skipped.length > 0 ? '; the skipped files and reasons are listed by `finetune embed`' : ''}.`);
  }
  if (options.classNames === undefined && classNames.length < 2)
    throw new FinetuneError('DATASET_INVALID',
      `Dataset "${source}" has ${classNames.length} class${classNames.length === 1 ? ` ("${classNames[0]}")` : 'es'}; ` +
      'a classifier needs at least 2.',
      kind === 'folder' ? 'Add a second class folder next to the first (<folder>/<class>/<image>.jpg).'
        : 'Label the images with at least two different classes.');

  const labelOf = new Map(classNames.map((name, index) => [name, index]));
  const items: DatasetItem[] = usable.map((candidate) => ({
    path: candidate.path,
    relativePath: toPosix(relative(root, candidate.path)),
    label: labelOf.get(candidate.className)!,
    className: candidate.className,
  }));
  items.sort((a, b) => a.label - b.label || compareCodePoints(a.relativePath, b.relativePath));
  skipped.sort((a, b) => compareCodePoints(a.path, b.path) || compareCodePoints(a.reason, b.reason));
  return { root, source: kind, classNames, items, skipped };
}

function checkGivenClassNames(classNames: readonly string[]): void {
  const duplicates = classNames.filter((name, index) => classNames.indexOf(name) !== index);
  if (classNames.length === 0 || duplicates.length > 0 || classNames.some((name) => typeof name !== 'string' || name === ''))
    throw new FinetuneError('INVALID_OPTION',
      `Invalid class names ${JSON.stringify(classNames.slice(0, LIST_LIMIT))}: ` +
      `${classNames.length === 0 ? 'the list is empty' : duplicates.length > 0 ? `"${duplicates[0]}" appears twice` : 'a name is empty'}.`,
      'Pass the class names of the training run (its labels.json), each once.');
}

function compareCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function toPosix(path: string): string {
  return sep === '/' ? path : path.split(sep).join('/');
}

function listNames(names: readonly string[]): string {
  const shown = names.slice(0, LIST_LIMIT).join(', ');
  return names.length > LIST_LIMIT ? `${shown} and ${names.length - LIST_LIMIT} more` : shown;
}

// #endregion
