/** What the report shows: a run folder (read by the run layer's readRun) and base64 thumbnails made with sharp. */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import { loadSharp } from '../image/load-sharp.js';
import { readRun } from '../run/read-run.js';
import { MAX_DUPLICATE_CLUSTERS_SHOWN } from './report-data.js';
import type { ReportData, Thumbnail } from './report-data.js';

export interface ReadRunDataOptions {
  /** Longest side of each thumbnail, in pixels. @defaultValue `96` */
  thumbnailSize?: number;
  /** Most thumbnails made per list (wrong predictions per split, label issues; twice that for near duplicates). @defaultValue `16` */
  maxThumbnails?: number;
}

/**
 * Reads a run folder through {@link readRun} and makes thumbnails of the most confidently wrong images. Thumbnails
 * that cannot be made (image moved or unreadable) carry the reason instead.
 * @throws FinetuneError from readRun: FILE_NOT_FOUND, RUN_INVALID, RUN_FORMAT_UNSUPPORTED.
 */
export async function readRunData(runDir: string, options: ReadRunDataOptions = {}): Promise<ReportData> {
  const thumbnailSize = options.thumbnailSize ?? 96;
  const maxThumbnails = options.maxThumbnails ?? 16;
  if (!Number.isInteger(thumbnailSize) || thumbnailSize < 8 || thumbnailSize > 1024)
    throw new RangeError(`readRunData: 'thumbnailSize' must be an integer in [8, 1024], got ${thumbnailSize}.`);
  if (!Number.isInteger(maxThumbnails) || maxThumbnails < 0)
    throw new RangeError(`readRunData: 'maxThumbnails' must be a non-negative integer, got ${maxThumbnails}.`);

  const run = await readRun(runDir);
  const { metrics, manifest, skipped, labelIssues, nearDuplicates } = run;
  const thumbnails: Record<string, Thumbnail> = {};
  const thumbnail = async (path: string): Promise<void> => {
    thumbnails[path] ??= await makeThumbnail(isAbsolute(path) ? path : join(run.dir, path), thumbnailSize);
  };
  for (const split of [metrics?.crossValidation, metrics?.validation, metrics?.test]) {
    for (const wrong of (split?.mostConfidentlyWrong ?? []).slice(0, maxThumbnails)) await thumbnail(wrong.path);
  }
  for (const issue of (labelIssues ?? []).slice(0, maxThumbnails)) await thumbnail(issue.path);
  for (const row of (nearDuplicates ?? []).filter((entry) => entry.cluster <= MAX_DUPLICATE_CLUSTERS_SHOWN).slice(0, 2 * maxThumbnails)) {
    await thumbnail(row.path);
  }
  const firstSplit = metrics?.crossValidation ?? metrics?.validation ?? metrics?.test;
  const classNames = run.labels?.classNames ?? firstSplit?.perClass.map((entry) => entry.className) ?? [];

  return {
    title: basename(run.dir),
    classNames,
    history: run.history ?? [],
    ...(metrics ? { metrics } : {}),
    ...(manifest ? { manifest } : {}),
    ...(skipped ? { skipped } : {}),
    ...(labelIssues ? { labelIssues } : {}),
    ...(nearDuplicates ? { nearDuplicates } : {}),
    thumbnails,
  };
}

/**
 * A JPEG thumbnail (EXIF orientation applied, transparency over white) no larger than `size` × `size`.
 * The image is untrusted: it is read as bytes from a regular file (a FIFO would block) and sharp decodes the bytes,
 * never the path, since librsvg resolves an SVG's `<image href>` against a file path and could embed other files of
 * the machine into the report.
 */
export async function makeThumbnail(path: string, size: number): Promise<Thumbnail> {
  try {
    const { data, info } = await loadSharp()(await readRegularFile(path))
      .rotate()
      .resize(size, size, { fit: 'inside', withoutEnlargement: false })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: 82 })
      .toBuffer({ resolveWithObject: true });
    return { ok: true, dataUri: `data:image/jpeg;base64,${data.toString('base64')}`, width: info.width, height: info.height };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const message = error instanceof Error ? error.message : String(error);
    const reason = code === 'ENOENT' || /missing|does not exist|no such file/i.test(message)
      ? 'image not found' : `unreadable image (${message.split('\n')[0]})`;
    return { ok: false, reason };
  }
}

/** The bytes of a regular file; opened non-blocking so that a FIFO fails at once instead of waiting for a writer. */
async function readRegularFile(path: string): Promise<Buffer> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!(await handle.stat()).isFile()) throw new Error('not a regular file');
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
