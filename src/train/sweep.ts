import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { FinetuneError } from '../errors.js';
import type { ProgressCallback } from '../types.js';
import { HIGHER_IS_BETTER, type MetricName } from './callbacks.js';
import { crossFit, type CrossFitResult } from './cross-fit.js';
import { fit, type FitResult } from './fit.js';
import { headMultiplyAdds } from './network.js';
import { fitStandardization } from './standardization.js';
import { checkFeaturesFinite, resolveFitOptions, type FitOptions, type LabelledFeatures } from './fit-options.js';
import { fromWorkerError, startTrainWorker, toSharedFeatures, type WorkerError } from './train-workers.js';

/** Values to try per hyperparameter; the sweep trains every combination. Omitted keys use the base options. */
export interface SweepGrid {
  learningRate?: readonly number[];
  weightDecay?: readonly number[];
  hidden?: readonly (readonly number[])[];
  dropout?: readonly number[];
  seed?: readonly number[];
}

export interface SweepConfig {
  readonly learningRate: number;
  readonly weightDecay: number;
  readonly hidden: readonly number[];
  readonly dropout: number;
  readonly seed: number;
}

export interface SweepOptions extends Omit<FitOptions, 'validation' | 'callbacks' | 'onProgress' | 'kernels'> {
  /**
   * Validation metric that ranks the configs, read at each config's kept epoch; cross-fitted, the out-of-fold loss
   * or accuracy of all labelled rows. @defaultValue `'valLoss'`
   */
  rankBy?: 'valLoss' | 'valAccuracy';
  /**
   * Cross-fit each config in this many folds (crossFit, no validation split: pass `validation` null) and rank by the
   * cross-validated loss; `1` trains once and ranks on `validation`. @defaultValue `1`
   */
  folds?: number;
  /**
   * Worker threads (each trains whole configs; the feature matrix is shared, not copied, when it lives in a
   * SharedArrayBuffer). `0` trains in this thread. Each worker takes 1–2 s to start (Node plus tsx).
   * @defaultValue all cores (`os.availableParallelism()`) capped at the number of configs, or 0 when the sweep
   * is estimated to take under ~8 s in one thread
   */
  workers?: number;
  /** Reports one `info` message per finished config. */
  onProgress?: ProgressCallback;
}

export interface SweepResult {
  /** 1 = best. */
  readonly rank: number;
  /** Position in the grid's expansion order (learningRate × weightDecay × hidden × dropout × seed). */
  readonly index: number;
  readonly config: SweepConfig;
  readonly rankBy: MetricName;
  /** Metrics of the kept epoch; cross-fitted, the out-of-fold loss and accuracy. */
  readonly valLoss: number;
  readonly valAccuracy: number;
  /** Cross-fitted: the median over the folds. */
  readonly keptEpoch: number;
  /** Cross-fitted: the last epoch any fold ran. */
  readonly stoppedEpoch: number;
  readonly stopReason: string;
  readonly seconds: number;
  /** The config's fit; null when cross-fitted (see `crossFit`). */
  readonly fit: FitResult | null;
  readonly crossFit: CrossFitResult | null;
}

/** Every combination of the grid, in a fixed order; keys not in the grid take the base options' value. */
export function expandGrid(grid: SweepGrid, base: FitOptions = {}): SweepConfig[] {
  const axis = <T>(name: keyof SweepGrid, values: readonly T[] | undefined, fallback: T): readonly T[] => {
    if (values !== undefined && values.length === 0)
      throw new FinetuneError('INVALID_OPTION', `The sweep grid gives no values for ${name}.`, `List at least one value for ${name}, or leave it out.`);
    return values ?? [fallback];
  };
  const configs: SweepConfig[] = [];
  for (const learningRate of axis('learningRate', grid.learningRate, base.learningRate ?? 0.001))
    for (const weightDecay of axis('weightDecay', grid.weightDecay, base.weightDecay ?? 0))
      for (const hidden of axis('hidden', grid.hidden, base.hidden ?? []))
        for (const dropout of axis('dropout', grid.dropout, base.dropout ?? 0))
          for (const seed of axis('seed', grid.seed, base.seed ?? 42))
            configs.push({ learningRate, weightDecay, hidden: [...hidden], dropout, seed });
  return configs;
}

