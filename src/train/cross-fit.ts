/**
 * Cross-fitting: K stratified, seeded folds; one `fit` per fold, early-stopped on its own held-out fold; every
 * labelled image predicted out of fold (by the head that never saw it); the K heads merged into one (mergeHeads:
 * the mean of their logits, which for linear heads is one linear head again); temperature scaling fitted on the
 * out-of-fold logits and folded into the merged head's last layer.
 *
 * Nothing crosses folds: each fold standardizes with statistics of its own training rows only (all folds' from two
 * passes over the data, foldStandardizations), and a row's augmented views train only the folds where that row trains.
 *
 * Folds in memory may train in worker threads beside this one (`workers`; by default when the work is large enough
 * to pay for starting one): every fold's result is the same wherever it trains, so the output is bit-identical.
 *
 * `train` may be streamed from a feature file (out-of-core): the folds are then row lists over the same file
 * (`selectRows`), each fold's fit streams them, and the held-out rows are predicted window by window.
 */
import { availableParallelism, totalmem } from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { FinetuneError } from '../errors.js';
import type { HeadWeights, ProgressCallback } from '../types.js';
import { deriveSeed } from '../util/rng.js';
import { Callback, type TrainingRun } from './callbacks.js';
import { calibrationReport, fitTemperature, softmaxWithTemperature } from './calibration.js';
import type { CalibrationReport } from './calibration.js';
import { fit } from './fit.js';
import type { FitOptions, FitResult, TrainingViews } from './fit.js';
import { checkFeaturesFinite, resolveFitOptions, type ResolvedFitOptions } from './fit-options.js';
import type { KernelInitializer } from './fit-options.js';
import { stratifiedFolds } from './folds.js';
import { mergeHeads } from './merge-heads.js';
import { headMultiplyAdds, Network, transposeMatrix } from './network.js';
import type { Standardization } from './standardization.js';
import { selectRows } from './streamed-features.js';
import { copyRows } from '../util/copy-rows.js';
import { mapRows } from './streamed-rows.js';
import { isStreamed, type LabelledFeatures, type TrainingData } from './training-data.js';
import {
  closeIdleTrainWorkers, fromWorkerError, idleTrainWorkerCount, prewarmTrainWorkers, releaseTrainWorker, takeTrainWorkers, toShared, toSharedFeatures, type WorkerError,
} from './train-workers.js';
import { fastestDenseKernels } from './wasm-dense-kernels.js';

/**
 * The options of `fit`, except that early stopping does not restore each fold's own best epoch by default
 * (`earlyStopping.restoreBestWeights` false): restoring it would let the held-out fold choose the weights it is then
 * used to judge, so the out-of-fold predictions (and the temperature fitted on them) would look better than they are.
 * Instead each fold still stops when its held-out loss has not improved for `patience` epochs, and then keeps the
 * weights of the epoch the OTHER folds found best: the median of their best epochs, capped at its own last epoch
 * (`keptEpochRule` 'other-folds-best'). Measured on the README's Fashion-MNIST task (zero init, pil-bilinear
 * features), test ECE after temperature scaling and test accuracy: own best epoch 0.046, 78.0 % (seeds 1-5); last
 * epoch 0.035, 77.9 % (seeds 1-5) and 0.031, 78.0 % (seeds 6-15); other folds' best 0.030, 78.1 % (seeds 1-5) and
 * 0.028, 78.1 % (seeds 6-15).
 */
