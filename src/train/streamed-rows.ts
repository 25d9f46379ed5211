/**
 * Row-wise passes over training data of either kind (features in memory or streamed from a feature file): what
 * cross-fitting and the run need after `fit`, without materializing a streamed split. In memory they are plain calls
 * on the matrix; streamed, they read the split a window at a time in row order.
 */
import { createWindowBuffers, selectRows, WindowReader, type WindowOptions } from './streamed-features.js';
import { isStreamed, type LabelledFeatures, type TrainingData } from './training-data.js';

/**
 * `perRows(features, numSamples)` returns `width` values per row ([numSamples × width], e.g. logits); `mapRows`
 * returns them for every row of `data`, in `data`'s row order. Streamed data is read window by window (two
 * window buffers within `options.memoryBudgetBytes`), so only the output is held for every row.
 */
export async function mapRows(data: TrainingData, width: number,
  perRows: (features: Float32Array, numSamples: number) => Float32Array, options: WindowOptions = {}): Promise<Float32Array> {
  if (!isStreamed(data)) return perRows(data.features, data.numSamples);
  const out = new Float32Array(data.numSamples * width);
  if (data.numSamples === 0) return out;
  const reader = new WindowReader(data, createWindowBuffers(data.embeddingDim, data.file.numRows, options));
  let position = 0;
  for await (const { data: window } of reader.windows(null)) {
    const values = perRows(window.features, window.numSamples);
    if (values.length !== window.numSamples * width)
      throw new RangeError(`mapRows: perRows returned ${values.length} values for ${window.numSamples} rows of width ${width}.`);
    out.set(values, position * width);
    position += window.numSamples;
  }
  return out;
}

/**
 * The rows `indices` (ascending positions within `data`) as features in memory, for the few rows a caller needs
 * whole (the images the exported model is checked on). Streamed rows are read one by one from the file.
 */
export async function readRows(data: TrainingData, indices: readonly number[]): Promise<LabelledFeatures> {
  const picked = selectRows(data, Int32Array.from(indices));
  if (!isStreamed(picked)) return picked;
  const { embeddingDim, numSamples } = picked;
  const features = new Float32Array(numSamples * embeddingDim);
  for (let row = 0; row < numSamples; row++)
    await picked.file.read(picked.rows === null ? row : picked.rows[row]!, 1, features.subarray(row * embeddingDim, (row + 1) * embeddingDim));
  return { features, labels: picked.labels, numSamples, embeddingDim };
}
