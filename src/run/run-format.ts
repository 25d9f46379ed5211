/**
 * The run folder: what `finetune` writes for every training run, as one typed contract. This module owns the file
 * names, the format version and the type of every file's contents; `writeRun` (write-run.ts) is the only writer and
 * `readRun` (read-run.ts) the only reader, so a writer/reader mismatch is a compile error, not a blank report section.
 *
 * Files (RUN_FILES):
 * - `model.onnx`  the deployable model (preprocessing + backbone + head + softmax + labels), when exported
 * - `model.onnx.data` its weights, when they are kept outside it (`--external-data`, and models over 2 GiB)
 * - `head.onnx`   the head alone, on features
 * - `labels.json` {@link RunLabels}
 * - `history.json` / `history.csv`  one {@link EpochLogs} per epoch
 * - `metrics.json` {@link RunMetrics}
 * - `skipped.txt` one `path<TAB>reason` line per {@link SkippedFile}, after a `#` header line
 * - `label-issues.csv` one {@link LabelIssueRow} per likely mislabelled image (cross-fitted runs)
 * - `near-duplicates.csv` one {@link NearDuplicateRow} per image in a near-duplicate cluster
 * - `run.json`    {@link RunManifest}: enough to reproduce the run; written last
 * - `report.html` the optional report (src/report), rendered from the files above
 */
import type { ParityReport } from '../export/check-parity.js';
import type { AugmentSpec } from '../image/augment.js';
import type { SkippedFile } from '../image/scan-dataset.js';
import type { SplitDescription } from '../image/split-dataset.js';
import type { ReliabilityBin } from '../train/calibration.js';
import type { EpochLogs, MetricName } from '../train/callbacks.js';
import type { KernelInitializer } from '../train/fit-options.js';
import type { EvaluationMetrics } from '../train/metrics.js';
import type { Pooling, PreprocessSpec } from '../types.js';

/**
 * Version of the run folder's layout, recorded in run.json as `formatVersion`. Bump it when a file changes in a way
 * an older reader would misread; readRun reads every version up to this one.
 * - 1: the layout before `formatVersion` existed (run.json has no such field).
 * - 2: run.json records `formatVersion`; otherwise as 1.
 * - 3: metrics.json stores a confusion matrix of more than 100 classes sparse (`{ encoding: 'sparse', numClasses,
 *   cells: [[trueClass, predictedClass, count], …] }`, see SparseConfusionMatrix); up to 100 classes it is dense as before.
 * - 4: cross-fitting. metrics.json `training` is null for a cross-fitted head and `crossFit`, `crossValidation`,
 *   `testCalibration`, `labelAudit`, `nearDuplicates` may be present; history.json rows carry `fold`; run.json has
 *   `crossFit`; label-issues.csv and near-duplicates.csv are new.
 */
export const RUN_FORMAT_VERSION = 4;

/** Names of the files in a run folder. */
export const RUN_FILES = {
  model: 'model.onnx',
  modelData: 'model.onnx.data',
  head: 'head.onnx',
  labels: 'labels.json',
  historyJson: 'history.json',
  historyCsv: 'history.csv',
  metrics: 'metrics.json',
  skipped: 'skipped.txt',
  labelIssues: 'label-issues.csv',
  nearDuplicates: 'near-duplicates.csv',
  manifest: 'run.json',
  report: 'report.html',
} as const;

export type RunFileKey = keyof typeof RUN_FILES;

/** Absolute paths of the files a run folder holds (or that writeRun wrote), by key. */
export type RunFiles = { readonly [K in RunFileKey]?: string };

/** labels.json. */
export interface RunLabels {
  /** Class names in index order. */
  readonly classNames: readonly string[];
}

