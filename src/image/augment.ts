/**
 * Seeded augmented views for the embedding cache (Create ML's answer to "feature caching rules out augmentation"):
 * each training image gets K fixed views, each decoded, augmented, embedded once and cached under a key that
 * includes the augmentation spec and the view index.
 *
 * A view is a pure function of (image bytes, PreprocessSpec, AugmentSpec, view index, seed): the random parameters
 * come from a PRNG seeded with sha256(image bytes), the seed and the view index, one stream per augmentation, so
 * turning one augmentation on or off does not change the parameters the others draw.
 *
 * Order of operations (torchvision's train transforms, with rotation added):
 * 1. Geometry on the decoded image (EXIF-oriented, sRGB, alpha on white, resized with the spec's `resizeFilter`, as
 *    in decodeToRgb):
 *    - `crop`: random resized crop (torchvision `RandomResizedCrop`): a box of `scale` × the image area with aspect
 *      ratio in `ratio` (log-uniform), placed uniformly; 10 tries, then the largest centered box with a ratio in
 *      range. The box is resized straight to cropSize × cropSize.
 *    - no `crop`: the PreprocessSpec's own resize and center crop, so a view differs from the original only by
 *      the other augmentations.
 *    - `rotate`: a uniform angle in ±maxDegrees; the view is rendered at (|cos| + |sin|) × its size, rotated and
 *      center-cropped, i.e. rotate-and-zoom so that no border fill ever appears.
 * 2. `flip`: horizontal mirror of the final pixels, exact (done on the bytes, not resampled).
 * 3. `color`: brightness, contrast, saturation, in that order, each a factor uniform in [1 − s, 1 + s]
 *    (torchvision `ColorJitter` formulas: brightness scales, contrast blends with the mean luma, saturation blends
 *    with each pixel's luma; luma = 0.299 R + 0.587 G + 0.114 B); rounded and clamped to 0..255.
 *
 * View 0 is the original (exactly decodeToRgb); views 1..K are augmented.
 */
import { FinetuneError, nearestNames } from '../errors.js';
import type { PreprocessSpec } from '../types.js';
import { sha256, stableStringify } from '../util/hash.js';
import { keyedStream } from '../util/rng.js';
import { loadSharp } from './load-sharp.js';
import {
  type DecodeOptions, type RgbImage, decodeError, decodeToRgb, openImage, orientedSize, readInput, resizeGeometry,
  resizeWindow, sourceNameOf, toRgbBytes,
} from './preprocess-image.js';

/** Which augmentations make up a view, with their parameters. Pure data: part of the embedding-cache key. */
export interface AugmentSpec {
  /** Horizontal flip. */
  readonly flip: { /** Chance that a view is mirrored. @defaultValue `0.5` */ readonly probability: number } | null;
  /** Random resized crop. */
  readonly crop: {
    /** Range of the box area as a fraction of the image area. @defaultValue `[0.5, 1]` */
    readonly scale: readonly [number, number];
    /** Range of the box aspect ratio (width / height), sampled log-uniformly. @defaultValue `[3/4, 4/3]` */
    readonly ratio: readonly [number, number];
  } | null;
  /** Small rotation, zoomed so that no border appears. */
  readonly rotate: { /** Largest angle either way, in degrees. @defaultValue `15` */ readonly maxDegrees: number } | null;
  /** Colour jitter; each strength s draws a factor in [1 − s, 1 + s]; 0 disables that part. */
  readonly color: {
    /** @defaultValue `0.2` */ readonly brightness: number;
    /** @defaultValue `0.2` */ readonly contrast: number;
    /** @defaultValue `0.2` */ readonly saturation: number;
  } | null;
}

/** The parameters one view drew, for logs and tests. */
export interface AugmentParams {
  readonly flipped: boolean;
  /** Box in the oriented source image, or null for the spec's resize and center crop. */
  readonly cropBox: { readonly left: number; readonly top: number; readonly width: number; readonly height: number } | null;
  readonly rotationDegrees: number;
  readonly brightness: number;
  readonly contrast: number;
  readonly saturation: number;
}

export interface AugmentedImage extends RgbImage {
  readonly params: AugmentParams;
}

export interface AugmentOptions extends DecodeOptions {
  /** sha256 (hex) of the image bytes, when the caller already has it (the embedding cache does). */
  contentSha256?: string;
}