/** `lr=0.001 wd=0 hidden=[256] dropout=0.2 seed=42` */
export function formatSweepConfig(config: SweepConfig): string {
  return `lr=${config.learningRate} wd=${config.weightDecay} hidden=[${config.hidden.join(',')}] dropout=${config.dropout} seed=${config.seed}`;
}

/** Messages between the sweep and its workers. */
export type SweepJob = { readonly index: number; readonly options: FitOptions; readonly folds: number };
export type SweepReply =
  | { readonly index: number; readonly result: FitResult }
  | { readonly index: number; readonly crossFit: CrossFitResult }
  | { readonly index: number; readonly error: WorkerError };
export interface SweepWorkerData {
  readonly entry: string;
  readonly train: LabelledFeatures;
  readonly validation: LabelledFeatures | null;
}

/** One config's training: `fit` on the split, or `crossFit` in `job.folds` folds (uncalibrated: only the loss ranks). */
export function trainSweepJob(train: LabelledFeatures, validation: LabelledFeatures | null, job: SweepJob): Promise<FitResult | CrossFitResult> {
  // Single split: the sweep checked the shared features once ('options'); crossFit checks each fold's data itself.
  return job.folds > 1 ? crossFit(train, { ...job.options, folds: job.folds, calibrate: false }) : fit(train, { ...job.options, validation }, 'options');
}

const isCrossFit = (result: FitResult | CrossFitResult): result is CrossFitResult => 'oofLogits' in result;

function toSweepResult(index: number, config: SweepConfig, rankBy: MetricName, result: FitResult | CrossFitResult, seconds: number): Omit<SweepResult, 'rank'> {
  if (isCrossFit(result)) {
    const kept = result.folds.map((fold) => fold.fit.keptEpoch).sort((a, b) => a - b);
    return {
      index, config, rankBy, valLoss: result.cvLoss, valAccuracy: result.cvAccuracy, keptEpoch: kept[Math.floor((kept.length - 1) / 2)]!,
      stoppedEpoch: Math.max(...result.folds.map((fold) => fold.fit.stoppedEpoch)), stopReason: `${result.folds.length}-fold cross-fitting`,
      seconds, fit: null, crossFit: result,
    };
  }
  const kept = result.history.find((logs) => logs.epoch === result.keptEpoch);
  return {
    index, config, rankBy, valLoss: kept?.valLoss ?? NaN, valAccuracy: kept?.valAccuracy ?? NaN, keptEpoch: result.keptEpoch,
    stoppedEpoch: result.stoppedEpoch, stopReason: result.stopReason, seconds, fit: result, crossFit: null,
  };
}

/** Rough single-thread seconds for a sweep (≈ 4e8 multiply-adds per second, forward + two backward passes). */
function estimateSeconds(train: LabelledFeatures, configs: readonly SweepConfig[], epochs: number, numClasses: number): number {
  let multiplyAdds = 0;
  for (const config of configs) multiplyAdds += 3 * headMultiplyAdds(train.embeddingDim, config.hidden, numClasses) * train.numSamples * epochs;
  return multiplyAdds / 4e8;
}

