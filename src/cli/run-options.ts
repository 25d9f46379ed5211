/** Flags of a training run: the one-shot command (`finetune …`) and `finetune train`, which skips the full-model export. */
import type { Argv, Options } from 'yargs';
import { backboneOptions, commonOptions, datasetOptions, embedOptions, preprocessOptions } from './options.js';
import type { ArgsOf } from './options.js';
import { trainOptions, withTrainGroups } from './train-options.js';

export const runOptions = {
  ...commonOptions, ...backboneOptions, ...datasetOptions, ...preprocessOptions, ...embedOptions, ...trainOptions,
  classes: { alias: 'c', type: 'number', describe: 'Expected number of classes; must equal the class folders found.' },
  out: { alias: 'o', type: 'string', describe: 'Run folder (default runs/<timestamp>; runs/latest points at the newest).' },
  'with-preprocessing': { type: 'boolean', default: true, describe: 'Bake preprocessing into model.onnx (uint8 image input). --no-preprocessing keeps the float input.' },
  opset: { type: 'number', describe: 'ai.onnx opset of model.onnx (default: the backbone\'s).' },
  'shard-caches': { type: 'string', array: true, describe: 'Shard cache files from `finetune embed --shard K/N` workers, merged into the cache first.' },
  'web-parity': { type: 'boolean', default: true, describe: 'Also check the export in onnxruntime-web (WebAssembly).' },
  export: { choices: ['full', 'head', 'none'], requiresArg: true, describe:
    'What to export: full = model.onnx (checked for parity) and head.onnx; head = head.onnx only (serving on cached ' +
    'features); none = neither (sweeps). Default: full (train: head).' },
  'external-data': { type: 'boolean', describe:
    'Keep model.onnx\'s weights in model.onnx.data beside it (default: only for models over 2 GiB; --no-external-data: never).' },
  folds: { type: 'number', default: 5, describe: 'Cross-fitting folds K: every image is held out once, each fold head early-stops on its fold, ' +
    'the exported head is the mean of the K heads. --folds 1 trains once on a --validation-split (the Keras recipe).' },
  calibrate: { type: 'boolean', default: true, describe: 'Temperature-scale the exported probabilities on the out-of-fold predictions (--no-calibrate to skip).' },
  'duplicate-threshold': { type: 'number', default: 0.98, describe: 'Cosine similarity of embeddings from which two images count as near duplicates.' },
  duplicates: { type: 'boolean', default: true, describe: 'Look for near-duplicate images (--no-duplicates to skip).' },
  augment: { type: 'string', requiresArg: true, describe:
    'Augment training images with K seeded views per image (default: off). Comma-separated: flip[=p] (p 0.5), ' +
    'crop[=min[-max]] (random resized crop, area 0.5-1, ratio 3/4-4/3), rotate[=deg] (±15°, zoomed, no borders), ' +
    'color[=s] (brightness/contrast/saturation ±0.2; or brightness=s, contrast=s, saturation=s). Each epoch draws one of ' +
    'the original and its views per image.' },
  'augment-views': { type: 'number', requiresArg: true, describe: 'Augmented views per training image, K (default 4 with --augment).' },
  'augment-seed': { type: 'number', requiresArg: true, describe: 'Seed of the views (default 0, fixed so runs with another --seed reuse the cached views).' },
  'max-memory': { type: 'string', requiresArg: true, describe:
    'Memory for the training features, e.g. 4GiB or 512MiB (default: 1/8 of RAM, at most 2GiB). Features above it are ' +
    'written once to a file in the run folder and streamed; mini-batches are then shuffled within windows of half this size.' },
} as const satisfies Record<string, Options>;

export type RunArgs = ArgsOf<typeof runOptions>;

/** Declares {@link runOptions} with their help sections. */
export function withRunOptions<T>(yargs: Argv<T>) {
  return withTrainGroups(yargs.options(runOptions))
    .group(['max-memory'], 'Training:')
    .group(['folds', 'calibrate', 'duplicate-threshold', 'duplicates'], 'Cross-fitting, calibration and data audit:')
    .group(['augment', 'augment-views', 'augment-seed'], 'Augmentation (training images only; each view embedded once and cached):')
    .group(['export', 'external-data', 'with-preprocessing', 'opset', 'web-parity'], 'Export:');
}
