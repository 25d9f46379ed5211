import type { Argv, CommandModule } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { withBackboneOptions, withCommonOptions, withDatasetOptions, withEmbedOptions, withPreprocessOptions } from '../options.js';
import type { BackboneOptions, CommonOptions, DatasetOptions, EmbedOptions, PreprocessOptions } from '../options.js';
import { withTrainOptions } from '../train-options.js';
import type { TrainFlags } from '../train-options.js';

export interface OneShotArgs extends CommonOptions, BackboneOptions, PreprocessOptions, EmbedOptions, DatasetOptions, TrainFlags {
  classes: number | undefined;
  out: string | undefined;
  withPreprocessing: boolean;
  opset: number | undefined;
  webParity: boolean;
  shardCaches: string[] | undefined;
  augment: string | undefined;
  augmentViews: number | undefined;
  augmentSeed: number | undefined;
}

/** Options of the one-shot run, also used by `finetune train` (which skips the full-model export). */
export function withRunOptions<T>(yargs: Argv<T>): Argv<T & OneShotArgs> {
  const withAll = withTrainOptions(withEmbedOptions(withPreprocessOptions(withDatasetOptions(withBackboneOptions(withCommonOptions(yargs))))));
  return withAll
    .option('classes', { alias: 'c', type: 'number', describe: 'Expected number of classes; must equal the class folders found.' })
    .option('out', { alias: 'o', type: 'string', describe: 'Run folder (default runs/<timestamp>; runs/latest points at the newest).' })
    .option('with-preprocessing', { type: 'boolean', default: true, describe: 'Bake preprocessing into model.onnx (uint8 image input). --no-preprocessing keeps the float input.' })
    .option('opset', { type: 'number', describe: 'ai.onnx opset of model.onnx (default: the backbone\'s).' })
    .option('shard-caches', { type: 'string', array: true, describe: 'Shard cache files from `finetune embed --shard K/N` workers, merged into the cache first.' })
    .option('web-parity', { type: 'boolean', default: true, describe: 'Also check the export in onnxruntime-web (WebAssembly).' })
    .group(['augment', 'augment-views', 'augment-seed'], 'Augmentation (training images only; each view embedded once and cached):')
    .option('augment', { type: 'string', requiresArg: true, describe:
      'Augment training images with K seeded views per image (default: off). Comma-separated: flip[=p] (p 0.5), ' +
      'crop[=min[-max]] (random resized crop, area 0.5-1, ratio 3/4-4/3), rotate[=deg] (±15°, zoomed, no borders), ' +
      'color[=s] (brightness/contrast/saturation ±0.2; or brightness=s, contrast=s, saturation=s). Each epoch draws one of ' +
      'the original and its views per image.' })
    .option('augment-views', { type: 'number', requiresArg: true, describe: 'Augmented views per training image, K (default 4 with --augment).' })
    .option('augment-seed', { type: 'number', requiresArg: true, describe: 'Seed of the views (default 0, fixed so runs with another --seed reuse the cached views).' }) as unknown as Argv<T & OneShotArgs>;
}

export const oneShotCommand: CommandModule<object, OneShotArgs> = {
  command: '$0',
  describe: 'One-shot: resolve backbone → embed (cached) → train head → export model.onnx → parity check.',
  builder: (yargs) => withRunOptions(yargs)
    .option('preprocessing', { type: 'boolean', hidden: true, describe: 'Alias target of --no-preprocessing.' })
    .example('$0 --backbone mobilenetv2 --classes 3 --data ./photos', 'Embed, train and export with the defaults (Adam 1e-3, patience 5, restore best)')
    .example('$0 -b resnet50 -c 5 -d ./flowers --hidden 256 --dropout 0.3 --out runs/flowers', 'An MLP head, into a named run folder')
    .example('$0 -b ./my-classifier.onnx -c 2 -d ./data --input-size 299 --layer avg_pool', 'Any ONNX classifier, cut at a named tensor')
    .example('$0 -b mobilenetv2 -d ./photos --augment flip,crop --augment-views 4', 'Train on 4 cached augmented views per training image plus the original'),
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { runOneShot } = await import('./run-one-shot.js');
      await runOneShot(args, { export: true });
    });
  },
};