async function runInWorkers(train: LabelledFeatures, validation: LabelledFeatures | null, jobs: readonly SweepJob[], workerCount: number,
  onResult: (index: number, result: FitResult | CrossFitResult, seconds: number) => void): Promise<void> {
  const workerData: Omit<SweepWorkerData, 'entry'> = { train: toSharedFeatures(train), validation: validation && toSharedFeatures(validation) };
  let next = 0;
  const workers: Worker[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      let pending = jobs.length, failed = false;
      const started = new Map<number, number>();
      const dispatch = (worker: Worker): void => {
        const job = jobs[next++];
        if (job === undefined) return;
        started.set(job.index, performance.now());
        worker.postMessage(job);
      };
      const fail = (error: unknown): void => {
        if (!failed) { failed = true; reject(error); }
      };
      for (let w = 0; w < workerCount; w++) {
        const worker = startTrainWorker('sweep-worker', workerData);
        workers.push(worker);
        worker.on('message', (reply: SweepReply) => {
          if ('error' in reply) { fail(fromWorkerError(reply.error)); return; }
          onResult(reply.index, 'crossFit' in reply ? reply.crossFit : reply.result, (performance.now() - started.get(reply.index)!) / 1000);
          if (--pending === 0) resolve();
          else dispatch(worker);
        });
        worker.on('error', fail);
        worker.on('exit', (code) => { if (pending > 0) fail(new Error(`A sweep worker exited with code ${code} before finishing.`)); });
        dispatch(worker);
      }
    });
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

/**
 * Trains one head per grid combination on the same cached features and ranks them by a validation metric
 * (best first). Each config is trained exactly as `fit` would with the base options plus its overrides, so a
 * config's result does not depend on the number of workers.
 */
export async function sweep(train: LabelledFeatures, validation: LabelledFeatures | null, grid: SweepGrid,
  options: SweepOptions = {}): Promise<SweepResult[]> {
  const folds = options.folds ?? 1;
  if (!(Number.isInteger(folds) && folds >= 1))
    throw new FinetuneError('INVALID_OPTION', `--folds must be a whole number ≥ 1, got ${folds}.`, 'Pass --folds 5 to cross-fit, or --folds 1 for one split.');
  if (folds === 1 && validation === null)
    throw new FinetuneError('INVALID_OPTION', 'A sweep ranks heads by a validation metric, but no validation split was given.',
      'Keep a validation split (e.g. --validation-split 0.2) when running `finetune sweep --folds 1`, or cross-fit (--folds 5).');
  if (folds > 1 && validation !== null)
    throw new FinetuneError('INVALID_OPTION', `A cross-fitted sweep (--folds ${folds}) ranks on every labelled image, but a validation split was given.`,
      'Drop --validation-split, or pass --folds 1 to rank on the validation split.');
  const rankBy: MetricName = options.rankBy ?? 'valLoss';
  if (rankBy !== 'valLoss' && rankBy !== 'valAccuracy')
    throw new FinetuneError('INVALID_OPTION', `Cannot rank a sweep by "${String(rankBy)}".`, 'Use --rank-by valLoss or --rank-by valAccuracy.');
  const { rankBy: _rankBy, workers: requestedWorkers, onProgress, folds: _folds, ...base } = options;
  const configs = expandGrid(grid, base);
  // Fail before any work: validate every config against the data here, in this thread (the features once). Cross-fitted,
  // the whole data stands in for the held-out folds.
  const heldOut = validation ?? train;
  checkFeaturesFinite(train, validation, base.views ?? null);
  for (const config of configs) resolveFitOptions(train, { ...base, ...config, validation: heldOut }, 'options');
  // Every config standardizes with the same training statistics: compute them once, not once per config. Cross-fitted,
  // each fold standardizes with its own training rows instead (crossFit), so nothing of a held-out fold leaks in.
  const standardization = folds > 1 || base.standardize === false ? null
    : base.standardization ?? fitStandardization(train.features, train.numSamples, train.embeddingDim);
  const jobs: SweepJob[] = configs.map((config, index) =>
    ({ index, options: { ...base, ...config, ...(folds > 1 ? {} : { standardization }), validation: null }, folds }));

  // Starting a worker (Node + tsx) takes 1–2 s, so threads pay only for sweeps of several seconds or more.
  const numClasses = resolveFitOptions(train, { ...base, validation: heldOut }, 'options').numClasses;
  const estimate = estimateSeconds(train, configs, base.epochs ?? 50, numClasses) * folds;
  const automatic = configs.length >= 2 && estimate >= 8 ? Math.min(availableParallelism(), configs.length) : 0;
  const workerCount = Math.min(requestedWorkers ?? automatic, configs.length);
  if (!(Number.isInteger(workerCount) && workerCount >= 0))
    throw new FinetuneError('INVALID_OPTION', `--workers must be a non-negative integer, got ${requestedWorkers}.`, 'Pass --workers 0 to train in one thread.');

  const unranked: Array<Omit<SweepResult, 'rank'>> = [];
  let done = 0;
  const onResult = (index: number, result: FitResult | CrossFitResult, seconds: number): void => {
    const entry = toSweepResult(index, configs[index]!, rankBy, result, seconds);
    unranked.push(entry);
    done++;
    onProgress?.({ stage: 'info', status: 'message',
      message: `sweep ${done}/${configs.length}: ${formatSweepConfig(entry.config)} → ${rankBy} ${entry[rankBy].toFixed(4)} (epoch ${entry.keptEpoch})` });
  };
  if (workerCount === 0) {
    for (const job of jobs) {
      const startedAt = performance.now();
      const result = await trainSweepJob(train, validation, job);
      onResult(job.index, result, (performance.now() - startedAt) / 1000);
    }
  } else {
    // Each worker trains whole configs on one core; kernel threads on top would only compete with the other workers.
    // Costliest configs first (longest-processing-time order): the workers then finish together instead of one
    // training a wide MLP alone at the end. Results do not depend on the order.
    const cost = (job: SweepJob): number => headMultiplyAdds(train.embeddingDim, configs[job.index]!.hidden, numClasses);
    const oneThreadEach = jobs.map((job) => ({ ...job, options: { ...job.options, threads: base.threads ?? 1 } }))
      .sort((a, b) => cost(b) - cost(a) || a.index - b.index);
    await runInWorkers(train, validation, oneThreadEach, workerCount, onResult);
  }
  const higherIsBetter = HIGHER_IS_BETTER[rankBy];
  const score = (entry: Omit<SweepResult, 'rank'>): number => {
    const value = entry[rankBy];
    return Number.isNaN(value) ? -Infinity : higherIsBetter ? value : -value;
  };
  unranked.sort((a, b) => score(b) - score(a) || a.index - b.index);
  return unranked.map((entry, position) => ({ rank: position + 1, ...entry }));
}

