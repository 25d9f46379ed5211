/**
 * Near-duplicate images in embedding space: pairs of feature vectors whose cosine similarity reaches a threshold,
 * grouped into clusters (connected components). The backbone's features are what the head sees, so two images it
 * cannot tell apart are duplicates for training purposes even when their files differ (resized, recompressed).
 *
 * All pairs are compared, in blocks through the trainer's dense kernels (WebAssembly SIMD where available):
 * n²/2 dot products of length embeddingDim.
 */
import { fastestDenseKernels } from '../train/wasm-dense-kernels.js';
import type { DenseKernels } from '../train/dense-kernels.js';

export interface NearDuplicateOptions {
  /** Smallest cosine similarity that counts as a duplicate. @defaultValue `0.98` */
  threshold?: number;
  /** Pairs kept in the result (clusters always use every pair). @defaultValue `10000` */
  maxPairs?: number;
  /** Rows compared per block. @defaultValue `256` */
  blockRows?: number;
  /** @defaultValue the fastest available */
  kernels?: DenseKernels;
}

export interface NearDuplicatePair {
  /** Rows of the features, a < b. */
  readonly a: number;
  readonly b: number;
  readonly similarity: number;
}

export interface NearDuplicates {
  readonly threshold: number;
  /** Every pair, or the `maxPairs` most similar; `pairCount` says how many there were. */
  readonly pairs: readonly NearDuplicatePair[];
  readonly pairCount: number;
  /** Groups of rows linked by duplicate pairs (each ≥ 2 rows, ascending), largest first. */
  readonly clusters: ReadonlyArray<readonly number[]>;
  /** Rows left out because their feature vector is all zeros (no direction to compare). */
  readonly zeroRows: readonly number[];
}

/** Near-duplicate pairs and clusters among the rows of `features` [numRows × embeddingDim]. */
export function findNearDuplicates(features: Float32Array, numRows: number, embeddingDim: number,
  options: NearDuplicateOptions = {}): NearDuplicates {
  const threshold = options.threshold ?? 0.98;
  const maxPairs = options.maxPairs ?? 10_000;
  const blockRows = options.blockRows ?? 256;
  if (!(threshold > 0 && threshold <= 1)) throw new RangeError(`findNearDuplicates: threshold must be in (0, 1], got ${threshold}.`);
  if (features.length !== numRows * embeddingDim)
    throw new RangeError(`findNearDuplicates: ${features.length} values for ${numRows} rows × ${embeddingDim}.`);

  // Unit rows (float64 norms), in one workspace with the block buffers.
  const block = Math.max(1, Math.min(blockRows, numRows));
  const workspace = (options.kernels ?? fastestDenseKernels())
    .createWorkspace([numRows * embeddingDim, block, block * block]);
  const [unit, zeroBias, similarities] = workspace.arrays as [Float32Array, Float32Array, Float32Array];
  const zeroRows: number[] = [];
  for (let row = 0; row < numRows; row++) {
    const offset = row * embeddingDim;
    let square = 0;
    for (let feature = 0; feature < embeddingDim; feature++) square += features[offset + feature]! ** 2;
    if (!(square > 0)) { zeroRows.push(row); continue; }
    const inverse = 1 / Math.sqrt(square);
    for (let feature = 0; feature < embeddingDim; feature++) unit[offset + feature] = features[offset + feature]! * inverse;
  }

  const parent = Int32Array.from({ length: numRows }, (_, row) => row);
  const find = (row: number): number => {
    while (parent[row] !== row) { parent[row] = parent[parent[row]!]!; row = parent[row]!; }
    return row;
  };
  const pairs: NearDuplicatePair[] = [];
  let pairCount = 0;
  const zero = new Set(zeroRows);
  for (let start = 0; start < numRows; start += block) {
    const rows = Math.min(block, numRows - start);
    for (let other = start; other < numRows; other += block) {
      const cols = Math.min(block, numRows - other);
      // similarities[i, j] = unit[start + i] · unit[other + j]
      workspace.forward(unit, start * embeddingDim, rows, embeddingDim, unit, other * embeddingDim, zeroBias, 0, cols, similarities, 0);
      for (let i = 0; i < rows; i++) {
        const a = start + i;
        if (zero.has(a)) continue;
        for (let j = other === start ? i + 1 : 0; j < cols; j++) {
          const similarity = similarities[i * cols + j]!;
          if (!(similarity >= threshold)) continue;
          const b = other + j;
          if (zero.has(b)) continue;
          pairCount++;
          pairs.push({ a, b, similarity: Math.min(1, similarity) });
          if (pairs.length > 2 * maxPairs) keepMostSimilar(pairs, maxPairs);
          const rootA = find(a), rootB = find(b);
          if (rootA !== rootB) parent[Math.max(rootA, rootB)] = Math.min(rootA, rootB);
        }
      }
    }
  }
  keepMostSimilar(pairs, maxPairs);

  const members = new Map<number, number[]>();
  for (let row = 0; row < numRows; row++) {
    const root = find(row), list = members.get(root);
    if (list === undefined) members.set(root, [row]);
    else list.push(row);
  }
  const clusters = [...members.values()].filter((rows) => rows.length > 1).sort((x, y) => y.length - x.length || x[0]! - y[0]!);
  return { threshold, pairs, pairCount, clusters, zeroRows };
}

/** Sorts most similar first (then by rows) and keeps the first `limit`. */
function keepMostSimilar(pairs: NearDuplicatePair[], limit: number): void {
  pairs.sort((x, y) => y.similarity - x.similarity || x.a - y.a || x.b - y.b);
  if (pairs.length > limit) pairs.length = limit;
}
