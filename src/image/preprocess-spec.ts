/**
 * Preprocessing specs as data: presets, parsing from CLI flags or a JSON file, validation and a one-line
 * description. The decode/resize/normalise code that applies a spec is in preprocess-image.ts.
 */
import { readFileSync } from 'node:fs';
import { FinetuneError, nearestNames } from '../errors.js';
import type { GeometryConvention, PreprocessSpec, ResizeFilter } from '../types.js';

/** Every `--resize-filter`; the conventions are documented in resample.ts. */
export const RESIZE_FILTERS = ['pil-bilinear', 'pil-bicubic', 'torch-bilinear', 'nearest', 'sharp-linear'] as const satisfies
  readonly ResizeFilter[];

/**
 * Every `--geometry`: how a shorter-side resize rounds the longer side and where the center crop starts (see
 * `resizeGeometry` in resample-kernels.js). `zoo` is the default and what a spec without the field means.
 */
export const GEOMETRY_CONVENTIONS = ['zoo', 'torchvision', 'transformers'] as const satisfies readonly GeometryConvention[];

/**
 * The filter of the presets and of zoo entries that name none: Pillow's antialiased bilinear. It is what the zoo's
 * `imagenet_preprocess.py` uses (and the README's reference Resize node: linear with antialias), and what a typical
 * PyTorch backbone saw in training: torchvision's `ImageFolder` loads PIL images, and `Resize` on a PIL image is
 * `Image.resize(size, BILINEAR)`. EfficientNet-Lite4's zoo README resizes with OpenCV's INTER_LINEAR (the
 * `torch-bilinear` convention) but its preset keeps this default: that network was trained in TensorFlow with yet
 * another resize, and `torch-bilinear` cannot use JPEG shrink-on-load (it samples the full-resolution image).
 */
export const DEFAULT_RESIZE_FILTER: ResizeFilter = 'pil-bilinear';

/**
 * The filter of a stored spec that has no `resizeFilter` (run.json, model metadata, cache entries written before the
 * field existed): they were all made with libvips' linear kernel, so that is what reproduces them.
 */
export const LEGACY_RESIZE_FILTER: ResizeFilter = 'sharp-linear';

/**
 * The ImageNet recipe of the ONNX Model Zoo READMEs (ResNet, VGG, MobileNetV2, SqueezeNet): shorter side to 256,
 * center crop 224, x/255, mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225], RGB, NCHW.
 */
export const IMAGENET_SPEC: PreprocessSpec = Object.freeze({
  resizeMode: 'shorter-side',
  resizeSize: 256,
  resizeFilter: DEFAULT_RESIZE_FILTER,
  cropSize: 224,
  scale: 1 / 255,
  mean: Object.freeze([0.485, 0.456, 0.406] as const),
  std: Object.freeze([0.229, 0.224, 0.225] as const),
  channelOrder: 'RGB',
  layout: 'NCHW',
});

/** EfficientNet-Lite4 (zoo README): shorter side to 256, center crop 224, (x − 127) / 128, RGB, NHWC. */
export const EFFICIENTNET_LITE_SPEC: PreprocessSpec = Object.freeze({
  resizeMode: 'shorter-side',
  resizeSize: 256,
  resizeFilter: DEFAULT_RESIZE_FILTER,
  cropSize: 224,
  scale: 1,
  mean: Object.freeze([127, 127, 127] as const),
  std: Object.freeze([128, 128, 128] as const),
  channelOrder: 'RGB',
  layout: 'NHWC',
});

/** Named specs accepted by `--preprocess <name>` and the `preset` key of a spec file. */
export const PREPROCESS_PRESETS: Readonly<Record<string, PreprocessSpec>> = Object.freeze({
  imagenet: IMAGENET_SPEC,
  'efficientnet-lite': EFFICIENTNET_LITE_SPEC,
});

/**
 * Preprocessing settings as they arrive from the command line (strings or numbers) or from a JSON file.
 * Every field is optional; unset fields keep the base spec's value.
 */
