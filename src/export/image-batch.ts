import { FinetuneError } from '../errors.js';
import { decodeToRgb, preprocessImage } from '../image/preprocess-image.js';
import type { HostTensor } from '../runtime/model-session.js';
import type { FailedImage } from '../types.js';
import type { ExportedModelInfo } from './exported-model-format.js';

export interface ImageBatch {
  /** The input tensor for the images that decoded, in the order of `paths`. */
  readonly tensor: HostTensor;
  /** The images in the tensor, in order. */
  readonly paths: readonly string[];
  /** Images that failed to decode; `index` is the position in `paths`. */
  readonly failed: readonly FailedImage[];
}

/**
 * Decodes image files into the input an exported model takes: uint8 RGB crops [n, H, W, 3] for models with baked
 * preprocessing, or the backbone's float tensor for `--no-preprocessing` exports. Images that fail to decode are
 * listed in `failed` and left out of the tensor; with `failFast` the first failure throws instead.
 * @throws FinetuneError INVALID_OPTION for head-only models (they take features, not images).
 */
export async function loadImageBatch(info: ExportedModelInfo, paths: readonly string[],
  options: { failFast?: boolean; flip?: boolean } = {}): Promise<ImageBatch> {
  const spec = info.preprocess;
  if (info.inputType === 'features' || spec === null) {
    throw new FinetuneError('INVALID_OPTION', 'This is a head-only model: it takes feature vectors, not images.',
      'Use model.onnx from the run folder (backbone + head) to classify image files.');
  }
  const crop = spec.cropSize;
  const valuesPerImage = crop * crop * 3;
  const decoded = await Promise.all(paths.map(async (path, index) => {
    try {
      if (info.inputType === 'uint8-image') return { index, path, data: (await decodeToRgb(path, spec)).data as Uint8Array | Float32Array };
      return { index, path, data: await preprocessImage(path, spec) as Uint8Array | Float32Array };
    } catch (error) {
      if (options.failFast) throw error;
      return { index, path, error };
    }
  }));
  const ok: Array<{ path: string; data: Uint8Array | Float32Array }> = [];
  const failed: FailedImage[] = [];
  for (const item of decoded) {
    if (item.data !== undefined) ok.push({ path: item.path, data: item.data });
    else failed.push({ index: item.index, path: item.path, reason: item.error instanceof Error ? item.error.message : String(item.error) });
  }
  const n = ok.length;
  if (info.inputType === 'uint8-image') {
    const data = new Uint8Array(n * valuesPerImage);
    for (let index = 0; index < n; index++) data.set(ok[index]!.data as Uint8Array, index * valuesPerImage);
    if (options.flip) flipHorizontally(data, n, crop, 'NHWC');
    return { tensor: { type: 'uint8', dims: [n, crop, crop, 3], data }, paths: ok.map((item) => item.path), failed };
  }
  const data = new Float32Array(n * valuesPerImage);
  for (let index = 0; index < n; index++) data.set(ok[index]!.data as Float32Array, index * valuesPerImage);
  const dims = spec.layout === 'NCHW' ? [n, 3, crop, crop] : [n, crop, crop, 3];
  if (options.flip) flipHorizontally(data, n, crop, spec.layout);
  return { tensor: { type: 'float32', dims, data }, paths: ok.map((item) => item.path), failed };
}

/**
 * How many images one run may take: the model's fixed batch dimension (1 for VGG16-7-style exports), or
 * `preferred` when the batch is symbolic.
 */
export function batchSizeFor(info: ExportedModelInfo, preferred: number): number {
  const first = info.inputShape[0];
  return typeof first === 'number' && first > 0 ? first : preferred;
}

/**
 * Mirrors a batch of square images left–right in place (test-time augmentation). Mirroring commutes with the
 * per-channel normalisation, so flipping the normalised tensor equals normalising the flipped image.
 */
export function flipHorizontally(data: Uint8Array | Float32Array, count: number, side: number, layout: 'NCHW' | 'NHWC'): void {
  if (layout === 'NHWC') {
    for (let row = 0; row < count * side; row++) {
      const rowOffset = row * side * 3;
      for (let left = 0, right = side - 1; left < right; left++, right--) {
        for (let channel = 0; channel < 3; channel++) {
          const a = rowOffset + left * 3 + channel, b = rowOffset + right * 3 + channel;
          const value = data[a]!;
          data[a] = data[b]!;
          data[b] = value;
        }
      }
    }
    return;
  }
  for (let row = 0; row < count * 3 * side; row++) {
    const rowOffset = row * side;
    for (let left = 0, right = side - 1; left < right; left++, right--) {
      const value = data[rowOffset + left]!;
      data[rowOffset + left] = data[rowOffset + right]!;
      data[rowOffset + right] = value;
    }
  }
}