export interface CrossFitOptions extends Omit<FitOptions, 'validation' | 'views' | 'callbacks' | 'standardization'> {
  /** Number of folds K (≥ 2); each image is held out once. @defaultValue `5` */
  folds?: number;
  /**
   * Augmented views of the rows of `train` (layout as FitOptions.views); each fold trains on the views of its own
   * training rows and never sees a view of a held-out row. @defaultValue `null`
   */
  views?: TrainingViews | null;
  /** Fit a temperature on the out-of-fold logits and fold it into the merged head. @defaultValue `true` */
  calibrate?: boolean;
  /**
   * Which epoch's weights each early-stopped fold keeps (when `earlyStopping.restoreBestWeights` is not true):
   * 'other-folds-best' = the median of the other folds' best epochs, capped at the fold's own last epoch (see
   * CrossFitOptions); 'last' = the fold's last epoch. Without early stopping every fold keeps its last epoch.
   * @defaultValue `'other-folds-best'`
   */
  keptEpochRule?: 'other-folds-best' | 'last';
  /**
   * Worker threads that train folds beside this thread (features in memory only; each fold then runs its kernels on
   * one core, the features shared, not copied). Folds go to whichever thread is free, this one included, and are
   * merged in fold order, so the result is bit-identical to training them one after another (`0`). A worker takes
   * ~0.2–0.3 s to start from the compiled package and 0.3–0.75 s from the sources (tsx).
   * Memory: the features are copied once into shared memory, and each busy thread holds one fold's copy.
   * @defaultValue one fewer than the cores (at most folds − 1) when the folds' estimated work is over
   *   {@link PARALLEL_FOLDS_MIN_SECONDS} seconds and 4× the features fit in a quarter of the memory; from
   *   {@link WARM_FOLDS_MIN_SECONDS} seconds, the fold workers already started and idle (prewarmFoldWorkers, or an
   *   earlier call's: workers stay in a pool, unref'd, for IDLE_WORKER_MS after a call); else `0`; `0` inside a
   *   worker thread (e.g. a sweep's)
   */
  workers?: number;
}

export interface FoldResult {
  /** 1-based. */
  readonly fold: number;
  /** The seed this fold's fit used (initialization, shuffling, dropout). */
  readonly seed: number;
  readonly trainCount: number;
  readonly heldOutCount: number;
  /** Mean cross-entropy and accuracy of the fold's kept head on its held-out rows. */
  readonly heldOutLoss: number;
  readonly heldOutAccuracy: number;
  /** The fold's fit; `fit.head` and `fit.keptEpoch` are the weights the fold kept (see `keptEpochRule`). */
  readonly fit: FitResult;
}

export interface CrossFitResult {
  /** The merged head (mean of the fold heads' logits), temperature folded in: what to export. */
  readonly head: HeadWeights;
  readonly folds: readonly FoldResult[];
  /** Fold (0-based) that holds out each row of `train`. */
  readonly foldOf: Int32Array;
  /** [numSamples × numClasses] logits of each row from the head that did not train on it. */
  readonly oofLogits: Float32Array;
  /** softmax(oofLogits / temperature): calibrated out-of-fold probabilities. */
  readonly oofProbabilities: Float32Array;
  /** Mean out-of-fold cross-entropy before calibration: the cross-validated loss (sweeps rank by it). */
  readonly cvLoss: number;
  /** Fraction of rows whose out-of-fold prediction is right. */
  readonly cvAccuracy: number;
  readonly temperature: number;
  readonly nllBefore: number;
  readonly nllAfter: number;
  /** Out-of-fold calibration with 15 bins: before (T = 1) and after temperature scaling. */
  readonly calibrationBefore: CalibrationReport;
  readonly calibrationAfter: CalibrationReport;
  readonly numClasses: number;
  readonly classNames: readonly string[] | null;
  /** How every fold head started (resolved from the options). */
  readonly kernelInitializer: KernelInitializer;
}

/** Purpose tags for deriveSeed: fold f's fit seed is deriveSeed(seed, FOLD_SEED_STREAM + f). */
const FOLD_SEED_STREAM = 100;

/** The seed fold `fold` (1-based) fits with. */
export function foldSeed(seed: number, fold: number): number {
  return deriveSeed(seed, FOLD_SEED_STREAM + fold);
}

/** Per-fold snapshots of the weights stop at this many bytes (a wide head then keeps its last epoch). */
const SNAPSHOT_BUDGET_BYTES = 256 * 2 ** 20;

/** Keeps a copy of the weights at the end of each epoch, while they fit in `budgetBytes`. */
class EpochSnapshots extends Callback {
  readonly weights = new Map<number, Float32Array[]>();
  private run: TrainingRun | null = null;
  private bytes = 0;
  constructor(private readonly budgetBytes: number) { super(); }
  override async onTrainBegin(run: TrainingRun): Promise<void> { this.run = run; }
  override async onEpochEnd(epoch: number): Promise<void> {
    const weights = this.run!.getWeights();
    this.bytes += weights.reduce((sum, array) => sum + array.byteLength, 0);
    if (this.bytes <= this.budgetBytes) this.weights.set(epoch, weights);
  }
}

