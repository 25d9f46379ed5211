/**
 * Cached vectors → NumPy files (`finetune cache export`): `features.npy` float32 [n, embeddingDim],
 * `labels.npy` int32 [n] and `files.txt`, one name per line, for `np.load`.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import type { EmbeddingCache, VariantOption } from './embedding-cache.js';
import { encodeNpy } from './encode-npy.js';

/** One row of `exportNpy`: which image, its class index and the name written to files.txt. */
export interface ExportRow {
  readonly imageSha: string;
  readonly label: number;
  readonly file: string;
}

export interface ExportResult {
  readonly extractor: string;
  readonly count: number;
  readonly embeddingDim: number;
  readonly featuresPath: string;
  readonly labelsPath: string;
  readonly filesPath: string;
  /** `file` of every row whose vector is not in the store (left out of the export). */
  readonly missing: readonly string[];
}

/**
 * Writes `features.npy`, `labels.npy` and `files.txt` for extractor `key` to `outDir`. Without `rows`, exports
 * every vector of the extractor with labels −1 and the image sha256s as names. Rows missing from the store are
 * left out and listed in `missing`.
 */
export async function exportNpy(cache: EmbeddingCache, key: string, rows: readonly ExportRow[] | undefined, outDir: string,
  options: VariantOption = {}): Promise<ExportResult> {
  const embeddingDim = cache.requireEmbeddingDim(key);
  const wanted: readonly ExportRow[] = rows
    ?? cache.imageShas(key, options).map((imageSha) => ({ imageSha, label: -1, file: imageSha }));
  const found = cache.getMany(key, wanted.map((row) => row.imageSha), options);
  const present = wanted.filter((row) => found.has(row.imageSha));
  const features = new Float32Array(present.length * embeddingDim);
  const labels = new Int32Array(present.length);
  for (let row = 0; row < present.length; row++) {
    features.set(found.get(present[row]!.imageSha)!, row * embeddingDim);
    labels[row] = present[row]!.label;
  }
  const featuresPath = join(outDir, 'features.npy');
  const labelsPath = join(outDir, 'labels.npy');
  const filesPath = join(outDir, 'files.txt');
  await writeFileAtomic(featuresPath, encodeNpy(features, [present.length, embeddingDim]));
  await writeFileAtomic(labelsPath, encodeNpy(labels, [present.length]));
  await writeFileAtomic(filesPath, present.map((row) => `${row.file.replace(/[\r\n]/g, ' ')}\n`).join(''));
  return {
    extractor: key, count: present.length, embeddingDim, featuresPath, labelsPath, filesPath,
    missing: wanted.filter((row) => !found.has(row.imageSha)).map((row) => row.file),
  };
}
