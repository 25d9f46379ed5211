/**
 * The options of `fit`: the input data types, the option interface with its documented defaults, and their
 * validation against the data (`resolveFitOptions`, one place where defaults are filled in with `??`).
 */
import { availableParallelism } from 'node:os';
import { FinetuneError, nearestNames } from '../errors.js';
import type { ProgressCallback } from '../types.js';
import {
  METRIC_NAMES, type Callback, type EarlyStoppingOptions, type MetricName, type ReduceLrOnPlateauOptions,
} from './callbacks.js';
import type { DenseKernels } from './dense-kernels.js';
import type { Standardization } from './standardization.js';

import { isStreamed, type LabelledFeatures, type TrainingData } from './training-data.js';

export type { LabelledFeatures, StreamedFeatures, TrainingData } from './training-data.js';

/**
 * Cached augmented views of the training rows (see `embedAugmentedViews`). Each epoch the trainer draws, for every
 * training image, one candidate uniformly among its original row and its available views (seeded, its own PRNG
 * stream), so an epoch still has one step per original image and `epochs` means what it means without
 * augmentation. The matrix is read in place, never copied.
 */
export interface TrainingViews {
  /**
   * [numSamples × numViews × embeddingDim] row-major: view v (1-based, v ≤ numViews) of training row i starts at
   * `(i · numViews + v − 1) · embeddingDim`. View 0 is the original row of `train.features`.
   */
  readonly features: Float32Array;
  /** Augmented views per image (K); with the original there are K + 1 candidates. */
  readonly numViews: number;
  /** [numSamples × numViews], 1 where the view was embedded; a 0 (e.g. an image that failed to augment) is never drawn. @defaultValue all available */
  readonly available?: Uint8Array | null;
}

/**
 * How the head's weights start: `glorot-uniform` (Keras's default), `pytorch` (torch.nn.Linear's default) or
 * `zeros` (the output layer starts at zero: every class equally likely; hidden layers of an MLP stay Glorot-uniform).
 * See Network.initialize.
 */
export type KernelInitializer = 'glorot-uniform' | 'pytorch' | 'zeros';
export const KERNEL_INITIALIZERS = ['glorot-uniform', 'pytorch', 'zeros'] as const satisfies readonly KernelInitializer[];
/**
 * Zero: measured best (scripts/experiments/cross-fit.ts, README). Early stopping fires after a few epochs on small
 * data, so random initial weights are still largely noise when training stops; a zero output layer starts from
 * "every class equally likely" and moves only where the data pushes it. Keras uses Glorot-uniform
 * (`--kernel-initializer glorot-uniform` for Keras-exact runs).
 */
export const DEFAULT_KERNEL_INITIALIZER: KernelInitializer = 'zeros';

