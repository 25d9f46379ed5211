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
 * The arithmetic is in resample-kernels.js (plain JavaScript, so that the serve page loads the very same file and
 * resizes in the browser as `predict` does). The `pil-*` passes run in WebAssembly SIMD (wasm-resample.ts; about 5×
 * the JS loops, which stay as the reference and the fallback, with the same bytes); torch-bilinear and nearest are
 * plain JS loops.
 */
import type { ResizeFilter } from '../types.js';
import { checkResampleArguments, convolutionPlan, resampleBytes, torchBilinear } from './resample-kernels.js';
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
  checkResampleArguments('resample', image, outWidth, outHeight, window);
  const box = options.sourceBox ?? { left: 0, top: 0, right: image.width, bottom: image.height };
  if (options.sourceBox !== undefined) {
    if (filter !== 'pil-bilinear' && filter !== 'pil-bicubic')
      throw new RangeError(`resample: 'sourceBox' is only defined for the pil-* filters, not ${filter}.`);
    const { left, top, right, bottom } = box;
    if (!(left >= 0 && top >= 0 && right <= image.width && bottom <= image.height && left < right && top < bottom))
      throw new RangeError(`resample: sourceBox (${left}, ${top}, ${right}, ${bottom}) is not inside ${image.width}×${image.height}.`);
  }
  const isPillow = filter === 'pil-bilinear' || filter === 'pil-bicubic';
  const wasm = isPillow && options.engine !== 'js' ? wasmResampler() : null;
  let data: Uint8Array;
  if (wasm !== null && isPillow) {
    const plan = convolutionPlan(image, filter, outWidth, outHeight, window, box);
    data = wasm.convolve(image.data, image.width, image.channels, plan.horizontal, plan.vertical, window.left,
      window.width, window.height, plan.firstRow, plan.lastRow);
  } else {
    data = resampleBytes(image, filter, outWidth, outHeight, window, box);
  }
  return { data, width: window.width, height: window.height, channels: image.channels };
}

/**
 * `torch-bilinear` without the final rounding: the float values PyTorch computes for a float tensor holding the
 * same 0..255 values (window.height × window.width × channels, interleaved).
 */
export function resampleFloat(image: PixelImage, outWidth: number, outHeight: number,
    window: ResampleWindow = { left: 0, top: 0, width: outWidth, height: outHeight }): Float32Array {
  checkResampleArguments('resampleFloat', image, outWidth, outHeight, window);
  return torchBilinear(image, outWidth, outHeight, window);
}
