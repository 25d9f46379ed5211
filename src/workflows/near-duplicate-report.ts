/**
 * Near-duplicate images of a run, across its labelled sets: clusters of images whose embeddings have cosine
 * similarity ≥ the threshold, with clusters that mix training (or validation) and test images flagged, since a test
 * image with a near copy in training inflates test accuracy.
 */
import { findNearDuplicates } from '../audit/near-duplicates.js';
import type { ImageSplit, NearDuplicateRow, NearDuplicateSummary } from '../run/run-format.js';

export interface ImageGroup {
  readonly split: ImageSplit;
  /** [paths.length × embeddingDim] row-major. */
  readonly features: Float32Array;
  readonly paths: readonly string[];
}

export interface NearDuplicateReport {
  readonly summary: NearDuplicateSummary;
  /** Every image in a cluster; clusters numbered from 1, largest first, cross-split clusters before the rest. */
  readonly rows: readonly NearDuplicateRow[];
}

/** The near-duplicate clusters among `groups` (see the module comment). */
export function reportNearDuplicates(groups: readonly ImageGroup[], embeddingDim: number, threshold: number): NearDuplicateReport {
  const total = groups.reduce((sum, group) => sum + group.paths.length, 0);
  const features = new Float32Array(total * embeddingDim);
  const splitOf: ImageSplit[] = [], pathOf: string[] = [];
  for (const group of groups) {
    features.set(group.features.subarray(0, group.paths.length * embeddingDim), pathOf.length * embeddingDim);
    for (const path of group.paths) { splitOf.push(group.split); pathOf.push(path); }
  }
  const found = findNearDuplicates(features, total, embeddingDim, { threshold });
  const crossesSplits = (rows: readonly number[]): boolean =>
    rows.some((row) => splitOf[row] === 'test') && rows.some((row) => splitOf[row] !== 'test');
  const clusters = [...found.clusters].sort((a, b) => Number(crossesSplits(b)) - Number(crossesSplits(a)));
  const rows = clusters.flatMap((members, index) => members.map((row): NearDuplicateRow => ({
    cluster: index + 1, split: splitOf[row]!, path: pathOf[row]!,
  })));
  return {
    summary: {
      threshold, clusters: clusters.length, images: rows.length, crossSplitClusters: clusters.filter(crossesSplits).length,
    },
    rows,
  };
}