/** `head` with the weights of a snapshot (`TrainingRun.getWeights` layout: kernel [outputDim × inputDim], bias, per layer). */
function headWithWeights(head: HeadWeights, weights: readonly Float32Array[]): HeadWeights {
  return {
    ...head,
    layers: head.layers.map((layer, l) => ({
      ...layer, kernel: transposeMatrix(weights[2 * l]!, layer.outputDim, layer.inputDim), bias: weights[2 * l + 1]!.slice(),
    })),
  };
}

/**
 * Each fold's standardization: mean and population standard deviation of its training rows (every row outside
 * the fold), as `fitStandardization` on those rows would give, but from two passes over the data for all the folds
 * instead of two passes over 80 % of it per fold: per-fold sums, then per-fold centred squares, combined for each
 * fold's complement in float64 (the pairwise update of Chan, Golub and LeVeque). The float64 results differ from
 * fitStandardization's by summation order only, so a float32 mean or std may differ in its last bit.
 */
export function foldStandardizations(data: LabelledFeatures, foldOf: Int32Array, folds: number): Standardization[] {
  const { features, numSamples, embeddingDim } = data;
  const counts = new Float64Array(folds), sums = new Float64Array(folds * embeddingDim), squares = new Float64Array(folds * embeddingDim);
  for (let row = 0; row < numSamples; row++) {
    const offset = row * embeddingDim, fold = foldOf[row]!, sum = fold * embeddingDim;
    counts[fold]!++;
    for (let feature = 0; feature < embeddingDim; feature++) sums[sum + feature]! += features[offset + feature]!;
  }
  const means = sums.map((value, index) => value / counts[Math.floor(index / embeddingDim)]!);
  for (let row = 0; row < numSamples; row++) {
    const offset = row * embeddingDim, group = foldOf[row]! * embeddingDim;
    for (let feature = 0; feature < embeddingDim; feature++) {
      const centred = features[offset + feature]! - means[group + feature]!;
      squares[group + feature]! += centred * centred;
    }
  }
  return Array.from({ length: folds }, (_, held) => {
    const others = Array.from({ length: folds }, (_, fold) => fold).filter((fold) => fold !== held && counts[fold]! > 0);
    const count = others.reduce((total, fold) => total + counts[fold]!, 0);
    const mean = new Float32Array(embeddingDim), std = new Float32Array(embeddingDim);
    for (let feature = 0; feature < embeddingDim; feature++) {
      let sum = 0;
      for (const fold of others) sum += sums[fold * embeddingDim + feature]!;
      const mean64 = sum / count;
      let squared = 0;
      for (const fold of others) {
        const index = fold * embeddingDim + feature, offset = means[index]! - mean64;
        squared += squares[index]! + counts[fold]! * offset * offset;
      }
      mean[feature] = mean64;
      const deviation = Math.sqrt(squared / count);
      std[feature] = deviation > 1e-12 && Number.isFinite(deviation) ? deviation : 1;
    }
    return { mean, std };
  });
}

/** Kernels in the training layout ([outputDim × inputDim]) and biases of `head`, per layer (`Network.setWeights`). */
function trainingWeights(head: HeadWeights): Float32Array[] {
  return head.layers.flatMap(({ inputDim, outputDim, kernel, bias }) => [transposeMatrix(kernel, inputDim, outputDim), bias]);
}

/**
 * Logits of held-out rows through the training kernels, batch by batch as each fold's validation pass computed
 * them (float32 sums; `predictLogits`, the exported graph's float64 reference, agrees to float32 rounding). One
 * network serves every fold: each fold's weights and standardization are loaded into it in turn.
 */
class HeldOutLogits {
  private readonly network: Network;
  constructor(embeddingDim: number, numClasses: number, hidden: readonly number[], private readonly batchSize: number,
    standardize: boolean, kernels = fastestDenseKernels()) {
    const placeholder = standardize ? { mean: new Float32Array(embeddingDim), std: new Float32Array(embeddingDim).fill(1) } : null;
    this.network = new Network(embeddingDim, numClasses, hidden, batchSize, 0, placeholder, kernels, 0);
  }

