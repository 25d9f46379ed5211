/**
 * The one-shot pipeline behind `finetune --backbone … --classes N --data …` and `finetune train`:
 * scan + split the dataset → prepare the backbone → embed (cached) → fit the head → evaluate → export
 * (with parity check) → write the run folder. Every check that can fail without backbone work runs first.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EmbeddingCache } from '../embed/embedding-cache.js';
import { FinetuneError } from '../errors.js';
import { checkParity } from '../export/check-parity.js';
import type { ParityReport } from '../export/check-parity.js';
import { exportClassifier, exportHead } from '../export/export-classifier.js';
import { writeExportedModel } from '../export/write-exported-model.js';
import { encodeModel } from '../onnx/write-model.js';
import type { Dataset, SkippedFile } from '../image/scan-dataset.js';
import type { ExtractionResult } from '../embed/extract-embeddings.js';
import { parseAugmentSpec, validateAugmentSpec } from '../image/augment.js';
import type { AugmentSpec } from '../image/augment.js';
import { calibrationReport, meanNegativeLogLikelihood, softmaxWithTemperature } from '../train/calibration.js';
import { closeIdleFoldWorkers, prewarmFoldWorkers } from '../train/cross-fit.js';
import type { CrossFitResult } from '../train/cross-fit.js';
import type { FitOptions, FitResult } from '../train/fit.js';
import { evaluateProbabilities } from '../train/metrics.js';
import type { EvaluationMetrics } from '../train/metrics.js';
import { predictLogits } from '../train/predict-probabilities.js';
import { isStreamed } from '../train/training-data.js';
import type { HeadWeights, ProgressCallback } from '../types.js';
import { writeReport } from '../report/index.js';
import { RUN_FILES } from '../run/run-format.js';
import type {
  AugmentationSummary, CalibrationSummary, CrossValidationMetrics, LabelIssueRow, ModelFilesInPlace, NearDuplicateSummary, RunBackbone,
  RunFiles, RunMetrics, RunRecord,
} from '../run/run-format.js';
import { defaultRunDir, linkLatest, writeRun } from '../run/write-run.js';
import { reportNearDuplicates } from './near-duplicate-report.js';
import { calibrationSummary, trainHead } from './train-head.js';
import type { LabelledImages, TrainingImages, TrainOptions } from './train-head.js';
import { checkMaxMemory, writeStreamedSplit } from './out-of-core.js';
import type { StreamedSplit } from './out-of-core.js';
import { embedAugmentedViews, resolveAugmentViews, summarizeAugmentation } from './augment-views.js';
import { sha256 } from '../util/hash.js';
import { packageVersions } from '../util/package-versions.js';
import { embeddingsDir } from '../util/paths.js';
import { toolVersion } from '../util/version.js';
import { embedSplit, gatherRows, scanAndSplit } from './embed-split.js';
import type { EmbedSplitOptions } from './embed-split.js';
import type { PreparedBackbone } from './prepare-backbone.js';

export type { TrainOptions };

/** The options of embedSplit (backbone, data, split, device, cache, shard caches) plus training and export. */
export interface RunFinetuneOptions extends EmbedSplitOptions {
  /** Run folder. @defaultValue `runs/<UTC timestamp>` */
  out?: string;
  /**
   * Cross-fitting folds K: every labelled image is held out once, each fold head early-stops on its own held-out
   * fold, and the exported head is the mean of the K heads. `1` trains once on a train/validation split
   * (`validationSplit`, the Keras recipe); `validationSplit` is only accepted with `folds: 1`. @defaultValue `5`
   */
  folds?: number;
  /** Fit temperature scaling on the out-of-fold logits and fold it into the exported model (folds ≥ 2). @defaultValue `true` */
  calibrate?: boolean;
  /** Cosine similarity of embeddings from which two images count as near duplicates; `null` skips the search. @defaultValue `0.98` */
  duplicateThreshold?: number | null;
  /** Trainer options (`seed` defaults to the run's seed). */
  train?: TrainOptions;
  /**
   * Bytes the training features (labelled images × embeddingDim × 4) may take in memory; above it they are written
   * once from the embedding cache to a feature file in the run folder (deleted after training) and streamed, with
   * mini-batches shuffled within windows of half this size (see out-of-core.ts). Augmentation and the
   * near-duplicate search need the features in memory. @defaultValue ⅛ of the machine's memory, at most 2 GiB
   */
  maxMemory?: number;
  /**
   * Augment the training images (never validation or test; the split comes first): `augmentViews` seeded views
   * per image, each embedded once and cached (embedAugmentedViews); each epoch the trainer draws one of the
   * original and its views per image. A string is parsed with parseAugmentSpec (`'flip,crop'`). @defaultValue off
   */
  augment?: AugmentSpec | string | null;
  /** Augmented views per training image. @defaultValue `4` */
  augmentViews?: number;
  /** Seeds the views; fixed by default, so runs that change `seed` reuse the cached views. @defaultValue `0` */
  augmentSeed?: number;
  /**
   * What to export: `full`: model.onnx (preprocessing + backbone + head + softmax) checked for parity, and head.onnx;
   * `head`: only head.onnx (for serving the cached-feature path); `none`: neither (sweeps). @defaultValue `'full'`
   */
  export?: 'full' | 'head' | 'none';
  /**
   * Keep model.onnx's weights in model.onnx.data beside it: `true`, `false`, or `'auto'`: when the model would not
   * fit in one protobuf file (2 GiB). @defaultValue `'auto'`
   */
  externalData?: boolean | 'auto';
  /** Bake preprocessing into model.onnx (uint8 `image` input). @defaultValue `true` */
  withPreprocessing?: boolean;
  /** ai.onnx opset of model.onnx. @defaultValue the backbone's */
  opset?: number;
  /** Also check parity in onnxruntime-web (WebAssembly). @defaultValue `true` */
  webParity?: boolean;
  /** The command line, recorded in run.json. */
  args?: Readonly<Record<string, unknown>>;
  onProgress?: ProgressCallback;
}

