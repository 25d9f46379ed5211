/**
 * Image → model input, exactly per a PreprocessSpec. This file is the only place with the decode/resize/crop policy:
 * the embed stage (float tensors) and the exported model (uint8 HWC crop, normalisation baked into the graph)
 * both start from {@link decodeToRgb}, so they see the same pixels.
 *
 * Policy, in order:
 * 1. Decode with sharp (libvips). Paths are read with fs first, so a file rewritten in place is never served
 *    from libvips' file cache. Only the first frame/page of GIF, WebP, TIFF and AVIF is used. Inputs whose pixel
 *    data is truncated or corrupt are rejected (sharp `failOn: 'error'`); mere decoder warnings are tolerated,
 *    as PIL tolerates them.
 * 2. Apply the EXIF orientation.
 * 3. Convert to 8-bit sRGB: grayscale is replicated to three channels, CMYK goes through sharp's built-in CMYK
 *    profile, embedded ICC profiles are honoured, 16-bit input is scaled to 8 bits.
 * 4. Composite any alpha channel onto **white** (255, 255, 255). PIL's `convert('RGB')` drops alpha instead and
 *    exposes whatever colour the encoder left under transparent pixels (often black, sometimes garbage);
 *    compositing gives what a viewer shows and a value that is defined. Compositing onto a constant is linear, so
 *    the result does not depend on whether it happens before or after resizing.
 * 5. Resize per `spec.resizeFilter`:
 *    - `pil-bilinear`, `pil-bicubic`, `torch-bilinear`, `nearest`: libvips hands over the decoded pixels and
 *      resample.ts computes the resize in that library's convention, only for the crop window. A JPEG that libvips'
 *      own resize would decode at 1/2, 1/4 or 1/8 scale is, for the `pil-*` filters, decoded at that scale too and
 *      resampled exactly from there ({@link preshrinkPlan}): as fast as before, with a mean difference from a
 *      full-resolution resize below 0.6 grey levels on 12-megapixel photos (scripts/experiments/preshrink-fidelity.ts).
 *      Other formats are resampled exactly from full size up to {@link MAX_EXACT_PIXELS} (16 MP), larger ones
 *      from {@link PRESHRINK_FACTOR} × the target. `torch-bilinear` and `nearest` sample the full-resolution image,
 *      as PyTorch and Pillow do. Any image above {@link MAX_DECODED_PIXELS} is shrunk to fit first, so that memory
 *      stays bounded.
 *    - `sharp-linear`: libvips' `linear` kernel (triangle filter, widened when shrinking; not bit-identical to PIL),
 *      with JPEG shrink-on-load limited to leave at least a 2× reduction (`fastShrinkOnLoad: false`). This was the
 *      only filter before specs recorded one, so stored specs without `resizeFilter` mean it.
 *    Target size: {@link resizeGeometry}; the longer side of a shorter-side resize is rounded as `spec.geometry`
 *    says (`zoo`, the default: to nearest, as `imagenet_preprocess.py`; `torchvision`, `transformers`: down).
 * 6. Center crop `cropSize` × `cropSize`, top-left corner at `floor((resized − crop) / 2)` on each axis
 *    (`imagenet_preprocess.py`'s `w//2 − 112` for 224; `transformers`' `center_crop`), or that rounded half to even
 *    for `torchvision` (`CenterCrop`'s `int(round((h − crop) / 2.0))`).
 * 7. {@link normalizePixels}: value = (pixel × scale − mean[c]) / std[c], mean/std indexed by the RGB channel,
 *    then channel order and layout.
 */
import { readFile } from 'node:fs/promises';
import type { Sharp } from 'sharp';
import { FinetuneError } from '../errors.js';
import type { PreprocessSpec, ResizeFilter } from '../types.js';
import { loadSharp } from './load-sharp.js';
import { type ResizeGeometry, resizeGeometry } from './resample-kernels.js';
import { type ResampleWindow, resample } from './resample.js';

/** An 8-bit RGB image, interleaved (HWC), row-major. */
export interface RgbImage {
  /** height × width × 3 bytes. */
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  /** Size of the decoded image after EXIF orientation, before resizing. */
  readonly sourceWidth: number;
  readonly sourceHeight: number;
}

