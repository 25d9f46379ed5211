/**
 * The labelled-dataset types shared by the scanners (scan-folder.ts, parse-manifest.ts), their assembly
 * (assemble-dataset.ts) and scanDataset, plus the small helpers they share.
 */
import { sep } from 'node:path';

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

/** A file a scanner found, with the class it would get; `origin` says where it was listed (`line 7`). */
export interface Candidate {
  readonly path: string;
  readonly className: string;
  readonly origin?: string;
}

/** Names shown in one error message before "and N more". */
export const LIST_LIMIT = 10;

/** `a, b, c and 4 more`. */
export function listNames(names: readonly string[]): string {
  const shown = names.slice(0, LIST_LIMIT).join(', ');
  return names.length > LIST_LIMIT ? `${shown} and ${names.length - LIST_LIMIT} more` : shown;
}

export function compareCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A relative path with `/` separators on every platform. */
export function toPosix(path: string): string {
  return sep === '/' ? path : path.split(sep).join('/');
}
