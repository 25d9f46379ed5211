/**
 * The two shapes of data `fit` trains on: features in memory (one Float32Array) or rows of a feature file on
 * disk, read a window at a time (see streamed-features.ts). Both carry their labels in memory.
 */
import type { FeatureFile } from './feature-file.js';

/** Features held once: one contiguous row-major Float32Array [numSamples × embeddingDim] and one label per row. */
export interface LabelledFeatures {
  readonly features: Float32Array;
  readonly labels: Int32Array;
  readonly numSamples: number;
  readonly embeddingDim: number;
}

/** Rows of a feature file used as a training or validation split (out-of-core training). */
export interface StreamedFeatures {
  readonly file: FeatureFile;
  /** Rows of the file in this split, ascending; `null` means every row. */
  readonly rows: Int32Array | null;
  /** One label per row of this split. */
  readonly labels: Int32Array;
  readonly numSamples: number;
  readonly embeddingDim: number;
}

/** Data `fit` accepts. */
export type TrainingData = LabelledFeatures | StreamedFeatures;

export const isStreamed = (data: TrainingData): data is StreamedFeatures => 'file' in data;
