/**
 * `finetune cache export`: cached vectors → NumPy files. With a dataset, the rows follow the dataset's order
 * (sorted by class, then path) with its class indices as labels; without one, every vector of the extractor is
 * written with label −1 and the image sha256 as its name.
 */
import { join, resolve } from 'node:path';
import { FinetuneError } from '../errors.js';
import { EmbeddingCache } from '../embed/embedding-cache.js';
import { listExtractors, resolveExtractor } from '../embed/cache-admin.js';
import { exportNpy } from '../embed/export-npy.js';
import type { ExportResult, ExportRow } from '../embed/export-npy.js';
import { hashImageFiles } from '../image/read-image-file.js';
import { scanDataset } from '../image/scan-dataset.js';
import { writeFileAtomic } from '../util/fs.js';

export interface ExportEmbeddingsOptions {
  /** The cache file to read. */
  cachePath: string;
  /** Extractor key or unique prefix (≥ 6 characters). @defaultValue the only extractor in the cache */
  extractor?: string;
  /** Dataset (folder or manifest) giving the rows, labels and file names. @defaultValue every vector, label −1 */
  data?: string;
}

export interface ExportEmbeddingsResult extends ExportResult {
  /** `classes.txt` (class k on line k) when a dataset was given. */
  readonly classesPath: string | null;
  readonly classNames: readonly string[] | null;
}

/** Writes features.npy, labels.npy, files.txt (and classes.txt with a dataset) to `outDir`. */
export async function exportEmbeddings(outDir: string, options: ExportEmbeddingsOptions): Promise<ExportEmbeddingsResult> {
  const cache = EmbeddingCache.open({ path: options.cachePath, readonly: true });
  try {
    const key = options.extractor !== undefined ? resolveExtractor(cache, options.extractor).key : onlyExtractor(cache);
    const out = resolve(outDir);
    if (options.data === undefined) return { ...(await exportNpy(cache, key, undefined, out)), classesPath: null, classNames: null };
    const dataset = await scanDataset(options.data);
    const shas = await hashImageFiles(dataset.items.map((item) => item.path));
    const rows: ExportRow[] = [];
    const unreadable: string[] = [];
    dataset.items.forEach((item, index) => {
      const imageSha = shas[index];
      if (imageSha === null || imageSha === undefined) unreadable.push(item.relativePath);
      else rows.push({ imageSha, label: item.label, file: item.relativePath });
    });
    const result = await exportNpy(cache, key, rows, out);
    const classesPath = join(out, 'classes.txt');
    await writeFileAtomic(classesPath, dataset.classNames.map((name) => `${name}\n`).join(''));
    return { ...result, missing: [...unreadable, ...result.missing], classesPath, classNames: dataset.classNames };
  } finally {
    cache.close();
  }
}

function onlyExtractor(cache: EmbeddingCache): string {
  const extractors = listExtractors(cache);
  if (extractors.length === 1) return extractors[0]!.key;
  throw new FinetuneError('INVALID_OPTION',
    extractors.length === 0 ? `The cache "${cache.path}" holds no vectors.` : `The cache "${cache.path}" holds ${extractors.length} extractors; pick one to export.`,
    extractors.length === 0 ? 'Run `finetune embed` first (with the same --cache-dir).'
      : `Pass --extractor with one of: ${extractors.map((info) => info.key.slice(0, 12)).join(', ')} (see \`finetune cache ls\`).`);
}
