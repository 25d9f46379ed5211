// Pure preprocessing for the browser demo: the same arithmetic as src/image/preprocess-image.ts (normalizePixels),
// written as plain JavaScript so the page can load it without a build step.
// The resize geometry and the resize itself are the library's own code: src/image/resample-kernels.js, which the server also serves at
// /image/resample-kernels.js (the relative import below resolves to it in the browser and in Node alike).
// The Node tests import this file and compare it with the library functions.
import { resampleBytes, resizeGeometry } from '../../image/resample-kernels.js';

/** The resize target and center crop (the library's own function; see resample-kernels.js). */
export { resizeGeometry };

/**
 * The model's crop of a decoded RGB image (width × height × 3 bytes, HWC), resized with the spec's filter exactly as
 * `finetune predict` resizes the decoded pixels; null for `sharp-linear` (libvips' own kernel, which the page cannot
 * reproduce: it then resizes in a canvas). For big JPEGs `predict` decodes at a reduced scale first, so the two differ
 * slightly there.
 * @param {Uint8Array} rgb
 * @param {number} width
 * @param {number} height
 * @param {{ resizeMode: string, resizeSize: number, cropSize: number, resizeFilter?: string, geometry?: string }} spec
 */
export function resizeToCrop(rgb, width, height, spec) {
  if (spec.resizeFilter === undefined || spec.resizeFilter === 'sharp-linear') return null;
  const geometry = resizeGeometry(width, height, spec);
  const window = { left: geometry.cropLeft, top: geometry.cropTop, width: geometry.cropSize, height: geometry.cropSize };
  return resampleBytes({ data: rgb, width, height, channels: 3 }, spec.resizeFilter, geometry.resizeWidth, geometry.resizeHeight,
    window, { left: 0, top: 0, right: width, bottom: height });
}

/** RGBA bytes (canvas ImageData) → RGB bytes, HWC. Alpha is dropped: the page draws over white first. */
export function rgbaToRgb(rgba) {
  const pixelCount = rgba.length / 4;
  const rgb = new Uint8Array(pixelCount * 3);
  for (let pixel = 0, source = 0, target = 0; pixel < pixelCount; pixel++, source += 4, target += 3) {
    rgb[target] = rgba[source];
    rgb[target + 1] = rgba[source + 1];
    rgb[target + 2] = rgba[source + 2];
  }
  return rgb;
}

/**
 * cropSize² × 3 RGB bytes → the model's float input: (pixel × scale − mean[c]) / std[c], computed in double
 * precision once per (channel, byte) and rounded to float32, reordered to spec.channelOrder, laid out per
 * spec.layout (NCHW or NHWC). Same arithmetic as normalizePixels in src/image/preprocess-image.ts.
 */
export function normalizePixels(rgb, spec) {
  const pixelCount = spec.cropSize * spec.cropSize;
  const valueCount = 3 * pixelCount;
  if (rgb.length !== valueCount) throw new RangeError(`normalizePixels: rgb.length (${rgb.length}) is not 3 × cropSize² (${valueCount}).`);
  const table = new Float32Array(3 * 256);
  for (let channel = 0; channel < 3; channel++) {
    for (let byte = 0; byte < 256; byte++) {
      table[channel * 256 + byte] = (byte * spec.scale - spec.mean[channel]) / spec.std[channel];
    }
  }
  const output = new Float32Array(valueCount);
  const first = spec.channelOrder === 'BGR' ? 2 : 0, third = 2 - first;
  if (spec.layout === 'NCHW') {
    for (let pixel = 0, byte = 0; pixel < pixelCount; pixel++, byte += 3) {
      output[pixel] = table[first * 256 + rgb[byte + first]];
      output[pixelCount + pixel] = table[256 + rgb[byte + 1]];
      output[2 * pixelCount + pixel] = table[third * 256 + rgb[byte + third]];
    }
  } else {
    for (let byte = 0; byte < valueCount; byte += 3) {
      output[byte] = table[first * 256 + rgb[byte + first]];
      output[byte + 1] = table[256 + rgb[byte + 1]];
      output[byte + 2] = table[third * 256 + rgb[byte + third]];
    }
  }
  return output;
}

/**
 * The `k` most probable classes of one row, highest first (ties keep class order).
 * @param {ArrayLike<number>} probabilities
 * @param {readonly string[]} classNames
 * @param {number} k
 */
export function topK(probabilities, classNames, k) {
  const ranked = [];
  for (let index = 0; index < probabilities.length; index++) {
    ranked.push({ index, className: classNames[index] ?? `class ${index}`, probability: probabilities[index] });
  }
  ranked.sort((a, b) => b.probability - a.probability || a.index - b.index);
  return ranked.slice(0, Math.max(1, k));
}
