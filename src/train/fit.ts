import { FinetuneError, nearestNames } from '../errors.js';
import type { DenseLayer, HeadWeights, ProgressCallback } from '../types.js';
import {
  Callback, CallbackList, EarlyStopping, HIGHER_IS_BETTER, METRIC_NAMES, ReduceLrOnPlateau,
  type EarlyStoppingOptions, type EpochLogs, type MetricName, type ReduceLrOnPlateauOptions, type TrainingRun,
} from './callbacks.js';
import { jsDenseKernels, type DenseKernels } from './dense-kernels.js';
import { softmaxCrossEntropyRows } from './loss.js';
import { Adam, Sgd, type Optimizer } from './optimizers.js';
import { deriveSeed, Rng } from '../util/rng.js';
import { fitStandardization } from './standardization.js';

/** Features held once: one contiguous row-major Float32Array [numSamples × embeddingDim] and one label per row. */
export interface LabelledFeatures {
  readonly features: Float32Array;
  readonly labels: Int32Array;
  readonly numSamples: number;
  readonly embeddingDim: number;
}

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

/** Options of `fit`, named after the CLI flags (`--learning-rate` → `learningRate`). All serializable except the last three. */
export interface FitOptions {
  /** Held-out split for valLoss/valAccuracy. @defaultValue `null` */
  validation?: LabelledFeatures | null;
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
  onProgress?: ProgressCallback;
  /** Dense kernels to use; tests swap in the reference kernels. @defaultValue the fastest available */
  kernels?: DenseKernels;
}

export interface FitResult {
  /** The kept weights: kernels [inputDim × outputDim], standardization to apply before the first layer (or null). */
  readonly head: HeadWeights;
  readonly history: readonly EpochLogs[];
  /** Metric used to pick the best epoch (the early-stopping monitor). */
  readonly monitor: MetricName;
  /** Epoch with the best monitored value (1-based); null if no epoch was monitored. */
  readonly bestEpoch: number | null;
  /** Epoch whose weights were put back at the end (early stopping's best, or the last good epoch after divergence); null if none were. */
  readonly restoredEpoch: number | null;
  /** Epoch whose weights `head` holds: `restoredEpoch`, else the last completed epoch. */
  readonly keptEpoch: number;
  /** Last epoch that ran (1-based), possibly cut short by divergence. */
  readonly stoppedEpoch: number;
  readonly epochs: number;
  /** Why training ended, e.g. "completed all 50 epochs", "early stopping: valLoss did not improve for 5 epochs". */
  readonly stopReason: string;
  readonly diverged: boolean;
  readonly classNames: readonly string[] | null;
  readonly optimizer: Readonly<Record<string, number | boolean | string>>;
}

/** Everything `fit` needs, validated and with defaults filled in. */
export interface ResolvedFitOptions {
  readonly numClasses: number;
  readonly classNames: readonly string[] | null;
  readonly hidden: readonly number[];
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
}

function invalid(flag: string, message: string, hint: string): FinetuneError {
  return new FinetuneError('INVALID_OPTION', message, hint.replace('%flag', `--${flag}`));
}

