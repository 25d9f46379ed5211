/**
 * Manifests: a `.csv` of `path,label` rows (header optional, any column order when named), or `.jsonl`/`.ndjson`
 * (one `{"path": …, "label": …}` object per line), or a `.json` array of such objects. Paths are relative to the
 * manifest. CSV and JSONL are streamed with per-cell and per-line limits, so a hostile or broken file fails with a
 * DATASET_INVALID naming the line instead of exhausting memory; a `.json` array is read whole, up to a size limit.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { FinetuneError } from '../errors.js';
import { CsvLimitError, CsvRecordReader } from './csv-records.js';
import { listNames, type Candidate, type SkippedFile } from './dataset.js';

export const MANIFEST_EXTENSIONS = ['.csv', '.jsonl', '.ndjson', '.json'] as const;
const PATH_KEYS = ['path', 'file', 'filename', 'filepath', 'image'] as const;
const LABEL_KEYS = ['label', 'class', 'classname', 'class_name', 'category'] as const;

export interface ManifestLimits {
  /** Longest CSV cell (a path or a label), in characters. @defaultValue `4096` (PATH_MAX on Linux) */
  readonly maxCellChars: number;
  /** Longest CSV row or JSONL line, in characters. @defaultValue `1048576` */
  readonly maxLineChars: number;
  /** Largest `.json` array manifest (read whole), in bytes. @defaultValue `67108864` (64 MiB; JSONL has no limit) */
  readonly maxJsonBytes: number;
}

export const DEFAULT_MANIFEST_LIMITS: ManifestLimits = Object.freeze({
  maxCellChars: 4096, maxLineChars: 1 << 20, maxJsonBytes: 64 << 20,
});

/** One `path,label` entry and the line (or array entry) it came from. */
export interface ManifestRow {
  readonly line: number;
  readonly path: string;
  readonly label: string;
}

/** What a manifest lists, before the files are checked (assembleDataset does that). */
export interface ManifestListing {
  /** The folder holding the manifest: paths are relative to it. */
  readonly root: string;
  /** Labels in order of first appearance. */
  readonly classNames: string[];
  readonly candidates: Candidate[];
  /** Duplicate rows (same path, same label). */
  readonly skipped: SkippedFile[];
}

const HINT_FORMAT = 'Write one "path,label" row per image (CSV) or one {"path": …, "label": …} object per line (JSONL).';

/** The text of a file in chunks, BOM removed. */
async function* textChunks(path: string): AsyncGenerator<string> {
  let first = true;
  for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 16 })) {
    yield first ? (chunk as string).replace(/^\uFEFF/, '') : chunk as string;
    first = false;
  }
}

async function readCsvRows(path: string, source: string, limits: ManifestLimits): Promise<ManifestRow[]> {
  const rows: ManifestRow[] = [];
  const bad: string[] = [];
  let columns: { path: number; label: number } | null = null;
  const reader = new CsvRecordReader({ maxCellChars: limits.maxCellChars, maxRecordChars: limits.maxLineChars }, ({ line, cells }) => {
    if (columns === null) {
      const header = cells.map((cell) => cell.trim().toLowerCase());
      const headerPath = header.findIndex((cell) => (PATH_KEYS as readonly string[]).includes(cell));
      const headerLabel = header.findIndex((cell) => (LABEL_KEYS as readonly string[]).includes(cell));
      if (headerPath !== -1 && headerLabel !== -1) {
        columns = { path: headerPath, label: headerLabel };
        return;
      }
      columns = { path: 0, label: 1 };
    }
    const rowPath = cells[columns.path]?.trim() ?? '';
    const label = cells[columns.label]?.trim() ?? '';
    if (rowPath === '' || label === '') bad.push(`line ${line}`);
    else rows.push({ line, path: rowPath, label });
  });
  try {
    for await (const chunk of textChunks(path)) reader.push(chunk);
    reader.end();
  } catch (error) {
    if (!(error instanceof CsvLimitError)) throw error;
    throw new FinetuneError('DATASET_INVALID',
      `Manifest "${source}" has ${error.limit === 'cell' ? 'a cell' : 'a row'} longer than ${error.max} characters on line ${error.line}` +
      `${error.inQuotes ? ', inside a quoted field (is a quote opened there and never closed?)' : ''}.`,
      'A manifest cell is an image path or a class label: check that the file is a path,label CSV, that every opening ' +
      'quote is closed, and write "" for a quote inside a quoted field.');
  }
  if (bad.length > 0)
    throw new FinetuneError('DATASET_INVALID',
      `Manifest "${source}" has ${bad.length} row(s) without a path and a label: ${listNames(bad)}.`,
      'Each row needs "path,label" (quote paths that contain commas); a header row "path,label" is optional.');
  return rows;
}