export interface DecodeOptions {
  /** Name for error messages when `input` is bytes, typically the file path the bytes came from. */
  sourceName?: string;
}

export interface PreprocessImageOptions extends DecodeOptions {
  /** Buffer to write into; allocated when absent. Must hold `outOffset + 3 × cropSize²` values. */
  out?: Float32Array;
  /** Index in `out` of the first value written. @defaultValue `0` */
  outOffset?: number;
}

/**
 * The resize target and center crop for a `width` × `height` image (after EXIF orientation), in the spec's
 * `geometry` convention. One implementation, in plain JavaScript, shared with the serve page.
 */
export { type ResizeGeometry, resizeGeometry };

/** Background that alpha is composited onto. */
export const ALPHA_BACKGROUND = Object.freeze({ r: 255, g: 255, b: 255 });

/**
 * Decodes, orients, resizes and center-crops an image to `cropSize` × `cropSize` RGB bytes (HWC).
 * This is what the exported classifier takes as input.
 * Throws FinetuneError('IMAGE_DECODE_FAILED') with the path and sharp's reason (and `cause`) when the input
 * cannot be read or decoded.
 */
export async function decodeToRgb(input: string | Uint8Array, spec: PreprocessSpec,
    options: DecodeOptions = {}): Promise<RgbImage> {
  const name = sourceNameOf(input, options);
  const bytes = await readInput(input, name);
  try {
    const image = openImage(bytes);
    const { width: sourceWidth, height: sourceHeight, jpeg } = await orientedSize(image);
    const geometry = resizeGeometry(sourceWidth, sourceHeight, spec);
    const window = { left: geometry.cropLeft, top: geometry.cropTop, width: geometry.cropSize, height: geometry.cropSize };
    const data = await resizeWindow(image, { width: sourceWidth, height: sourceHeight, jpeg },
      { width: geometry.resizeWidth, height: geometry.resizeHeight }, window, spec.resizeFilter);
    return { data, width: geometry.cropSize, height: geometry.cropSize, sourceWidth, sourceHeight };
  } catch (cause) {
    throw decodeError(name, cause);
  }
}

/**
 * Decodes and preprocesses one image into the model's float input: 3 × cropSize² values laid out per
 * `spec.layout`, written into `options.out` at `options.outOffset` (for filling a batch tensor in place).
 */
export async function preprocessImage(input: string | Uint8Array, spec: PreprocessSpec,
    options: PreprocessImageOptions = {}): Promise<Float32Array> {
  const rgb = await decodeToRgb(input, spec, options);
  return normalizePixels(rgb.data, spec, options.out, options.outOffset ?? 0);
}

/**
 * The numeric half of preprocessing: cropSize × cropSize × 3 RGB bytes (HWC) → value =
 * (pixel × scale − mean[c]) / std[c], with mean/std in RGB order, then reordered to `spec.channelOrder` and laid out
 * per `spec.layout`. Values are computed in double precision once per (channel, byte) and rounded to float32.
 */
export function normalizePixels(rgb: Uint8Array, spec: PreprocessSpec, out?: Float32Array, outOffset = 0): Float32Array {
  const pixelCount = spec.cropSize * spec.cropSize;
  const valueCount = 3 * pixelCount;
  if (rgb.length !== valueCount)
    throw new RangeError(`normalizePixels: rgb.length (${rgb.length}) is not 3 × cropSize² (${valueCount}).`);
  const output = out ?? new Float32Array(outOffset + valueCount);
  if (!Number.isInteger(outOffset) || outOffset < 0 || outOffset + valueCount > output.length)
    throw new RangeError(`normalizePixels: 'outOffset' ${outOffset} + ${valueCount} values exceeds out.length (${output.length}).`);
  const table = lookupTable(spec);
  // Output channel 0 reads RGB channel `first` (R, or B for BGR), channel 2 reads `third`; the table is per RGB channel.
  const first = spec.channelOrder === 'BGR' ? 2 : 0, third = 2 - first;
  const firstTable = first * 256, thirdTable = third * 256;
  if (spec.layout === 'NCHW') {
    const plane1 = outOffset + pixelCount, plane2 = outOffset + 2 * pixelCount;
    for (let pixel = 0, byte = 0; pixel < pixelCount; pixel++, byte += 3) {
      output[outOffset + pixel] = table[firstTable + rgb[byte + first]!]!;
      output[plane1 + pixel] = table[256 + rgb[byte + 1]!]!;
      output[plane2 + pixel] = table[thirdTable + rgb[byte + third]!]!;
    }
  } else {
    for (let byte = 0; byte < valueCount; byte += 3) {
      const index = outOffset + byte;
      output[index] = table[firstTable + rgb[byte + first]!]!;
      output[index + 1] = table[256 + rgb[byte + 1]!]!;
      output[index + 2] = table[thirdTable + rgb[byte + third]!]!;
    }
  }
  return output;
}