export interface PreprocessFlags {
  /** A name from {@link PREPROCESS_PRESETS}; replaces the base spec before the other flags apply. */
  preset?: string;
  /** Model input side (the crop size). When `resize` is not given, the resize size keeps the base spec's
   *  resize/crop ratio (256/224 for ImageNet, so `--input-size 299` gives 342). */
  inputSize?: number | string;
  /** Size to resize to before the center crop. */
  resize?: number | string;
  /** `shorter-side` or `direct`. */
  resizeMode?: string;
  /** One of {@link RESIZE_FILTERS}. */
  resizeFilter?: string;
  /** One of {@link GEOMETRY_CONVENTIONS}. */
  geometry?: string;
  /** Three comma-separated numbers in RGB order, or one number for all channels. */
  mean?: string | number | readonly number[];
  /** Three comma-separated numbers in RGB order, or one number for all channels; all > 0. */
  std?: string | number | readonly number[];
  /** Pixel multiplier, a number or a fraction such as `1/255`. */
  scale?: number | string;
  /** `NCHW` or `NHWC`. */
  layout?: string;
  /** `RGB` or `BGR`. */
  channelOrder?: string;
  /** A JSON file holding a (partial) spec with the same keys as PreprocessSpec or as these flags. Applied first. */
  specFile?: string;
}

const SPEC_FILE_KEYS = [
  'preset', 'resizeMode', 'resizeSize', 'resizeFilter', 'geometry', 'cropSize', 'scale', 'mean', 'std', 'channelOrder', 'layout',
  'inputSize', 'resize',
] as const;

const RESIZE_MODES = ['shorter-side', 'direct'] as const;
const LAYOUTS = ['NCHW', 'NHWC'] as const;
const CHANNEL_ORDERS = ['RGB', 'BGR'] as const;
/** Largest accepted resize/crop side; far above any classification backbone's input. */
const MAX_SIDE = 8192;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Builds a spec from CLI flags and/or a JSON spec file over `base`. Order: base → `preset` → spec file → flags.
 * Throws FinetuneError('INVALID_OPTION') quoting the bad value; the result always passes
 * {@link validatePreprocessSpec}.
 *
 * @param base the spec the flags modify. @defaultValue {@link IMAGENET_SPEC}
 */
export function parsePreprocessSpec(flags: PreprocessFlags, base: PreprocessSpec = IMAGENET_SPEC): PreprocessSpec {
  let spec: Mutable<PreprocessSpec> = { ...base };
  if (flags.preset !== undefined) spec = { ...presetNamed(flags.preset, '--preprocess') };
  if (flags.specFile !== undefined) {
    const fromFile = readSpecFile(flags.specFile);
    spec = applyFlags(fromFile.preset !== undefined ? { ...presetNamed(fromFile.preset, `"preset" in ${flags.specFile}`) } : spec,
      fromFile, `in ${flags.specFile}`);
  }
  spec = applyFlags(spec, { ...flags, preset: undefined, specFile: undefined }, '');
  return validatePreprocessSpec(spec);
}

export interface ValidatePreprocessSpecOptions {
  /** Names the spec in error messages, e.g. `"run.json"` or `"zoo catalog models[3].preprocess"`.
   *  @defaultValue `'preprocessing spec'` */
  where?: string;
  /** The filter of a spec that has no `resizeFilter`. @defaultValue {@link LEGACY_RESIZE_FILTER}, because a stored
   *  spec without the field was written before it existed; recipes (zoo entries) pass {@link DEFAULT_RESIZE_FILTER}. */
  missingResizeFilter?: ResizeFilter;
}

/**
 * The one validator of a PreprocessSpec, for specs from flags, spec files, run manifests, model metadata and the zoo
 * catalog: checks every field and returns a frozen copy with exactly the spec's keys. Collects every problem, then
 * throws FinetuneError('INVALID_OPTION') naming each field and value.
 */