/** Options of `fit`, named after the CLI flags (`--learning-rate` → `learningRate`). All serializable except the last three. */
export interface FitOptions {
  /** Held-out split for valLoss/valAccuracy. @defaultValue `null` */
  validation?: TrainingData | null;
  /**
   * Augmented views of the training rows (never of validation), sampled one per image per epoch; standardization
   * still comes from the original rows, the distribution the exported model sees. @defaultValue `null`
   */
  views?: TrainingViews | null;
  /** @defaultValue `classNames.length`, else the largest training label + 1 */
  numClasses?: number;
  /** Names by class index; used in messages and by `classWeight` keys. */
  classNames?: readonly string[];
  /** Hidden layer sizes of a ReLU MLP (`--hidden 256,128`); `[]` is a linear softmax head. @defaultValue `[]` */
  hidden?: readonly number[];
  /** Initial weights (`--kernel-initializer`); see {@link KernelInitializer} and DEFAULT_KERNEL_INITIALIZER. @defaultValue `'zeros'` */
  kernelInitializer?: KernelInitializer;
  /**
   * Dropout rate (inverted dropout, seeded). Applied after every hidden ReLU; for a linear head it is applied to
   * the standardized features, as in the Keras transfer-learning guide (pooling → Dropout → Dense). @defaultValue `0`
   */
  dropout?: number;
  /** Keras label smoothing: targets become `onehot·(1 − s) + s/numClasses`. @defaultValue `0` */
  labelSmoothing?: number;
  /**
   * Loss weight per class (Keras `class_weight`, training loss only). `'balanced'` uses
   * numSamples / (numClasses · count[k]) as scikit-learn does; a record maps class indices or class names to
   * weights, and classes it leaves out weigh 1. @defaultValue `null`
   */
  classWeight?: 'balanced' | Readonly<Record<string, number>> | null;
  /** Standardize features with the training split's mean/std (folded into the first layer at export). @defaultValue `true` */
  standardize?: boolean;
  /**
   * Mean/std to standardize with, instead of computing them from the training rows (a sweep computes them once
   * for all its configs; out-of-core training in one streaming pass). Ignored when `standardize` is false.
   * @defaultValue computed from the training rows
   */
  standardization?: Standardization | null;
  /** @defaultValue `'adam'` */
  optimizer?: 'adam' | 'sgd';
  /** @defaultValue `0.001` */
  learningRate?: number;
  /** Adam β1. @defaultValue `0.9` */
  beta1?: number;
  /** Adam β2. @defaultValue `0.999` */
  beta2?: number;
  /** Adam ε in Keras placement (added to √v before bias correction; see `AdamOptions.epsilon`). @defaultValue `1e-7` */
  epsilon?: number;
  /** @defaultValue `false` */
  amsgrad?: boolean;
  /** Decoupled weight decay (AdamW style; for SGD too, as in Keras). @defaultValue `0` */
  weightDecay?: number;
  /** SGD momentum. @defaultValue `0` */
  momentum?: number;
  /** SGD Nesterov momentum. @defaultValue `false` */
  nesterov?: boolean;
  /** Rows per gradient step; the last batch of an epoch may be smaller. @defaultValue `32` */
  batchSize?: number;
  /** @defaultValue `50` */
  epochs?: number;
  /** Seeds initialization, shuffling and dropout: same seed and data → bit-identical weights and history. @defaultValue `42` */
  seed?: number;
  /**
   * Early stopping (Keras semantics, see EarlyStopping); `null` disables it. The default monitor is `valLoss`
   * when there is a validation split, else `loss`. @defaultValue `{}` (patience 5, restoreBestWeights true)
   */
  earlyStopping?: EarlyStoppingOptions | null;
  /** ReduceLROnPlateau (Keras semantics); `null` disables it. Default monitor as for earlyStopping. @defaultValue `null` */
  reduceLrOnPlateau?: ReduceLrOnPlateauOptions | null;
  /** Extra callbacks, run after the built-in ones in order. Not available in worker-thread sweeps. */
  callbacks?: readonly Callback[];
  /**
   * Receives `epoch` and `done` events, and within long epochs `batch` events (steps done, ETA, running loss)
   * once an epoch has run `progressIntervalMs`, then at most every `progressIntervalMs`.
   */
  onProgress?: ProgressCallback;
  /** @defaultValue `1000` */
  progressIntervalMs?: number;
  /**
   * Out-of-core training (features streamed from a file): bytes for the two window buffers that rows are read
   * into; a larger window shuffles over more of the file (see streamed-features.ts). Data in memory ignores it.
   * @defaultValue `512 MiB`
   */
  memoryBudgetBytes?: number;
  /** Out-of-core training: rows per block, the unit of reading and of the block shuffle. @defaultValue `1024` */
  blockRows?: number;
  /** Dense kernels to use; tests swap in the reference kernels. @defaultValue the fastest available */
  kernels?: DenseKernels;
  /**
   * Threads for the kernels of this fit: the matrix products of wide layers (about a million multiply-adds per
   * batch or more, e.g. 1,280 × 1,000 classes) are split by output across them; the results do not depend on
   * the count. @defaultValue `os.availableParallelism()`; 1 inside sweep workers, which already use every core
   */
  threads?: number;
}

/** Everything `fit` needs, validated and with defaults filled in. */
export interface ResolvedFitOptions {
  readonly numClasses: number;
  readonly classNames: readonly string[] | null;
  readonly hidden: readonly number[];
  readonly kernelInitializer: KernelInitializer;
  readonly dropout: number;
  readonly labelSmoothing: number;
  readonly classWeights: Float32Array | null;
  readonly standardize: boolean;
  readonly optimizer: 'adam' | 'sgd';
  readonly learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly amsgrad: boolean;
  readonly weightDecay: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly batchSize: number;
  readonly epochs: number;
  readonly seed: number;
  readonly earlyStopping: EarlyStoppingOptions | null;
  readonly reduceLrOnPlateau: ReduceLrOnPlateauOptions | null;
  readonly monitor: MetricName;
  readonly threads: number;
  readonly memoryBudgetBytes: number;
  readonly blockRows: number;
}