  /** Logits of rows `order` of `data` (all rows in order when null), by `head`. */
  predict(head: HeadWeights, data: LabelledFeatures, order: Int32Array | null): Float32Array {
    const { network, batchSize } = this, { numClasses, embeddingDim } = network;
    network.setWeights(trainingWeights(head));
    const { standardization } = head;
    if ((standardization === null) !== (network.mean === null)) throw new RangeError('HeldOutLogits: the head\'s standardization does not match.');
    if (standardization !== null)
      for (let feature = 0; feature < embeddingDim; feature++) {
        network.mean![feature] = standardization.mean[feature]!;
        network.invStd![feature] = 1 / standardization.std[feature]!;
      }
    const count = order === null ? data.numSamples : order.length;
    const logits = new Float32Array(count * numClasses);
    for (let start = 0; start < count; start += batchSize) {
      const rows = Math.min(batchSize, count - start);
      network.gather(data, order, start, rows);
      logits.set(network.forward(rows, null).subarray(0, rows * numClasses), start * numClasses);
    }
    return logits;
  }

  dispose(): void { this.network.workspace.dispose(); }
}

/** Median of `values` (the mean of the middle two, rounded, for an even count); null when empty. */
function medianEpoch(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b), middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : Math.round((sorted[middle - 1]! + sorted[middle]!) / 2);
}

/**
 * The epoch each fold keeps under 'other-folds-best': the median of the other folds' best epochs, capped at the
 * fold's own kept epoch (its last good one); the fold's own epoch when no other fold has a best epoch.
 */
export function otherFoldsBestEpochs(fits: ReadonlyArray<Pick<FitResult, 'bestEpoch' | 'keptEpoch'>>): number[] {
  return fits.map((own, fold) => {
    const others = fits.filter((_, other) => other !== fold).map((fit) => fit.bestEpoch).filter((epoch): epoch is number => epoch !== null);
    const median = medianEpoch(others);
    return median === null ? own.keptEpoch : Math.max(1, Math.min(own.keptEpoch, median));
  });
}

function gatherViews(views: TrainingViews, rows: Int32Array, embeddingDim: number): TrainingViews {
  const { numViews } = views;
  return { features: copyRows(views.features, numViews * embeddingDim, rows), numViews,
    available: views.available ? copyRows(views.available, numViews, rows) : null };
}

/** What one fold trains on and how: plain data, so a worker can be sent it. */
export interface FoldJob {
  /** 0-based. */
  readonly fold: number;
  readonly seed: number;
  /** Rows of the cross-fitted data the fold trains on, and the rows it holds out (both ascending). */
  readonly trainRows: Int32Array;
  readonly heldOutRows: Int32Array;
  /** The fold's fit options, without functions (callbacks, progress, kernels) or data (validation, views). */
  readonly options: FitOptions;
  /** Keep each epoch's weights within this many bytes (for 'other-folds-best'), or none. */
  readonly snapshotBudgetBytes: number | null;
}

export interface TrainedFold {
  readonly result: FitResult;
  /** Weights at the end of each epoch (`TrainingRun.getWeights` layout), when the job asked for them. */
  readonly snapshots: ReadonlyMap<number, Float32Array[]> | null;
}

/** Trains one fold of `train` (its views, if any, indexed like `train`'s rows); `extra` adds what a worker cannot be sent. */
export async function trainFold(train: TrainingData, views: TrainingViews | null, job: FoldJob,
  extra: Pick<FitOptions, 'onProgress' | 'kernels'> = {}): Promise<TrainedFold> {
  const snapshots = job.snapshotBudgetBytes === null ? null : new EpochSnapshots(job.snapshotBudgetBytes);
  const result = await fit(selectRows(train, job.trainRows), {
    ...job.options, ...extra, seed: job.seed, validation: selectRows(train, job.heldOutRows),
    views: views === null ? null : gatherViews(views, job.trainRows, train.embeddingDim), callbacks: snapshots === null ? [] : [snapshots],
  }, 'options');
  return { result, snapshots: snapshots?.weights ?? null };
}

/**
 * Above this many estimated seconds of fold training, crossFit trains folds in worker threads by default. A worker
 * is ready for its first fold ~0.2–0.3 s after crossFit starts from the compiled package, 0.3–0.75 s from the
 * sources (tsx); this thread does not wait for it, so the worker pays once it takes one fold of several.
 */
