/**
 * Cached vectors → NumPy files (`finetune cache export`): `features.npy` float32 [n, embeddingDim],
 * `labels.npy` int32 [n] and `files.txt`, one name per line, for `np.load`.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import type { EmbeddingCache, VariantOption } from './embedding-cache.js';
import { FeatureFileWriter } from '../train/feature-file.js';
import { encodeNpy } from './encode-npy.js';

/** Vectors read from the store and written per step of an export. */
const EXPORT_CHUNK_ROWS = 4096;

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
  const featuresPath = join(outDir, 'features.npy');
  const labelsPath = join(outDir, 'labels.npy');
  const filesPath = join(outDir, 'files.txt');
  // Streamed in chunks, so an export of millions of vectors needs memory for one chunk, not for the matrix.
  const writer = await FeatureFileWriter.create(featuresPath, null, embeddingDim);
  const present: ExportRow[] = [];
  const missing: string[] = [];
  try {
    const chunk = new Float32Array(EXPORT_CHUNK_ROWS * embeddingDim);
    for (let start = 0; start < wanted.length; start += EXPORT_CHUNK_ROWS) {
      const slice = wanted.slice(start, start + EXPORT_CHUNK_ROWS);
      const found = cache.getMany(key, slice.map((row) => row.imageSha), options);
      let count = 0;
      for (const row of slice) {
        const vector = found.get(row.imageSha);
        if (vector === undefined) { missing.push(row.file); continue; }
        chunk.set(vector, count++ * embeddingDim);
        present.push(row);
      }
      await writer.append(chunk.subarray(0, count * embeddingDim));
    }
    await writer.close();
  } catch (error) {
    await writer.abort();
    throw error;
  }
  await writeFileAtomic(labelsPath, encodeNpy(Int32Array.from(present, (row) => row.label), [present.length]));
  await writeFileAtomic(filesPath, present.map((row) => `${row.file.replace(/[\r\n]/g, ' ')}\n`).join(''));
  return { extractor: key, count: present.length, embeddingDim, featuresPath, labelsPath, filesPath, missing };
}
