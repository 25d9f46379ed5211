import type { Argv, CommandModule } from 'yargs';
import { handleErrors } from '../handle-errors.js';
import { parseNumberList, withBackboneOptions, withCommonOptions, withDatasetOptions, withEmbedOptions, withPreprocessOptions } from '../options.js';
import type { BackboneOptions, CommonOptions, DatasetOptions, EmbedOptions, PreprocessOptions } from '../options.js';
import { withTrainOptions } from '../train-options.js';
import type { TrainFlags } from '../train-options.js';

interface SweepArgs extends CommonOptions, BackboneOptions, PreprocessOptions, EmbedOptions, DatasetOptions, TrainFlags {
  classes: number | undefined;
  learningRates: string | undefined;
  weightDecays: string | undefined;
  hiddenSizes: string | undefined;
  dropouts: string | undefined;
  seeds: string | undefined;
  rankBy: 'valLoss' | 'valAccuracy';
  workers: number | undefined;
  shardCaches: string[] | undefined;
}

export const sweepCommand: CommandModule<object, SweepArgs> = {
  command: 'sweep',
  describe: 'Train a grid of heads on the same cached features and rank them by the validation metric.',
  builder: (yargs: Argv) => withTrainOptions(withEmbedOptions(withPreprocessOptions(withDatasetOptions(withBackboneOptions(withCommonOptions(yargs))))))
    .group(['learning-rates', 'weight-decays', 'hidden-sizes', 'dropouts', 'seeds', 'rank-by', 'workers'], 'Grid:')
    .option('classes', { alias: 'c', type: 'number', describe: 'Expected number of classes.' })
    .option('learning-rates', { type: 'string', describe: 'Comma-separated learning rates, e.g. 1e-3,3e-4,1e-4.' })
    .option('weight-decays', { type: 'string', describe: 'Comma-separated decoupled weight decays, e.g. 0,1e-4.' })
    .option('hidden-sizes', { type: 'string', describe: 'Head shapes separated by "/", each "linear" or sizes, e.g. linear/256/256,128.' })
    .option('dropouts', { type: 'string', describe: 'Comma-separated dropout rates, e.g. 0,0.3.' })
    .option('seeds', { type: 'string', describe: 'Comma-separated seeds, e.g. 1,2,3 (averages out initialisation luck).' })
    .option('rank-by', { choices: ['valLoss', 'valAccuracy'] as const, default: 'valLoss' as const, describe: 'Validation metric that ranks the configs.' })
    .option('workers', { type: 'number', describe: 'Worker threads (default: all cores when the sweep is long enough to pay for them).' })
    .option('shard-caches', { type: 'string', array: true, describe: 'Shard cache files to merge into the cache first.' })
    .example('$0 sweep -b mobilenetv2 -d ./photos --learning-rates 1e-3,3e-4 --hidden-sizes linear/256 --seeds 1,2', '8 heads on the same cached features')
    .example('$0 sweep -b resnet50 -d ./photos --weight-decays 0,1e-4,1e-3 --rank-by valAccuracy --json', 'Ranked results as JSON') as never,
  handler: async (args) => {
    process.exitCode = await handleErrors(args.verbose, async () => {
      const { runSweep } = await import('../../workflows/run-sweep.js');
      const { formatSweepTable } = await import('../../train/sweep.js');
      const { createProgressRenderer } = await import('../progress.js');
      const { trainOptionsFromFlags } = await import('../train-options.js');
      const { preprocessFlags } = await import('./shared.js');
      const train = trainOptionsFromFlags(args);
      const grid = {
        ...(args.learningRates !== undefined ? { learningRate: parseNumberList(args.learningRates, 'learning-rates') } : {}),
        ...(args.weightDecays !== undefined ? { weightDecay: parseNumberList(args.weightDecays, 'weight-decays') } : {}),
        ...(args.hiddenSizes !== undefined ? { hidden: args.hiddenSizes.split('/').map((shape) =>
          shape.trim() === 'linear' || shape.trim() === '' ? [] : parseNumberList(shape, 'hidden-sizes')) } : {}),
        ...(args.dropouts !== undefined ? { dropout: parseNumberList(args.dropouts, 'dropouts') } : {}),
        ...(args.seeds !== undefined ? { seed: parseNumberList(args.seeds, 'seeds') } : {}),
      };
      const preprocess = preprocessFlags(args);
      const result = await runSweep({
        backbone: args.backbone, data: args.data, validationSplit: args.validationSplit, seed: args.seed,
        ...(args.classes !== undefined ? { classes: args.classes } : {}),
        device: args.device, strict: args.strict, offline: args.offline,
        ...(args.batchSize !== undefined ? { batchSize: args.batchSize } : {}),
        ...(args.cacheDir !== undefined ? { cacheDir: args.cacheDir } : {}),
        ...(args.layer !== undefined ? { layer: args.layer } : {}),
        ...(args.pooling !== undefined ? { pooling: args.pooling } : {}),
        ...(args.mirror !== undefined ? { mirror: args.mirror } : {}),
        ...(args.home !== undefined ? { home: args.home } : {}),
        ...(preprocess ? { preprocess } : {}),
        ...(args.shardCaches !== undefined ? { shardCaches: args.shardCaches } : {}),
        grid,
        train: { ...train, rankBy: args.rankBy, ...(args.workers !== undefined ? { workers: args.workers } : {}) },
        onProgress: createProgressRenderer({ json: args.json, quiet: args.quiet }),
      });
      if (args.json) { process.stdout.write(`${JSON.stringify(result, null, 2)}\n`); return; }
      process.stdout.write(`${formatSweepTable(result.results)}\n\n`);
      process.stdout.write(`${result.results.length} heads trained in ${result.sweepSeconds.toFixed(1)}s on cached features ` +
        `(embeddings: ${result.cache.computed} computed, ${result.cache.hits} from cache).\n`);
    });
  },
};