/** metrics.json `training` (also stored in the exported model's metadata): how training went and ended. */
export interface TrainingSummary {
  /** Epochs requested. */
  readonly epochs: number;
  /** Epoch with the best monitored value (1-based); null if no epoch was monitored. */
  readonly bestEpoch: number | null;
  /** Epoch whose weights were put back at the end; null if none were. */
  readonly restoredEpoch: number | null;
  /** Epoch whose weights were exported: `restoredEpoch`, else the last completed epoch. */
  readonly keptEpoch: number;
  /** Last epoch that ran. */
  readonly stoppedEpoch: number;
  readonly stopReason: string;
  /** The metric that picked the best epoch, e.g. `valLoss`. */
  readonly monitor: MetricName;
  /** Accuracy of the kept weights on the validation split; null without one. */
  readonly validationAccuracy: number | null;
}

/** One fold of a cross-fitted head: its training summary (validationAccuracy is the held-out fold's) and sizes. */
export interface FoldSummary extends TrainingSummary {
  /** 1-based. */
  readonly fold: number;
  readonly seed: number;
  readonly trainCount: number;
  readonly heldOutCount: number;
  /** Mean cross-entropy of the kept weights on the held-out fold. */
  readonly heldOutLoss: number;
}

/** metrics.json `crossFit`: how the head was cross-fitted. */
export interface CrossFitSummary {
  readonly folds: number;
  readonly seed: number;
  readonly kernelInitializer: KernelInitializer;
  /** Mean out-of-fold cross-entropy before calibration (what sweeps rank by). */
  readonly cvLoss: number;
  readonly foldResults: readonly FoldSummary[];
}

/** Expected calibration error before and after temperature scaling, with the reliability diagram's bins. */
export interface CalibrationSummary {
  /** The temperature folded into the exported last layer (1 = none). */
  readonly temperature: number;
  readonly eceBefore: number;
  readonly eceAfter: number;
  /** Mean negative log-likelihood before and after scaling. */
  readonly nllBefore: number;
  readonly nllAfter: number;
  /** 15 equal-width confidence bins. */
  readonly reliabilityBefore: readonly ReliabilityBin[];
  readonly reliabilityAfter: readonly ReliabilityBin[];
}

/** A class's share of right predictions (its recall) with a 95 % Wilson interval. */
export interface ClassAccuracy {
  readonly className: string;
  readonly accuracy: number;
  readonly interval: Interval;
  readonly support: number;
}

/** metrics.json `crossValidation`: every labelled image predicted by the fold head that never saw it. */
export interface CrossValidationMetrics extends EvaluationMetrics {
  readonly folds: number;
  /** 95 % Wilson interval of `accuracy`. */
  readonly accuracyInterval: Interval;
  readonly perClassAccuracy: readonly ClassAccuracy[];
  /** Out of fold: the temperature is fitted here. */
  readonly calibration: CalibrationSummary;
}

/** metrics.json `labelAudit` (the images are in label-issues.csv). */
export interface LabelAuditSummary {
  readonly issues: number;
  /** Per class, the mean out-of-fold self-confidence used as its threshold. */
  readonly thresholds: readonly (number | null)[];
}

/** metrics.json `nearDuplicates` (the images are in near-duplicates.csv). */
export interface NearDuplicateSummary {
  /** Cosine similarity of the embeddings that counts as a near duplicate. */
  readonly threshold: number;
  readonly clusters: number;
  readonly images: number;
  /** Clusters holding both training (or validation) and test images: they inflate test accuracy. */
  readonly crossSplitClusters: number;
}

/** metrics.json. */
export interface RunMetrics {
  /** How training went; null for a cross-fitted head (see `crossFit`). */
  readonly training: TrainingSummary | null;
  readonly crossFit: CrossFitSummary | null;
  readonly crossValidation: CrossValidationMetrics | null;
  /** null when the run had no validation split (always when cross-fitted). */
  readonly validation: EvaluationMetrics | null;
  /** Present only with `--test` (the key is left out of metrics.json otherwise). */
  readonly test: EvaluationMetrics | null;
  /** Calibration of the exported probabilities on the test images (cross-fitted runs with `--test`). */
  readonly testCalibration: CalibrationSummary | null;
  readonly labelAudit: LabelAuditSummary | null;
  readonly nearDuplicates: NearDuplicateSummary | null;
}