export const AUGMENT_DEFAULTS = Object.freeze({
  flip: Object.freeze({ probability: 0.5 }),
  crop: Object.freeze({ scale: Object.freeze([0.5, 1] as const), ratio: Object.freeze([3 / 4, 4 / 3] as const) }),
  rotate: Object.freeze({ maxDegrees: 15 }),
  color: Object.freeze({ brightness: 0.2, contrast: 0.2, saturation: 0.2 }),
});

/** No augmentation. */
export const NO_AUGMENT: AugmentSpec = Object.freeze({ flip: null, crop: null, rotate: null, color: null });

const NAMES = ['flip', 'crop', 'rotate', 'color', 'brightness', 'contrast', 'saturation'] as const;

/**
 * Parses `--augment`: comma-separated names, each with an optional `=value`:
 * - `flip[=probability]` (default 0.5)
 * - `crop[=minScale]` or `crop=minScale-maxScale` (default 0.5-1; ratio stays 3/4-4/3)
 * - `rotate[=maxDegrees]` (default 15)
 * - `color[=strength]` (brightness, contrast and saturation, default 0.2 each), or `brightness=s`, `contrast=s`,
 *   `saturation=s` individually (unset parts are 0).
 * `none` or an empty string gives {@link NO_AUGMENT}. Throws INVALID_OPTION quoting the bad item.
 */
export function parseAugmentSpec(text: string): AugmentSpec {
  const spec: { -readonly [K in keyof AugmentSpec]: AugmentSpec[K] } = { flip: null, crop: null, rotate: null, color: null };
  const trimmed = text.trim();
  if (trimmed === '' || trimmed.toLowerCase() === 'none') return NO_AUGMENT;
  let color: { brightness: number; contrast: number; saturation: number } | null = null;
  for (const item of trimmed.split(',').map((part) => part.trim()).filter((part) => part !== '')) {
    const [rawName = '', value] = item.split('=', 2).map((part) => part.trim());
    const name = rawName.toLowerCase();
    const bad = (expected: string): FinetuneError => new FinetuneError('INVALID_OPTION',
      `Invalid --augment item "${item}": ${expected}.`,
      'Use e.g. --augment flip,crop=0.6,rotate=10,color=0.2 (names: flip, crop, rotate, color, brightness, contrast, saturation).');
    const number = (min: number, max: number, fallback: number): number => {
      if (value === undefined) return fallback;
      const parsed = value === '' ? Number.NaN : Number(value);
      if (!(parsed >= min && parsed <= max)) throw bad(`expected a number in [${min}, ${max}] after "="`);
      return parsed;
    };
    switch (name) {
      case 'flip':
        spec.flip = { probability: number(0, 1, AUGMENT_DEFAULTS.flip.probability) };
        break;
      case 'crop': {
        let scale: readonly [number, number] = AUGMENT_DEFAULTS.crop.scale;
        if (value !== undefined) {
          const range = /^([\d.]+)\s*(?:-\s*([\d.]+))?$/.exec(value);
          const low = Number(range?.[1]), high = range?.[2] !== undefined ? Number(range[2]) : 1;
          if (!range || !(low > 0 && low <= high && high <= 1)) throw bad('expected a minimum scale in (0, 1] or a range like 0.5-1');
          scale = [low, high];
        }
        spec.crop = { scale, ratio: AUGMENT_DEFAULTS.crop.ratio };
        break;
      }
      case 'rotate':
        spec.rotate = { maxDegrees: number(0, 45, AUGMENT_DEFAULTS.rotate.maxDegrees) };
        break;
      case 'color': {
        const strength = number(0, 1, AUGMENT_DEFAULTS.color.brightness);
        color = { brightness: strength, contrast: strength, saturation: strength };
        break;
      }
      case 'brightness': case 'contrast': case 'saturation':
        color = { ...(color ?? { brightness: 0, contrast: 0, saturation: 0 }), [name]: number(0, 1, AUGMENT_DEFAULTS.color[name]) };
        break;
      default:
        throw new FinetuneError('INVALID_OPTION', `Unknown --augment item "${item}".`,
          `Use a comma-separated list of: ${NAMES.join(', ')} (did you mean "${nearestNames(name, NAMES, 1)[0]}"?).`);
    }
  }
  spec.color = color;
  return validateAugmentSpec(spec);
}

