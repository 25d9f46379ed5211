/**
 * A Hub repository's `preprocessor_config.json` (transformers' image processors: ViTImageProcessor,
 * CLIPImageProcessor, BitImageProcessor for DINOv2, ConvNextImageProcessor, …) → our PreprocessSpec.
 *
 * Followed as transformers does it: resize (the long side of a `shortest_edge` resize is truncated, `int()`),
 * center crop at `(size − crop) // 2`, rescale, normalize. Every key is either mapped, known to have no effect on the
 * pixels, or an error that names it: a setting we cannot honour must not be dropped silently, since it would change
 * the features the backbone sees.
 */
import { FinetuneError } from '../errors.js';
import { validatePreprocessSpec } from '../image/preprocess-spec.js';
import type { PreprocessSpec, ResizeFilter } from '../types.js';

/** Keys that name the processor or its wiring and do not change pixels. */
const METADATA_KEYS = new Set(['image_processor_type', 'feature_extractor_type', 'processor_class', 'auto_map', '_processor_class']);

/** Keys we map onto the spec. */
const MAPPED_KEYS = new Set([
  'do_resize', 'size', 'resample', 'do_center_crop', 'crop_size', 'crop_pct', 'do_rescale', 'rescale_factor',
  'do_normalize', 'image_mean', 'image_std', 'do_convert_rgb', 'do_flip_channel_order', 'do_pad', 'do_reduce_labels',
]);

/** Pillow's resampling codes (transformers' `PILImageResampling`) that we reproduce exactly. */
const RESAMPLE_FILTERS: Readonly<Record<number, ResizeFilter>> = { 0: 'nearest', 2: 'pil-bilinear', 3: 'pil-bicubic' };
const RESAMPLE_NAMES: Readonly<Record<number, string>> = { 0: 'NEAREST', 1: 'LANCZOS', 2: 'BILINEAR', 3: 'BICUBIC', 4: 'BOX', 5: 'HAMMING' };

/**
 * How each processor reads a bare number in `size` (transformers' `get_size_dict(default_to_square=…)`) and its
 * default `resample` when the file has none.
 */
const PROCESSORS: Readonly<Record<string, { readonly squareSize: boolean; readonly resample: number }>> = {
  ViTImageProcessor: { squareSize: true, resample: 2 },
  ViTFeatureExtractor: { squareSize: true, resample: 2 },
  DeiTImageProcessor: { squareSize: true, resample: 3 },
  BeitImageProcessor: { squareSize: true, resample: 3 },
  SiglipImageProcessor: { squareSize: true, resample: 3 },
  CLIPImageProcessor: { squareSize: false, resample: 3 },
  CLIPFeatureExtractor: { squareSize: false, resample: 3 },
  BitImageProcessor: { squareSize: false, resample: 3 },
  ConvNextImageProcessor: { squareSize: false, resample: 2 },
  ConvNextFeatureExtractor: { squareSize: false, resample: 2 },
};

type Size = { readonly height: number; readonly width: number } | { readonly shortestEdge: number; readonly longestEdge?: number };

export interface HubPreprocessing {
  readonly spec: PreprocessSpec;
  /** One line on how the file was read, for the log. */
  readonly description: string;
}

export interface HubPreprocessingOptions {
  /** The model's input layout, which the processor files do not state. @defaultValue `'NCHW'` */
  layout?: 'NCHW' | 'NHWC';
}

/**
 * Maps a parsed `preprocessor_config.json` onto a PreprocessSpec. `source` names the file in messages
 * (`hf:owner/repo@commit:preprocessor_config.json`). Collects every problem, then throws one INVALID_OPTION.
 */
