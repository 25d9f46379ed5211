/**
 * The decode side of an extraction: a batch of pending images → one input tensor of the images that decoded,
 * packed in order. Failures go to the tally (duplicates of the same content fail alike).
 */
import type { PreprocessSpec } from '../types.js';
import type { ExtractionTally } from './extraction-tally.js';
import type { PendingImage } from './miss-batches.js';

/** Writes one image's `3 × cropSize²` input values into `options.out` at `options.outOffset`. */
export type PreprocessFn = (input: Uint8Array, spec: PreprocessSpec,
  options: { out: Float32Array; outOffset: number; sourceName: string }) => Promise<unknown>;

/** A decoded batch: `tensor` holds one image per sha, in order. `error` is a strict-mode failure to rethrow. */
export interface DecodedBatch {
  readonly shas: string[];
  /** Item index of each image (the first item with that content), aligned with `shas`. */
  readonly indices: number[];
  readonly tensor: Float32Array;
  readonly error: unknown;
}

const reasonOf = (error: unknown): string => {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]!;
};

/** Decodes every image of `batch` at once (sharp runs them on its own threads); see the file comment. */
export async function decodeBatch(batch: readonly PendingImage[], spec: PreprocessSpec, preprocess: PreprocessFn,
  tally: ExtractionTally): Promise<DecodedBatch> {
  const imageSize = 3 * spec.cropSize * spec.cropSize;
  const tensor = new Float32Array(batch.length * imageSize);
  const outcomes = await Promise.all(batch.map(async (image, slot) => {
    try {
      await preprocess(image.bytes!, spec, { out: tensor, outOffset: slot * imageSize, sourceName: tally.pathOf(image.index) });
      return true;
    } catch (error) {
      return error;
    } finally {
      image.bytes = null;
    }
  }));
  const kept: string[] = [];
  const indices: number[] = [];
  try {
    for (let slot = 0; slot < batch.length; slot++) {
      const image = batch[slot]!;
      const outcome = outcomes[slot];
      if (outcome !== true) {
        tally.failContent(image.index, image.sha, reasonOf(outcome), outcome);
        continue;
      }
      if (kept.length !== slot) tensor.copyWithin(kept.length * imageSize, slot * imageSize, (slot + 1) * imageSize);
      kept.push(image.sha);
      indices.push(image.index);
    }
  } catch (error) {
    return { shas: [], indices: [], tensor, error };
  }
  return { shas: kept, indices, tensor: tensor.subarray(0, kept.length * imageSize), error: undefined };
}