export function validatePreprocessSpec(value: unknown, options: ValidatePreprocessSpecOptions = {}): PreprocessSpec {
  const where = options.where ?? 'preprocessing spec';
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new FinetuneError('INVALID_OPTION', `Invalid ${where}: expected an object, got ${JSON.stringify(value) ?? String(value)}.`,
      'Write the spec as an object such as {"resizeSize": 256, "cropSize": 224, ...}, or pass --preprocess imagenet.');
  const spec = value as Record<keyof PreprocessSpec, unknown>;
  const resizeFilter = spec.resizeFilter ?? options.missingResizeFilter ?? LEGACY_RESIZE_FILTER;
  const problems: string[] = [];
  if (!isOneOf(spec.resizeMode, RESIZE_MODES))
    problems.push(`resizeMode ${JSON.stringify(spec.resizeMode)} is not one of ${RESIZE_MODES.join(', ')}`);
  if (!isOneOf(resizeFilter, RESIZE_FILTERS))
    problems.push(`resizeFilter ${JSON.stringify(resizeFilter)} is not one of ${RESIZE_FILTERS.join(', ')}`);
  if (spec.geometry !== undefined && !isOneOf(spec.geometry, GEOMETRY_CONVENTIONS))
    problems.push(`geometry ${JSON.stringify(spec.geometry)} is not one of ${GEOMETRY_CONVENTIONS.join(', ')}`);
  const sides: Record<'resizeSize' | 'cropSize', number> = { resizeSize: 0, cropSize: 0 };
  for (const key of ['resizeSize', 'cropSize'] as const) {
    const side = spec[key];
    if (typeof side !== 'number' || !Number.isInteger(side) || side < 1 || side > MAX_SIDE)
      problems.push(`${key} ${JSON.stringify(side)} is not an integer in [1, ${MAX_SIDE}]`);
    else sides[key] = side;
  }
  if (problems.length === 0 && sides.cropSize > sides.resizeSize)
    problems.push(`cropSize ${sides.cropSize} is larger than resizeSize ${sides.resizeSize} (the crop must fit in the resized image)`);
  if (typeof spec.scale !== 'number' || !Number.isFinite(spec.scale) || spec.scale <= 0)
    problems.push(`scale ${JSON.stringify(spec.scale)} is not a positive finite number`);
  for (const key of ['mean', 'std'] as const) {
    const values = spec[key];
    if (!Array.isArray(values) || values.length !== 3 || !values.every((v) => typeof v === 'number' && Number.isFinite(v)))
      problems.push(`${key} ${JSON.stringify(values)} is not three finite numbers`);
    else if (key === 'std' && !values.every((v: number) => v > 0))
      problems.push(`std ${JSON.stringify(values)} has a value ≤ 0`);
  }
  if (!isOneOf(spec.channelOrder, CHANNEL_ORDERS))
    problems.push(`channelOrder ${JSON.stringify(spec.channelOrder)} is not one of ${CHANNEL_ORDERS.join(', ')}`);
  if (!isOneOf(spec.layout, LAYOUTS))
    problems.push(`layout ${JSON.stringify(spec.layout)} is not one of ${LAYOUTS.join(', ')}`);
  if (problems.length > 0)
    throw new FinetuneError('INVALID_OPTION', `Invalid ${where}: ${problems.join('; ')}.`,
      'Fix the value (see `finetune --help` for --input-size, --resize, --resize-filter, --geometry, --mean, --std, --scale, --layout) ' +
      'or pass --preprocess imagenet.');
  const valid = spec as unknown as PreprocessSpec;
  return Object.freeze({
    resizeMode: valid.resizeMode,
    resizeSize: valid.resizeSize,
    resizeFilter: resizeFilter as ResizeFilter,
    // `zoo` is dropped: it is what a spec without the field means, and equal specs must give equal cache keys.
    ...(valid.geometry !== undefined && valid.geometry !== 'zoo' ? { geometry: valid.geometry } : {}),
    cropSize: valid.cropSize,
    scale: valid.scale,
    mean: Object.freeze([valid.mean[0], valid.mean[1], valid.mean[2]] as const),
    std: Object.freeze([valid.std[0], valid.std[1], valid.std[2]] as const),
    channelOrder: valid.channelOrder,
    layout: valid.layout,
  });
}

function isOneOf<T extends string>(value: unknown, choices: readonly T[]): value is T {
  return typeof value === 'string' && (choices as readonly string[]).includes(value);
}

/**
 * One line for logs and `finetune inspect`, e.g.
 * `resize shorter side to 256 (pil-bilinear), center crop 224×224, x*1/255, mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225], RGB, NCHW`.
 */
