/**
 * Exact resampling of 8-bit images, in the conventions of the libraries backbones are trained with. The decoder
 * (preprocess-image.ts) lets libvips decode, orient and colour-convert; the pixel arithmetic of the resize is here,
 * so that it matches Pillow or PyTorch value for value instead of being "a bilinear filter".
 *
 * All filters place pixel centres at half-integers (output pixel x samples source position (x + 0.5) × in/out − 0.5)
 * and handle the two axes separately, horizontal first.
 *
 * - `pil-bilinear`: Pillow's `Image.resize(size, Image.BILINEAR)`, which is also torchvision's `Resize` on PIL images
 *   (the default image loader of `ImageFolder`). A triangle filter whose support is widened by the scale factor when
 *   shrinking, i.e. antialiased. Weights are normalised per output pixel, rounded to 22-bit fixed point; each pass
 *   rounds to uint8, as Pillow's `Resample.c` does, so the result is Pillow's bit for bit.
 * - `pil-bicubic`: the same with Pillow's `BICUBIC` kernel (Keys, a = −0.5, support 2, widened when shrinking;
 *   values clamped to 0..255). Hugging Face image processors use it (`resample=3`).
 * - `torch-bilinear`: `torch.nn.functional.interpolate(x, size, mode='bilinear', align_corners=False)` on a float
 *   tensor, with no antialias: each output pixel blends the 2×2 source pixels around its source position (negative
 *   positions clamp to 0, the last pixel repeats). Weights are computed in float32 as PyTorch's CPU kernel does; the
 *   values are computed in float and rounded to uint8 once at the end ({@link resampleFloat} keeps the floats).
 *   OpenCV's `cv2.resize(..., interpolation=INTER_LINEAR)` uses the same convention (within its 11-bit fixed point).
 * - `nearest`: Pillow's `NEAREST` (source pixel floor((x + 0.5) × in/out), accumulated in double as Pillow does);
 *   torchvision's `Resize(..., NEAREST)` on PIL images, and PyTorch's `mode='nearest-exact'`.
 *
 * Every function can produce only a window of the resized image (the center crop), at the cost of that window:
 * each output pixel depends only on its own source neighbourhood, so a window equals the same region of the full
 * result exactly.
 *
 * The `pil-*` passes run in WebAssembly SIMD (wasm-resample.ts; about 5× the JS loops, which stay as the reference
 * and the fallback, with the same bytes); torch-bilinear and nearest are plain JS loops.
 */
import type { ResizeFilter } from '../types.js';
import { wasmResampler } from './wasm-resample.js';

/** An 8-bit image with interleaved channels (HWC), row-major. */
export interface PixelImage {
  /** height × width × channels bytes. */
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  /** Values per pixel (1 gray, 2 gray + alpha, 3 RGB, 4 RGBA…); every channel is resampled the same way. */
  readonly channels: number;
}

