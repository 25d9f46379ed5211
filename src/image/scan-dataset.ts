/**
 * Labelled image datasets: a folder per class (Keras `image_dataset_from_directory` layout, scan-folder.ts) or a
 * CSV / JSONL manifest (parse-manifest.ts), turned into a Dataset by assemble-dataset.ts. Scanning only lists and
 * stats files; nothing is decoded, so it is fast and runs before any backbone work.
 */
import { stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { extname, resolve } from 'node:path';
import { FinetuneError } from '../errors.js';
import type { ProgressCallback } from '../types.js';
import { assembleDataset } from './assemble-dataset.js';
import { LIST_LIMIT, listNames, type Dataset, type SkippedFile } from './dataset.js';
import { DEFAULT_MANIFEST_LIMITS, MANIFEST_EXTENSIONS, scanManifest, type ManifestLimits } from './parse-manifest.js';
import { scanFolder } from './scan-folder.js';

export type { Dataset, DatasetItem, SkippedFile } from './dataset.js';
export { compareClassNames, IMAGE_EXTENSIONS } from './assemble-dataset.js';
export type { ManifestLimits } from './parse-manifest.js';

export interface ScanDatasetOptions {
  /**
   * Fix the class names and their order, e.g. to scan a test folder with the training run's classes. Classes
   * found in the data must be among them; listed classes without images are allowed, and fewer than 2 classes are
   * accepted. @defaultValue the sorted class names found
   */
  classNames?: readonly string[];
  /** Limits on manifest cells, lines and `.json` size. @defaultValue {@link DEFAULT_MANIFEST_LIMITS} */
  manifestLimits?: Partial<ManifestLimits>;
  /** Receives a warning for each symbolic link that is not followed (also listed in `skipped`). */
  onProgress?: ProgressCallback;
}

/**
 * Lists a labelled dataset: `source` is a folder (`<source>/<class>/**\/<image>`; nested sub-folders count for
 * their top-level class; hidden files and folders are ignored; symbolic links never move an image into another
 * class, see scan-folder.ts) or a `.csv`/`.jsonl` manifest of `path,label` rows (header optional, paths relative
 * to the manifest).
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
  const classNames = options.classNames === undefined ? {} : { classNames: options.classNames };
  if (stats.isDirectory()) {
    const listing = await scanFolder(root, source, options.onProgress);
    return assembleDataset({ root, kind: 'folder', source, foundClasses: listing.classNames, candidates: listing.candidates,
      skipped: listing.skipped, ...classNames });
  }
  const extension = extname(root).toLowerCase();
  if (stats.isFile() && (MANIFEST_EXTENSIONS as readonly string[]).includes(extension)) {
    const listing = await scanManifest(root, source, { ...DEFAULT_MANIFEST_LIMITS, ...options.manifestLimits });
    return assembleDataset({ root: listing.root, kind: 'manifest', source, foundClasses: listing.classNames,
      candidates: listing.candidates, skipped: listing.skipped, ...classNames });
  }
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

function checkGivenClassNames(classNames: readonly string[]): void {
  const duplicates = classNames.filter((name, index) => classNames.indexOf(name) !== index);
  if (classNames.length === 0 || duplicates.length > 0 || classNames.some((name) => typeof name !== 'string' || name === ''))
    throw new FinetuneError('INVALID_OPTION',
      `Invalid class names ${JSON.stringify(classNames.slice(0, LIST_LIMIT))}: ` +
      `${classNames.length === 0 ? 'the list is empty' : duplicates.length > 0 ? `"${duplicates[0]}" appears twice` : 'a name is empty'}.`,
      'Pass the class names of the training run (its labels.json), each once.');
}
