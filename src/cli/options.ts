/**
 * Options shared by several commands, as `as const` option objects: the single source of both the flags (kebab-case,
 * with help text) and their parsed types. A command spreads the groups it needs into one object, passes it to
 * `yargs.options(...)`, and types its handler with {@link ArgsOf} of the same object, so no interface restates a flag.
 */
import type { ArgumentsCamelCase, InferredOptionTypes, Options, PositionalOptions } from 'yargs';
import { FinetuneError } from '../errors.js';
import { GEOMETRY_CONVENTIONS, RESIZE_FILTERS } from '../image/preprocess-spec.js';

/** The parsed arguments of a command whose flags are the option object(s) `O` (kebab-case and camelCase keys). */
export type ArgsOf<O extends Record<string, Options>> = ArgumentsCamelCase<InferredOptionTypes<O>>;

/** Flags of every command. */
export const commonOptions = {
  verbose: { type: 'boolean', default: false, describe: 'Show stack traces and causes of errors.' },
  json: { type: 'boolean', default: false, describe: 'Machine-readable output: the result as JSON on stdout, progress as JSON lines on stderr.' },
  quiet: { alias: 'q', type: 'boolean', default: false, describe: 'Print only warnings, errors and the result.' },
} as const satisfies Record<string, Options>;

/** `--home`: where models and caches live. */
export const homeOption = {
  home: { type: 'string', describe: 'finetune home for models and caches (default: $FINETUNE_HOME or ~/.cache/finetune).' },
} as const satisfies Record<string, Options>;

/** Limits on the models read: a hostile or broken file fails with a clear error instead of exhausting memory. */
export const modelLimitOptions = {
  'max-model-size': { type: 'string', requiresArg: true, describe: 'Largest model to read, .onnx plus external data, e.g. 8GiB or 600MB (default 4GiB).' },
  'max-nodes': { type: 'number', requiresArg: true, describe: 'Most graph nodes a model to read may have (default 250000; about 1 kB of memory each).' },
} as const satisfies Record<string, Options>;

/** How backbones are downloaded (zoo and Hugging Face Hub alike). */
export const downloadOptions = {
  'min-download-speed': { type: 'number', requiresArg: true, describe:
    'Give up on a host sending slower than this many bytes/s over a minute (retried, resuming; default 10000, 0 = never; ' +
    'or $FINETUNE_MIN_DOWNLOAD_SPEED).' },
  'onnx-variant': { choices: ['fp32', 'fp16', 'quantized', 'int8', 'uint8', 'q4'], describe:
    'Which onnx/model*.onnx of a Hugging Face repository to use: fp32 = model.onnx (default), quantized = model_quantized.onnx, ' +
    'fp16 = model_fp16.onnx, …' },
} as const satisfies Record<string, Options>;

/** Which backbone, where it is cut and where it comes from. */
export const backboneOptions = {
  backbone: {
    alias: 'b', type: 'string', demandOption: true,
    describe: 'Zoo id or alias (see `finetune models list`), a Hugging Face Hub model (hf:owner/repo[@revision][:path.onnx]), ' +
      'or a path to any .onnx classifier.',
  },
  layer: { type: 'string', describe: 'Cut at this tensor instead of the auto-detected classifier input (see `finetune inspect`).' },
  pooling: { choices: ['none', 'avg', 'max', 'flatten', 'cls', 'mean-tokens'], describe:
    'How the cut tensor becomes a vector: maps [N,C,H,W] avg (default), max or flatten; transformer tokens [N,T,D] ' +
    'cls (default), mean-tokens (mean of the patch tokens), avg or max over all tokens.' },
  mirror: { type: 'string', describe: 'Base URL of a zoo mirror with the zoo path layout (default: $FINETUNE_ZOO_MIRROR).' },
  offline: { type: 'boolean', default: false, describe: 'Never download; use cached models only.' },
  ...homeOption,
  ...modelLimitOptions,
  ...downloadOptions,
} as const satisfies Record<string, Options>;

/**
 * What prepareBackbone needs from the backbone flags (the cut and the download settings), for the commands that
 * spread {@link backboneOptions}.
 */
export function backboneSourceArgs(
  args: Pick<ArgsOf<typeof backboneOptions>, 'layer' | 'pooling' | 'mirror' | 'offline' | 'home' | 'minDownloadSpeed' | 'onnxVariant'>,
) {
  return {
    layer: args.layer, pooling: args.pooling, mirror: args.mirror, offline: args.offline, home: args.home,
    minSpeedBytesPerSec: minDownloadSpeedArg(args.minDownloadSpeed), onnxVariant: args.onnxVariant,
  };
}