export function describePreprocessSpec(spec: PreprocessSpec): string {
  const resize = (spec.resizeMode === 'shorter-side'
    ? `resize shorter side to ${spec.resizeSize}`
    : `resize to ${spec.resizeSize}×${spec.resizeSize}`) +
    ` (${spec.resizeFilter}${spec.geometry !== undefined && spec.geometry !== 'zoo' ? `, ${spec.geometry} rounding` : ''})`;
  const crop = spec.cropSize === spec.resizeSize && spec.resizeMode === 'direct'
    ? '' : `, center crop ${spec.cropSize}×${spec.cropSize}`;
  return `${resize}${crop}, x*${formatScale(spec.scale)}, mean [${spec.mean.join(', ')}], std [${spec.std.join(', ')}], ` +
    `${spec.channelOrder}, ${spec.layout}`;
}

function formatScale(scale: number): string {
  const inverse = 1 / scale;
  if (scale < 1 && Math.abs(inverse - Math.round(inverse)) < 1e-9 * inverse) return `1/${Math.round(inverse)}`;
  return String(scale);
}

function presetNamed(name: string, where: string): PreprocessSpec {
  const preset = PREPROCESS_PRESETS[name.toLowerCase()];
  if (preset === undefined)
    throw new FinetuneError('INVALID_OPTION', `Unknown preprocessing preset "${name}" (${where}).`,
      `Use one of: ${Object.keys(PREPROCESS_PRESETS).join(', ')}.`);
  return preset;
}

/** The fields of a spec file, as loose as flags (numbers may be strings). */
type SpecFileContent = PreprocessFlags & {
  resizeSize?: number | string; cropSize?: number | string;
};

function readSpecFile(path: string): SpecFileContent {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new FinetuneError('INVALID_OPTION', `Cannot read preprocessing spec file "${path}".`,
      'Check the path given to --preprocess-file.', { cause });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new FinetuneError('INVALID_OPTION', `Preprocessing spec file "${path}" is not valid JSON: ${(cause as Error).message}`,
      'Write a JSON object such as {"resizeSize": 256, "cropSize": 224, "mean": [0.485, 0.456, 0.406]}.', { cause });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new FinetuneError('INVALID_OPTION', `Preprocessing spec file "${path}" holds ${Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed)}, not an object.`,
      'Write a JSON object such as {"resizeSize": 256, "cropSize": 224, "mean": [0.485, 0.456, 0.406]}.');
  const unknown = Object.keys(parsed).filter((key) => !(SPEC_FILE_KEYS as readonly string[]).includes(key));
  if (unknown.length > 0)
    throw new FinetuneError('INVALID_OPTION',
      `Preprocessing spec file "${path}" has unknown key(s) ${unknown.map((k) => `"${k}"`).join(', ')}.`,
      `Known keys: ${SPEC_FILE_KEYS.join(', ')}` +
      `${unknown[0] !== undefined ? ` (did you mean "${nearestNames(unknown[0], SPEC_FILE_KEYS, 1)[0]}"?)` : ''}.`);
  return parsed as SpecFileContent;
}