function invalid(flag: string, message: string, hint: string): FinetuneError {
  return new FinetuneError('INVALID_OPTION', message, hint.replace('%flag', `--${flag}`));
}

function checkData(name: string, data: TrainingData): void {
  const { labels, numSamples, embeddingDim } = data;
  if (!(isStreamed(data) || data.features instanceof Float32Array) || !(labels instanceof Int32Array))
    throw new TypeError(`fit: '${name}' needs features as a Float32Array (or a feature file) and labels as an Int32Array.`);
  if (!Number.isInteger(numSamples) || !Number.isInteger(embeddingDim) || embeddingDim < 1 || numSamples < 0)
    throw new RangeError(`fit: '${name}' has numSamples ${numSamples} and embeddingDim ${embeddingDim}; both must be integers (embeddingDim ≥ 1).`);
  if (isStreamed(data)) {
    if (data.file.embeddingDim !== embeddingDim || (data.rows?.length ?? data.file.numRows) !== numSamples)
      throw new RangeError(`fit: '${name}' says ${numSamples} × ${embeddingDim} but its file "${data.file.path}" gives ${data.rows?.length ?? data.file.numRows} × ${data.file.embeddingDim}.`);
  } else if (data.features.length !== numSamples * embeddingDim)
    throw new RangeError(`fit: '${name}'.features has ${data.features.length} values, expected numSamples × embeddingDim = ${numSamples} × ${embeddingDim} = ${numSamples * embeddingDim}.`);
  if (labels.length !== numSamples)
    throw new RangeError(`fit: '${name}'.labels has ${labels.length} entries, expected numSamples = ${numSamples}.`);
}

function checkViews(views: TrainingViews, train: LabelledFeatures): void {
  const { features, numViews, available } = views;
  if (!(features instanceof Float32Array)) throw new TypeError(`fit: 'views.features' must be a Float32Array.`);
  if (!(Number.isInteger(numViews) && numViews >= 1))
    throw new RangeError(`fit: 'views.numViews' must be a positive integer, got ${numViews}.`);
  const expected = train.numSamples * numViews * train.embeddingDim;
  if (features.length !== expected)
    throw new RangeError(`fit: 'views.features' has ${features.length} values, expected numSamples × numViews × embeddingDim = ` +
      `${train.numSamples} × ${numViews} × ${train.embeddingDim} = ${expected}.`);
  if (available !== undefined && available !== null) {
    if (!(available instanceof Uint8Array)) throw new TypeError(`fit: 'views.available' must be a Uint8Array.`);
    if (available.length !== train.numSamples * numViews)
      throw new RangeError(`fit: 'views.available' has ${available.length} entries, expected numSamples × numViews = ${train.numSamples * numViews}.`);
  }
}

function resolveClassWeights(option: FitOptions['classWeight'], train: TrainingData, numClasses: number,
  classNames: readonly string[] | null): Float32Array | null {
  if (option === null || option === undefined) return null;
  const weights = new Float32Array(numClasses).fill(1);
  if (option === 'balanced') {
    const counts = new Float64Array(numClasses);
    for (let i = 0; i < train.numSamples; i++) counts[train.labels[i]!]!++;
    for (let k = 0; k < numClasses; k++) if (counts[k]! > 0) weights[k] = train.numSamples / (numClasses * counts[k]!);
    return weights;
  }
  if (typeof option !== 'object')
    throw invalid('class-weight', `Class weights must be "balanced" or an object of weights, got ${JSON.stringify(option)}.`,
      'Pass %flag balanced or a JSON object such as \'{"0": 1, "1": 4}\'.');
  for (const [key, value] of Object.entries(option)) {
    let k = classNames === null ? -1 : classNames.indexOf(key);
    if (k === -1 && /^\d+$/.test(key)) k = Number(key);
    if (!(k >= 0 && k < numClasses)) {
      const known = classNames ?? Array.from({ length: numClasses }, (_, i) => String(i));
      throw invalid('class-weight', `Class weight key "${key}" is not a class index 0..${numClasses - 1}${classNames ? ' or a class name' : ''}.`,
        `Use one of: ${nearestNames(key, known).join(', ')}.`);
    }
    if (!(typeof value === 'number' && Number.isFinite(value) && value >= 0))
      throw invalid('class-weight', `Class weight for "${key}" must be a finite number ≥ 0, got ${JSON.stringify(value)}.`, 'Fix the value in %flag.');
    weights[k] = value;
  }
  return weights;
}