function checkData(name: string, data: LabelledFeatures): void {
  const { features, labels, numSamples, embeddingDim } = data;
  if (!(features instanceof Float32Array) || !(labels instanceof Int32Array))
    throw new TypeError(`fit: '${name}' needs features as a Float32Array and labels as an Int32Array.`);
  if (!Number.isInteger(numSamples) || !Number.isInteger(embeddingDim) || embeddingDim < 1 || numSamples < 0)
    throw new RangeError(`fit: '${name}' has numSamples ${numSamples} and embeddingDim ${embeddingDim}; both must be integers (embeddingDim ≥ 1).`);
  if (features.length !== numSamples * embeddingDim)
    throw new RangeError(`fit: '${name}'.features has ${features.length} values, expected numSamples × embeddingDim = ${numSamples} × ${embeddingDim} = ${numSamples * embeddingDim}.`);
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

/**
 * Draws the view each training row uses this epoch into `out` (0 = the original, v ≥ 1 = view v), uniformly among
 * the original and the available views, one draw per row in row order.
 */
export function sampleViews(rng: Rng, numSamples: number, views: Pick<TrainingViews, 'numViews' | 'available'>, out: Int32Array): void {
  const { numViews } = views;
  const available = views.available ?? null;
  for (let row = 0; row < numSamples; row++) {
    if (available === null) { out[row] = rng.nextInt(numViews + 1); continue; }
    const offset = row * numViews;
    let candidates = 1;
    for (let v = 0; v < numViews; v++) candidates += available[offset + v]! === 0 ? 0 : 1;
    let pick = rng.nextInt(candidates), view = 0;
    for (let v = 0; pick > 0; v++) if (available[offset + v]! !== 0) { pick--; view = v + 1; }
    out[row] = view;
  }
}

function resolveClassWeights(option: FitOptions['classWeight'], train: LabelledFeatures, numClasses: number,
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

/** Validates `options` against the data and fills in defaults (one place, `??`). Throws before any work. */
export function resolveFitOptions(train: LabelledFeatures, options: FitOptions = {}): ResolvedFitOptions {
  checkData('train', train);
  const validation = options.validation ?? null;
  if (validation !== null) {
    checkData('validation', validation);
    if (validation.embeddingDim !== train.embeddingDim)
      throw new RangeError(`fit: validation embeddingDim ${validation.embeddingDim} differs from train embeddingDim ${train.embeddingDim}.`);
  }
  if (train.numSamples === 0)
    throw new FinetuneError('DATASET_INVALID', 'The training split is empty.', 'Add labelled images, or lower --validation-split.');
  if (options.views !== undefined && options.views !== null) checkViews(options.views, train);
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
  for (const [name, data] of [['training', train], ['validation', validation]] as const) {
    if (data === null) continue;
    for (let i = 0; i < data.numSamples; i++) {
      const label = data.labels[i]!;
      if (!(label >= 0 && label < numClasses))
        throw new FinetuneError('DATASET_INVALID', `${name} sample ${i} has label ${label}, outside 0..${numClasses - 1}.`,
          'Labels must be class indices; check numClasses and how the labels were built.');
    }
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
  return {
    numClasses, classNames, hidden: [...hidden],
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
  };
}

interface LayerPlan {
  readonly inputDim: number;
  readonly outputDim: number;
  readonly activation: 'relu' | 'linear';
  /** Offsets into the flat parameter vector: kernel [outputDim × inputDim], then bias. */
  readonly kernelOffset: number;
  readonly biasOffset: number;
}

/** The network being trained: flat parameters plus per-batch scratch buffers, all allocated once. */
class Network {
  readonly layers: LayerPlan[] = [];
  readonly params: Float32Array;
  readonly grads: Float32Array;
  /** Standardized (and dropped-out) input batch [batchSize × embeddingDim]. */
  readonly input: Float32Array;
  readonly inputMask: Float32Array | null;
  /** Post-activation (post-dropout) outputs of each layer [batchSize × outputDim]; the last holds logits. */
  readonly activations: Float32Array[];
  readonly masks: Array<Float32Array | null>;
  readonly gradA: Float32Array;
  readonly gradB: Float32Array;
  readonly batchLabels: Int32Array;
  readonly mean: Float32Array | null;
  readonly invStd: Float32Array | null;

  constructor(readonly embeddingDim: number, readonly numClasses: number, hidden: readonly number[],
    readonly batchSize: number, readonly dropout: number, standardization: { mean: Float32Array; std: Float32Array } | null,
    private readonly kernels: DenseKernels) {
    const widths = [embeddingDim, ...hidden, numClasses];
    let offset = 0, maxWidth = 0;
    for (let l = 0; l + 1 < widths.length; l++) {
      const inputDim = widths[l]!, outputDim = widths[l + 1]!;
      const activation = l + 2 < widths.length ? 'relu' : 'linear';
      this.layers.push({ inputDim, outputDim, activation, kernelOffset: offset, biasOffset: offset + inputDim * outputDim });
      offset += inputDim * outputDim + outputDim;
      maxWidth = Math.max(maxWidth, outputDim, l > 0 ? inputDim : 0);
    }
    this.params = new Float32Array(offset);
    this.grads = new Float32Array(offset);
    this.input = new Float32Array(batchSize * embeddingDim);
    const linear = hidden.length === 0;
    this.inputMask = dropout > 0 && linear ? new Float32Array(batchSize * embeddingDim) : null;
    this.activations = this.layers.map((layer) => new Float32Array(batchSize * layer.outputDim));
    this.masks = this.layers.map((layer) => (dropout > 0 && layer.activation === 'relu' ? new Float32Array(batchSize * layer.outputDim) : null));
    this.gradA = new Float32Array(batchSize * maxWidth);
    this.gradB = new Float32Array(batchSize * maxWidth);
    this.batchLabels = new Int32Array(batchSize);
    this.mean = standardization?.mean ?? null;
    this.invStd = standardization === null ? null : Float32Array.from(standardization.std, (value) => 1 / value);
  }

  /** Glorot-uniform kernels (limit √(6/(fanIn+fanOut)), drawn in Keras's [inputDim × outputDim] order), zero biases. */
  initialize(rng: Rng): void {
    for (const layer of this.layers) {
      const { inputDim, outputDim, kernelOffset } = layer;
      const limit = Math.sqrt(6 / (inputDim + outputDim));
      for (let feature = 0; feature < inputDim; feature++)
        for (let k = 0; k < outputDim; k++)
          this.params[kernelOffset + k * inputDim + feature] = (2 * rng.nextFloat() - 1) * limit;
    }
  }

  /**
   * Copies rows `order[start..start+rows)` into the input buffer, standardized. With `views`, a row whose drawn
   * view `viewOf[sample]` is v ≥ 1 is read from the views matrix instead of `data.features`.
   */
  gather(data: LabelledFeatures, order: Int32Array | null, start: number, rows: number,
    views: TrainingViews | null = null, viewOf: Int32Array | null = null): void {
    const { embeddingDim, input, mean, invStd } = this;
    const { labels } = data;
    for (let row = 0; row < rows; row++) {
      const sample = order === null ? start + row : order[start + row]!;
      this.batchLabels[row] = labels[sample]!;
      const view = viewOf === null ? 0 : viewOf[sample]!;
      const features = view === 0 || views === null ? data.features : views.features;
      const source = view === 0 || views === null ? sample * embeddingDim : (sample * views.numViews + view - 1) * embeddingDim;
      const target = row * embeddingDim;
      if (mean === null || invStd === null) {
        input.set(features.subarray(source, source + embeddingDim), target);
      } else {
        for (let feature = 0; feature < embeddingDim; feature++)
          input[target + feature] = (features[source + feature]! - mean[feature]!) * invStd[feature]!;
      }
    }
  }

  private fillMask(mask: Float32Array, length: number, rng: Rng): void {
    const keep = 1 / (1 - this.dropout), rate = this.dropout;
    for (let i = 0; i < length; i++) mask[i] = rng.nextFloat() < rate ? 0 : keep;
  }

  /** Forward pass over `rows` gathered rows; returns the logits buffer. Dropout only when `rng` is given. */
  forward(rows: number, rng: Rng | null): Float32Array {
    const { kernels, params } = this;
    if (rng !== null && this.inputMask !== null) {
      const length = rows * this.embeddingDim;
      this.fillMask(this.inputMask, length, rng);
      for (let i = 0; i < length; i++) this.input[i] = this.input[i]! * this.inputMask[i]!;
    }
    let input = this.input;
    for (let l = 0; l < this.layers.length; l++) {
      const layer = this.layers[l]!, out = this.activations[l]!;
      kernels.forward(input, 0, rows, layer.inputDim, params, layer.kernelOffset, params, layer.biasOffset, layer.outputDim, out, 0);
      if (layer.activation === 'relu') {
        const length = rows * layer.outputDim, mask = this.masks[l]!;
        for (let i = 0; i < length; i++) if (!(out[i]! > 0)) out[i] = 0;
        if (rng !== null && mask !== null) {
          this.fillMask(mask, length, rng);
          for (let i = 0; i < length; i++) out[i] = out[i]! * mask[i]!;
        }
      }
      input = out;
    }
    return input;
  }

  /** Backward pass from d(loss)/d(logits) in `gradA`; fills `grads`. `dropout` says whether masks are live. */
  backward(rows: number, dropout: boolean): void {
    const { kernels, params, grads } = this;
    let gradOut = this.gradA, gradIn = this.gradB;
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const layer = this.layers[l]!;
      const input = l === 0 ? this.input : this.activations[l - 1]!;
      kernels.backwardWeights(gradOut, rows, layer.outputDim, input, 0, layer.inputDim, grads, layer.kernelOffset, grads, layer.biasOffset);
      if (l === 0) break;
      kernels.backwardInput(gradOut, rows, layer.outputDim, params, layer.kernelOffset, layer.inputDim, gradIn);
      // Through the previous layer's dropout and ReLU: its stored output is relu(z)·mask.
      const length = rows * layer.inputDim, previous = this.activations[l - 1]!, mask = dropout ? this.masks[l - 1]! : null;
      for (let i = 0; i < length; i++)
        gradIn[i] = previous[i]! > 0 ? (mask === null ? gradIn[i]! : gradIn[i]! * mask[i]!) : 0;
      [gradOut, gradIn] = [gradIn, gradOut];
    }
  }

  getWeights(): Float32Array[] {
    return this.layers.flatMap((layer) => [
      this.params.slice(layer.kernelOffset, layer.kernelOffset + layer.inputDim * layer.outputDim),
      this.params.slice(layer.biasOffset, layer.biasOffset + layer.outputDim),
    ]);
  }

  setWeights(weights: readonly Float32Array[]): void {
    if (weights.length !== this.layers.length * 2)
      throw new RangeError(`setWeights: expected ${this.layers.length * 2} arrays (kernel and bias per layer), got ${weights.length}.`);
    this.layers.forEach((layer, l) => {
      const kernel = weights[2 * l]!, bias = weights[2 * l + 1]!;
      if (kernel.length !== layer.inputDim * layer.outputDim || bias.length !== layer.outputDim)
        throw new RangeError(`setWeights: layer ${l} needs ${layer.inputDim * layer.outputDim} + ${layer.outputDim} values, got ${kernel.length} + ${bias.length}.`);
      this.params.set(kernel, layer.kernelOffset);
      this.params.set(bias, layer.biasOffset);
    });
  }

  /** The head in the exported layout: kernels transposed to [inputDim × outputDim]. */
  toHeadWeights(standardization: { mean: Float32Array; std: Float32Array } | null): HeadWeights {
    const layers: DenseLayer[] = this.layers.map((layer) => {
      const { inputDim, outputDim, kernelOffset, biasOffset, activation } = layer;
      const kernel = new Float32Array(inputDim * outputDim);
      for (let k = 0; k < outputDim; k++)
        for (let feature = 0; feature < inputDim; feature++)
          kernel[feature * outputDim + k] = this.params[kernelOffset + k * inputDim + feature]!;
      return { inputDim, outputDim, kernel, bias: this.params.slice(biasOffset, biasOffset + outputDim), activation };
    });
    return { embeddingDim: this.embeddingDim, numClasses: this.numClasses, layers, standardization };
  }
}

function evaluate(network: Network, data: LabelledFeatures, labelSmoothing: number): { loss: number; accuracy: number } {
  let lossSum = 0, correct = 0;
  for (let start = 0; start < data.numSamples; start += network.batchSize) {
    const rows = Math.min(network.batchSize, data.numSamples - start);
    network.gather(data, null, start, rows);
    const logits = network.forward(rows, null);
    const batch = softmaxCrossEntropyRows(logits, 0, network.batchLabels, rows, network.numClasses, labelSmoothing, null, null, 0, 0);
    lossSum += batch.weightedLossSum;
    correct += batch.correct;
  }
  return data.numSamples === 0 ? { loss: NaN, accuracy: NaN } : { loss: lossSum / data.numSamples, accuracy: correct / data.numSamples };
}

function bestEpochOf(history: readonly EpochLogs[], monitor: MetricName): number | null {
  let best: number | null = null, bestEpoch: number | null = null;
  for (const logs of history) {
    const value = logs[monitor];
    if (value === null || Number.isNaN(value)) continue;
    if (best === null || (HIGHER_IS_BETTER[monitor] ? value > best : value < best)) { best = value; bestEpoch = logs.epoch; }
  }
  return bestEpoch;
}

const progressLogs = (logs: EpochLogs): Record<string, number> => {
  const result: Record<string, number> = {};
  for (const [key, value] of Object.entries(logs)) if (typeof value === 'number') result[key] = value;
  return result;
};

/**
 * Trains a softmax head (linear, or a ReLU MLP) on cached features with mini-batch Adam/SGD and Keras-style
 * callbacks. Memory: besides the caller's feature matrix it allocates the weights, optimizer state and
 * batch-sized scratch buffers; standardization is applied per mini-batch while gathering rows, never to a
 * full copy of the features. Augmented `views` are read in place too (plus one Int32 per training row for the
 * drawn view); with views, `loss` and `accuracy` are measured on the rows drawn that epoch.
 *
 * Divergence guard: a non-finite training batch loss stops training at once. The weights kept are the
 * early-stopping best (if restoreBestWeights) or else the last completed epoch's; if no epoch completed it
 * throws FinetuneError('TRAINING_DIVERGED').
 */
export async function fit(train: LabelledFeatures, options: FitOptions = {}): Promise<FitResult> {
  const resolved = resolveFitOptions(train, options);
  const validation = options.validation ?? null;
  const { numClasses, epochs, batchSize, seed, dropout, labelSmoothing, classWeights } = resolved;
  const standardization = resolved.standardize ? fitStandardization(train.features, train.numSamples, train.embeddingDim) : null;
  const network = new Network(train.embeddingDim, numClasses, resolved.hidden, batchSize, dropout, standardization,
    options.kernels ?? jsDenseKernels);
  network.initialize(new Rng(deriveSeed(seed, 1)));
  const shuffleRng = new Rng(deriveSeed(seed, 2));
  const dropoutRng = new Rng(deriveSeed(seed, 3));
  const views = options.views ?? null;
  const viewRng = new Rng(deriveSeed(seed, 4));   // its own stream: views never shift shuffling or dropout
  const viewOf = views === null ? null : new Int32Array(train.numSamples);
  const optimizer: Optimizer = resolved.optimizer === 'adam'
    ? new Adam(network.params.length, resolved)
    : new Sgd(network.params.length, resolved);

  const earlyStopping = resolved.earlyStopping === null ? null : new EarlyStopping(resolved.earlyStopping);
  const reduceLr = resolved.reduceLrOnPlateau === null ? null : new ReduceLrOnPlateau(resolved.reduceLrOnPlateau);
  const callbacks = new CallbackList([
    ...(reduceLr === null ? [] : [reduceLr]),
    ...(earlyStopping === null ? [] : [earlyStopping]),
    ...(options.callbacks ?? []),
  ]);
  let stopReason: string | null = null;
  const run: TrainingRun = {
    epochs,
    get learningRate() { return optimizer.learningRate; },
    set learningRate(value: number) {
      if (!(Number.isFinite(value) && value >= 0)) throw new RangeError(`learningRate must be a finite number ≥ 0, got ${value}.`);
      optimizer.learningRate = value;
    },
    getWeights: () => network.getWeights(),
    setWeights: (weights) => network.setWeights(weights),
    stop: (reason) => { stopReason ??= reason; },
    get stopRequested() { return stopReason !== null; },
  };

  const order = Int32Array.from({ length: train.numSamples }, (_, i) => i);
  const history: EpochLogs[] = [];
  let lastGood: { epoch: number; weights: Float32Array[] } | null = null;
  let diverged = false, divergence = '', epoch = 0;
  await callbacks.onTrainBegin(run);
  while (epoch < epochs && stopReason === null) {
    epoch++;
    await callbacks.onEpochBegin(epoch);
    const startedAt = performance.now();
    const learningRate = optimizer.learningRate;
    shuffleRng.shuffle(order);
    if (views !== null && viewOf !== null) sampleViews(viewRng, train.numSamples, views, viewOf);
    let lossSum = 0, correct = 0;
    for (let start = 0; start < train.numSamples; start += batchSize) {
      const rows = Math.min(batchSize, train.numSamples - start);
      network.gather(train, order, start, rows, views, viewOf);
      const logits = network.forward(rows, dropout > 0 ? dropoutRng : null);
      const batch = softmaxCrossEntropyRows(logits, 0, network.batchLabels, rows, numClasses, labelSmoothing, classWeights,
        network.gradA, 0, 1 / rows);
      if (!Number.isFinite(batch.weightedLossSum)) {
        diverged = true;
        const value = Number.isNaN(batch.weightedLossSum) ? 'NaN' : 'infinite';
        const kept = earlyStopping?.restoreBestWeights && earlyStopping.bestEpoch !== null ? earlyStopping.bestEpoch : lastGood?.epoch;
        divergence = `loss is ${value} at epoch ${epoch} (batch ${start / batchSize + 1})`;
        stopReason = `diverged: ${divergence}; ` + (kept === undefined ? '' : `kept the weights of epoch ${kept}; `)
          + `try a lower --learning-rate than ${learningRate}`;
        break;
      }
      lossSum += batch.weightedLossSum;
      correct += batch.correct;
      network.backward(rows, dropout > 0);
      optimizer.step(network.params, network.grads);
    }
    if (diverged) break;
    const validationMetrics = validation === null ? null : evaluate(network, validation, labelSmoothing);
    const logs: EpochLogs = {
      epoch,
      loss: lossSum / train.numSamples,
      accuracy: correct / train.numSamples,
      valLoss: validationMetrics?.loss ?? null,
      valAccuracy: validationMetrics?.accuracy ?? null,
      learningRate,
      seconds: (performance.now() - startedAt) / 1000,
    };
    history.push(logs);
    lastGood = { epoch, weights: network.getWeights() };
    await callbacks.onEpochEnd(epoch, logs);
    options.onProgress?.({ stage: 'train', status: 'epoch', epoch, epochs, logs: progressLogs(logs) });
    await new Promise<void>((resolve) => setImmediate(resolve)); // let signals and I/O through between epochs
  }

  if (diverged) {
    if (lastGood === null)
      throw new FinetuneError('TRAINING_DIVERGED', `Training diverged: ${divergence}, before any epoch completed.`,
        `Lower --learning-rate (now ${resolved.learningRate}), e.g. to ${resolved.learningRate / 10}, or keep --standardize on.`);
    network.setWeights(lastGood.weights);
  }
  const lastLogs = history[history.length - 1] ?? null;
  await callbacks.onTrainEnd(lastLogs);

  const restoredFromEarlyStopping = earlyStopping?.restoredEpoch ?? null;
  const restoredEpoch = restoredFromEarlyStopping ?? (diverged ? lastGood?.epoch ?? null : null);
  const finalReason = stopReason ?? `completed all ${epochs} epochs`;
  const result: FitResult = {
    head: network.toHeadWeights(standardization),
    history,
    monitor: resolved.monitor,
    bestEpoch: earlyStopping?.bestEpoch ?? bestEpochOf(history, resolved.monitor),
    restoredEpoch,
    keptEpoch: restoredEpoch ?? lastLogs?.epoch ?? 0,
    stoppedEpoch: epoch,
    epochs,
    stopReason: finalReason,
    diverged,
    classNames: resolved.classNames,
    optimizer: optimizer.getConfig(),
  };
  options.onProgress?.({
    stage: 'train', status: 'done', epoch, epochs, logs: lastLogs === null ? {} : progressLogs(lastLogs), message: finalReason,
  });
  return result;
}
