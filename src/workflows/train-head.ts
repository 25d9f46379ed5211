/**
 * The head stage of a run: cross-fitting by default (K folds, out-of-fold metrics with Wilson intervals, temperature
 * scaling, the label audit), or one `fit` on a single train/validation split (`folds: 1`, the Keras recipe).
 * The features may be in memory or streamed from a feature file (out-of-core, see out-of-core.ts); the two give
 * the same results up to the window shuffle.
 */
import { auditLabels } from '../audit/label-audit.js';
import type {
  CalibrationSummary, CrossFitSummary, CrossValidationMetrics, LabelAuditSummary, LabelIssueRow, RunHistoryEntry,
  TrainingSummary,
} from '../run/run-format.js';
import { summarizeTraining } from '../run/write-run.js';
import type { CalibrationReport, TemperatureFit } from '../train/calibration.js';
import { crossFit } from '../train/cross-fit.js';
import type { CrossFitResult } from '../train/cross-fit.js';
import { fit } from '../train/fit.js';
import type { FitOptions, FitResult, LabelledFeatures, TrainingViews } from '../train/fit.js';
import { evaluateProbabilities, wilsonInterval } from '../train/metrics.js';
import type { EvaluationMetrics } from '../train/metrics.js';
import { predictProbabilities } from '../train/predict-probabilities.js';
import { copyRows } from '../util/copy-rows.js';
import type { WindowOptions } from '../train/streamed-features.js';
import { mapRows, readRows } from '../train/streamed-rows.js';
import { isStreamed } from '../train/training-data.js';
import type { TrainingData } from '../train/training-data.js';
import type { HeadWeights, ProgressCallback } from '../types.js';

/** Trainer options of a run (the run supplies the data, classes, views and progress). */
export type TrainOptions = Omit<FitOptions, 'validation' | 'numClasses' | 'classNames' | 'onProgress' | 'callbacks' | 'kernels' | 'views'>;

/** Labelled features with the image path of each row. */
export interface LabelledImages extends LabelledFeatures {
  readonly paths: readonly string[];
}

/** Training data of either kind (in memory or streamed from a feature file) with the image path of each row. */
export type TrainingImages = TrainingData & { readonly paths: readonly string[] };

export interface TrainHeadOptions {
  /** Folds K; 1 trains once on `train` and early-stops on `validation`. */
  readonly folds: number;
  /** Fit temperature scaling on the out-of-fold logits (folds ≥ 2). */
  readonly calibrate: boolean;
  readonly seed: number;
  readonly classNames: readonly string[];
  readonly train?: TrainOptions | undefined;
  /** Augmented views of the training rows. */
  readonly views: TrainingViews | null;
  readonly onProgress: ProgressCallback;
}

export interface TrainedHead {
  /** The head to export (cross-fitted: the mean of the fold heads, calibrated). */
  readonly head: HeadWeights;
  /** The single-split fit; null when cross-fitted. */
  readonly fit: FitResult | null;
  readonly crossFit: CrossFitResult | null;
  readonly history: readonly RunHistoryEntry[];
  readonly training: TrainingSummary | null;
  readonly crossFitSummary: CrossFitSummary | null;
  readonly validation: EvaluationMetrics | null;
  readonly crossValidation: CrossValidationMetrics | null;
  readonly labelAudit: LabelAuditSummary | null;
  readonly labelIssues: readonly LabelIssueRow[] | null;
  /** Images to check the exported model on, with their cached features, labels and the trainer's probabilities (exported head). */
  readonly parity: {
    readonly paths: readonly string[]; readonly features: Float32Array; readonly labels: ArrayLike<number>; readonly probabilities: Float32Array;
  } | null;
  /** The optimizer configuration of the (first) fit, for run.json. */
  readonly optimizer: Readonly<Record<string, number | boolean | string>>;
  /** What the exported model's metadata records about training. */
  readonly metadataSummary: object;
}

/** Images the cross-fitted export is checked on: up to this many labelled images, spread over the data. */
const PARITY_IMAGES = 32;