function applyFlags(spec: Mutable<PreprocessSpec>, flags: SpecFileContent, where: string): Mutable<PreprocessSpec> {
  const suffix = where ? ` ${where}` : '';
  const out = { ...spec };
  const resizeSize = flags.resizeSize ?? flags.resize;
  const cropSize = flags.cropSize ?? flags.inputSize;
  if (cropSize !== undefined) out.cropSize = parseSide(cropSize, flags.cropSize !== undefined ? 'cropSize' : '--input-size', suffix);
  if (resizeSize !== undefined) out.resizeSize = parseSide(resizeSize, flags.resizeSize !== undefined ? 'resizeSize' : '--resize', suffix);
  else if (cropSize !== undefined) {
    // Keep the base recipe's resize/crop ratio (torchvision's 0.875 crop for ImageNet); direct resize keeps no margin.
    out.resizeSize = Math.round((out.cropSize * spec.resizeSize) / spec.cropSize);
  }
  if (flags.resizeMode !== undefined) out.resizeMode = parseChoice(flags.resizeMode, RESIZE_MODES, '--resize-mode', suffix, false);
  if (flags.resizeFilter !== undefined) out.resizeFilter = parseChoice(flags.resizeFilter, RESIZE_FILTERS, '--resize-filter', suffix, false);
  if (flags.geometry !== undefined) out.geometry = parseChoice(flags.geometry, GEOMETRY_CONVENTIONS, '--geometry', suffix, false);
  if (flags.scale !== undefined) out.scale = parseScale(flags.scale, suffix);
  if (flags.mean !== undefined) out.mean = parseTriple(flags.mean, '--mean', suffix, false);
  if (flags.std !== undefined) out.std = parseTriple(flags.std, '--std', suffix, true);
  if (flags.layout !== undefined) out.layout = parseChoice(flags.layout, LAYOUTS, '--layout', suffix, true);
  if (flags.channelOrder !== undefined) out.channelOrder = parseChoice(flags.channelOrder, CHANNEL_ORDERS, '--channel-order', suffix, true);
  return out;
}

function invalid(flag: string, value: unknown, suffix: string, expected: string): FinetuneError {
  return new FinetuneError('INVALID_OPTION', `Invalid ${flag} ${JSON.stringify(value)}${suffix}: expected ${expected}.`,
    `Pass ${flag} ${expectedExample(flag)}.`);
}

function expectedExample(flag: string): string {
  switch (flag) {
    case '--mean': return '0.485,0.456,0.406';
    case '--std': return '0.229,0.224,0.225';
    case '--scale': return '1/255';
    case '--layout': return 'NCHW or NHWC';
    case '--channel-order': return 'RGB or BGR';
    case '--resize-mode': return 'shorter-side or direct';
    case '--resize-filter': return RESIZE_FILTERS.join(' or ');
    case '--geometry': return GEOMETRY_CONVENTIONS.join(' or ');
    default: return 'a whole number such as 224';
  }
}

function parseNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string' || value.trim() === '') return Number.NaN;
  const fraction = /^\s*([+-]?[\d.]+(?:e[+-]?\d+)?)\s*\/\s*([+-]?[\d.]+(?:e[+-]?\d+)?)\s*$/i.exec(value);
  if (fraction) return Number(fraction[1]) / Number(fraction[2]);
  return Number(value);
}

function parseSide(value: unknown, flag: string, suffix: string): number {
  const number = parseNumber(value);
  if (!Number.isInteger(number) || number < 1 || number > MAX_SIDE)
    throw invalid(flag, value, suffix, `a whole number of pixels in [1, ${MAX_SIDE}]`);
  return number;
}

function parseScale(value: unknown, suffix: string): number {
  const number = parseNumber(value);
  if (!Number.isFinite(number) || number <= 0) throw invalid('--scale', value, suffix, 'a positive number or fraction such as 1/255');
  return number;
}

function parseTriple(value: unknown, flag: string, suffix: string, positive: boolean):
    readonly [number, number, number] {
  let parts: unknown[];
  if (Array.isArray(value)) parts = value;
  else if (typeof value === 'number') parts = [value];
  else if (typeof value === 'string') parts = value.split(/[\s,;]+/).filter((p) => p !== '');
  else parts = [];
  const numbers = parts.map(parseNumber);
  if (numbers.length === 1) numbers.push(numbers[0]!, numbers[0]!);
  const expected = `three numbers in RGB order (or one for all channels)${positive ? ', all greater than 0' : ''}`;
  if (numbers.length !== 3 || !numbers.every(Number.isFinite) || (positive && !numbers.every((n) => n > 0)))
    throw invalid(flag, value, suffix, expected);
  return [numbers[0]!, numbers[1]!, numbers[2]!];
}

function parseChoice<T extends string>(value: unknown, choices: readonly T[], flag: string, suffix: string,
    upperCase: boolean): T {
  const text = typeof value === 'string' ? (upperCase ? value.trim().toUpperCase() : value.trim().toLowerCase()) : '';
  const match = choices.find((choice) => choice === text);
  if (match === undefined) throw invalid(flag, value, suffix, `one of ${choices.join(', ')}`);
  return match;
}