/** JSONL lines (or `.json` array entries) as `{ line, value }`; unparsable lines go to `bad`. */
async function readJsonValues(path: string, source: string, extension: string, limits: ManifestLimits,
  bad: string[]): Promise<Array<{ line: number; value: unknown }>> {
  const objects: Array<{ line: number; value: unknown }> = [];
  if (extension === '.json') {
    const { size } = await stat(path);
    if (size > limits.maxJsonBytes)
      throw new FinetuneError('DATASET_INVALID',
        `Manifest "${source}" is ${size} bytes; a .json manifest is read whole and may be at most ${limits.maxJsonBytes} bytes.`,
        'Write it as JSONL instead (one {"path": …, "label": …} object per line), which is read as a stream.');
    let text = '';
    for await (const chunk of textChunks(path)) text += chunk;
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
    return objects;
  }
  let pending = '';
  let line = 0;
  const tooLong = (lineNumber: number): FinetuneError => new FinetuneError('DATASET_INVALID',
    `Manifest "${source}" has a line longer than ${limits.maxLineChars} characters (line ${lineNumber}).`,
    'Write one {"path": …, "label": …} object per line (JSONL); a line is one image.');
  const take = (text: string): void => {
    line++;
    if (text.length > limits.maxLineChars) throw tooLong(line);
    const content = text.trim();
    if (content === '') return;
    try {
      objects.push({ line, value: JSON.parse(content) });
    } catch {
      bad.push(`line ${line}`);
    }
  };
  for await (const chunk of textChunks(path)) {
    pending += chunk;
    let newline = pending.indexOf('\n');
    let start = 0;
    for (; newline !== -1; newline = pending.indexOf('\n', start)) {
      take(pending.slice(start, newline).replace(/\r$/, ''));
      start = newline + 1;
    }
    pending = pending.slice(start);
    if (pending.length > limits.maxLineChars) throw tooLong(line + 1);
  }
  take(pending);
  return objects;
}

function firstField(record: Record<string, unknown>, keys: readonly string[]): unknown {
  for (const [key, value] of Object.entries(record)) if (keys.includes(key.toLowerCase())) return value;
  return undefined;
}

async function readJsonRows(path: string, source: string, extension: string, limits: ManifestLimits): Promise<ManifestRow[]> {
  const bad: string[] = [];
  const objects = await readJsonValues(path, source, extension, limits, bad);
  const rows: ManifestRow[] = [];
  for (const { line, value } of objects) {
    const record = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
    const rowPath = firstField(record, PATH_KEYS);
    const label = firstField(record, LABEL_KEYS);
    if (typeof rowPath !== 'string' || rowPath.trim() === '' ||
        !((typeof label === 'string' && label.trim() !== '') || (typeof label === 'number' && Number.isFinite(label))))
      bad.push(`${extension === '.json' ? 'entry' : 'line'} ${line}`);
    else rows.push({ line, path: rowPath.trim(), label: String(label).trim() });
  }
  if (bad.length > 0) {
    throw new FinetuneError('DATASET_INVALID',
      `Manifest "${source}" has ${bad.length} entr${bad.length === 1 ? 'y' : 'ies'} that are not {"path": string, "label": string | number}: ${listNames(bad)}.`,
      'Write one JSON object per line, e.g. {"path": "cats/1.jpg", "label": "cat"}.');
  }
  return rows;
}

/** The rows of a manifest (see the file comment); DATASET_INVALID for malformed or oversized content. */
export async function readManifestRows(path: string, source: string,
  limits: ManifestLimits = DEFAULT_MANIFEST_LIMITS): Promise<ManifestRow[]> {
  const extension = path.slice(path.lastIndexOf('.')).toLowerCase();
  return extension === '.csv' ? readCsvRows(path, source, limits) : readJsonRows(path, source, extension, limits);
}

/**
 * What a manifest lists: candidates with their labels, duplicate rows as skips. Throws DATASET_INVALID when it
 * lists nothing or gives one image two labels (all such images named).
 */
export async function scanManifest(manifestPath: string, source: string,
  limits: ManifestLimits = DEFAULT_MANIFEST_LIMITS): Promise<ManifestListing> {
  const root = dirname(manifestPath);
  const rows = await readManifestRows(manifestPath, source, limits);
  if (rows.length === 0) throw new FinetuneError('DATASET_INVALID', `Manifest "${source}" lists no images.`, HINT_FORMAT);
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
  return { root, classNames: [...new Set(candidates.map((c) => c.className))], candidates, skipped };
}