/** A [low, high] interval. */
export type Interval = readonly [number, number];

/** Header of label-issues.csv. */
export const LABEL_ISSUE_COLUMNS = ['path', 'givenClass', 'suggestedClass', 'givenProbability', 'suggestedProbability'] as const;
/** Header of near-duplicates.csv. */
export const NEAR_DUPLICATE_COLUMNS = ['cluster', 'split', 'path'] as const;

/** One row of label-issues.csv, most contradicted first. */
export interface LabelIssueRow {
  readonly path: string;
  readonly givenClass: string;
  readonly suggestedClass: string;
  /** Out-of-fold (calibrated) probability of the given and the suggested class. */
  readonly givenProbability: number;
  readonly suggestedProbability: number;
}

/** Which labelled set an image belongs to. */
export type ImageSplit = 'train' | 'validation' | 'test';

/** One row of near-duplicates.csv: an image and its cluster (1-based, largest cluster first). */
export interface NearDuplicateRow {
  readonly cluster: number;
  readonly split: ImageSplit;
  readonly path: string;
}

/** One row of history.json: an epoch, and the fold it belongs to when the head was cross-fitted. */
export type RunHistoryEntry = EpochLogs & { readonly fold?: number };

/** run.json `data`: the labelled images the run used. */
export interface RunDataDescription {
  /** The dataset folder, or the folder holding the manifest. */
  readonly source: string;
  readonly kind: 'folder' | 'manifest';
  readonly classNames: readonly string[];
  /** Images found (before any failed to embed). */
  readonly images: number;
  /** Files skipped (listed in skipped.txt). */
  readonly skipped: number;
  /** sha256 over the sorted `relativePath, label, image sha256` lines of the embedded images. */
  readonly fingerprint: string;
}

/** run.json `backbone`. */
export interface RunBackbone {
  readonly id: string;
  readonly sha256: string;
  readonly path: string;
  readonly featureTensor: string;
  readonly embeddingDim: number;
  readonly pooling: Pooling;
  readonly dequantized: boolean;
}

/** run.json `augmentation`: the training-set augmentation and its view cache. */
export interface AugmentationSummary {
  readonly spec: AugmentSpec;
  /** augmentSpecKey(spec): the spec in canonical form. */
  readonly specKey: string;
  /** describeAugmentSpec(spec), e.g. `flip p=0.5, crop scale 0.5–1 ratio 0.75–1.33`. */
  readonly description: string;
  readonly views: number;
  readonly seed: number;
  /** Training images augmented (validation and test images never are). */
  readonly trainImages: number;
  readonly cacheHits: number;
  readonly computed: number;
  readonly failed: number;
  /** Cache variant of view v at index v − 1. */
  readonly variants: readonly string[];
  /** Size of the views matrix the trainer reads (numImages × views × embeddingDim × 4 bytes). */
  readonly featureBytes: number;
  readonly seconds: number;
}

/** run.json `export`: how model.onnx was made and verified. */
export interface RunExport {
  readonly withPreprocessing: boolean;
  /** The requested opset; null for the backbone's. */
  readonly opset: number | null;
  /** null when there were no validation images to check with. */
  readonly parity: ParityReport | null;
}

/** run.json `timings`, in seconds. */
export interface RunTimings {
  readonly embedSeconds: number;
  readonly trainSeconds: number;
  readonly exportSeconds: number;
  readonly totalSeconds: number;
}

/** run.json `cache`: the embedding cache's part in the run. */
export interface RunCacheStats {
  readonly hits: number;
  readonly computed: number;
  readonly backboneBatches: number;
  readonly extractorKey: string;
  /** Execution provider that ran the backbone; null when every embedding came from the cache. */
  readonly provider: string | null;
}