// #region internals shared with augment.ts

/**
 * The most pixels an exact filter resamples from. A larger image (a 48-megapixel photo for `torch-bilinear` or
 * `nearest`, a decompression bomb) is first shrunk by libvips to fit, which keeps memory per image in flight at
 * 3 × 40 MB whatever the input; the exact result is then that of the shrunk image.
 * @internal
 */
export const MAX_DECODED_PIXELS = 40_000_000;

/**
 * The most pixels a `pil-*` filter resamples at full resolution (a 16-megapixel PNG: 48 MB decoded, and as much
 * again in the WebAssembly memory). A larger image that is at least 2 × {@link PRESHRINK_FACTOR} times the target
 * is first shrunk by libvips to PRESHRINK_FACTOR × the target (streaming, a few MB), then resampled exactly: a PNG
 * bomb then costs what a thumbnail does (test/fuzz/image.test.ts bounds a case at 200 MiB).
 * @internal
 */
export const MAX_EXACT_PIXELS = 16_000_000;

/**
 * How much larger than the target the libvips pre-shrink of an over-budget image leaves it: Pillow's `reducing_gap`
 * value beyond which, in its documentation, the result is indistinguishable from a full resize (measured here: mean
 * error 0.2–0.4 grey levels on 12-megapixel photos, scripts/experiments/preshrink-fidelity.ts).
 * @internal
 */
export const PRESHRINK_FACTOR = 3;

/** What {@link resizeWindow} needs to know about its source. @internal */
export interface ResizeSource {
  /** Size after EXIF orientation (and after an extract, when the pipeline has one). */
  readonly width: number;
  readonly height: number;
  /** A JPEG with no extract before the resize: libvips can decode it at 1/2, 1/4 or 1/8 scale. */
  readonly jpeg: boolean;
}

/** Overrides of {@link preshrinkPlan}'s rule, for experiments and tests. @internal */
export interface PreshrinkLimits {
  /** Pre-shrink JPEGs to this multiple of the target instead (when they are at least twice that). */
  readonly factor?: number;
  /** sharp's `fastShrinkOnLoad` with `factor`. @defaultValue `true` */
  readonly fastShrinkOnLoad?: boolean;
  /** @defaultValue {@link MAX_DECODED_PIXELS} */
  readonly maxDecodedPixels?: number;
  /** @defaultValue {@link MAX_EXACT_PIXELS} */
  readonly maxExactPixels?: number;
}

/**
 * Resizes the image of `pipeline` (an {@link openImage} pipeline, possibly with an extract) to `target` with
 * `filter` and returns the `window` of the result as RGB bytes.
 * @internal
 */
export async function resizeWindow(pipeline: Sharp, source: ResizeSource, target: { width: number; height: number },
    window: ResampleWindow, filter: ResizeFilter, limits: PreshrinkLimits = {}): Promise<Uint8Array> {
  if (filter === 'sharp-linear') {
    const { data, info } = await pipeline
      .resize(target.width, target.height, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: false })
      .extract(window)
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return toRgbBytes(data, info.channels, info.width * info.height);
  }
  const preshrink = preshrinkPlan(source, target, filter, limits);
  const decoded = preshrink === null ? pipeline : pipeline.resize(preshrink.width, preshrink.height,
    { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: limits.fastShrinkOnLoad ?? true });
  const { data, info } = await decoded.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const image = { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height,
    channels: info.channels };
  const resized = resample(image, filter, target.width, target.height, { window });
  return toRgbBytes(resized.data, resized.channels, window.width * window.height);
}

