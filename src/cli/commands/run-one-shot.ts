/** The implementation behind the one-shot command and `finetune train`: maps flags, runs, prints the summary. */
import { runFinetune } from '../../workflows/run-finetune.js';
import type { RunFinetuneResult } from '../../workflows/run-finetune.js';
import { formatTrainingSummary } from '../../train/history.js';
import { createProgressRenderer } from '../progress.js';
import { bold, green, formatTable, yellow } from '../style.js';
import { backboneSourceArgs } from '../options.js';
import type { CrossValidationMetrics } from '../../run/run-format.js';
import type { CrossFitResult } from '../../train/cross-fit.js';
import { trainOptionsFromFlags } from '../train-options.js';
import { modelLimitsFromFlags, parseByteSize, preprocessFlags } from './shared.js';
import type { RunArgs } from '../run-options.js';

/** How the run ends unless --export says otherwise: `finetune` exports model.onnx, `finetune train` stops at head.onnx. */
export interface RunOneShotMode {
  readonly defaultExport: 'full' | 'head' | 'none';
  /** Bake preprocessing into model.onnx (--with-preprocessing, unless --no-preprocessing). */
  readonly withPreprocessing: boolean;
}

export async function runOneShot(args: RunArgs, mode: RunOneShotMode): Promise<RunFinetuneResult> {
  const onProgress = createProgressRenderer({ json: args.json, quiet: args.quiet });
  const result = await runFinetune({
    backbone: args.backbone, ...backboneSourceArgs(args),
    data: args.data, classes: args.classes, validationSplit: args.validationSplit, seed: args.seed, test: args.test,
    folds: args.folds, calibrate: args.calibrate, duplicateThreshold: args.duplicates ? args.duplicateThreshold : null,
    device: args.device, batchSize: args.batchSize, cacheDir: args.cacheDir, strict: args.strict, shardCaches: args.shardCaches,
    preprocess: preprocessFlags(args), modelLimits: modelLimitsFromFlags(args),
    train: { ...trainOptionsFromFlags(args), seed: args.seed },
    maxMemory: args.maxMemory === undefined ? undefined : parseByteSize(args.maxMemory, 'max-memory'),
    augment: args.augment, augmentViews: args.augmentViews, augmentSeed: args.augmentSeed,
    out: args.out, export: args.export ?? mode.defaultExport, externalData: args.externalData ?? 'auto',
    withPreprocessing: mode.withPreprocessing, opset: args.opset, webParity: args.webParity,
    args: Object.fromEntries(Object.entries(args).filter(([key]) => key !== '$0' && key !== '_' && !key.includes('-'))),
    onProgress,
  });
  if (args.json) {
    process.stdout.write(`${JSON.stringify(summaryJson(result), null, 2)}\n`);
    return result;
  }
  const out = process.stdout;
  if (result.fit) out.write(`\n${formatTrainingSummary(result.fit)}\n`);
  if (result.crossFit && result.crossValidation) out.write(`\n${formatCrossFit(result.crossFit, result.crossValidation, out)}\n`);
  if (result.validation) {
    out.write(`Validation accuracy: ${bold((result.validation.accuracy * 100).toFixed(2) + '%', out)} on ${result.validation.n} images\n`);
  }
  if (result.test) out.write(`Test accuracy: ${bold((result.test.accuracy * 100).toFixed(2) + '%', out)} on ${result.test.n} images\n`);
  if (result.metrics.testCalibration) {
    const { eceBefore, eceAfter } = result.metrics.testCalibration;
    out.write(`Test calibration: ECE ${eceBefore.toFixed(3)} → ${eceAfter.toFixed(3)}\n`);
  }
  if (result.labelIssues) {
    out.write(`Label audit: ${result.labelIssues.length} likely mislabelled image(s)${result.labelIssues.length > 0 ? ' (see label-issues.csv)' : ''}\n`);
  }
  if (result.nearDuplicates && result.nearDuplicates.clusters > 0) {
    const { clusters, images, crossSplitClusters } = result.nearDuplicates;
    out.write(`Near duplicates: ${images} images in ${clusters} group(s)` +
      `${crossSplitClusters > 0 ? `, ${yellow(`${crossSplitClusters} across training and test`, out)}` : ''} (see near-duplicates.csv)\n`);
  }
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

/**
 * The cross-fitting lines of the summary: the cross-validated accuracy with its 95 % interval, the calibration and
 * where each fold stopped.
 */
function formatCrossFit(result: CrossFitResult, metrics: CrossValidationMetrics, out: NodeJS.WriteStream): string {
  const percent = (value: number): string => `${(value * 100).toFixed(1)}%`;
  const [low, high] = metrics.accuracyInterval;
  const { temperature, eceBefore, eceAfter } = metrics.calibration;
  return [
    `Cross-validated accuracy: ${bold(`${(metrics.accuracy * 100).toFixed(2)}%`, out)} (95% CI ${percent(low)}–${percent(high)}) ` +
      `on ${metrics.n} images, ${metrics.folds} folds (each image predicted by the head that never saw it)`,
    `Calibration: temperature ${temperature.toPrecision(3)}, ECE ${eceBefore.toFixed(3)} → ${eceAfter.toFixed(3)} (out of fold, 15 bins)`,
    `Folds: ${result.folds.map((fold) => `${fold.fold}: epoch ${fold.fit.keptEpoch}/${fold.fit.stoppedEpoch}, ` +
      `held-out ${percent(fold.heldOutAccuracy)}`).join(' · ')} (kept/stopped)`,
  ].join('\n');
}

function summaryJson(result: RunFinetuneResult) {
  return {
    runDir: result.runDir, files: result.files, backbone: result.backbone, classNames: result.classNames,
    training: result.fit && {
      bestEpoch: result.fit.bestEpoch, restoredEpoch: result.fit.restoredEpoch, keptEpoch: result.fit.keptEpoch,
      stoppedEpoch: result.fit.stoppedEpoch, stopReason: result.fit.stopReason, history: result.fit.history,
    },
    crossFit: result.metrics.crossFit, crossValidation: result.crossValidation,
    validation: result.validation, test: result.test, testCalibration: result.metrics.testCalibration,
    labelAudit: result.metrics.labelAudit, nearDuplicates: result.nearDuplicates, parity: result.parity, skipped: result.skipped,
    cache: result.cache, augmentation: result.augmentation, timings: result.timings,
  };
}