/** Checks a spec read from JSON (a run manifest) and returns it frozen. Throws INVALID_OPTION naming the field. */
export function validateAugmentSpec(spec: AugmentSpec): AugmentSpec {
  const problems: string[] = [];
  const inRange = (value: unknown, min: number, max: number): boolean => typeof value === 'number' && value >= min && value <= max;
  if (spec.flip !== null && !inRange(spec.flip?.probability, 0, 1)) problems.push('flip.probability must be in [0, 1]');
  if (spec.crop !== null) {
    const scale = spec.crop?.scale, ratio = spec.crop?.ratio;
    if (!Array.isArray(scale) || !inRange(scale[0], Number.MIN_VALUE, 1) || !inRange(scale[1], scale[0], 1))
      problems.push(`crop.scale ${JSON.stringify(scale)} must be [low, high] with 0 < low ≤ high ≤ 1`);
    if (!Array.isArray(ratio) || !inRange(ratio[0], 0.05, 20) || !inRange(ratio[1], ratio[0], 20))
      problems.push(`crop.ratio ${JSON.stringify(ratio)} must be [low, high] with 0.05 ≤ low ≤ high ≤ 20`);
  }
  if (spec.rotate !== null && !inRange(spec.rotate?.maxDegrees, 0, 45)) problems.push('rotate.maxDegrees must be in [0, 45]');
  if (spec.color !== null) {
    for (const key of ['brightness', 'contrast', 'saturation'] as const)
      if (!inRange(spec.color?.[key], 0, 1)) problems.push(`color.${key} must be in [0, 1]`);
  }
  if (problems.length > 0)
    throw new FinetuneError('INVALID_OPTION', `Invalid augmentation spec: ${problems.join('; ')}.`,
      'Use parseAugmentSpec("flip,crop,rotate,color") defaults, or fix the values in the spec.');
  return Object.freeze({
    flip: spec.flip && Object.freeze({ probability: spec.flip.probability }),
    crop: spec.crop && Object.freeze({
      scale: Object.freeze([spec.crop.scale[0], spec.crop.scale[1]] as const),
      ratio: Object.freeze([spec.crop.ratio[0], spec.crop.ratio[1]] as const),
    }),
    rotate: spec.rotate && Object.freeze({ maxDegrees: spec.rotate.maxDegrees }),
    color: spec.color && Object.freeze({ ...spec.color }),
  });
}

/** True when the spec changes nothing (all parts off or with zero strength). */
export function isNoAugment(spec: AugmentSpec): boolean {
  return (spec.flip === null || spec.flip.probability === 0) && spec.crop === null &&
    (spec.rotate === null || spec.rotate.maxDegrees === 0) &&
    (spec.color === null || (spec.color.brightness === 0 && spec.color.contrast === 0 && spec.color.saturation === 0));
}

/** A stable string for cache keys and run.json: same spec ⇒ same key, whatever the key order. */
export function augmentSpecKey(spec: AugmentSpec): string {
  return `augment-v1:${stableStringify(spec)}`;
}