export const PARALLEL_FOLDS_MIN_SECONDS = 1;

/**
 * With fold workers already started and idle in the pool (prewarmFoldWorkers, or an earlier crossFit's), crossFit
 * uses them from this many estimated seconds of fold training: handing a fold to a warm worker costs a message and
 * one shared copy of the features, a few milliseconds. Measured (one warm worker vs one thread, 5 folds, busy 2-core
 * VM): 60 × 1280 × 3 classes, 50 epochs (estimate 0.025 s) 1.07× the one-thread time; 100 rows (0.042 s) 0.81×;
 * 300 rows (0.075–0.125 s) 0.52–0.85×.
 */
export const WARM_FOLDS_MIN_SECONDS = 0.04;

/** The most fold workers worth having: one fewer than the cores (this thread trains too), and fewer than the folds. */
const foldWorkerLimit = (folds: number): number => Math.max(0, Math.min(availableParallelism() - 1, folds - 1));

/**
 * Worker threads for the folds: `requested`, else automatic (see CrossFitOptions.workers). None for streamed data
 * or custom kernels (a worker cannot be sent them).
 */
function foldWorkerCount(train: TrainingData, resolved: ResolvedFitOptions, folds: number, requested: number | undefined, customKernels: boolean): number {
  if (requested !== undefined && !(Number.isInteger(requested) && requested >= 0))
    throw new FinetuneError('INVALID_OPTION', `workers must be a whole number ≥ 0, got ${requested}.`, 'Pass 0 to train the folds in this thread.');
  if (isStreamed(train) || customKernels) return 0;
  if (requested !== undefined) return Math.min(requested, folds - 1);
  if (!isMainThread) return 0;   // already in a worker (a sweep's): its siblings use the other cores
  // Seconds ≈ sample-epochs × (3 × multiply-adds of a training step + the row's gather), at ~1e10 a second (measured:
  // 3,000 × 1280 × 10 classes, 30 epochs, 5 folds: 1.6 s).
  const multiplyAdds = headMultiplyAdds(train.embeddingDim, resolved.hidden, resolved.numClasses);
  const seconds = folds * resolved.epochs * train.numSamples * (3 * multiplyAdds + 4 * train.embeddingDim) / 1e10;
  // Memory: the shared copy of the features plus one fold's copies per thread come to ~4× the features in all
  // (sequential: ~2×), so the default keeps that within a quarter of the machine's memory.
  const featureBytes = train.numSamples * train.embeddingDim * 4;
  if (4 * featureBytes > totalmem() / 4) return 0;
  const most = foldWorkerLimit(folds);
  if (seconds >= PARALLEL_FOLDS_MIN_SECONDS) return most;
  // Below that, only workers already started (prewarmFoldWorkers, or an earlier call's): they cost no start.
  return seconds >= WARM_FOLDS_MIN_SECONDS ? Math.min(most, idleTrainWorkerCount(FOLD_WORKER)) : 0;
}

/** The folds one after another in this thread. */
async function trainFoldsHere(train: TrainingData, views: TrainingViews | null, jobs: readonly FoldJob[],
  extra: Pick<FitOptions, 'onProgress' | 'kernels'>, announce: (job: FoldJob, where: string) => void): Promise<TrainedFold[]> {
  const trained: TrainedFold[] = [];
  for (const job of jobs) {
    announce(job, '');
    trained.push(await trainFold(train, views, job, extra));
  }
  return trained;
}

/** Messages between crossFit and its fold workers: a fold to train on shared features, and the replies. */
export interface FoldWorkerData { readonly train: LabelledFeatures; readonly views: TrainingViews | null }
export interface FoldMessage { readonly job: FoldJob; readonly data: FoldWorkerData }
export type FoldReply =
  | { readonly ready: true }
  | { readonly fold: number; readonly trained: TrainedFold }
  | { readonly fold: number; readonly error: WorkerError };

/** The module of the fold workers (a worker of the pool in train-workers.ts). */
const FOLD_WORKER = 'cross-fit-worker';

