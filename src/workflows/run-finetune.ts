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
import { fit } from '../train/fit.js';
import type { FitOptions, FitResult } from '../train/fit.js';
import { evaluateProbabilities } from '../train/metrics.js';
import type { EvaluationMetrics } from '../train/metrics.js';
import { predictProbabilities } from '../train/predict-probabilities.js';
import type { HeadWeights, ProgressCallback } from '../types.js';
import { writeReport } from '../report/index.js';
import { RUN_FILES } from '../run/run-format.js';
import type { AugmentationSummary, ModelFilesInPlace, RunBackbone, RunFiles, RunRecord } from '../run/run-format.js';
import { defaultRunDir, linkLatest, summarizeTraining, writeRun } from '../run/write-run.js';
import { embedAugmentedViews, resolveAugmentViews, summarizeAugmentation } from './augment-views.js';
import { sha256 } from '../util/hash.js';
import { packageVersions } from '../util/package-versions.js';
import { embeddingsDir } from '../util/paths.js';
import { toolVersion } from '../util/version.js';
import { embedSplit, gatherRows, scanAndSplit } from './embed-split.js';
import type { EmbedSplitOptions } from './embed-split.js';
import type { PreparedBackbone } from './prepare-backbone.js';

export type TrainOptions = Omit<FitOptions, 'validation' | 'numClasses' | 'classNames' | 'onProgress' | 'callbacks' | 'kernels' | 'views'>;

/** The options of embedSplit (backbone, data, split, device, cache, shard caches) plus training and export. */
export interface RunFinetuneOptions extends EmbedSplitOptions {
  /** Run folder. @defaultValue `runs/<UTC timestamp>` */
  out?: string;
  /** Trainer options (`seed` defaults to the run's seed). */
  train?: TrainOptions;
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
  readonly fit: FitResult;
  readonly validation: EvaluationMetrics | null;
  readonly test: EvaluationMetrics | null;
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
  const validationSplit = options.validationSplit ?? 0.2;
  const exportMode = options.export ?? 'full';
  const withPreprocessing = options.withPreprocessing ?? true;

  // 1. Everything that can fail without backbone work: dataset, class count, split, augmentation spec.
  const scanned = await scanAndSplit({ ...options, seed, validationSplit });
  const augment = resolveAugmentOption(options);
  const runDir = resolve(options.out ?? defaultRunDir());
  await mkdir(runDir, { recursive: true });

  // 2-3. Backbone and embeddings (cached).
  const embedded = await embedSplit({ ...options, seed, validationSplit, onProgress }, scanned);
  const { dataset, testSet, backbone, extraction, testExtraction, trainRows, validationRows, skipped, embedSeconds } = embedded;
  const split = embedded.split;
  const trainData = embedded.train;
  const validationData = embedded.validation;
  const numClasses = dataset.classNames.length;
  const cacheDir = options.cacheDir ?? embeddingsDir(options.home);

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
  const fitResult = await fit(trainData, {
    seed, ...options.train, validation: validationData, numClasses, classNames: dataset.classNames, onProgress, views,
  });
  const trainSeconds = (performance.now() - trainStarted) / 1000;

  const validationProbabilities = validationData ? predictProbabilities(fitResult.head, validationData.features, validationData.numSamples) : null;
  const validationPaths = validationRows.map((row) => dataset.items[extraction.okIndices[row]!]!.path);
  const validation = validationData && validationProbabilities
    ? evaluateProbabilities(validationProbabilities, validationData.labels, validationPaths, dataset.classNames) : null;
  let test: EvaluationMetrics | null = null;
  if (testSet && testExtraction && testExtraction.okIndices.length > 0) {
    const allRows = testExtraction.okIndices.map((_, row) => row);
    const testData = gatherRows(testExtraction, testSet, allRows);
    const probabilities = predictProbabilities(fitResult.head, testData.features, testData.numSamples);
    test = evaluateProbabilities(probabilities, testData.labels,
      testExtraction.okIndices.map((index) => testSet.items[index]!.path), dataset.classNames);
  }

  // 5. Export: head.onnx, and model.onnx checked against the trainer's probabilities before anything is written.
  const exportStarted = performance.now();
  const trainingSummary = summarizeTraining(fitResult, validation?.accuracy ?? null);
  const metadata = {
    backboneId: backbone.resolved.id, backboneSha256: backbone.resolved.sha256, trainingSummary,
  };
  const trained: Omit<RunRecord, 'manifest' | 'model'> = {
    labels: { classNames: dataset.classNames },
    history: fitResult.history,
    metrics: { training: trainingSummary, validation, test },
    skipped,
    head: exportMode === 'none' ? null
      : encodeModel(exportHead(fitResult.head, { classNames: dataset.classNames, preprocess: backbone.preprocess, ...metadata })),
  };
  let model: ModelFilesInPlace | null = null;
  let parity: ParityReport | null = null;
  try {
    if (exportMode === 'full') {
      const exported = exportClassifier(backbone.cut.model, fitResult.head, {
        classNames: dataset.classNames, preprocess: backbone.preprocess, withPreprocessing,
        ...(options.opset !== undefined ? { opset: options.opset } : {}), ...metadata,
      });
      // Streamed into the run folder (the weights are not copied), checked in place, then renamed into place.
      const written = await writeExportedModel(join(runDir, RUN_FILES.model), exported, {
        externalData: options.externalData ?? 'auto',
        verify: async (files) => {
          onProgress({ stage: 'export', status: 'message', message: `model.onnx: ${(files.sizeBytes / 1e6).toFixed(1)} MB` +
            (files.externalData ? ` + model.onnx.data ${(files.externalData.sizeBytes / 1e6).toFixed(1)} MB` : '') });
          if (!validationData || !validationProbabilities || validationPaths.length === 0) return;
          parity = await checkParity({ written: files, model: exported }, validationPaths, validationProbabilities, {
            preprocess: backbone.preprocess, withPreprocessing, numClasses, classNames: dataset.classNames,
            features: validationData.features, labels: validationData.labels, web: options.webParity ?? true, onProgress,
          });
        },
      });
      model = { path: written.path, externalDataPath: written.externalData?.path ?? null };
    }
  } catch (error) {
    // Keep what training produced; without run.json the folder reads as a run that did not finish.
    await writeRun(runDir, { ...trained, manifest: null, model: null });
    throw error;
  }
  const exportSeconds = (performance.now() - exportStarted) / 1000;
  const timings = { embedSeconds, trainSeconds, exportSeconds, totalSeconds: (performance.now() - started) / 1000 };

  // 6. The run folder, with the manifest: enough to reproduce the run.
  const written = await writeRun(runDir, {
    ...trained,
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
      hyperparameters: { ...fitResult.optimizer, seed, ...options.train },
      augmentation,
      training: trainingSummary,
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
    classNames: dataset.classNames, fit: fitResult, validation, test, parity, skipped,
    cache: { hits: extraction.cacheHits, computed: extraction.computed, backboneBatches: extraction.backboneBatches },
    augmentation,
    timings,
  };
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