/** One line for logs, e.g. `flip p=0.5, crop scale 0.5–1 ratio 0.75–1.33, rotate ±15°, color b0.2 c0.2 s0.2`. */
export function describeAugmentSpec(spec: AugmentSpec): string {
  const parts: string[] = [];
  if (spec.flip) parts.push(`flip p=${spec.flip.probability}`);
  if (spec.crop) parts.push(`crop scale ${spec.crop.scale[0]}–${spec.crop.scale[1]} ratio ${round2(spec.crop.ratio[0])}–${round2(spec.crop.ratio[1])}`);
  if (spec.rotate) parts.push(`rotate ±${spec.rotate.maxDegrees}°`);
  if (spec.color) parts.push(`color b${spec.color.brightness} c${spec.color.contrast} s${spec.color.saturation}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

/**
 * The cropSize × cropSize RGB bytes (HWC) of augmented view `viewIndex` of an image (see the file comment).
 * View 0 is the original, identical to decodeToRgb. Deterministic per (image bytes, specs, viewIndex, seed).
 * Throws IMAGE_DECODE_FAILED like decodeToRgb.
 */
export async function augmentedRgb(input: string | Uint8Array, spec: PreprocessSpec, augment: AugmentSpec,
    viewIndex: number, seed: number, options: AugmentOptions = {}): Promise<AugmentedImage> {
  if (!Number.isSafeInteger(viewIndex) || viewIndex < 0)
    throw new RangeError(`augmentedRgb: 'viewIndex' must be a non-negative integer, got ${viewIndex}.`);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`augmentedRgb: 'seed' must be a safe integer, got ${seed}.`);
  const name = sourceNameOf(input, options);
  const bytes = await readInput(input, name);
  if (viewIndex === 0) return { ...(await decodeToRgb(bytes, spec, { sourceName: name })), params: IDENTITY_PARAMS };

  const base = `${options.contentSha256 ?? sha256(bytes)}\0${seed}\0${viewIndex}`;
  const stream = (part: string): (() => number) => keyedStream(`finetune-augment-v1\0${part}\0${base}`);
  const cropSize = spec.cropSize;
  try {
    const image = openImage(bytes);
    const { width: sourceWidth, height: sourceHeight, jpeg } = await orientedSize(image);

    const flipRandom = stream('flip');
    const flipped = augment.flip !== null && flipRandom() < augment.flip.probability;
    const cropBox = augment.crop === null ? null : sampleCropBox(sourceWidth, sourceHeight, augment.crop, stream('crop'));
    const rotationDegrees = augment.rotate === null ? 0 : (stream('rotate')() * 2 - 1) * augment.rotate.maxDegrees;
    const colorRandom = stream('color');
    const factor = (strength: number): number => 1 + (colorRandom() * 2 - 1) * strength;
    const brightness = augment.color ? factor(augment.color.brightness) : 1;
    const contrast = augment.color ? factor(augment.color.contrast) : 1;
    const saturation = augment.color ? factor(augment.color.saturation) : 1;

    // Render the view at `side` pixels; rotation needs headroom so that its inscribed square is still ≥ cropSize.
    const radians = (rotationDegrees * Math.PI) / 180;
    const zoom = Math.abs(Math.cos(radians)) + Math.abs(Math.sin(radians));
    const side = rotationDegrees === 0 ? cropSize : Math.ceil(cropSize * zoom) + 2;
    let pixels: Uint8Array;
    const square = { left: 0, top: 0, width: side, height: side };
    if (cropBox !== null) {
      // After an extract libvips cannot shrink on load: the box is decoded at full size.
      pixels = await resizeWindow(image.extract(cropBox), { ...cropBox, jpeg: false }, square, square, spec.resizeFilter);
    } else if (side === cropSize) {
      pixels = (await decodeToRgb(bytes, spec, { sourceName: name })).data;
    } else {
      const scaled: PreprocessSpec = { ...spec, cropSize: side, resizeSize: Math.max(side, Math.round((spec.resizeSize * side) / cropSize)) };
      const geometry = resizeGeometry(sourceWidth, sourceHeight, scaled);
      pixels = await resizeWindow(image, { width: sourceWidth, height: sourceHeight, jpeg },
        { width: geometry.resizeWidth, height: geometry.resizeHeight },
        { left: geometry.cropLeft, top: geometry.cropTop, width: side, height: side }, spec.resizeFilter);
    }
    if (rotationDegrees !== 0) pixels = await rotateAndCrop(pixels, side, rotationDegrees, cropSize);
    if (flipped) mirrorRows(pixels, cropSize, cropSize);
    if (brightness !== 1 || contrast !== 1 || saturation !== 1) jitterColor(pixels, brightness, contrast, saturation);
    return {
      data: pixels, width: cropSize, height: cropSize, sourceWidth, sourceHeight,
      params: { flipped, cropBox, rotationDegrees, brightness, contrast, saturation },
    };
  } catch (cause) {
    throw decodeError(name, cause);
  }
}

const IDENTITY_PARAMS: AugmentParams = Object.freeze({
  flipped: false, cropBox: null, rotationDegrees: 0, brightness: 1, contrast: 1, saturation: 1,
});

/** torchvision RandomResizedCrop.get_params, in integer source pixels. */
function sampleCropBox(width: number, height: number, crop: NonNullable<AugmentSpec['crop']>, random: () => number):
    { left: number; top: number; width: number; height: number } {
  const area = width * height;
  const logLow = Math.log(crop.ratio[0]), logHigh = Math.log(crop.ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * (crop.scale[0] + random() * (crop.scale[1] - crop.scale[0]));
    const ratio = Math.exp(logLow + random() * (logHigh - logLow));
    const boxWidth = Math.round(Math.sqrt(targetArea * ratio));
    const boxHeight = Math.round(Math.sqrt(targetArea / ratio));
    if (boxWidth >= 1 && boxHeight >= 1 && boxWidth <= width && boxHeight <= height) {
      const left = Math.floor(random() * (width - boxWidth + 1));
      const top = Math.floor(random() * (height - boxHeight + 1));
      return { left, top, width: boxWidth, height: boxHeight };
    }
  }
  // Fallback: the whole image, trimmed to the nearest allowed ratio, centered.
  const imageRatio = width / height;
  let boxWidth = width, boxHeight = height;
  if (imageRatio < crop.ratio[0]) boxHeight = Math.max(1, Math.round(width / crop.ratio[0]));
  else if (imageRatio > crop.ratio[1]) boxWidth = Math.max(1, Math.round(height * crop.ratio[1]));
  return { left: Math.floor((width - boxWidth) / 2), top: Math.floor((height - boxHeight) / 2), width: boxWidth, height: boxHeight };
}

/** Rotates a side × side RGB square by `degrees` (counter-clockwise positive) and keeps the center cropSize square. */
async function rotateAndCrop(pixels: Uint8Array, side: number, degrees: number, cropSize: number): Promise<Uint8Array> {
  // An affine transform with bilinear interpolation (about twice as fast as sharp's rotate() for arbitrary angles).
  // Image y points down, so a counter-clockwise turn by θ maps (x, y) to (x cos θ + y sin θ, −x sin θ + y cos θ).
  const radians = (degrees * Math.PI) / 180;
  const cos = Math.cos(radians), sin = Math.sin(radians);
  const sharp = loadSharp();
  const { data, info } = await sharp(pixels, { raw: { width: side, height: side, channels: 3 } })
    .affine([cos, sin, -sin, cos], { background: { r: 128, g: 128, b: 128 }, interpolator: sharp.interpolators.bilinear })
    .raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const rotated = toRgbBytes(data, info.channels, info.width * info.height);
  const left = Math.floor((info.width - cropSize) / 2), top = Math.floor((info.height - cropSize) / 2);
  if (left < 0 || top < 0) throw new Error(`rotation produced a ${info.width}×${info.height} image, smaller than ${cropSize}`);
  const out = new Uint8Array(cropSize * cropSize * 3);
  const rowBytes = cropSize * 3;
  for (let row = 0; row < cropSize; row++) {
    const start = ((top + row) * info.width + left) * 3;
    out.set(rotated.subarray(start, start + rowBytes), row * rowBytes);
  }
  return out;
}

/** Mirrors each row in place (horizontal flip). */
export function mirrorRows(pixels: Uint8Array, width: number, height: number): void {
  for (let row = 0; row < height; row++) {
    const rowStart = row * width * 3;
    for (let left = 0, right = width - 1; left < right; left++, right--) {
      const a = rowStart + left * 3, b = rowStart + right * 3;
      for (let channel = 0; channel < 3; channel++) {
        const value = pixels[a + channel]!;
        pixels[a + channel] = pixels[b + channel]!;
        pixels[b + channel] = value;
      }
    }
  }
}

/** torchvision ColorJitter (brightness → contrast → saturation, fixed order), in place on RGB bytes. */
function jitterColor(pixels: Uint8Array, brightness: number, contrast: number, saturation: number): void {
  const count = pixels.length / 3;
  const values = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) values[i] = Math.min(255, pixels[i]! * brightness);
  if (contrast !== 1) {
    let lumaSum = 0;
    for (let pixel = 0, i = 0; pixel < count; pixel++, i += 3)
      lumaSum += 0.299 * values[i]! + 0.587 * values[i + 1]! + 0.114 * values[i + 2]!;
    const meanLuma = lumaSum / count;
    for (let i = 0; i < values.length; i++) values[i] = clamp255(meanLuma + (values[i]! - meanLuma) * contrast);
  }
  if (saturation !== 1) {
    for (let i = 0; i < values.length; i += 3) {
      const luma = 0.299 * values[i]! + 0.587 * values[i + 1]! + 0.114 * values[i + 2]!;
      values[i] = luma + (values[i]! - luma) * saturation;
      values[i + 1] = luma + (values[i + 1]! - luma) * saturation;
      values[i + 2] = luma + (values[i + 2]! - luma) * saturation;
    }
  }
  for (let i = 0; i < values.length; i++) pixels[i] = clamp255(Math.round(values[i]!));
}

function clamp255(value: number): number {
  return value < 0 ? 0 : value > 255 ? 255 : value;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
