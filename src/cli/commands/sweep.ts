import type { CommandModule, InferredOptionTypes, Options } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { backboneOptions, backboneSourceArgs, commonOptions, datasetOptions, embedOptions, parseNumberList, preprocessOptions } from '../options.js';
import { trainOptions, withTrainGroups } from '../train-options.js';

const sweepOptions = {
  ...commonOptions, ...backboneOptions, ...datasetOptions, ...preprocessOptions, ...embedOptions, ...trainOptions,
  classes: { alias: 'c', type: 'number', describe: 'Expected number of classes.' },
  'learning-rates': { type: 'string', describe: 'Comma-separated learning rates, e.g. 1e-3,3e-4,1e-4.' },
  'weight-decays': { type: 'string', describe: 'Comma-separated decoupled weight decays, e.g. 0,1e-4.' },
  'hidden-sizes': { type: 'string', describe: 'Head shapes separated by "/", each "linear" or sizes, e.g. linear/256/256,128.' },
  dropouts: { type: 'string', describe: 'Comma-separated dropout rates, e.g. 0,0.3.' },
  seeds: { type: 'string', describe: 'Comma-separated seeds, e.g. 1,2,3 (averages out initialisation luck).' },
  folds: { type: 'number', default: 5, describe: 'Cross-fit each config in K folds and rank by the out-of-fold metric; --folds 1 ranks on a --validation-split.' },
  'rank-by': { choices: ['valLoss', 'valAccuracy'], default: 'valLoss', describe: 'Metric that ranks the configs (out of fold when cross-fitted).' },
  workers: { type: 'number', describe: 'Worker threads (default: all cores when the sweep is long enough to pay for them).' },
  'shard-caches': { type: 'string', array: true, describe: 'Shard cache files to merge into the cache first.' },
} as const satisfies Record<string, Options>;

/** A grid axis from a comma-separated flag; undefined (the base options' value) when the flag is not given. */
const axisOf = (value: string | undefined, flag: string): number[] | undefined =>
  value === undefined ? undefined : parseNumberList(value, flag);

export const sweepCommand: CommandModule<object, InferredOptionTypes<typeof sweepOptions>> = {
  command: 'sweep',
  describe: 'Train a grid of heads on the same cached features and rank them by the cross-validated loss.',
  builder: (yargs) => withTrainGroups(yargs.options(sweepOptions))
    .group(['learning-rates', 'weight-decays', 'hidden-sizes', 'dropouts', 'seeds', 'folds', 'rank-by', 'workers'], 'Grid:')
    .example('$0 sweep -b mobilenetv2 -d ./photos --learning-rates 1e-3,3e-4 --hidden-sizes linear/256 --seeds 1,2', '8 heads on the same cached features')
    .example('$0 sweep -b resnet50 -d ./photos --weight-decays 0,1e-4,1e-3 --rank-by valAccuracy --json', 'Ranked results as JSON'),
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { runSweep } = await import('../../workflows/run-sweep.js');
      const { formatSweepTable } = await import('../../train/sweep.js');
      const { createProgressRenderer } = await import('../progress.js');
      const { trainOptionsFromFlags } = await import('../train-options.js');
      const { modelLimitsFromFlags, preprocessFlags } = await import('./shared.js');
      const grid = {
        learningRate: axisOf(args.learningRates, 'learning-rates'),
        weightDecay: axisOf(args.weightDecays, 'weight-decays'),
        hidden: args.hiddenSizes?.split('/').map((shape) =>
          shape.trim() === 'linear' || shape.trim() === '' ? [] : parseNumberList(shape, 'hidden-sizes')),
        dropout: axisOf(args.dropouts, 'dropouts'),
        seed: axisOf(args.seeds, 'seeds'),
      };
      const result = await runSweep({
        backbone: args.backbone, ...backboneSourceArgs(args),
        data: args.data, classes: args.classes, validationSplit: args.validationSplit, seed: args.seed, folds: args.folds,
        device: args.device, batchSize: args.batchSize, cacheDir: args.cacheDir, strict: args.strict, shardCaches: args.shardCaches,
        preprocess: preprocessFlags(args), modelLimits: modelLimitsFromFlags(args),
        grid,
        train: { ...trainOptionsFromFlags(args), rankBy: args.rankBy, workers: args.workers },
        onProgress: createProgressRenderer({ json: args.json, quiet: args.quiet }),
      });
      if (args.json) { process.stdout.write(`${JSON.stringify(result, null, 2)}\n`); return; }
      process.stdout.write(`${formatSweepTable(result.results)}\n\n`);
      process.stdout.write(`${result.results.length} heads trained in ${result.sweepSeconds.toFixed(1)}s on cached features ` +
        `(embeddings: ${result.cache.computed} computed, ${result.cache.hits} from cache).\n`);
    });
  },
};