/** A ranked, fixed-width table of sweep results, best first. */
export function formatSweepTable(results: readonly SweepResult[]): string {
  const header = ['rank', 'learningRate', 'weightDecay', 'hidden', 'dropout', 'seed', 'valLoss', 'valAccuracy', 'epoch', 'seconds'];
  const rows = results.map((result) => [
    String(result.rank), String(result.config.learningRate), String(result.config.weightDecay),
    result.config.hidden.length === 0 ? 'linear' : result.config.hidden.join(','), String(result.config.dropout),
    String(result.config.seed), result.valLoss.toFixed(4), result.valAccuracy.toFixed(4),
    `${result.keptEpoch}/${result.stoppedEpoch}`, result.seconds.toFixed(2),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]): string => cells.map((cell, column) => (column >= 6 || column === 0 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join('  ').trimEnd();
  const first = results[0];
  const rankedBy = first === undefined ? ''
    : first.crossFit !== null ? `\nranked by the cross-validated ${first.rankBy === 'valLoss' ? 'loss' : 'accuracy'} (${first.crossFit.folds.length} folds, ` +
      'out of fold); valLoss/valAccuracy = out-of-fold; epoch = median kept/last stopped'
    : `\nranked by ${first.rankBy} of the kept epoch; epoch = kept/stopped`;
  return [line(header), ...rows.map(line)].join('\n') + rankedBy;
}