export function preprocessSpecFromHub(json: unknown, source: string, options: HubPreprocessingOptions = {}): HubPreprocessing {
  const fail = (problems: readonly string[]): never => {
    throw new FinetuneError('INVALID_OPTION', `Cannot follow ${source}: ${problems.join('; ')}.`,
      'Pass the preprocessing yourself with --preprocess <spec.json> (or --input-size, --resize, --resize-filter, --mean, --std), ' +
      'which replaces the repository\'s file.');
  };
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail([`expected a JSON object, got ${describe(json)}`]);
  const config = json as Record<string, unknown>;
  const problems: string[] = [];
  const unknown = Object.keys(config).filter((key) => !METADATA_KEYS.has(key) && !MAPPED_KEYS.has(key));
  if (unknown.length > 0) problems.push(`unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((key) => `"${key}"`).join(', ')}`);

  const processorName = typeof config['image_processor_type'] === 'string' ? config['image_processor_type']
    : typeof config['feature_extractor_type'] === 'string' ? config['feature_extractor_type'] : undefined;
  const processor = processorName !== undefined ? PROCESSORS[processorName] : undefined;
  const bool = (key: string, fallback: boolean): boolean => {
    const value = config[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') problems.push(`"${key}" is ${describe(value)}, not true or false`);
    return value === true;
  };
  const positiveInt = (value: unknown, what: string): number => {
    if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
    problems.push(`${what} is ${describe(value)}, not a positive integer`);
    return 1;
  };
  const readSize = (key: string, squareNumber: boolean): Size | undefined => {
    const value = config[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'number') {
      const side = positiveInt(value, `"${key}"`);
      return squareNumber ? { height: side, width: side } : { shortestEdge: side };
    }
    if (Array.isArray(value) && value.length === 2) {
      return { height: positiveInt(value[0], `"${key}"[0]`), width: positiveInt(value[1], `"${key}"[1]`) };
    }
    if (typeof value === 'object' && !Array.isArray(value)) {
      const size = value as Record<string, unknown>;
      const keys = Object.keys(size).sort().join(',');
      if (keys === 'height,width') return { height: positiveInt(size['height'], `"${key}".height`), width: positiveInt(size['width'], `"${key}".width`) };
      if (keys === 'shortest_edge') return { shortestEdge: positiveInt(size['shortest_edge'], `"${key}".shortest_edge`) };
      if (keys === 'longest_edge,shortest_edge') {
        return {
          shortestEdge: positiveInt(size['shortest_edge'], `"${key}".shortest_edge`),
          longestEdge: positiveInt(size['longest_edge'], `"${key}".longest_edge`),
        };
      }
    }
    problems.push(`"${key}" is ${describe(value)}; expected {height, width}, {shortest_edge} or {shortest_edge, longest_edge}`);
    return undefined;
  };

  // Pixel-neutral switches: accepted when they change nothing we do.
  bool('do_convert_rgb', true); // we always decode to RGB; an RGB image is unchanged either way
  bool('do_reduce_labels', false); // segmentation labels, not pixels
  if (bool('do_pad', false)) problems.push('"do_pad" is true (padding to a size divisor is not supported)');
  const flipChannels = bool('do_flip_channel_order', false);

  // Resize and crop.
  const doResize = bool('do_resize', true);
  const size = readSize('size', processor?.squareSize ?? true);
  const doCenterCrop = bool('do_center_crop', config['crop_size'] !== undefined && config['crop_size'] !== null);
  const crop = doCenterCrop ? readSize('crop_size', true) : undefined;
  const resampleCode = config['resample'] ?? processor?.resample;
  let resizeFilter: ResizeFilter = 'pil-bilinear';
  if (resampleCode === undefined) {
    problems.push(`"resample" is missing and "${processorName ?? '(no image_processor_type)'}" has no known default`);
  } else if (typeof resampleCode !== 'number' || RESAMPLE_FILTERS[resampleCode] === undefined) {
    const name = typeof resampleCode === 'number' ? RESAMPLE_NAMES[resampleCode] : undefined;
    problems.push(`"resample" ${describe(resampleCode)}${name ? ` (PIL ${name})` : ''} is not supported; ` +
      'supported: 0 (NEAREST), 2 (BILINEAR), 3 (BICUBIC)');
  } else {
    resizeFilter = RESAMPLE_FILTERS[resampleCode]!;
  }
  if (crop && 'shortestEdge' in crop) problems.push('"crop_size" must be {height, width}');
  if (crop && 'height' in crop && crop.height !== crop.width) problems.push(`"crop_size" ${crop.height}×${crop.width} is not square (finetune crops squares)`);

  let resizeMode: PreprocessSpec['resizeMode'] = 'direct';
  let resizeSize = 1;
  let cropSize = 1;
  const cropSide = crop && 'height' in crop ? crop.height : undefined;
  if (!doResize) {
    problems.push('"do_resize" is false: images would reach the model at their own sizes, but the backbone needs one size');
  } else if (!size) {
    if (config['size'] === undefined) problems.push('"size" is missing');
  } else if ('height' in size) {
    if (size.height !== size.width) problems.push(`"size" ${size.height}×${size.width} is not square (finetune resizes to squares)`);
    resizeMode = 'direct';
    resizeSize = size.height;
    cropSize = cropSide ?? size.height;
  } else if (config['crop_pct'] !== undefined && processorName?.startsWith('ConvNext')) {
    // ConvNextImageProcessor: below 384, resize the shorter side to int(shortest_edge / crop_pct), then crop shortest_edge.
    const cropPct = config['crop_pct'];
    if (typeof cropPct !== 'number' || !(cropPct > 0 && cropPct <= 1)) problems.push(`"crop_pct" is ${describe(cropPct)}, not in (0, 1]`);
    else if (size.shortestEdge < 384) {
      resizeMode = 'shorter-side';
      resizeSize = Math.floor(size.shortestEdge / cropPct);
      cropSize = size.shortestEdge;
    } else {
      resizeMode = 'direct';
      resizeSize = size.shortestEdge;
      cropSize = size.shortestEdge;
    }
  } else {
    resizeMode = 'shorter-side';
    resizeSize = size.shortestEdge;
    if (size.longestEdge !== undefined) {
      problems.push(`"size" {shortest_edge: ${size.shortestEdge}, longest_edge: ${size.longestEdge}} caps the longer side, which finetune's resize does not do yet`);
    }
    if (cropSide === undefined) problems.push('"size" {shortest_edge} without a center crop gives images of different shapes; finetune needs square inputs');
    cropSize = cropSide ?? size.shortestEdge;
  }
  if (config['crop_pct'] !== undefined && !processorName?.startsWith('ConvNext')) problems.push('"crop_pct" is only understood for ConvNext processors');

  // Rescale and normalize.
  const doRescale = bool('do_rescale', true);
  const rescaleFactor = config['rescale_factor'] ?? 1 / 255;
  if (typeof rescaleFactor !== 'number' || !(rescaleFactor > 0) || !Number.isFinite(rescaleFactor)) {
    problems.push(`"rescale_factor" is ${describe(rescaleFactor)}, not a positive number`);
  }
  const doNormalize = bool('do_normalize', true);
  const channels = (key: string): [number, number, number] => {
    const value = config[key];
    if (typeof value === 'number' && Number.isFinite(value)) return [value, value, value];
    if (Array.isArray(value) && value.length === 3 && value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      return [value[0] as number, value[1] as number, value[2] as number];
    }
    problems.push(value === undefined ? `"${key}" is missing` : `"${key}" is ${describe(value)}, not three numbers`);
    return [0, 0, 0];
  };
  const mean: [number, number, number] = doNormalize ? channels('image_mean') : [0, 0, 0];
  const std: [number, number, number] = doNormalize ? channels('image_std') : [1, 1, 1];

  if (problems.length > 0) fail(problems);
  const spec = validatePreprocessSpec({
    resizeMode,
    resizeSize,
    resizeFilter,
    geometry: 'transformers',   // get_resize_output_image_size and center_crop floor the longer side and the corner
    cropSize,
    scale: doRescale ? (rescaleFactor as number) : 1,
    mean,
    std,
    channelOrder: flipChannels ? 'BGR' : 'RGB',
    layout: options.layout ?? 'NCHW',
  }, { where: source });
  const resizeText = resizeMode === 'direct' ? `resize to ${resizeSize}×${resizeSize}` : `shorter side to ${resizeSize}`;
  return {
    spec,
    description: `${processorName ?? 'image processor'}: ${resizeText} (${resizeFilter}, transformers rounding), center crop ${cropSize}, ` +
      `x*${doRescale ? formatNumber(rescaleFactor as number) : 1}, mean [${mean.map(formatNumber).join(', ')}], ` +
      `std [${std.map(formatNumber).join(', ')}]`,
  };
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

const formatNumber = (value: number): string => (Math.abs(value - 1 / 255) < 1e-12 ? '1/255' : String(Number(value.toPrecision(6))));
