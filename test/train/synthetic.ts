/** Seeded synthetic classification data for the trainer tests (Gaussian-ish blobs around per-class centres). */
import type { LabelledFeatures } from '../../src/train/fit.js';
import { Rng } from '../../src/util/rng.js';

export interface BlobOptions {
  numSamples: number;
  embeddingDim: number;
  numClasses: number;
  /** Spread of each blob relative to the unit-box centres. @defaultValue 1 */
  noise?: number;
  /** Offset and scale applied to every feature, so standardization has something to undo. */
  offset?: number;
  scale?: number;
  seed?: number;
  /** Seed of the class centres; keep it equal between train and validation splits. @defaultValue 7 */
  centresSeed?: number;
  /** Per-class sample counts (overrides the round-robin labels). */
  counts?: readonly number[];
}

export function makeBlobs(options: BlobOptions): LabelledFeatures {
  const { numSamples, embeddingDim, numClasses, noise = 1, offset = 0, scale = 1, seed = 1, centresSeed = 7 } = options;
  const centresRng = new Rng(centresSeed), rng = new Rng(seed);
  const centres = Float32Array.from({ length: numClasses * embeddingDim }, () => centresRng.nextFloat() * 2 - 1);
  const features = new Float32Array(numSamples * embeddingDim);
  const labels = new Int32Array(numSamples);
  let next = 0;
  options.counts?.forEach((count, k) => { for (let i = 0; i < count; i++) labels[next++] = k; });
  for (let row = 0; row < numSamples; row++) {
    if (options.counts === undefined) labels[row] = row % numClasses;
    const label = labels[row]!;
    for (let feature = 0; feature < embeddingDim; feature++) {
      // Sum of 3 uniforms: a cheap bell shape.
      const gaussianish = (rng.nextFloat() + rng.nextFloat() + rng.nextFloat() - 1.5) * noise;
      features[row * embeddingDim + feature] = (centres[label * embeddingDim + feature]! + gaussianish) * scale + offset;
    }
  }
  return { features, labels, numSamples, embeddingDim };
}