/** run.json `crossFit`. */
export interface RunCrossFit {
  readonly folds: number;
  /** Seed of each fold's fit, fold 1 first (derived from the run's seed). */
  readonly foldSeeds: readonly number[];
  readonly kernelInitializer: KernelInitializer;
  readonly calibrate: boolean;
}

/** run.json: enough to reproduce the run. */
export interface RunManifest {
  /** {@link RUN_FORMAT_VERSION} of the writer; 1 for folders written before the field existed. */
  readonly formatVersion: number;
  readonly tool: { readonly name: string; readonly version: string };
  /** ISO time the run finished. */
  readonly createdAt: string;
  /** The command line's flags, when the run came from the CLI. */
  readonly args: Readonly<Record<string, unknown>> | null;
  readonly data: RunDataDescription;
  readonly backbone: RunBackbone;
  readonly preprocess: PreprocessSpec;
  readonly split: SplitDescription & { readonly validationFiles: readonly string[] };
  /** The optimizer's configuration, the seed and the trainer options as given. */
  readonly hyperparameters: Readonly<Record<string, unknown>>;
  readonly augmentation: AugmentationSummary | null;
  /** null for a cross-fitted head (see `crossFit`). */
  readonly training: TrainingSummary | null;
  /** Folds, their seeds and the initializer of a cross-fitted head; null for a single split. */
  readonly crossFit: RunCrossFit | null;
  /** null when only head.onnx was written. */
  readonly export: RunExport | null;
  readonly timings: RunTimings;
  readonly cache: RunCacheStats;
  /** Node, platform and the native packages' versions. */
  readonly versions: Readonly<Record<string, string | null>>;
}

/** Everything writeRun writes. report.html is not part of it: the report is rendered from a written run. */
export interface RunRecord {
  /**
   * run.json, written last as the mark of a finished run; writeRun stamps `formatVersion` itself. null for a run that
   * failed after training (e.g. in export): its other files are kept, and readRun reads it as unfinished.
   */
  readonly manifest: Omit<RunManifest, 'formatVersion'> | null;
  readonly labels: RunLabels;
  readonly history: readonly RunHistoryEntry[];
  readonly metrics: RunMetrics;
  readonly skipped: readonly SkippedFile[];
  /** label-issues.csv; null to leave it out (runs without out-of-fold predictions). */
  readonly labelIssues: readonly LabelIssueRow[] | null;
  /** near-duplicates.csv; null to leave it out. */
  readonly nearDuplicates: readonly NearDuplicateRow[] | null;
  /** Encoded head.onnx; null to leave it out. */
  readonly head: Uint8Array | null;
  /**
   * model.onnx: encoded bytes, or the files the export already wrote in place (streamed and verified there, with
   * `model.onnx.data` when the weights are external); null when the run exported no model.
   */
  readonly model: Uint8Array | ModelFilesInPlace | null;
}

/** model.onnx (and model.onnx.data) as the export wrote them into the run folder: writeRun records them. */
export interface ModelFilesInPlace {
  readonly path: string;
  readonly externalDataPath: string | null;
}

/**
 * A run folder as readRun returns it: each part is null when its file is absent (a run that stopped early, or a
 * folder from an older version). The model files are large and not read: `files` gives their paths.
 */
export interface RunFolder {
  /** Absolute path of the folder. */
  readonly dir: string;
  /** From run.json; {@link RUN_FORMAT_VERSION} when there is no run.json. */
  readonly formatVersion: number;
  readonly manifest: RunManifest | null;
  readonly labels: RunLabels | null;
  readonly history: readonly RunHistoryEntry[] | null;
  readonly metrics: RunMetrics | null;
  readonly skipped: readonly SkippedFile[] | null;
  readonly labelIssues: readonly LabelIssueRow[] | null;
  readonly nearDuplicates: readonly NearDuplicateRow[] | null;
  /** The files present. */
  readonly files: RunFiles;
}