export interface RunFinetuneResult {
  readonly runDir: string;
  /** The files written, by run-folder key (`report` is absent when the report could not be made). */
  readonly files: RunFiles;
  readonly backbone: RunBackbone & { readonly provider: string | null };
  readonly classNames: readonly string[];
  /** The single-split fit (`folds: 1`); null when cross-fitted. */
  readonly fit: FitResult | null;
  /** The cross-fit (folds ≥ 2); null for a single split. */
  readonly crossFit: CrossFitResult | null;
  /** Everything metrics.json holds. */
  readonly metrics: RunMetrics;
  readonly validation: EvaluationMetrics | null;
  readonly crossValidation: CrossValidationMetrics | null;
  readonly test: EvaluationMetrics | null;
  /** The likely mislabelled images (label-issues.csv); null without out-of-fold predictions. */
  readonly labelIssues: readonly LabelIssueRow[] | null;
  readonly nearDuplicates: NearDuplicateSummary | null;
  readonly parity: ParityReport | null;
  readonly skipped: readonly SkippedFile[];
  readonly cache: { hits: number; computed: number; backboneBatches: number };
  /** The augmentation used, with its view cache hits; null when off. */
  readonly augmentation: AugmentationSummary | null;
  readonly timings: { embedSeconds: number; trainSeconds: number; exportSeconds: number; totalSeconds: number };
}

