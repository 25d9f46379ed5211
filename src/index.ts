/**
 * @file finetune's public API, grouped by pipeline stage:
 * errors · registry (zoo catalog, downloads) · onnx (read, inspect, cut) · image (datasets, preprocessing,
 * augmentation) · runtime (ONNX Runtime sessions) · embed (extraction, cache) · train (fit, optimizers,
 * callbacks, sweeps, metrics) · export (one ONNX file, parity) · workflows (finetune, predict, evaluate) ·
 * report and serve. The CLI (`src/cli`) is a client of this API like any other.
 *
 * @example
 * import { runFinetune, predict } from 'finetune';
 * const run = await runFinetune({ backbone: 'mobilenetv2', data: './photos', classes: 3, onProgress: console.log });
 * const [top] = await predict(run.files.model!, ['./cat.jpg']);
 */

// Errors
export { ChecksumMismatchError, FinetuneError, isFinetuneError } from './errors.js';
export type { ErrorCode } from './errors.js';

// Shared types
export type {
  ClassNames, DenseLayer, Device, FailedImage, FeatureExtractorSpec, HeadWeights, Pooling, PreprocessSpec, ProgressCallback,
  ProgressEvent, ResizeFilter,
} from './types.js';

// Registry: the model zoo catalog and downloads
export { findModel, getModel, listModels } from './registry/catalog.js';
export type { ZooEntry, ZooFeature, ZooInput } from './registry/catalog.js';
export { downloadModel } from './registry/download.js';
export type { DownloadOptions, DownloadResult } from './registry/download.js';
export { DownloadError } from './registry/download-error.js';
export { listCachedModels, modelInfo, removeModel } from './registry/model-cache.js';
export type { CachedModel, ModelInfo, RemoveModelResult } from './registry/model-cache.js';
export { resolveBackbone } from './registry/resolve-backbone.js';
export type { ResolvedBackbone } from './registry/resolve-backbone.js';
export { serveMirror } from './registry/serve-mirror.js';

// ONNX: read, write, inspect, cut, build
export {
  cutBackbone, decodeModel, encodeModel, formatInspection, inspectModel,
  makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, readModel, writeModel,
} from './onnx/index.js';
export type {
  CutBackbone, CutBackboneOptions, ModelInspection, ModelProto,
} from './onnx/index.js';

// Images: datasets, splits, preprocessing, augmentation
export { scanDataset, validateClassCount } from './image/scan-dataset.js';
export type { Dataset, DatasetItem, ScanDatasetOptions, SkippedFile } from './image/scan-dataset.js';
export { splitDataset } from './image/split-dataset.js';
export type { DatasetSplit, SplitDatasetOptions, SplitDescription } from './image/split-dataset.js';
export { decodeToRgb, normalizePixels, preprocessImage } from './image/preprocess-image.js';
export {
  DEFAULT_RESIZE_FILTER, EFFICIENTNET_LITE_SPEC, IMAGENET_SPEC, RESIZE_FILTERS, describePreprocessSpec, parsePreprocessSpec,
  validatePreprocessSpec,
} from './image/preprocess-spec.js';
export type { PreprocessFlags } from './image/preprocess-spec.js';
export { resample, resampleFloat } from './image/resample.js';
export type { ExactResizeFilter, PixelImage, ResampleOptions, ResampleWindow, SourceBox } from './image/resample.js';
export { augmentedRgb, parseAugmentSpec } from './image/augment.js';
export type { AugmentSpec } from './image/augment.js';

// Runtime: ONNX Runtime sessions (CPU/CUDA in Node, WebAssembly)
export { createSession } from './runtime/session.js';
export type { SessionOptions } from './runtime/session.js';
export { createWebSession } from './runtime/web-session.js';
export type { HostTensor, ModelSession } from './runtime/model-session.js';

