/** The implementation behind the one-shot command and `finetune train`: maps flags, runs, prints the summary. */
import { runFinetune } from '../../workflows/run-finetune.js';
import type { RunFinetuneResult } from '../../workflows/run-finetune.js';
import { formatTrainingSummary } from '../../train/history.js';
import { createProgressRenderer } from '../progress.js';
import { bold, green, formatTable } from '../style.js';
import { trainOptionsFromFlags } from '../train-options.js';
import { preprocessFlags } from './shared.js';
import type { OneShotArgs } from './one-shot.js';

export async function runOneShot(args: OneShotArgs, mode: { export: boolean }): Promise<RunFinetuneResult> {
  const onProgress = createProgressRenderer({ json: args.json, quiet: args.quiet });
  const result = await runFinetune({
    backbone: args.backbone,
    data: args.data,
    ...(args.classes !== undefined ? { classes: args.classes } : {}),
    ...(args.out !== undefined ? { out: args.out } : {}),
    validationSplit: args.validationSplit,
    seed: args.seed,
    ...(args.test !== undefined ? { test: args.test } : {}),
    device: args.device,
    ...(args.batchSize !== undefined ? { batchSize: args.batchSize } : {}),
    ...(args.cacheDir !== undefined ? { cacheDir: args.cacheDir } : {}),
    strict: args.strict,
    ...(args.shardCaches !== undefined ? { shardCaches: args.shardCaches } : {}),
    ...(args.layer !== undefined ? { layer: args.layer } : {}),
    ...(args.pooling !== undefined ? { pooling: args.pooling } : {}),
    ...(args.mirror !== undefined ? { mirror: args.mirror } : {}),
    offline: args.offline,
    ...(args.home !== undefined ? { home: args.home } : {}),
    preprocess: preprocessFlags(args),
    train: { ...trainOptionsFromFlags(args), seed: args.seed },
    ...(args.augment !== undefined ? { augment: args.augment } : {}),
    ...(args.augmentViews !== undefined ? { augmentViews: args.augmentViews } : {}),
    ...(args.augmentSeed !== undefined ? { augmentSeed: args.augmentSeed } : {}),
    export: mode.export,
    withPreprocessing: args.withPreprocessing && args['preprocessing' as keyof OneShotArgs] !== false,
    ...(args.opset !== undefined ? { opset: args.opset } : {}),
    webParity: args.webParity,
    args: Object.fromEntries(Object.entries(args).filter(([key]) => key !== '$0' && key !== '_' && !key.includes('-'))),
    onProgress,
  });
  if (args.json) {
    process.stdout.write(`${JSON.stringify(summaryJson(result), null, 2)}\n`);
    return result;
  }
  const out = process.stdout;
  out.write(`\n${formatTrainingSummary(result.fit)}\n`);
  if (result.validation) {
    out.write(`Validation accuracy: ${bold((result.validation.accuracy * 100).toFixed(2) + '%', out)} on ${result.validation.n} images\n`);
  }
  if (result.test) out.write(`Test accuracy: ${bold((result.test.accuracy * 100).toFixed(2) + '%', out)} on ${result.test.n} images\n`);
  if (result.parity) out.write(`Parity: ${result.parity.summary}\n`);
  if (result.augmentation) {
    const { description, views, seed, trainImages, computed, cacheHits } = result.augmentation;
    out.write(`Augmentation: ${description}; ${views} views × ${trainImages} training images (augment seed ${seed}): ` +
      `${computed} computed, ${cacheHits} from cache\n`);
  }
  out.write(`Embeddings: ${result.cache.computed} computed, ${result.cache.hits} from cache` +
    `${result.skipped.length > 0 ? `, ${result.skipped.length} files skipped (see skipped.txt)` : ''}` +
    ` · provider ${result.backbone.provider ?? 'none (all cached)'}\n`);
  out.write(`Time: embed ${result.timings.embedSeconds.toFixed(1)}s, train ${result.timings.trainSeconds.toFixed(1)}s, ` +
    `export ${result.timings.exportSeconds.toFixed(1)}s, total ${result.timings.totalSeconds.toFixed(1)}s\n\n`);
  const rows = Object.entries(result.files).map(([what, path]) => [what, path]);
  out.write(`${formatTable(['file', 'path'], rows)}\n`);
  out.write(`\n${green('Done.', out)} ${result.files['model'] ? `Try: finetune predict ${result.files['model']} <image>` : `Run folder: ${result.runDir}`}\n`);
  return result;
}

function summaryJson(result: RunFinetuneResult) {
  return {
    runDir: result.runDir, files: result.files, backbone: result.backbone, classNames: result.classNames,
    training: {
      bestEpoch: result.fit.bestEpoch, restoredEpoch: result.fit.restoredEpoch, keptEpoch: result.fit.keptEpoch,
      stoppedEpoch: result.fit.stoppedEpoch, stopReason: result.fit.stopReason, history: result.fit.history,
    },
    validation: result.validation, test: result.test, parity: result.parity, skipped: result.skipped,
    cache: result.cache, augmentation: result.augmentation, timings: result.timings,
  };
}