export async function runFinetune(options: RunFinetuneOptions): Promise<RunFinetuneResult> {
  const started = performance.now();
  const onProgress = options.onProgress ?? (() => undefined);
  const seed = options.seed ?? 42;
  const folds = resolveFolds(options);
  const validationSplit = folds === 1 ? options.validationSplit ?? 0.2 : 0;
  const exportMode = options.export ?? 'full';
  const withPreprocessing = options.withPreprocessing ?? true;
  const duplicateThreshold = resolveDuplicateThreshold(options.duplicateThreshold);

  // 1. Everything that can fail without backbone work: dataset, class count, split, folds, augmentation spec.
  const scanned = await scanAndSplit({ ...options, seed, validationSplit });
  checkFolds(folds, scanned.dataset, onProgress);
  checkMaxMemory(options.maxMemory);
  const augment = resolveAugmentOption(options);
  const runDir = resolve(options.out ?? defaultRunDir());
  await mkdir(runDir, { recursive: true });
  // Cross-fitting in memory trains folds in a worker thread when one is ready: start it now, so that it is ready
  // by the time the features are (its start, ~0.2–0.3 s, would otherwise exceed a small cross-fit's whole time).
  if (folds > 1) prewarmFoldWorkers(folds);

  // 2-3. Backbone and embeddings (cached).
  const embedded = await embedSplit({ ...options, seed, validationSplit, onProgress }, scanned,
    { maxMemory: options.maxMemory, needsMemory: augment === null ? undefined : '--augment' });
  const { dataset, testSet, backbone, extraction, testExtraction, trainRows, validationRows, skipped, embedSeconds } = embedded;
  const split = embedded.split;
  const numClasses = dataset.classNames.length;
  const cacheDir = options.cacheDir ?? embeddingsDir(options.home);
  const pathsOf = (rows: readonly number[]) => rows.map((row) => dataset.items[extraction.okIndices[row]!]!.path);
  // Out-of-core when the training features exceed the memory budget (planned before extraction, which then kept no
  // vectors): trained from a feature file written once from the cache.
  const memory = embedded.memory!;
  if (memory.streamed) await closeIdleFoldWorkers();   // streamed folds train in this thread
  const streamedSplit: StreamedSplit | null = !memory.streamed ? null : await writeStreamedSplit({
    runDir, cacheDir, extractorKey: extraction.extractorKey, trainRows, validationRows, plan: memory, onProgress,
    rows: extraction.okIndices.map((index, row) => ({
      imageSha: extraction.imageShas[row]!, label: dataset.items[index]!.label, file: dataset.items[index]!.relativePath })),
  });
  const trainData: TrainingImages = { ...(streamedSplit?.train ?? embedded.train), paths: pathsOf(trainRows) };
  const validationSource = streamedSplit ? streamedSplit.validation : embedded.validation;
  const validationData: TrainingImages | null = validationSource && { ...validationSource, paths: pathsOf(validationRows) };

  // 4. Training.
  // Augmented views of the training rows only, in trainData's row order.
  let augmentation: AugmentationSummary | null = null;
  let views: FitOptions['views'] = null;
  if (augment !== null) {
    const viewCache = EmbeddingCache.open({ cacheDir });
    try {
      const trainItems = trainRows.map((row) => dataset.items[extraction.okIndices[row]!]!);
      const embedded = await embedAugmentedViews(trainItems, backbone.extractor, {
        augment: augment.spec, views: augment.views, seed: augment.seed, cache: viewCache, device: options.device ?? 'auto',
        strict: options.strict ?? false, onProgress, ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
      });
      for (const failed of embedded.failed) onProgress({ stage: 'warn', status: 'message', message: `no view ${failed.view} of ${failed.path}: ${failed.reason}` });
      views = { features: embedded.viewFeatures, numViews: embedded.numViews, available: embedded.okMask };
      augmentation = summarizeAugmentation(augment.spec, embedded);
    } finally {
      viewCache.close();
    }
  }
  const trainStarted = performance.now();
  let trained;
  try {
    trained = await trainHead(trainData, validationData, {
      folds, calibrate: options.calibrate ?? true, seed, classNames: dataset.classNames, views, onProgress,
      train: streamedSplit ? { ...options.train, ...streamedSplit.fitOptions } : options.train,
    });
  } finally {
    await streamedSplit?.close();
  }
  const trainSeconds = (performance.now() - trainStarted) / 1000;

  let test: EvaluationMetrics | null = null;
  let testCalibration: CalibrationSummary | null = null;
  let testData: LabelledImages | null = null;
  if (testSet && testExtraction && testExtraction.okIndices.length > 0) {
    const allRows = testExtraction.okIndices.map((_, row) => row);
    testData = { ...gatherRows(testExtraction, testSet, allRows), paths: testExtraction.okIndices.map((index) => testSet.items[index]!.path) };
    const logits = predictLogits(trained.head, testData.features, testData.numSamples);
    const probabilities = softmaxWithTemperature(logits, numClasses);
    test = evaluateProbabilities(probabilities, testData.labels, testData.paths, dataset.classNames);
    if (trained.crossFit !== null) testCalibration = calibrationOf(logits, testData.labels, numClasses, trained.crossFit.temperature);
  }
  // The all-pairs search needs every vector in memory: a streamed run skips it (and says so).
  if (duplicateThreshold !== null && streamedSplit !== null) {
    onProgress({ stage: 'info', status: 'message', message:
      'Near-duplicate search skipped: the training features are streamed (over --max-memory).' });
  }
  const nearDuplicates = duplicateThreshold === null || isStreamed(trainData) || (validationData !== null && isStreamed(validationData)) ? null
    : reportNearDuplicates([
      { split: 'train', features: trainData.features, paths: trainData.paths },
      ...(validationData ? [{ split: 'validation' as const, features: validationData.features, paths: validationData.paths }] : []),
      ...(testData ? [{ split: 'test' as const, features: testData.features, paths: testData.paths }] : []),
    ], extraction.embeddingDim, duplicateThreshold);
  if (nearDuplicates !== null && nearDuplicates.summary.crossSplitClusters > 0) {
    onProgress({ stage: 'warn', status: 'message', message: `${nearDuplicates.summary.crossSplitClusters} group(s) of near-duplicate ` +
      `images span training and test (cosine ≥ ${duplicateThreshold}): they inflate test accuracy. See near-duplicates.csv.` });
  }

  // 5. Export: head.onnx, and model.onnx checked against the trainer's probabilities before anything is written.
  const exportStarted = performance.now();
  const metadata = {
    backboneId: backbone.resolved.id, backboneSha256: backbone.resolved.sha256, trainingSummary: trained.metadataSummary,
  };
  const metrics: RunMetrics = {
    training: trained.training, crossFit: trained.crossFitSummary, crossValidation: trained.crossValidation,
    validation: trained.validation, test, testCalibration, labelAudit: trained.labelAudit, nearDuplicates: nearDuplicates?.summary ?? null,
  };
  const record: Omit<RunRecord, 'manifest' | 'model'> = {
    labels: { classNames: dataset.classNames },
    history: trained.history,
    metrics,
    skipped,
    labelIssues: trained.labelIssues,
    nearDuplicates: nearDuplicates?.rows ?? null,
    head: exportMode === 'none' ? null
      : encodeModel(exportHead(trained.head, { classNames: dataset.classNames, preprocess: backbone.preprocess, ...metadata })),
  };
  let model: ModelFilesInPlace | null = null;
  let parity: ParityReport | null = null;
  try {
    if (exportMode === 'full') {
      const exported = exportClassifier(backbone.cut.model, trained.head, {
        classNames: dataset.classNames, preprocess: backbone.preprocess, withPreprocessing,
        ...(options.opset !== undefined ? { opset: options.opset } : {}), ...metadata,
      });
      const parityImages = trained.parity;
      // Streamed into the run folder (the weights are not copied), checked in place, then renamed into place.
      const written = await writeExportedModel(join(runDir, RUN_FILES.model), exported, {
        externalData: options.externalData ?? 'auto',
        verify: async (files) => {
          onProgress({ stage: 'export', status: 'message', message: `model.onnx: ${(files.sizeBytes / 1e6).toFixed(1)} MB` +
            (files.externalData ? ` + model.onnx.data ${(files.externalData.sizeBytes / 1e6).toFixed(1)} MB` : '') });
          if (parityImages === null) return;
          parity = await checkParity({ written: files, model: exported }, parityImages.paths, parityImages.probabilities, {
            preprocess: backbone.preprocess, withPreprocessing, numClasses, classNames: dataset.classNames,
            features: parityImages.features, labels: parityImages.labels, web: options.webParity ?? true, onProgress,
          });
        },
      });
      model = { path: written.path, externalDataPath: written.externalData?.path ?? null };
    }
  } catch (error) {
    // Keep what training produced; without run.json the folder reads as a run that did not finish.
    await writeRun(runDir, { ...record, manifest: null, model: null });
    throw error;
  }
  const exportSeconds = (performance.now() - exportStarted) / 1000;
  const timings = { embedSeconds, trainSeconds, exportSeconds, totalSeconds: (performance.now() - started) / 1000 };

  // 6. The run folder, with the manifest: enough to reproduce the run.
  const written = await writeRun(runDir, {
    ...record,
    model,
    manifest: {
      tool: { name: 'finetune', version: toolVersion() },
      createdAt: new Date().toISOString(),
      args: options.args ?? null,
      data: {
        source: dataset.root, kind: dataset.source, classNames: dataset.classNames, images: dataset.items.length,
        skipped: skipped.length, fingerprint: datasetFingerprint(dataset, extraction),
      },
      backbone: describeBackbone(backbone),
      preprocess: backbone.preprocess,
      split: { ...split.description, validationFiles: split.validation.items.map((item) => item.relativePath) },
      hyperparameters: { ...trained.optimizer, seed, folds, ...options.train },
      augmentation,
      training: trained.training,
      crossFit: trained.crossFit === null ? null : {
        folds, foldSeeds: trained.crossFit.folds.map((fold) => fold.seed),
        kernelInitializer: trained.crossFit.kernelInitializer, calibrate: options.calibrate ?? true,
      },
      export: exportMode === 'full' ? { withPreprocessing, opset: options.opset ?? null, parity } : null,
      timings,
      cache: { hits: extraction.cacheHits, computed: extraction.computed, backboneBatches: extraction.backboneBatches,
        extractorKey: extraction.extractorKey, provider: extraction.provider },
      versions: {
        node: process.versions.node, platform: `${process.platform}/${process.arch}`,
        ...packageVersions(['onnxruntime-node', 'onnxruntime-web', 'sharp', 'protobufjs', 'better-sqlite3']),
      },
    },
  });
  // The report is optional: a failure to make it is a warning, never a failed run (everything above is written).
  const report = await writeReport(runDir).catch((error: unknown) => {
    onProgress({ stage: 'warn', status: 'message', message: `report.html was not written (${errorText(error)}); ` +
      `the run is complete. Try again with \`finetune report ${runDir}\`.` });
    return null;
  });
  const files: RunFiles = report === null ? written : { ...written, report };
  await linkLatest(runDir);

  return {
    runDir, files,
    backbone: { ...describeBackbone(backbone), provider: extraction.provider },
    classNames: dataset.classNames, fit: trained.fit, crossFit: trained.crossFit, metrics,
    validation: trained.validation, crossValidation: trained.crossValidation, test, labelIssues: trained.labelIssues,
    nearDuplicates: nearDuplicates?.summary ?? null, parity, skipped,
    cache: { hits: extraction.cacheHits, computed: extraction.computed, backboneBatches: extraction.backboneBatches },
    augmentation,
    timings,
  };
}

