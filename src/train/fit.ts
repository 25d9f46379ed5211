/**
 * The training loop of `fit`: epochs of shuffled mini-batches through the `Network`, the optimizer step,
 * validation, Keras-style callbacks, the divergence guard and the result. Options live in `fit-options.ts`,
 * the network in `network.ts`.
 */
import { FinetuneError } from '../errors.js';
import {
  CallbackList, EarlyStopping, HIGHER_IS_BETTER, ReduceLrOnPlateau, type EpochLogs, type MetricName, type TrainingRun,
} from './callbacks.js';
import { resolveFitOptions, type FitOptions, type ResolvedFitOptions, type TrainingViews } from './fit-options.js';
import { createWindowBuffers, scanStreamed, WindowReader, type DataWindow, type WindowBuffers } from './streamed-features.js';
import { isStreamed, type LabelledFeatures, type StreamedFeatures, type TrainingData } from './training-data.js';
import { Network } from './network.js';
import { Adam, optimizerStateCount, Sgd, type Optimizer } from './optimizers.js';
import { fastestDenseKernels } from './wasm-dense-kernels.js';
import { deriveSeed, Rng } from '../util/rng.js';
import { fitStandardization, type Standardization } from './standardization.js';
import type { HeadWeights } from '../types.js';

// Callers import the input types from here too (workflows, sweep workers, tests); they are defined in fit-options.ts.
export { resolveFitOptions } from './fit-options.js';
export type { FitOptions, LabelledFeatures, ResolvedFitOptions, TrainingViews } from './fit-options.js';

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

/** Where batches come from: the rows in memory (one window), or windows of a feature file. */
interface BatchSource {
  readonly data: TrainingData;
  /** The windows of one pass; rows shuffled with `shuffle` when given (in memory: one persistent order, reshuffled). */
  windows(shuffle: Rng | null): AsyncIterable<DataWindow>;
}

function inMemorySource(data: LabelledFeatures): BatchSource {
  const order = Int32Array.from({ length: data.numSamples }, (_, i) => i);
  return {
    data,
    async *windows(shuffle) {
      if (shuffle === null) { yield { data, order: null }; return; }
      shuffle.shuffle(order);
      yield { data, order };
    },
  };
}

function batchSource(data: TrainingData, buffers: WindowBuffers | null): BatchSource {
  if (!isStreamed(data)) return inMemorySource(data);
  const reader = new WindowReader(data, buffers!);
  return { data, windows: (shuffle) => reader.windows(shuffle) };
}

