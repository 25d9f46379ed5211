/**
 * The head trainer: fit a softmax head on cached features (Keras-style Adam/SGD, EarlyStopping,
 * ReduceLROnPlateau), predict with it, fold its standardization for export, sweep hyperparameters, and
 * score predictions. Re-exports only.
 */
// Training
export { fit, sampleViews } from './fit.js';
// Out-of-core: features streamed from a .npy file
export { FeatureFileWriter, openFeatureFile, readLabelFile } from './feature-file.js';
export type { FeatureFile } from './feature-file.js';
export { createWindowBuffers, scanStreamed, selectRows, streamedFeatures, WindowReader } from './streamed-features.js';
export type { DataWindow, WindowBuffers, WindowOptions } from './streamed-features.js';
export { isStreamed } from './training-data.js';
export type { StreamedFeatures, TrainingData } from './training-data.js';
export type { FitResult } from './fit.js';
export { checkFeaturesFinite, NonFiniteFeaturesError, resolveFitOptions } from './fit-options.js';
export type { FitOptions, LabelledFeatures, ResolvedFitOptions, TrainingViews } from './fit-options.js';
export { Adam, applyUpdate, Sgd } from './optimizers.js';
export type { AdamOptions, Optimizer, OptimizerOptions, OptimizerStep, SgdOptions } from './optimizers.js';
export { Callback, CallbackList, EarlyStopping, HIGHER_IS_BETTER, METRIC_NAMES, ReduceLrOnPlateau } from './callbacks.js';
export type { EarlyStoppingOptions, EpochLogs, MetricName, MonitorMode, ReduceLrOnPlateauOptions, TrainingRun } from './callbacks.js';
// Cross-fitting and calibration
export { crossFit, foldSeed } from './cross-fit.js';
export type { CrossFitOptions, CrossFitResult, FoldResult } from './cross-fit.js';
export { stratifiedFolds } from './folds.js';
export { mergeHeads } from './merge-heads.js';
export type { MergeHeadsOptions } from './merge-heads.js';
export { calibrationReport, fitTemperature, meanNegativeLogLikelihood, softmaxWithTemperature } from './calibration.js';
export type { CalibrationReport, ReliabilityBin, TemperatureFit } from './calibration.js';
// History and console text
export { formatEpochLine, formatTrainingSummary } from './history.js';
// Sweeps
export { expandGrid, formatSweepConfig, formatSweepTable, sweep } from './sweep.js';
export { toSharedFeatures } from './train-workers.js';
export type { SweepConfig, SweepGrid, SweepOptions, SweepResult } from './sweep.js';
// Inference, export support and metrics
export { predictLogits, predictProbabilities } from './predict-probabilities.js';
export { fitStandardization, foldStandardization } from './standardization.js';
export type { Standardization } from './standardization.js';
export { softmaxCrossEntropy, softmaxRows } from './loss.js';
export { accuracy, argmaxRow, argmaxRows, classificationReport, confusionMatrix, evaluateProbabilities, wilsonInterval } from './metrics.js';
export type {
  AveragedMetrics, ClassMetrics, ClassificationReport, EvaluateProbabilitiesOptions, EvaluationMetrics, WrongPrediction,
} from './metrics.js';
export { Rng } from '../util/rng.js';
// Dense kernels: the WebAssembly SIMD default and the JS reference
export { jsDenseKernels } from './dense-kernels.js';
export type { DenseKernels, DenseWorkspace, ParameterBlock } from './dense-kernels.js';
export { fastestDenseKernels, isWasmSimdAvailable, wasmDenseKernels } from './wasm-dense-kernels.js';