/** `folds`, checked against `validationSplit`: a validation split only makes sense for a single split. */
function resolveFolds(options: RunFinetuneOptions): number {
  const folds = options.folds ?? 5;
  if (!Number.isInteger(folds) || folds < 1)
    throw new FinetuneError('INVALID_OPTION', `Invalid --folds ${JSON.stringify(folds)}: expected a whole number ≥ 1.`,
      'Pass --folds 5 (cross-fitting, the default) or --folds 1 (one train/validation split).');
  if (folds > 1 && options.validationSplit !== undefined)
    throw new FinetuneError('INVALID_OPTION', `--validation-split ${options.validationSplit} holds images out of training, but --folds ${folds} ` +
      'cross-fits on every labelled image (each is held out once).',
      'Drop --validation-split to cross-fit, or add --folds 1 for one train/validation split (the Keras recipe).');
  return folds;
}

function resolveDuplicateThreshold(threshold: number | null | undefined): number | null {
  if (threshold === null) return null;
  const value = threshold ?? 0.98;
  if (!(typeof value === 'number' && value > 0 && value <= 1))
    throw new FinetuneError('INVALID_OPTION', `Invalid --duplicate-threshold ${JSON.stringify(threshold)}: expected a cosine similarity in (0, 1].`,
      'Pass e.g. --duplicate-threshold 0.98, or --no-duplicates to skip the search.');
  return value;
}