/**
 * Starts crossFit's fold workers in the background (one fewer than the cores, at most `folds` − 1), so that a
 * crossFit called soon after finds them ready instead of paying their start (~0.2–0.3 s from the compiled package):
 * what a run does before extracting features when it will cross-fit them in memory. Idle workers never keep the
 * process alive and close after IDLE_WORKER_MS. Does nothing in a worker thread (e.g. a sweep's).
 */
export function prewarmFoldWorkers(folds = 5): void {
  if (isMainThread) prewarmTrainWorkers(FOLD_WORKER, foldWorkerLimit(folds));
}

/** Closes crossFit's idle fold workers now (e.g. when a run turns out to stream its features: no worker will take them). */
export function closeIdleFoldWorkers(): Promise<void> {
  return closeIdleTrainWorkers(FOLD_WORKER);
}

/**
 * The folds shared between this thread and `workerCount` worker threads (from the pool: idle ones first, which may
 * be ready already): each thread takes the next fold when it is free (a worker once it is ready), so a worker that
 * is not ready yet costs nothing but its start. Every fold's result is the same wherever it trains (one kernel
 * thread each, same inputs), and they are returned in fold order. The workers go back to the pool afterwards (on
 * failure they are closed). A worker that fails before it is ready leaves its folds to this thread. For tests:
 * `trainHere` false leaves every fold to the workers (a worker that cannot start then fails the call);
 * `workerModule` names the worker.
 */
export async function trainFoldsInWorkers(train: LabelledFeatures, views: TrainingViews | null, jobs: readonly FoldJob[], workerCount: number,
  onProgress: ProgressCallback | undefined, announce: (job: FoldJob, where: string) => void,
  { trainHere = true, workerModule = FOLD_WORKER }: { readonly trainHere?: boolean; readonly workerModule?: string } = {}): Promise<TrainedFold[]> {
  const oneThread = jobs.map((job) => ({ ...job, options: { ...job.options, threads: 1 } }));
  const trained: Array<TrainedFold | undefined> = new Array(jobs.length);
  let next = 0, completed = 0, failure: unknown = null;
  let settle: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  const allDone = new Promise<void>((resolve, reject) => { settle = { resolve, reject }; });
  allDone.catch(() => {});   // awaited below; a failure while this thread trains is rethrown there
  const finish = (fold: number, result: TrainedFold): void => {
    trained[fold] = result;
    if (++completed === jobs.length) settle!.resolve();
  };
  const fail = (error: unknown): void => { failure ??= error; settle!.reject(error); };
  // Only the fields a fold needs (not e.g. a run's image paths), in shared memory: posting them shares, not copies.
  const data: FoldWorkerData = {
    train: { ...toSharedFeatures({ features: train.features, labels: train.labels, numSamples: train.numSamples, embeddingDim: train.embeddingDim }) },
    views: views === null ? null : { numViews: views.numViews, features: toShared(views.features, (buffer) => new Float32Array(buffer)),
      available: views.available ? toShared(views.available, (buffer) => new Uint8Array(buffer)) : null },
  };
  const workers = takeTrainWorkers(workerModule, workerCount);
  const detach: Array<() => void> = [];
  try {
    for (const pooled of workers) {
      const { worker } = pooled;
      let busy = false, ready = pooled.ready;
      const dispatch = (): void => {
        const job = failure === null ? oneThread[next] : undefined;
        busy = job !== undefined;
        if (job === undefined) return;
        next++;
        announce(job, ' (worker thread)');
        worker.postMessage({ job, data } satisfies FoldMessage);
      };
      const onMessage = (reply: FoldReply): void => {
        if ('ready' in reply) { ready = true; dispatch(); }
        else if ('error' in reply) fail(fromWorkerError(reply.error));
        else { finish(reply.fold, reply.trained); dispatch(); }
      };
      // A worker that cannot start (e.g. its module is missing from a bundle) only leaves its folds to this thread.
      const onError = (error: Error): void => { if (ready || !trainHere) fail(error); };
      const onExit = (code: number): void => { if (busy || (!ready && !trainHere)) fail(new Error(`A cross-fitting worker exited with code ${code} before finishing its fold.`)); };
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      detach.push(() => { worker.off('message', onMessage).off('error', onError).off('exit', onExit); });
      if (ready) dispatch();
    }
    while (trainHere && failure === null && next < oneThread.length) {
      const job = oneThread[next++]!;
      announce(job, '');
      finish(job.fold, await trainFold(train, views, job, onProgress === undefined ? {} : { onProgress }));
    }
    await allDone;
  } finally {
    for (const off of detach) off();
    // Idle again after a success (every fold came back): to the pool. After a failure a worker may still be busy.
    if (failure === null && completed === jobs.length) workers.forEach(releaseTrainWorker);
    else await Promise.all(workers.map((pooled) => pooled.worker.terminate()));
  }
  return trained as TrainedFold[];
}

