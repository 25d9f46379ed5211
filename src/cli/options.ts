/** Options shared by several commands, as composable yargs builders (kebab-case flags, typed camelCase args). */
import type { Argv } from 'yargs';

export interface CommonOptions {
  verbose: boolean;
  json: boolean;
  quiet: boolean;
}

export function withCommonOptions<T>(yargs: Argv<T>): Argv<T & CommonOptions> {
  return yargs
    .option('verbose', { type: 'boolean', default: false, describe: 'Show stack traces and causes of errors.' })
    .option('json', { type: 'boolean', default: false, describe: 'Machine-readable output: the result as JSON on stdout, progress as JSON lines on stderr.' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'Print only warnings, errors and the result.' }) as unknown as Argv<T & CommonOptions>;
}

export interface BackboneOptions {
  backbone: string;
  layer: string | undefined;
  pooling: 'none' | 'avg' | 'max' | 'flatten' | undefined;
  mirror: string | undefined;
  offline: boolean;
  home: string | undefined;
}

export function withBackboneOptions<T>(yargs: Argv<T>, demand = true): Argv<T & BackboneOptions> {
  return yargs
    .option('backbone', {
      alias: 'b', type: 'string', demandOption: demand,
      describe: 'Zoo id or alias (see `finetune models list`), or a path to any .onnx classifier.',
    })
    .option('layer', { type: 'string', describe: 'Cut at this tensor instead of the auto-detected classifier input (see `finetune inspect`).' })
    .option('pooling', { choices: ['none', 'avg', 'max', 'flatten'] as const, describe: 'Pooling for spatial feature maps [N,C,H,W]. Default: avg.' })
    .option('mirror', { type: 'string', describe: 'Base URL of a zoo mirror with the zoo path layout (default: $FINETUNE_ZOO_MIRROR).' })
    .option('offline', { type: 'boolean', default: false, describe: 'Never download; use cached models only.' })
    .option('home', { type: 'string', describe: 'finetune home for models and caches (default: $FINETUNE_HOME or ~/.cache/finetune).' }) as unknown as Argv<T & BackboneOptions>;
}

export interface PreprocessOptions {
  inputSize: number | undefined;
  resize: number | undefined;
  resizeMode: 'shorter-side' | 'direct' | undefined;
  mean: string | undefined;
  std: string | undefined;
  scale: number | undefined;
  layout: 'NCHW' | 'NHWC' | undefined;
  channelOrder: 'RGB' | 'BGR' | undefined;
  preprocess: string | undefined;
}

export function withPreprocessOptions<T>(yargs: Argv<T>): Argv<T & PreprocessOptions> {
  return yargs
    .option('input-size', { type: 'number', describe: 'Crop size fed to the model (custom models; zoo entries carry their own spec).' })
    .option('resize', { type: 'number', describe: 'Resize size before the center crop (e.g. 256 for a 224 crop).' })
    .option('resize-mode', { choices: ['shorter-side', 'direct'] as const, describe: 'Keep aspect (shorter side) or stretch.' })
    .option('mean', { type: 'string', describe: 'Per-channel mean after scaling, e.g. 0.485,0.456,0.406.' })
    .option('std', { type: 'string', describe: 'Per-channel std after scaling, e.g. 0.229,0.224,0.225.' })
    .option('scale', { type: 'number', describe: 'Pixel multiplier before mean/std (default 1/255).' })
    .option('layout', { choices: ['NCHW', 'NHWC'] as const, describe: 'Input tensor layout.' })
    .option('channel-order', { choices: ['RGB', 'BGR'] as const, describe: 'Channel order the model expects.' })
    .option('preprocess', { type: 'string', describe: 'JSON file with a full preprocessing spec.' }) as unknown as Argv<T & PreprocessOptions>;
}

export interface EmbedOptions {
  device: 'auto' | 'cpu' | 'cuda';
  batchSize: number | undefined;
  cacheDir: string | undefined;
  strict: boolean;
}

export function withEmbedOptions<T>(yargs: Argv<T>): Argv<T & EmbedOptions> {
  return yargs
    .option('device', { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const, describe: 'Where the backbone runs. auto = CUDA when installed (npm run setup:cuda), else CPU.' })
    .option('batch-size', { type: 'number', describe: 'Images per backbone batch (default chosen per model).' })
    .option('cache-dir', { type: 'string', describe: 'Embedding cache folder (default: <home>/embeddings).' })
    .option('strict', { type: 'boolean', default: false, describe: 'Fail on the first unreadable image instead of skipping it.' }) as unknown as Argv<T & EmbedOptions>;
}

export interface DatasetOptions {
  data: string;
  validationSplit: number;
  seed: number;
  test: string | undefined;
}

export function withDatasetOptions<T>(yargs: Argv<T>): Argv<T & DatasetOptions> {
  return yargs
    .option('data', { alias: 'd', type: 'string', demandOption: true, describe: 'Folder with one sub-folder per class, or a CSV/JSONL manifest (path,label).' })
    .option('validation-split', { type: 'number', default: 0.2, describe: 'Fraction of each class held out for validation (stratified, seeded).' })
    .option('seed', { type: 'number', default: 42, describe: 'Seed for the split, initialisation and shuffling.' })
    .option('test', { type: 'string', describe: 'Optional separate test folder, evaluated after training.' }) as unknown as Argv<T & DatasetOptions>;
}

/** "256,128" → [256, 128]; "" → []. */
export function parseNumberList(value: string | number | undefined, flag: string): number[] {
  if (value === undefined || value === '') return [];
  const parts = String(value).split(',').map((part) => part.trim()).filter((part) => part.length > 0);
  const numbers = parts.map(Number);
  const bad = parts.find((_, i) => !Number.isFinite(numbers[i]));
  if (bad !== undefined) throw new TypeError(`--${flag}: "${bad}" is not a number (expected a comma-separated list like 256,128).`);
  return numbers;
}