/** Fails when there are fewer labelled images than folds; warns when a class has fewer images than folds. */
function checkFolds(folds: number, dataset: Dataset, onProgress: ProgressCallback): void {
  if (folds === 1) return;
  if (dataset.items.length < folds)
    throw new FinetuneError('DATASET_INVALID', `${dataset.items.length} labelled images cannot be cross-fitted in ${folds} folds.`,
      `Use --folds ${Math.max(2, Math.min(dataset.items.length, 5))}, or --folds 1 for one train/validation split.`);
  const counts = new Array<number>(dataset.classNames.length).fill(0);
  for (const item of dataset.items) counts[item.label]!++;
  const small = dataset.classNames.filter((_, k) => counts[k]! < folds);
  if (small.length > 0) {
    onProgress({ stage: 'warn', status: 'message', message: `${small.length} class(es) have fewer images than --folds ${folds} ` +
      `(${small.slice(0, 5).map((name) => `"${name}"`).join(', ')}${small.length > 5 ? ', …' : ''}): some folds hold none of them out.` });
  }
}

/** ECE and NLL of calibrated `logits` before (× temperature) and after temperature scaling. */
function calibrationOf(logits: Float32Array, labels: Int32Array, numClasses: number, temperature: number): CalibrationSummary {
  const after = softmaxWithTemperature(logits, numClasses);
  const before = softmaxWithTemperature(logits, numClasses, 1 / temperature);
  return calibrationSummary(
    { temperature, nllBefore: meanNegativeLogLikelihood(before, labels, numClasses), nllAfter: meanNegativeLogLikelihood(after, labels, numClasses) },
    calibrationReport(before, labels, numClasses), calibrationReport(after, labels, numClasses));
}