/**
 * The intermediate size libvips shrinks to before an exact filter; null when the filter resamples the decoded image
 * itself.
 * - `pil-*` filters on a JPEG that libvips' own resize would decode at a reduced scale s (1/2, 1/4 or 1/8: `sharp-linear`
 *   does, with `fastShrinkOnLoad: false`) are pre-shrunk to the largest size at which sharp still decodes at that
 *   scale, S / (s + 1), then resampled exactly from there: the exact filter costs no more decoding than libvips' own,
 *   which keeps 12-megapixel photos as fast as before. This is Pillow's `reducing_gap` with the JPEG's DCT scaling
 *   (and a short linear step) in place of `Image.reduce`; scripts/experiments/preshrink-fidelity.ts measures how far it
 *   is from the full-resolution result. Other formats decode at full size anyway, so they are resampled exactly,
 *   up to {@link MAX_EXACT_PIXELS}; a larger image is pre-shrunk to {@link PRESHRINK_FACTOR} × the target first.
 * - `torch-bilinear` and `nearest` sample the full-resolution image, as PyTorch and Pillow do.
 * - Any image above `maxDecodedPixels` is shrunk to fit first, so that memory stays bounded.
 * libvips maps the whole image onto the intermediate size, partial JPEG blocks included (measured: a Pillow-style
 * source box for the last block only adds error).
 * @internal
 */
export function preshrinkPlan(source: ResizeSource, target: { width: number; height: number }, filter: ResizeFilter,
    limits: PreshrinkLimits = {}): { width: number; height: number } | null {
  const averaging = filter === 'pil-bilinear' || filter === 'pil-bicubic';
  const shrink = Math.min(source.width / target.width, source.height / target.height);
  if (averaging && source.jpeg) {
    if (limits.factor !== undefined) {
      if (shrink >= 2 * limits.factor) return { width: Math.ceil(target.width * limits.factor), height: Math.ceil(target.height * limits.factor) };
    } else {
      const scale = libvipsJpegScale(shrink);
      if (scale > 1) return { width: Math.floor(source.width / (scale + 1)), height: Math.floor(source.height / (scale + 1)) };
    }
  }
  if (averaging && source.width * source.height > (limits.maxExactPixels ?? MAX_EXACT_PIXELS) && shrink >= 2 * PRESHRINK_FACTOR)
    return { width: Math.ceil(target.width * PRESHRINK_FACTOR), height: Math.ceil(target.height * PRESHRINK_FACTOR) };
  const maxPixels = limits.maxDecodedPixels ?? MAX_DECODED_PIXELS;
  if (source.width * source.height <= maxPixels) return null;
  const fit = Math.sqrt(maxPixels / (source.width * source.height));
  return {
    width: Math.min(source.width, Math.max(target.width, Math.floor(source.width * fit))),
    height: Math.min(source.height, Math.max(target.height, Math.floor(source.height * fit))),
  };
}

/**
 * The JPEG shrink-on-load factor sharp 0.35 uses for a resize by `shrink` with `fastShrinkOnLoad: false` (pipeline.cc:
 * leave libvips' kernel at least 2×; one step less when the shrink truncates to the factor). With
 * `fastShrinkOnLoad: true`, any shrink in [s + 1, 2s) gets the same factor s, which is what {@link preshrinkPlan}
 * requests. Only speed depends on this matching sharp; the pixels are the exact filter's either way.
 */
function libvipsJpegScale(shrink: number): number {
  let scale = shrink >= 16 ? 8 : shrink >= 8 ? 4 : shrink >= 4 ? 2 : 1;
  if (scale > 1 && Math.trunc(shrink) === scale) scale /= 2;
  return scale;
}

/**
 * A sharp pipeline on `bytes` with steps 1–4 of the policy set up (first frame, EXIF orientation, sRGB,
 * alpha on white). Callers add geometry and `.raw()`.
 * @internal
 */
export function openImage(bytes: Uint8Array): Sharp {
  return loadSharp()(bytes, { autoOrient: true, failOn: 'error' })
    .flatten({ background: ALPHA_BACKGROUND })
    .toColourspace('srgb');
}