async function evaluate(network: Network, source: BatchSource, labelSmoothing: number): Promise<{ loss: number; accuracy: number }> {
  let lossSum = 0, correct = 0;
  for await (const { data } of source.windows(null)) {
    for (let start = 0; start < data.numSamples; start += network.batchSize) {
      const rows = Math.min(network.batchSize, data.numSamples - start);
      network.gather(data, null, start, rows);
      const logits = network.forward(rows, null);
      const batch = network.workspace.softmaxCrossEntropy(logits, 0, network.batchLabels, rows, network.numClasses, labelSmoothing, null, null, 0, 0);
      lossSum += batch.weightedLossSum;
      correct += batch.correct;
    }
  }
  const total = source.data.numSamples;
  return total === 0 ? { loss: NaN, accuracy: NaN } : { loss: lossSum / total, accuracy: correct / total };
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
 *
 * `checks: 'options'` skips the scan for non-finite values, for callers that ran `checkFeaturesFinite` on the
 * same data already (a sweep, once for all its configs).
 */
export async function fit(train: TrainingData, options: FitOptions = {}, checks: 'all' | 'options' = 'all'): Promise<FitResult> {
  const resolved = resolveFitOptions(train, options, checks);
  const { numClasses, batchSize, dropout } = resolved;
  const validation = options.validation ?? null;
  // Out-of-core: one pair of window buffers for every pass; a streaming pass gives the statistics and the
  // non-finite check before any training.
  const streamed = [train, validation].filter((data): data is StreamedFeatures => data !== null && isStreamed(data));
  const buffers = streamed.length === 0 ? null : createWindowBuffers(train.embeddingDim, Math.max(...streamed.map((data) => data.file.numRows)),
    { memoryBudgetBytes: resolved.memoryBudgetBytes, blockRows: resolved.blockRows });
  let standardization: Standardization | null = null;
  if (isStreamed(train)) {
    const scanned = await scanStreamed(train, 'training', buffers!);
    if (resolved.standardize) standardization = options.standardization ?? scanned;
  } else if (resolved.standardize) {
    standardization = options.standardization ?? fitStandardization(train.features, train.numSamples, train.embeddingDim);
  }
  if (validation !== null && isStreamed(validation)) await scanStreamed(validation, 'validation', buffers!);
  const network = new Network(train.embeddingDim, numClasses, resolved.hidden, batchSize, dropout, standardization,
    options.kernels ?? fastestDenseKernels(), optimizerStateCount(resolved.optimizer, resolved), resolved.threads, resolved.classWeights);
  try {
    return await trainNetwork(network, batchSource(train, buffers), validation === null ? null : batchSource(validation, buffers),
      options, resolved, standardization);
  } finally {
    network.workspace.dispose();
  }
}

async function trainNetwork(network: Network, source: BatchSource, validation: BatchSource | null, options: FitOptions,
  resolved: ResolvedFitOptions, standardization: Standardization | null): Promise<FitResult> {
  const train = source.data;
  const { numClasses, epochs, batchSize, seed, dropout, labelSmoothing } = resolved;
  const { classWeights } = network;
  network.initialize(new Rng(deriveSeed(seed, 1)), resolved.kernelInitializer);
  const shuffleRng = new Rng(deriveSeed(seed, 2));
  const dropoutRng = new Rng(deriveSeed(seed, 3));
  const views = options.views ?? null;
  const viewRng = new Rng(deriveSeed(seed, 4));   // its own stream: views never shift shuffling or dropout
  const viewOf = views === null ? null : new Int32Array(train.numSamples);
  const optimizer: Optimizer = resolved.optimizer === 'adam'
    ? new Adam(network.params.length, resolved, network.state)
    : new Sgd(network.params.length, resolved, network.state);

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

  const steps = Math.ceil(train.numSamples / batchSize);   // in memory; streamed windows may add a partial batch each
  const progressIntervalMs = options.progressIntervalMs ?? 1000;
  const history: EpochLogs[] = [];
  let lastGood: { epoch: number; weights: Float32Array[] } | null = null;
  let diverged = false, divergence = '', epoch = 0;
  await callbacks.onTrainBegin(run);
  while (epoch < epochs && stopReason === null) {
    epoch++;
    await callbacks.onEpochBegin(epoch);
    const startedAt = performance.now();
    let lastReportAt = startedAt;
    const learningRate = optimizer.learningRate;
    if (views !== null && viewOf !== null) sampleViews(viewRng, train.numSamples, views, viewOf);
    let lossSum = 0, correct = 0, rowsDone = 0, step = 0;
    for await (const window of source.windows(shuffleRng)) {
      const { data, order } = window;
      for (let start = 0; start < data.numSamples; start += batchSize) {
        const rows = Math.min(batchSize, data.numSamples - start);
        step++;
        network.gather(data, order, start, rows, views, viewOf);
        const logits = network.forward(rows, dropout > 0 ? dropoutRng : null);
        const batch = network.workspace.softmaxCrossEntropy(logits, 0, network.batchLabels, rows, numClasses, labelSmoothing, classWeights,
          network.gradA, 0, 1 / rows);
        if (!Number.isFinite(batch.weightedLossSum)) {
          diverged = true;
          const value = Number.isNaN(batch.weightedLossSum) ? 'NaN' : 'infinite';
          const kept = earlyStopping?.restoreBestWeights && earlyStopping.bestEpoch !== null ? earlyStopping.bestEpoch : lastGood?.epoch;
          divergence = `loss is ${value} at epoch ${epoch} (batch ${step})`;
          stopReason = `diverged: ${divergence}; ` + (kept === undefined ? '' : `kept the weights of epoch ${kept}; `)
            + `try a lower --learning-rate than ${learningRate}`;
          break;
        }
        lossSum += batch.weightedLossSum;
        correct += batch.correct;
        rowsDone += rows;
        network.backward(rows, dropout > 0, optimizer.nextStep());   // the update is fused into the backward pass
        if (options.onProgress !== undefined) {
          const now = performance.now();
          if (now - lastReportAt >= progressIntervalMs) {
            lastReportAt = now;
            const total = Math.max(steps, step);
            options.onProgress({ stage: 'train', status: 'batch', epoch, epochs, step, steps: total,
              etaSeconds: ((now - startedAt) / step) * (total - step) / 1000, loss: lossSum / rowsDone });
          }
        }
      }
      if (diverged) break;
    }
    if (diverged) break;
    const validationMetrics = validation === null ? null : await evaluate(network, validation, labelSmoothing);
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