/** One line: an error's message (and code), without its stack. */
function errorText(error: unknown): string {
  if (error instanceof FinetuneError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}

/** The run's augmentation with defaults filled in, or null when off; fails before any backbone work. */
function resolveAugmentOption(options: RunFinetuneOptions): { spec: AugmentSpec; views: number; seed: number } | null {
  const option = options.augment ?? null;
  let spec: AugmentSpec | null = null;
  if (typeof option === 'string') {
    const text = option.trim();
    spec = text === '' || text.toLowerCase() === 'none' ? null : parseAugmentSpec(text);
  } else {
    spec = option === null ? null : validateAugmentSpec(option);
  }
  if (spec === null) {
    if (options.augmentViews !== undefined || options.augmentSeed !== undefined)
      throw new FinetuneError('INVALID_OPTION', 'Got augmentation views or an augmentation seed without an augmentation spec.',
        'Add --augment (e.g. --augment flip,crop), or drop --augment-views and --augment-seed.');
    return null;
  }
  return { spec, ...resolveAugmentViews(spec, options.augmentViews, options.augmentSeed) };
}

function describeBackbone(backbone: PreparedBackbone): RunBackbone {
  return {
    id: backbone.resolved.id, sha256: backbone.resolved.sha256, path: backbone.resolved.path,
    featureTensor: backbone.cut.featureTensor, embeddingDim: backbone.cut.embeddingDim, pooling: backbone.cut.pooling,
    dequantized: backbone.cut.dequantized,
  };
}

/**
 * sha256 over the sorted `relativePath, label, image sha256` lines of the embedded images: equal fingerprints mean
 * the same files with the same labels, whatever their order on disk.
 */
function datasetFingerprint(dataset: Dataset, extraction: ExtractionResult): string {
  const lines = extraction.okIndices.map((index, row) => {
    const item = dataset.items[index]!;
    return `${item.relativePath}\t${item.label}\t${extraction.imageShas[row]}`;
  });
  return sha256(lines.sort().join('\n'));
}

export type { HeadWeights };