/** Mean cross-entropy and accuracy of `logits` rows against `labels`. */
function lossAndAccuracy(logits: Float32Array, labels: ArrayLike<number>, numClasses: number): { loss: number; accuracy: number } {
  let loss = 0, correct = 0;
  for (let row = 0; row < labels.length; row++) {
    const offset = row * numClasses;
    let max = -Infinity, best = 0;
    for (let k = 0; k < numClasses; k++) if (logits[offset + k]! > max) { max = logits[offset + k]!; best = k; }
    let sum = 0;
    for (let k = 0; k < numClasses; k++) sum += Math.exp(logits[offset + k]! - max);
    loss += Math.log(sum) + max - logits[offset + labels[row]!]!;
    if (best === labels[row]) correct++;
  }
  return labels.length === 0 ? { loss: Number.NaN, accuracy: Number.NaN } : { loss: loss / labels.length, accuracy: correct / labels.length };
}

/**
 * Cross-fits a head on `train` (see the module comment). Options are those of `fit` (each fold's early stopping
 * monitors its held-out fold, `valLoss` by default) plus `folds`, `views` and `calibrate`.
 * @throws RangeError when `folds` is not an integer in [2, numSamples]; FinetuneError from `fit` for bad options or data.
 */
export async function crossFit(train: TrainingData, options: CrossFitOptions = {}): Promise<CrossFitResult> {
  const folds = options.folds ?? 5;
  const seed = options.seed ?? 42;
  const calibrate = options.calibrate ?? true;
  // Each fold standardizes with its own training rows: statistics given for the whole data would leak held-out rows.
  const { folds: _folds, views: viewsOption, calibrate: _calibrate, standardization: _standardization, keptEpochRule: _rule, ...fitOptions } =
    options as CrossFitOptions & Pick<FitOptions, 'standardization'>;
  // Fail before any fold trains: finiteness once on the whole data (every fold's rows are a subset, so the fits skip
  // it), then the options and labels, with the data standing in for the held-out folds.
  checkFeaturesFinite(train, null, viewsOption ?? null);
  const resolved = resolveFitOptions(train, { ...fitOptions, validation: train }, 'options');
  // Stop on the held-out fold, but do not restore its own best epoch unless asked to (see CrossFitOptions).
  const earlyStopping = fitOptions.earlyStopping === null ? null
    : { ...fitOptions.earlyStopping, restoreBestWeights: fitOptions.earlyStopping?.restoreBestWeights ?? false };
  const { numClasses, classNames } = resolved;
  const foldOf = stratifiedFolds(train.labels, numClasses, folds, seed);
  const onProgress: ProgressCallback | undefined = options.onProgress;
  const otherFoldsBest = (options.keptEpochRule ?? 'other-folds-best') === 'other-folds-best'
    && earlyStopping !== null && earlyStopping.restoreBestWeights !== true;
  // Streamed data: the held-out rows are predicted window by window within the fits' memory budget.
  const windowOptions = {
    ...(options.memoryBudgetBytes !== undefined ? { memoryBudgetBytes: options.memoryBudgetBytes } : {}),
    ...(options.blockRows !== undefined ? { blockRows: options.blockRows } : {}),
  };

  // In memory, every fold's standardization from two passes over the data (streamed: each fit scans its own rows).
  const standardizations = resolved.standardize && !isStreamed(train) ? foldStandardizations(train, foldOf, folds) : null;

  const { onProgress: _onProgress, kernels, workers: requestedWorkers, ...plainOptions } = fitOptions;
  const jobs: FoldJob[] = Array.from({ length: folds }, (_, fold) => {
    const trainRows: number[] = [], heldOutRows: number[] = [];
    for (let row = 0; row < train.numSamples; row++) (foldOf[row] === fold ? heldOutRows : trainRows).push(row);
    return { fold, seed: foldSeed(seed, fold + 1), trainRows: Int32Array.from(trainRows), heldOutRows: Int32Array.from(heldOutRows),
      options: { ...plainOptions, earlyStopping, numClasses, ...(standardizations === null ? {} : { standardization: standardizations[fold]! }) },
      snapshotBudgetBytes: otherFoldsBest ? SNAPSHOT_BUDGET_BYTES / folds : null };
  });
  const workers = foldWorkerCount(train, resolved, folds, requestedWorkers, kernels !== undefined);
  const announce = (job: FoldJob, where: string): void => onProgress?.({ stage: 'info', status: 'message',
    message: `Fold ${job.fold + 1}/${folds}: training on ${job.trainRows.length} images, early-stopping on ${job.heldOutRows.length} held out${where}` });
  const trained = workers === 0
    ? await trainFoldsHere(train, viewsOption ?? null, jobs, { ...(onProgress === undefined ? {} : { onProgress }), ...(kernels === undefined ? {} : { kernels }) }, announce)
    : await trainFoldsInWorkers(train as LabelledFeatures, viewsOption ?? null, jobs, workers, onProgress, announce);

  // Each fold's kept weights: its last epoch, or (other-folds-best) the epoch the other folds found best.
  const keptEpochs = otherFoldsBest ? otherFoldsBestEpochs(trained.map(({ result }) => result)) : null;
  const oofLogits = new Float32Array(train.numSamples * numClasses);
  const results: FoldResult[] = [];
  const predictor = new HeldOutLogits(train.embeddingDim, numClasses, resolved.hidden, resolved.batchSize, resolved.standardize, options.kernels);
  try {
    for (const [fold, { result: fitted, snapshots }] of trained.entries()) {
      const { seed: seedOfFold, trainRows, heldOutRows } = jobs[fold]!;
      const epoch = keptEpochs?.[fold] ?? fitted.keptEpoch;
      const weights = epoch === fitted.keptEpoch ? undefined : snapshots?.get(epoch);
      const result: FitResult = weights === undefined ? fitted
        : { ...fitted, head: headWithWeights(fitted.head, weights), keptEpoch: epoch, restoredEpoch: epoch };
      // In memory the held-out rows are read in place (by index); streamed, window by window.
      const logits = isStreamed(train) ? await mapRows(selectRows(train, heldOutRows), numClasses, (features, numSamples) =>
        predictor.predict(result.head, { features, numSamples, embeddingDim: train.embeddingDim, labels: new Int32Array(numSamples) }, null), windowOptions)
        : predictor.predict(result.head, train, heldOutRows);
      heldOutRows.forEach((row, index) => oofLogits.set(logits.subarray(index * numClasses, (index + 1) * numClasses), row * numClasses));
      const { loss, accuracy } = lossAndAccuracy(logits, Int32Array.from(heldOutRows, (row) => train.labels[row]!), numClasses);
      results.push({ fold: fold + 1, seed: seedOfFold, trainCount: trainRows.length, heldOutCount: heldOutRows.length,
        heldOutLoss: loss, heldOutAccuracy: accuracy, fit: result });
    }
  } finally {
    predictor.dispose();
  }

  const { loss: cvLoss, accuracy: cvAccuracy } = lossAndAccuracy(oofLogits, train.labels, numClasses);
  const fitted = calibrate ? fitTemperature(oofLogits, train.labels, numClasses) : null;
  const temperature = fitted?.temperature ?? 1;
  const oofProbabilities = softmaxWithTemperature(oofLogits, numClasses, temperature);
  return {
    head: mergeHeads(results.map((result) => result.fit.head), { temperature }),
    folds: results, foldOf, oofLogits, oofProbabilities, cvLoss, cvAccuracy, temperature,
    nllBefore: fitted?.nllBefore ?? cvLoss, nllAfter: fitted?.nllAfter ?? cvLoss,
    calibrationBefore: calibrationReport(softmaxWithTemperature(oofLogits, numClasses, 1), train.labels, numClasses),
    calibrationAfter: calibrationReport(oofProbabilities, train.labels, numClasses),
    numClasses, classNames, kernelInitializer: resolved.kernelInitializer,
  };
}