const plural = (count: number, word: string): string => `${count} ${word}${count === 1 ? '' : 's'}`;

/** `rows 0, 4, 8, … (15 more)`: the first `limit` entries, then how many were left out. */
function listRows(entries: readonly string[], total: number, limit = 10): string {
  const shown = entries.slice(0, limit).join(', ');
  return total > limit ? `${shown}, … (${total - limit} more)` : shown;
}

/** The part of the data that holds NaN or ±Infinity: which rows, and how many values of each kind. */
export class NonFiniteFeaturesError extends FinetuneError {
  constructor(
    /** Which input: `'training'`, `'validation'` or `'augmented views'` (of the training rows). */
    readonly split: 'training' | 'validation' | 'augmented views',
    /** Every row (sample index) holding a non-finite value, ascending. */
    readonly rows: readonly number[],
    readonly nanCount: number,
    readonly infinityCount: number,
    numRows: number,
  ) {
    const what = split === 'augmented views' ? 'augmented views of the training rows' : `${split} features`;
    super('DATASET_INVALID',
      `The ${what} hold ${plural(nanCount + infinityCount, 'non-finite value')} (${nanCount} NaN, ${infinityCount} ±Infinity) ` +
      `in ${rows.length} of ${numRows} rows: ${rows.length === 1 ? 'row' : 'rows'} ${listRows(rows.map(String), rows.length)}.`,
      'The backbone produced NaN/Infinity for these images: check the model and its preprocessing (`finetune inspect`), ' +
      'drop the stored vectors (`finetune cache prune --extractor <key>`) and embed again; if you built the features ' +
      'yourself, fix or drop those rows.');
  }
}

/**
 * Throws NonFiniteFeaturesError when a row fit will read holds NaN or ±Infinity. One fast pass (a float64 sum is
 * finite exactly when every float32 summand is, up to ~10^270 values); rows are located only when it is not.
 * With `rowLength > segmentLength` a row has several segments (views) and `available` says which are read.
 */
function checkFinite(split: NonFiniteFeaturesError['split'], features: Float32Array, numRows: number, segmentLength: number,
  segmentsPerRow = 1, available: Uint8Array | null = null): void {
  let sum = 0;
  for (let i = 0; i < features.length; i++) sum += features[i]!;
  if (Number.isFinite(sum)) return;
  const rows: number[] = [];
  let nanCount = 0, infinityCount = 0;
  for (let row = 0; row < numRows; row++) {
    let rowBad = false;
    for (let segment = 0; segment < segmentsPerRow; segment++) {
      if (available !== null && available[row * segmentsPerRow + segment] === 0) continue;
      const start = (row * segmentsPerRow + segment) * segmentLength;
      for (let i = start; i < start + segmentLength; i++) {
        const value = features[i]!;
        if (Number.isFinite(value)) continue;
        rowBad = true;
        if (Number.isNaN(value)) nanCount++; else infinityCount++;
      }
    }
    if (rowBad) rows.push(row);
  }
  if (rows.length > 0) throw new NonFiniteFeaturesError(split, rows, nanCount, infinityCount, numRows);
}

/**
 * Every value fit will read is finite: the training and validation features and the available augmented views.
 * O(values); `sweep` runs it once for all its configs. Streamed data is checked by its own streaming pass
 * (`scanStreamed`), not here.
 */
export function checkFeaturesFinite(train: TrainingData, validation: TrainingData | null, views: TrainingViews | null): void {
  if (!isStreamed(train)) checkFinite('training', train.features, train.numSamples, train.embeddingDim);
  if (validation !== null && !isStreamed(validation)) checkFinite('validation', validation.features, validation.numSamples, validation.embeddingDim);
  if (views !== null) checkFinite('augmented views', views.features, train.numSamples, train.embeddingDim, views.numViews, views.available ?? null);
}