export async function trainHead(train: TrainingImages, validation: TrainingImages | null, options: TrainHeadOptions): Promise<TrainedHead> {
  const { classNames, onProgress, seed } = options;
  const numClasses = classNames.length;
  const fitOptions = { seed, ...options.train, numClasses, classNames, onProgress, views: options.views };
  // The streamed passes after fit use fit's window settings (WindowOptions fields of the trainer options).
  const windowOptions: WindowOptions = options.train ?? {};
  if (options.folds === 1) {
    const result = await fit(train, { ...fitOptions, validation });
    const probabilities = validation
      ? await mapRows(validation, numClasses, (features, rows) => predictProbabilities(result.head, features, rows), windowOptions) : null;
    const metrics = validation && probabilities ? evaluateProbabilities(probabilities, validation.labels, validation.paths, classNames) : null;
    const training = summarizeTraining(result, metrics?.accuracy ?? null);
    return {
      head: result.head, fit: result, crossFit: null, history: result.history, training, crossFitSummary: null,
      validation: metrics, crossValidation: null, labelAudit: null, labelIssues: null,
      parity: validation && probabilities && validation.numSamples > 0 ? await parityImages(validation, probabilities, numClasses) : null,
      optimizer: result.optimizer, metadataSummary: training,
    };
  }

  const result = await crossFit(train, { ...fitOptions, folds: options.folds, calibrate: options.calibrate });
  const crossValidation = crossValidationMetrics(result, train, classNames);
  const audit = auditLabels(result.oofProbabilities, train.labels, numClasses);
  const labelIssues = audit.issues.map((issue): LabelIssueRow => ({
    path: train.paths[issue.row]!, givenClass: classNames[issue.givenLabel]!, suggestedClass: classNames[issue.suggestedLabel]!,
    givenProbability: issue.givenProbability, suggestedProbability: issue.suggestedProbability,
  }));
  const crossFitSummary: CrossFitSummary = {
    folds: options.folds, seed, kernelInitializer: result.kernelInitializer, cvLoss: result.cvLoss,
    foldResults: result.folds.map((fold) => ({
      ...summarizeTraining(fold.fit, fold.heldOutAccuracy), fold: fold.fold, seed: fold.seed, trainCount: fold.trainCount,
      heldOutCount: fold.heldOutCount, heldOutLoss: fold.heldOutLoss,
    })),
  };
  const parityRows = spreadRows(train.numSamples, PARITY_IMAGES);
  const parityFeatures = (await readRows(train, parityRows)).features;
  return {
    head: result.head, fit: null, crossFit: result,
    history: result.folds.flatMap((fold) => fold.fit.history.map((logs): RunHistoryEntry => ({ fold: fold.fold, ...logs }))),
    training: null, crossFitSummary, validation: null, crossValidation,
    labelAudit: { issues: labelIssues.length, thresholds: audit.thresholds.map((value) => (Number.isFinite(value) ? value : null)) },
    labelIssues,
    parity: {
      paths: parityRows.map((row) => train.paths[row]!), features: parityFeatures, labels: parityRows.map((row) => train.labels[row]!),
      probabilities: predictProbabilities(result.head, parityFeatures, parityRows.length),
    },
    optimizer: result.folds[0]!.fit.optimizer,
    metadataSummary: {
      folds: options.folds, crossValidatedAccuracy: crossValidation.accuracy, accuracyInterval: crossValidation.accuracyInterval,
      temperature: result.temperature, kernelInitializer: crossFitSummary.kernelInitializer,
    },
  };
}

/**
 * The images the export is checked on: every validation image when its features are in memory; when they are
 * streamed, up to PARITY_IMAGES of them spread over the split (read from the file).
 */
async function parityImages(validation: TrainingImages, probabilities: Float32Array, numClasses: number): Promise<NonNullable<TrainedHead['parity']>> {
  if (!isStreamed(validation)) return { paths: validation.paths, features: validation.features, labels: validation.labels, probabilities };
  const rows = spreadRows(validation.numSamples, PARITY_IMAGES);
  const picked = await readRows(validation, rows);
  return { paths: rows.map((row) => validation.paths[row]!), features: picked.features, labels: picked.labels,
    probabilities: copyRows(probabilities, numClasses, rows) };
}

/** Out-of-fold metrics: accuracy and per-class accuracy with 95 % Wilson intervals, and the calibration. */
function crossValidationMetrics(result: CrossFitResult, train: TrainingImages, classNames: readonly string[]): CrossValidationMetrics {
  const metrics = evaluateProbabilities(result.oofProbabilities, train.labels, train.paths, classNames);
  const correct = Math.round(metrics.accuracy * metrics.n);
  return {
    ...metrics,
    folds: result.folds.length,
    accuracyInterval: wilsonInterval(correct, metrics.n),
    perClassAccuracy: metrics.perClass.map((entry) => ({
      className: entry.className, accuracy: entry.recall, support: entry.support,
      interval: wilsonInterval(Math.round(entry.recall * entry.support), entry.support),
    })),
    calibration: calibrationSummary({ temperature: result.temperature, nllBefore: result.nllBefore, nllAfter: result.nllAfter },
      result.calibrationBefore, result.calibrationAfter),
  };
}

export function calibrationSummary(fitted: TemperatureFit, before: CalibrationReport, after: CalibrationReport): CalibrationSummary {
  return {
    temperature: fitted.temperature, eceBefore: before.ece, eceAfter: after.ece, nllBefore: fitted.nllBefore, nllAfter: fitted.nllAfter,
    reliabilityBefore: before.bins, reliabilityAfter: after.bins,
  };
}

/** Up to `count` rows of `numRows`, evenly spread, ascending. */
function spreadRows(numRows: number, count: number): number[] {
  const step = Math.max(1, numRows / count);
  const rows: number[] = [];
  for (let position = 0; Math.floor(position) < numRows && rows.length < count; position += step) rows.push(Math.floor(position));
  return rows;
}