/** `--min-download-speed`, checked: a negative or non-numeric value is a usage error naming the flag. */
export function minDownloadSpeedArg(value: number | undefined): number | undefined {
  if (value === undefined || (Number.isFinite(value) && value >= 0)) return value;
  throw new FinetuneError('INVALID_OPTION', `--min-download-speed ${value} is not a speed in bytes per second.`,
    'Pass a number such as --min-download-speed 10000 (10 kB/s), or 0 to never give up on a slow host.');
}

/** Preprocessing overrides for custom backbones. */
export const preprocessOptions = {
  'input-size': { type: 'number', describe: 'Crop size fed to the model (custom models; zoo entries carry their own spec).' },
  resize: { type: 'number', describe: 'Resize size before the center crop (e.g. 256 for a 224 crop).' },
  'resize-mode': { choices: ['shorter-side', 'direct'], describe: 'Keep aspect (shorter side) or stretch.' },
  'resize-filter': {
    choices: RESIZE_FILTERS,
    describe: 'How resized pixels are computed. pil-bilinear (default): Pillow BILINEAR, antialiased, as torchvision Resize on ' +
      'PIL images and the zoo; pil-bicubic: Pillow BICUBIC (Hugging Face resample=3); torch-bilinear: F.interpolate bilinear, ' +
      'align_corners=False, no antialias (also cv2 INTER_LINEAR); nearest: Pillow NEAREST; sharp-linear: libvips (older runs).',
  },
  geometry: {
    choices: GEOMETRY_CONVENTIONS,
    describe: 'How the resized size and the crop corner are rounded. zoo (default): longer side to nearest, crop corner down, as ' +
      'the zoo\'s imagenet_preprocess.py; torchvision: Resize(int) rounds the longer side down, CenterCrop rounds half to even; ' +
      'transformers: both down (Hugging Face image processors; set automatically for hf: backbones).',
  },
  mean: { type: 'string', describe: 'Per-channel mean after scaling, e.g. 0.485,0.456,0.406.' },
  std: { type: 'string', describe: 'Per-channel std after scaling, e.g. 0.229,0.224,0.225.' },
  scale: { type: 'number', describe: 'Pixel multiplier before mean/std (default 1/255).' },
  layout: { choices: ['NCHW', 'NHWC'], describe: 'Input tensor layout.' },
  'channel-order': { choices: ['RGB', 'BGR'], describe: 'Channel order the model expects.' },
  preprocess: { type: 'string', describe: 'JSON file with a full preprocessing spec.' },
} as const satisfies Record<string, Options>;

/** How the backbone embeds: device, batch, cache, strictness. */
export const embedOptions = {
  device: { choices: ['auto', 'cpu', 'cuda'], default: 'auto', describe: 'Where the backbone runs. auto = CUDA when installed (npm run setup:cuda), else CPU.' },
  'batch-size': { type: 'number', describe: 'Images per backbone batch (default chosen per model).' },
  'cache-dir': { type: 'string', describe: 'Embedding cache folder (default: <home>/embeddings).' },
  strict: { type: 'boolean', default: false, describe: 'Fail on the first unreadable image instead of skipping it.' },
} as const satisfies Record<string, Options>;

/** The labelled dataset and its split. */
export const datasetOptions = {
  data: { alias: 'd', type: 'string', demandOption: true, describe: 'Folder with one sub-folder per class, or a CSV/JSONL manifest (path,label).' },
  'validation-split': { type: 'number', describe: 'Fraction of each class held out for validation (stratified, seeded; default 0.2). With --folds 1 only.' },
  seed: { type: 'number', default: 42, describe: 'Seed for the split, initialisation and shuffling.' },
  test: { type: 'string', describe: 'Optional separate test folder, evaluated after training.' },
} as const satisfies Record<string, Options>;

/** `<model>`: the positional of the commands that read an exported model. */
export const exportedModelPositional = {
  type: 'string', demandOption: true, describe: 'A model.onnx exported by finetune.',
} as const satisfies PositionalOptions;

/** "256,128" → [256, 128]; "" → []. */
export function parseNumberList(value: string | number | undefined, flag: string): number[] {
  if (value === undefined || value === '') return [];
  const parts = String(value).split(',').map((part) => part.trim()).filter((part) => part.length > 0);
  const numbers = parts.map(Number);
  const bad = parts.find((_, i) => !Number.isFinite(numbers[i]));
  if (bad !== undefined) throw new TypeError(`--${flag}: "${bad}" is not a number (expected a comma-separated list like 256,128).`);
  return numbers;
}
