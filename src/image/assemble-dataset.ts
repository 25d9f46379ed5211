/**
 * From what a scanner found to a Dataset: drop the files that cannot be images (with the reason), check the classes
 * (given names, empty classes, at least two), assign labels and sort. Shared by the folder and manifest layouts.
 */
import { stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { extname, relative } from 'node:path';
import { FinetuneError, nearestNames } from '../errors.js';
import { mapLimit } from '../util/map-limit.js';
import { compareCodePoints, listNames, toPosix, type Candidate, type Dataset, type DatasetItem, type SkippedFile } from './dataset.js';

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

const STAT_CONCURRENCY = 64;

/** Sort order for class names: numeric when every name is a whole number ("2" before "10"), else code points. */
export function compareClassNames(names: readonly string[]): (a: string, b: string) => number {
  const numeric = names.length > 0 && names.every((name) => /^(0|[1-9]\d{0,14})$/.test(name));
  return numeric ? (a, b) => Number(a) - Number(b) : compareCodePoints;
}

export interface AssembleDatasetOptions {
  /** The dataset folder, or the folder holding the manifest. */
  readonly root: string;
  /** `folder` or `manifest`: the words of the error messages and the hint. */
  readonly kind: Dataset['source'];
  /** The source as the user gave it, for messages. */
  readonly source: string;
  /** Class names the scanner found (folders, or manifest labels in order of appearance). */
  readonly foundClasses: readonly string[];
  readonly candidates: readonly Candidate[];
  /** What the scanner already left out; the unusable candidates are added. */
  readonly skipped: readonly SkippedFile[];
  /** Fix the class names and their order (see ScanDatasetOptions.classNames). @defaultValue the sorted found classes */
  readonly classNames?: readonly string[];
}

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

/** The Dataset for a scanner's findings; see the file comment. Throws DATASET_INVALID naming every bad class. */
export async function assembleDataset(options: AssembleDatasetOptions): Promise<Dataset> {
  const { root, kind, source, foundClasses, candidates } = options;
  const skipped = [...options.skipped];
  const usable = await filterUsable(candidates, skipped);
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