/** Width and height after EXIF orientation, and whether the input is a JPEG. @internal */
export async function orientedSize(image: Sharp): Promise<{ width: number; height: number; jpeg: boolean }> {
  const metadata = await image.metadata();
  // With sharp's default `pages: 1`, metadata describes the first frame only.
  const width = metadata.autoOrient?.width ?? metadata.width;
  const height = metadata.autoOrient?.height ?? metadata.height;
  if (!(width >= 1 && height >= 1)) throw new Error(`image reports an invalid size ${width}×${height}`);
  return { width, height, jpeg: metadata.format === 'jpeg' };
}

/** Reads a path's bytes, or passes bytes through; IMAGE_DECODE_FAILED when the file cannot be read. @internal */
export async function readInput(input: string | Uint8Array, name: string): Promise<Uint8Array> {
  if (typeof input !== 'string') {
    if (!(input instanceof Uint8Array)) throw new TypeError(`'input' must be a file path or a Uint8Array.`);
    if (input.length === 0) throw decodeError(name, new Error('empty input (0 bytes)'));
    return input;
  }
  let bytes: Uint8Array;
  try {
    bytes = await readFile(input);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : (cause as Error).message;
    throw decodeError(name, cause, reason);
  }
  if (bytes.length === 0) throw decodeError(name, new Error('empty file (0 bytes)'));
  return bytes;
}

/** @internal */
export function sourceNameOf(input: string | Uint8Array, options: DecodeOptions): string {
  return options.sourceName ?? (typeof input === 'string' ? input : `<${input.length} bytes>`);
}

/** Wraps a sharp/fs failure as IMAGE_DECODE_FAILED (passes FinetuneErrors through). @internal */
export function decodeError(name: string, cause: unknown, reason?: string): FinetuneError {
  if (cause instanceof FinetuneError) return cause;
  const text = reason ?? firstLine(cause instanceof Error ? cause.message : String(cause));
  return new FinetuneError('IMAGE_DECODE_FAILED', `Cannot decode image "${name}": ${text}.`,
    'Check that the file opens in an image viewer; re-save it as JPEG or PNG, or remove it from the dataset.',
    { cause });
}

/** sharp output → exactly 3 interleaved channels (defensive: flatten + sRGB already give 3). @internal */
export function toRgbBytes(data: Uint8Array, channels: number, pixelCount: number): Uint8Array {
  if (channels === 3) return new Uint8Array(data.buffer, data.byteOffset, pixelCount * 3);
  const rgb = new Uint8Array(pixelCount * 3);
  for (let pixel = 0; pixel < pixelCount; pixel++) {
    const source = pixel * channels, target = pixel * 3;
    if (channels <= 2) {
      const gray = data[source]!;
      rgb[target] = gray; rgb[target + 1] = gray; rgb[target + 2] = gray;
    } else {
      rgb[target] = data[source]!; rgb[target + 1] = data[source + 1]!; rgb[target + 2] = data[source + 2]!;
    }
  }
  return rgb;
}

// #endregion

const tables = new WeakMap<PreprocessSpec, Float32Array>();

/** 3 × 256 float32 values: table[256c + p] = (p × scale − mean[c]) / std[c], computed in double. */
function lookupTable(spec: PreprocessSpec): Float32Array {
  let table = tables.get(spec);
  if (table !== undefined) return table;
  const { scale, mean, std } = spec;
  table = new Float32Array(768);
  for (let channel = 0; channel < 3; channel++) {
    const channelMean = mean[channel]!, channelStd = std[channel]!;
    if (!(channelStd > 0) || !Number.isFinite(channelMean) || !Number.isFinite(scale))
      throw new RangeError(`normalizePixels: invalid mean/std/scale in spec (mean ${channelMean}, std ${channelStd}, scale ${scale}).`);
    for (let value = 0; value < 256; value++) table[channel * 256 + value] = (value * scale - channelMean) / channelStd;
  }
  tables.set(spec, table);
  return table;
}

function firstLine(text: string): string {
  const line = text.split('\n')[0] ?? text;
  return line.replace(/[.\s]+$/, '');
}