/** Every label is a class index; collects all the bad rows of a split into one error. */
function checkLabels(split: 'training' | 'validation', data: TrainingData, numClasses: number): void {
  const bad: string[] = [];
  let count = 0;
  for (let row = 0; row < data.numSamples; row++) {
    const label = data.labels[row]!;
    if (label >= 0 && label < numClasses) continue;
    if (++count <= 10) bad.push(`row ${row} (label ${label})`);
  }
  if (count > 0)
    throw new FinetuneError('DATASET_INVALID',
      `The ${split} labels hold ${plural(count, 'value')} outside 0..${numClasses - 1} in ${data.numSamples} rows: ${listRows(bad, count)}.`,
      'Labels must be class indices; check numClasses and how the labels were built.');
}

/**
 * Validates `options` against the data and fills in defaults (one place, `??`). Throws before any work.
 * `checks: 'options'` skips the O(values) finiteness scan, for a caller that ran `checkFeaturesFinite` on the
 * same data already (a sweep's configs share their features).
 */
export function resolveFitOptions(train: TrainingData, options: FitOptions = {}, checks: 'all' | 'options' = 'all'): ResolvedFitOptions {
  checkData('train', train);
  const validation = options.validation ?? null;
  if (validation !== null) {
    checkData('validation', validation);
    if (validation.embeddingDim !== train.embeddingDim)
      throw new RangeError(`fit: validation embeddingDim ${validation.embeddingDim} differs from train embeddingDim ${train.embeddingDim}.`);
  }
  if (train.numSamples === 0)
    throw new FinetuneError('DATASET_INVALID', 'The training split is empty.', 'Add labelled images, or lower --validation-split.');
  const views = options.views ?? null;
  if (views !== null) {
    if (isStreamed(train))
      throw invalid('augment', 'Augmented views cannot be combined with out-of-core training (features streamed from a file).',
        'Drop %flag, or raise --max-memory so the features fit in memory.');
    checkViews(views, train);
  }
  const classNames = options.classNames ?? null;
  let maxLabel = 0;
  for (let i = 0; i < train.numSamples; i++) if (train.labels[i]! > maxLabel) maxLabel = train.labels[i]!;
  const numClasses = options.numClasses ?? classNames?.length ?? maxLabel + 1;
  if (!Number.isInteger(numClasses) || numClasses < 2)
    throw new FinetuneError('CLASS_COUNT_MISMATCH', `A classifier needs at least 2 classes, got numClasses ${numClasses}.`,
      'Add a second class folder, or check that the labels were read.');
  if (classNames !== null && classNames.length !== numClasses)
    throw new FinetuneError('CLASS_COUNT_MISMATCH', `Got ${classNames.length} class names for numClasses ${numClasses}.`,
      'Pass one name per class, in label order.');
  checkLabels('training', train, numClasses);
  if (validation !== null) checkLabels('validation', validation, numClasses);
  if (checks === 'all') checkFeaturesFinite(train, validation, views);
  const given = options.standardization ?? null;
  if (given !== null) {
    const { mean, std } = given;
    if (!(mean instanceof Float32Array) || !(std instanceof Float32Array) || mean.length !== train.embeddingDim || std.length !== train.embeddingDim)
      throw new RangeError(`fit: 'standardization' needs mean and std as Float32Arrays of embeddingDim (${train.embeddingDim}) values.`);
    for (let feature = 0; feature < train.embeddingDim; feature++)
      if (!(Number.isFinite(mean[feature]!) && std[feature]! > 0 && Number.isFinite(std[feature]!)))
        throw new RangeError(`fit: 'standardization' feature ${feature} has mean ${mean[feature]} and std ${std[feature]}; std must be finite and > 0.`);
  }
  const hidden = options.hidden ?? [];
  for (const size of hidden)
    if (!(Number.isInteger(size) && size >= 1))
      throw invalid('hidden', `Hidden layer sizes must be positive integers, got [${hidden.join(', ')}].`, 'Pass e.g. %flag 256 or %flag 256,128.');
  const rate = (flag: string, value: number, max: number): number => {
    if (!(Number.isFinite(value) && value >= 0 && value < max))
      throw invalid(flag, `--${flag} must be in [0, ${max}), got ${value}.`, 'Pick a value such as 0.1 for %flag.');
    return value;
  };
  const positive = (flag: string, value: number, integer: boolean): number => {
    if (!(Number.isFinite(value) && value > 0 && (!integer || Number.isInteger(value))))
      throw invalid(flag, `--${flag} must be a positive ${integer ? 'integer' : 'number'}, got ${value}.`, 'Fix the value of %flag.');
    return value;
  };
  const optimizer = options.optimizer ?? 'adam';
  if (optimizer !== 'adam' && optimizer !== 'sgd')
    throw invalid('optimizer', `Unknown optimizer "${String(optimizer)}".`, 'Use %flag adam or %flag sgd.');
  const defaultMonitor: MetricName = validation === null ? 'loss' : 'valLoss';
  const checkMonitor = (flag: string, monitor: MetricName | undefined): void => {
    if (monitor === undefined) return;
    if (!METRIC_NAMES.includes(monitor))
      throw invalid(flag, `Unknown metric "${String(monitor)}".`, `Use one of ${METRIC_NAMES.join(', ')} for %flag.`);
    if (validation === null && (monitor === 'valLoss' || monitor === 'valAccuracy'))
      throw invalid(flag, `Cannot monitor ${monitor} without a validation split.`, 'Keep a validation split, or pass %flag loss.');
  };
  let earlyStopping = options.earlyStopping === undefined ? {} : options.earlyStopping;
  if (earlyStopping !== null) {
    checkMonitor('monitor', earlyStopping.monitor);
    earlyStopping = { ...earlyStopping, monitor: earlyStopping.monitor ?? defaultMonitor };
  }
  let reduceLrOnPlateau = options.reduceLrOnPlateau ?? null;
  if (reduceLrOnPlateau !== null) {
    checkMonitor('reduce-lr-monitor', reduceLrOnPlateau.monitor);
    reduceLrOnPlateau = { ...reduceLrOnPlateau, monitor: reduceLrOnPlateau.monitor ?? defaultMonitor };
  }
  const momentum = options.momentum ?? 0;
  const nesterov = options.nesterov ?? false;
  if (nesterov && !(momentum > 0))
    throw invalid('nesterov', '--nesterov needs a momentum > 0.', 'Add --momentum 0.9, or drop %flag.');
  const kernelInitializer = options.kernelInitializer ?? DEFAULT_KERNEL_INITIALIZER;
  if (!(KERNEL_INITIALIZERS as readonly string[]).includes(kernelInitializer))
    throw invalid('kernel-initializer', `Unknown kernel initializer "${String(kernelInitializer)}".`,
      `Use %flag with one of ${KERNEL_INITIALIZERS.join(', ')}.`);
  return {
    numClasses, classNames, hidden: [...hidden], kernelInitializer,
    dropout: rate('dropout', options.dropout ?? 0, 1),
    labelSmoothing: rate('label-smoothing', options.labelSmoothing ?? 0, 1),
    classWeights: resolveClassWeights(options.classWeight, train, numClasses, classNames),
    standardize: options.standardize ?? true,
    optimizer,
    learningRate: positive('learning-rate', options.learningRate ?? 0.001, false),
    beta1: rate('beta1', options.beta1 ?? 0.9, 1),
    beta2: rate('beta2', options.beta2 ?? 0.999, 1),
    epsilon: rate('epsilon', options.epsilon ?? 1e-7, Infinity),
    amsgrad: options.amsgrad ?? false,
    weightDecay: rate('weight-decay', options.weightDecay ?? 0, Infinity),
    momentum: rate('momentum', momentum, 1),
    nesterov,
    batchSize: positive('batch-size', options.batchSize ?? 32, true),
    epochs: positive('epochs', options.epochs ?? 50, true),
    seed: (() => {
      const seed = options.seed ?? 42;
      if (!Number.isSafeInteger(seed)) throw invalid('seed', `--seed must be an integer, got ${seed}.`, 'Pass e.g. %flag 0.');
      return seed;
    })(),
    earlyStopping,
    reduceLrOnPlateau,
    monitor: earlyStopping?.monitor ?? defaultMonitor,
    threads: positive('threads', options.threads ?? availableParallelism(), true),
    memoryBudgetBytes: positive('max-memory', options.memoryBudgetBytes ?? 512 * 2 ** 20, false),
    blockRows: positive('block-rows', options.blockRows ?? 1024, true),
  };
}