/** A rectangle of the resized image, in its pixel coordinates. */
export interface ResampleWindow {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

/** The filters computed here; `sharp-linear` is libvips' own resize and is applied by the decoder. */
export type ExactResizeFilter = Exclude<ResizeFilter, 'sharp-linear'>;

/**
 * The region of the source that maps onto the output, in source pixel coordinates (fractions allowed): Pillow's
 * `box` argument of `Image.resize`, which its `reducing_gap` path uses after a `reduce()` whose last block is partial.
 * Only the `pil-*` filters take one.
 */
export interface SourceBox {
  readonly left: number;
  readonly top: number;
  readonly right: number;
  readonly bottom: number;
}

export interface ResampleOptions {
  /** The region of the resized image to compute. @defaultValue the whole `outWidth` × `outHeight` */
  window?: ResampleWindow;
  /** The source region that is resized (`pil-*` filters only). @defaultValue the whole image */
  sourceBox?: SourceBox;
  /**
   * `auto`: the WebAssembly SIMD passes for the `pil-*` filters where the runtime has WebAssembly SIMD, else JS;
   * `js`: the plain JS loops (the reference the wasm passes are tested against). Same bytes either way.
   * @defaultValue `'auto'`
   */
  engine?: 'auto' | 'js';
}

/**
 * Resizes `image` to `outWidth` × `outHeight` with `filter` and returns `options.window` of the result (all of it
 * when absent), with the input's channel count.
 */
export function resample(image: PixelImage, filter: ExactResizeFilter, outWidth: number, outHeight: number,
    options: ResampleOptions = {}): PixelImage {
  const window = options.window ?? { left: 0, top: 0, width: outWidth, height: outHeight };
  checkArguments('resample', image, outWidth, outHeight, window);
  const box = options.sourceBox ?? { left: 0, top: 0, right: image.width, bottom: image.height };
  if (options.sourceBox !== undefined) {
    if (filter !== 'pil-bilinear' && filter !== 'pil-bicubic')
      throw new RangeError(`resample: 'sourceBox' is only defined for the pil-* filters, not ${filter}.`);
    const { left, top, right, bottom } = box;
    if (!(left >= 0 && top >= 0 && right <= image.width && bottom <= image.height && left < right && top < bottom))
      throw new RangeError(`resample: sourceBox (${left}, ${top}, ${right}, ${bottom}) is not inside ${image.width}×${image.height}.`);
  }
  switch (filter) {
    case 'pil-bilinear': return convolve(image, PIL_BILINEAR, outWidth, outHeight, window, box, options.engine ?? 'auto');
    case 'pil-bicubic': return convolve(image, PIL_BICUBIC, outWidth, outHeight, window, box, options.engine ?? 'auto');
    case 'nearest': return nearest(image, outWidth, outHeight, window);
    case 'torch-bilinear': {
      const values = torchBilinear(image, outWidth, outHeight, window);
      const data = new Uint8Array(values.length);
      for (let i = 0; i < values.length; i++) data[i] = Math.round(values[i]!);   // in [0, 255]: a convex blend
      return { data, width: window.width, height: window.height, channels: image.channels };
    }
    default:
      throw new RangeError(`resample: unknown filter ${String(filter)}.`);
  }
}

/**
 * `torch-bilinear` without the final rounding: the float values PyTorch computes for a float tensor holding the
 * same 0..255 values (window.height × window.width × channels, interleaved).
 */
export function resampleFloat(image: PixelImage, outWidth: number, outHeight: number,
    window: ResampleWindow = { left: 0, top: 0, width: outWidth, height: outHeight }): Float32Array {
  checkArguments('resampleFloat', image, outWidth, outHeight, window);
  return torchBilinear(image, outWidth, outHeight, window);
}

// #region Pillow convolution (pil-bilinear, pil-bicubic)

interface PillowKernel {
  /** Kernel value at distance x (in source pixels at scale 1). */
  readonly weight: (x: number) => number;
  /** Half-width at scale 1. */
  readonly support: number;
}

const PIL_BILINEAR: PillowKernel = {
  support: 1,
  weight: (x) => {
    const distance = x < 0 ? -x : x;
    return distance < 1 ? 1 - distance : 0;
  },
};

/** Keys' cubic with a = −0.5, written with Pillow's operation order so that the doubles agree bit for bit. */
const PIL_BICUBIC: PillowKernel = {
  support: 2,
  weight: (x) => {
    const a = -0.5;
    const distance = x < 0 ? -x : x;
    if (distance < 1) return ((a + 2) * distance - (a + 3)) * distance * distance + 1;
    if (distance < 2) return (((distance - 5) * distance + 8) * distance - 4) * a;
    return 0;
  },
};

/**
 * Pillow's fixed point for 8-bit images: weights × 2^22, two spare bits for overshoot, so every sum fits in an
 * int32 (the loops use Math.imul and `| 0`, exact here, which keeps V8 on integer arithmetic).
 */
const PRECISION_BITS = 22;
const ROUNDING = 1 << (PRECISION_BITS - 1);

/** Per output pixel of one axis: the first source index, the number of taps and their fixed-point weights. */
interface ConvolutionAxis {
  /** [first, taps] per output pixel. */
  readonly bounds: Int32Array;
  /** `taps` weights per output pixel, then zeros up to `stride` (the most taps, rounded up to a multiple of 4). */
  readonly weights: Int32Array;
  readonly stride: number;
}

/**
 * Pillow's precompute_coeffs + normalize_coeffs_8bpc for output pixels [start, start + count) of one axis, mapping
 * source span [in0, in1) (float32, as Pillow's box) onto the output.
 */
function convolutionAxis(inSize: number, in0: number, in1: number, outSize: number, kernel: PillowKernel, start: number,
    count: number): ConvolutionAxis {
  const boxStart = Math.fround(in0);
  const scale = Math.fround(Math.fround(in1) - boxStart) / outSize;
  const filterScale = scale < 1 ? 1 : scale;
  const support = kernel.support * filterScale;
  const maxTaps = Math.ceil(support) * 2 + 1;
  const stride = Math.ceil(maxTaps / 4) * 4;
  const inverseFilterScale = 1 / filterScale;
  const bounds = new Int32Array(2 * count);
  const weights = new Int32Array(count * stride);
  const taps = new Float64Array(maxTaps);
  for (let index = 0; index < count; index++) {
    const center = boxStart + (start + index + 0.5) * scale;
    const first = Math.max(0, Math.trunc(center - support + 0.5));
    const last = Math.min(inSize, Math.trunc(center + support + 0.5));
    const tapCount = last - first;
    let sum = 0;
    for (let tap = 0; tap < tapCount; tap++) {
      const weight = kernel.weight((tap + first - center + 0.5) * inverseFilterScale);
      taps[tap] = weight;
      sum += weight;
    }
    const offset = index * stride;
    for (let tap = 0; tap < tapCount; tap++) {
      const normalized = sum !== 0 ? taps[tap]! / sum : taps[tap]!;
      weights[offset + tap] = normalized < 0
        ? Math.trunc(-0.5 + normalized * (1 << PRECISION_BITS))
        : Math.trunc(0.5 + normalized * (1 << PRECISION_BITS));
    }
    bounds[2 * index] = first;
    bounds[2 * index + 1] = tapCount;
  }
  return { bounds, weights, stride };
}

/** Fixed-point sum → uint8, as Pillow's clip8 (arithmetic shift, then clamp). */
function clip8(sum: number): number {
  const value = sum >> PRECISION_BITS;
  return value < 0 ? 0 : value > 255 ? 255 : value;
}

function convolve(image: PixelImage, kernel: PillowKernel, outWidth: number, outHeight: number,
    window: ResampleWindow, box: SourceBox, engine: 'auto' | 'js'): PixelImage {
  const { channels } = image;
  // Pillow skips an axis whose size and span do not change (its weights would be the identity anyway).
  const vertical = outHeight !== image.height || box.top !== 0 || box.bottom !== outHeight
    ? convolutionAxis(image.height, box.top, box.bottom, outHeight, kernel, window.top, window.height) : null;
  const horizontal = outWidth !== image.width || box.left !== 0 || box.right !== outWidth
    ? convolutionAxis(image.width, box.left, box.right, outWidth, kernel, window.left, window.width) : null;
  const firstRow = vertical ? vertical.bounds[0]! : window.top;
  const lastRow = vertical
    ? vertical.bounds[2 * (window.height - 1)]! + vertical.bounds[2 * (window.height - 1) + 1]!
    : window.top + window.height;
  const wasm = engine === 'auto' ? wasmResampler() : null;
  if (wasm !== null) {
    const data = wasm.convolve(image.data, image.width, channels, horizontal, vertical, window.left, window.width,
      window.height, firstRow, lastRow);
    return { data, width: window.width, height: window.height, channels };
  }
  const rows = horizontal !== null
    ? convolveRows(image, horizontal, firstRow, lastRow)
    : copyColumns(image, window.left, window.width, firstRow, lastRow);
  if (vertical === null) return { data: rows, width: window.width, height: window.height, channels };
  return { data: convolveColumns(rows, window.width * channels, firstRow, vertical, window.height), width: window.width,
    height: window.height, channels };
}

/** Horizontal pass over source rows [firstRow, lastRow): one uint8 row of `axis` outputs per source row. */
function convolveRows(image: PixelImage, axis: ConvolutionAxis, firstRow: number, lastRow: number): Uint8Array {
  const { data: source, width, channels } = image;
  const { bounds, weights, stride } = axis;
  const outCount = bounds.length / 2;
  const out = new Uint8Array((lastRow - firstRow) * outCount * channels);
  let target = 0;
  for (let row = firstRow; row < lastRow; row++) {
    const rowStart = row * width * channels;
    if (channels === 3) {
      for (let column = 0; column < outCount; column++) {
        const taps = bounds[2 * column + 1]!, weightOffset = column * stride;
        let pixel = rowStart + bounds[2 * column]! * 3;
        let red = ROUNDING, green = ROUNDING, blue = ROUNDING;
        for (let tap = 0; tap < taps; tap++, pixel += 3) {
          const weight = weights[weightOffset + tap]!;
          red = (red + Math.imul(source[pixel]!, weight)) | 0;
          green = (green + Math.imul(source[pixel + 1]!, weight)) | 0;
          blue = (blue + Math.imul(source[pixel + 2]!, weight)) | 0;
        }
        out[target] = clip8(red);
        out[target + 1] = clip8(green);
        out[target + 2] = clip8(blue);
        target += 3;
      }
    } else {
      for (let column = 0; column < outCount; column++) {
        const taps = bounds[2 * column + 1]!, weightOffset = column * stride;
        const firstPixel = rowStart + bounds[2 * column]! * channels;
        for (let channel = 0; channel < channels; channel++) {
          let sum = ROUNDING;
          for (let tap = 0, pixel = firstPixel + channel; tap < taps; tap++, pixel += channels)
            sum = (sum + Math.imul(source[pixel]!, weights[weightOffset + tap]!)) | 0;
          out[target++] = clip8(sum);
        }
      }
    }
  }
  return out;
}

/** Vertical pass: output row r blends rows bounds[2r] … of `rows` (which start at source row `firstRow`). */
function convolveColumns(rows: Uint8Array, rowLength: number, firstRow: number, axis: ConvolutionAxis,
    outRows: number): Uint8Array {
  const { bounds, weights, stride } = axis;
  const out = new Uint8Array(outRows * rowLength);
  const sums = new Int32Array(rowLength);
  for (let row = 0; row < outRows; row++) {
    const taps = bounds[2 * row + 1]!, weightOffset = row * stride;
    const sourceRow = bounds[2 * row]! - firstRow;
    sums.fill(ROUNDING);
    for (let tap = 0; tap < taps; tap++) {
      const weight = weights[weightOffset + tap]!;
      const rowStart = (sourceRow + tap) * rowLength;
      for (let i = 0; i < rowLength; i++) sums[i] = (sums[i]! + Math.imul(rows[rowStart + i]!, weight)) | 0;
    }
    const outStart = row * rowLength;
    for (let i = 0; i < rowLength; i++) out[outStart + i] = clip8(sums[i]!);
  }
  return out;
}

/** Columns [left, left + count) of source rows [firstRow, lastRow), packed. */
function copyColumns(image: PixelImage, left: number, count: number, firstRow: number, lastRow: number): Uint8Array {
  const { data, width, channels } = image;
  const rowLength = count * channels;
  const out = new Uint8Array((lastRow - firstRow) * rowLength);
  for (let row = firstRow; row < lastRow; row++) {
    const start = (row * width + left) * channels;
    out.set(data.subarray(start, start + rowLength), (row - firstRow) * rowLength);
  }
  return out;
}

// #endregion

// #region PyTorch bilinear (torch-bilinear)

interface LinearAxis {
  readonly index0: Int32Array;
  readonly index1: Int32Array;
  readonly lambda0: Float32Array;
  readonly lambda1: Float32Array;
}

/**
 * PyTorch's compute_indices_weights_linear (align_corners=False) for outputs [start, start + count): scale = in / out
 * in float32; source = scale × (x + 0.5) − 0.5 in double, clamped at 0; blend floor(source) and the next pixel with
 * float32 weights. (Checked by feeding PyTorch 1.13 unit impulses: these weights are its weights bit for bit.)
 */
function linearAxis(inSize: number, outSize: number, start: number, count: number): LinearAxis {
  const scale = Math.fround(inSize / outSize);
  const index0 = new Int32Array(count), index1 = new Int32Array(count);
  const lambda0 = new Float32Array(count), lambda1 = new Float32Array(count);
  for (let index = 0; index < count; index++) {
    let source = scale * (start + index + 0.5) - 0.5;   // in double (CPU accumulate type), from a float32 scale
    if (source < 0) source = 0;
    const first = Math.trunc(source);
    index0[index] = first;
    index1[index] = first < inSize - 1 ? first + 1 : first;
    const weight = Math.fround(source - first);
    lambda1[index] = weight;
    lambda0[index] = Math.fround(1 - weight);
  }
  return { index0, index1, lambda0, lambda1 };
}

function torchBilinear(image: PixelImage, outWidth: number, outHeight: number, window: ResampleWindow): Float32Array {
  const { data: source, width, channels } = image;
  const columns = linearAxis(width, outWidth, window.left, window.width);
  const rows = linearAxis(image.height, outHeight, window.top, window.height);
  const rowLength = window.width * channels;
  // Horizontal blends of the source rows the window needs, in float32 like PyTorch's inner interpolation.
  const firstRow = rows.index0[0]!, lastRow = rows.index1[window.height - 1]! + 1;
  const blended = new Float32Array((lastRow - firstRow) * rowLength);
  for (let row = firstRow; row < lastRow; row++) {
    const rowStart = row * width * channels;
    let target = (row - firstRow) * rowLength;
    for (let column = 0; column < window.width; column++) {
      const left = rowStart + columns.index0[column]! * channels, right = rowStart + columns.index1[column]! * channels;
      const weight0 = columns.lambda0[column]!, weight1 = columns.lambda1[column]!;
      for (let channel = 0; channel < channels; channel++)
        blended[target++] = weight0 * source[left + channel]! + weight1 * source[right + channel]!;
    }
  }
  const out = new Float32Array(window.height * rowLength);
  for (let row = 0; row < window.height; row++) {
    const top = (rows.index0[row]! - firstRow) * rowLength, bottom = (rows.index1[row]! - firstRow) * rowLength;
    const weight0 = rows.lambda0[row]!, weight1 = rows.lambda1[row]!;
    const outStart = row * rowLength;
    for (let i = 0; i < rowLength; i++) out[outStart + i] = weight0 * blended[top + i]! + weight1 * blended[bottom + i]!;
  }
  return out;
}

// #endregion

// #region Pillow nearest

/** Pillow's ImagingScaleAffine: source index = trunc(position), position starting at scale/2 and stepping by scale. */
function nearestAxis(inSize: number, outSize: number, start: number, count: number): Int32Array {
  const scale = inSize / outSize;
  const indices = new Int32Array(count);
  let position = scale * 0.5;
  for (let index = 0; index < start; index++) position += scale;   // accumulated, not multiplied: Pillow's rounding
  for (let index = 0; index < count; index++, position += scale) indices[index] = Math.min(inSize - 1, Math.trunc(position));
  return indices;
}

function nearest(image: PixelImage, outWidth: number, outHeight: number, window: ResampleWindow): PixelImage {
  const { data: source, width, channels } = image;
  const columns = nearestAxis(width, outWidth, window.left, window.width);
  const rows = nearestAxis(image.height, outHeight, window.top, window.height);
  const out = new Uint8Array(window.width * window.height * channels);
  let target = 0;
  for (let row = 0; row < window.height; row++) {
    const rowStart = rows[row]! * width * channels;
    for (let column = 0; column < window.width; column++) {
      const pixel = rowStart + columns[column]! * channels;
      for (let channel = 0; channel < channels; channel++) out[target++] = source[pixel + channel]!;
    }
  }
  return { data: out, width: window.width, height: window.height, channels };
}

// #endregion

function checkArguments(name: string, image: PixelImage, outWidth: number, outHeight: number, window: ResampleWindow): void {
  const { width, height, channels, data } = image;
  if (!(Number.isInteger(width) && Number.isInteger(height) && Number.isInteger(channels) && width >= 1 && height >= 1 && channels >= 1))
    throw new RangeError(`${name}: invalid image ${width}×${height}×${channels}.`);
  if (data.length !== width * height * channels)
    throw new RangeError(`${name}: data.length (${data.length}) is not width × height × channels (${width * height * channels}).`);
  if (!(Number.isInteger(outWidth) && Number.isInteger(outHeight) && outWidth >= 1 && outHeight >= 1))
    throw new RangeError(`${name}: invalid output size ${outWidth}×${outHeight}.`);
  const { left, top, width: windowWidth, height: windowHeight } = window;
  if (!([left, top, windowWidth, windowHeight].every(Number.isInteger) && left >= 0 && top >= 0 && windowWidth >= 1 &&
      windowHeight >= 1 && left + windowWidth <= outWidth && top + windowHeight <= outHeight))
    throw new RangeError(`${name}: window ${windowWidth}×${windowHeight} at (${left}, ${top}) is not inside ${outWidth}×${outHeight}.`);
}