// Embeddings: extraction and the content-addressed cache
export { extractEmbeddings } from './embed/extract-embeddings.js';
export type { ExtractEmbeddingsOptions, ExtractionResult, FeatureExtractor } from './embed/extract-embeddings.js';
export { EmbeddingCache, extractorKey } from './embed/embedding-cache.js';
export type { EmbeddingCacheOptions } from './embed/embedding-cache.js';
export { cacheStats, listExtractors, pruneCache, resolveExtractor } from './embed/cache-admin.js';
export type { CacheStats, ExtractorInfo, PruneOptions, PruneResult } from './embed/cache-admin.js';
export { exportNpy } from './embed/export-npy.js';
export type { ExportResult, ExportRow } from './embed/export-npy.js';
export { mergeCaches } from './embed/merge-caches.js';

// Training: the head, cross-fitting and calibration, optimizers, callbacks, sweeps, metrics
export {
  Adam, Callback, EarlyStopping, FeatureFileWriter, ReduceLrOnPlateau, Sgd, calibrationReport, classificationReport, confusionMatrix,
  crossFit, fit, fitTemperature, foldStandardization, mergeHeads, openFeatureFile, predictLogits, predictProbabilities, readLabelFile,
  selectRows, streamedFeatures, sweep, wilsonInterval,
} from './train/index.js';
export type {
  CalibrationReport, CrossFitOptions, CrossFitResult, EarlyStoppingOptions, EpochLogs, FeatureFile, FitOptions, FitResult,
  LabelledFeatures, ReduceLrOnPlateauOptions, StreamedFeatures, SweepGrid, SweepResult, TrainingData,
} from './train/index.js';

// Data audit: likely label issues (from out-of-fold probabilities) and near-duplicate images (from embeddings)
export { auditLabels } from './audit/label-audit.js';
export type { LabelAudit, LabelIssue } from './audit/label-audit.js';
export { findNearDuplicates } from './audit/near-duplicates.js';
export type { NearDuplicateOptions, NearDuplicates } from './audit/near-duplicates.js';

// Export: one ONNX file for serving anywhere
export { exportClassifier, exportHead } from './export/export-classifier.js';
export type { ExportClassifierOptions, ExportHeadOptions } from './export/export-classifier.js';
export { checkParity } from './export/check-parity.js';
export type { ParityReport } from './export/check-parity.js';
export { readExportedModelInfo } from './export/exported-model-format.js';
export type { ExportedModelInfo } from './export/exported-model-format.js';
export { writeExportedModel } from './export/write-exported-model.js';

// The run folder: one writer, one validating reader
export { readRun } from './run/read-run.js';
export { RUN_FILES, RUN_FORMAT_VERSION } from './run/run-format.js';
export { writeRun } from './run/write-run.js';
export type { RunFiles, RunFolder, RunManifest, RunMetrics, RunRecord, TrainingSummary } from './run/run-format.js';

// Workflows: the one-shot run, predict, evaluate
export { prepareBackbone } from './workflows/prepare-backbone.js';
export type { PrepareBackboneOptions, PreparedBackbone } from './workflows/prepare-backbone.js';
export { runFinetune } from './workflows/run-finetune.js';
export type { RunFinetuneOptions, RunFinetuneResult } from './workflows/run-finetune.js';
export { predict } from './workflows/predict.js';
export type { Prediction, PredictOptions } from './workflows/predict.js';
export { evaluate } from './workflows/evaluate.js';
export type { EvaluateOptions, EvaluationReport } from './workflows/evaluate.js';
export { runSweep } from './workflows/run-sweep.js';
export type { RunSweepOptions, RunSweepResult } from './workflows/run-sweep.js';

// Workflows: embedding only, sharding and merging (scale-out), augmented views
export { embedDataset } from './workflows/embed-dataset.js';
export type { EmbedDatasetOptions, EmbedDatasetResult } from './workflows/embed-dataset.js';
export { parseShard, resolveShard } from './workflows/shard.js';
export { mergeShardCaches, shardCacheStatus } from './workflows/shard-caches.js';
export { exportEmbeddings } from './workflows/export-embeddings.js';
export { embedAugmentedViews } from './workflows/augment-views.js';
export type { AugmentationSummary } from './workflows/augment-views.js';

// Report and browser demo
export { writeReport } from './report/index.js';
export { startServer } from './serve/index.js';
