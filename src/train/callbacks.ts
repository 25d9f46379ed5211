/**
 * Training callbacks with Keras names and semantics (keras/src/callbacks/{early_stopping,reduce_lr_on_plateau}.py,
 * Keras 3). Differences from Keras, on purpose:
 * - Epochs are 1-based everywhere in this API (hooks, logs, bestEpoch), as Keras *prints* them; Keras passes
 *   0-based numbers to its hooks. `startFromEpoch: n` still means "the first n epochs are not monitored", and
 *   "never stop after the first epoch" (Keras `epoch > 0`) is `epoch > 1` here.
 * - Metric names are a closed camelCase union, so a typo fails to compile; whether higher is better comes
 *   from a table, not from a substring guess.
 */

export type MetricName = 'loss' | 'valLoss' | 'accuracy' | 'valAccuracy';
export const METRIC_NAMES: readonly MetricName[] = ['loss', 'valLoss', 'accuracy', 'valAccuracy'];
export const HIGHER_IS_BETTER: Readonly<Record<MetricName, boolean>> =
  { loss: false, valLoss: false, accuracy: true, valAccuracy: true };

/** One row of the training history. Training `loss`/`accuracy` are running means over the epoch's batches (Keras). */
export interface EpochLogs {
  /** 1-based. */
  readonly epoch: number;
  /** Mean training loss over the epoch's samples (class weights and label smoothing included, as Keras reports it). */
  readonly loss: number;
  readonly accuracy: number;
  /** Validation loss (label smoothing included, class weights not: Keras applies class_weight to training only). */
  readonly valLoss: number | null;
  readonly valAccuracy: number | null;
  /** Learning rate used during this epoch. */
  readonly learningRate: number;
  /** Wall time of the epoch including validation. The only field that differs between identical seeded runs. */
  readonly seconds: number;
}

/** What a callback may see and do during `fit`. */
export interface TrainingRun {
  readonly epochs: number;
  /** The optimizer's learning rate; setting it takes effect from the next batch. */
  learningRate: number;
  /** A copy of the trainable weights (opaque order: per layer, kernel then bias). */
  getWeights(): Float32Array[];
  setWeights(weights: readonly Float32Array[]): void;
  /** Finish this epoch, then stop; the reason is shown to the user (the first request wins). */
  stop(reason: string): void;
  readonly stopRequested: boolean;
}

/** Base class: every hook is an async no-op. */
export abstract class Callback {
  async onTrainBegin(_run: TrainingRun): Promise<void> {}
  async onEpochBegin(_epoch: number): Promise<void> {}
  async onEpochEnd(_epoch: number, _logs: EpochLogs): Promise<void> {}
  /** `lastLogs` is null when no epoch completed. */
  async onTrainEnd(_lastLogs: EpochLogs | null): Promise<void> {}
}

/** Fans each hook out to its callbacks, awaiting them in order. */
export class CallbackList extends Callback {
  constructor(readonly callbacks: readonly Callback[]) {
    super();
  }
  override async onTrainBegin(run: TrainingRun): Promise<void> {
    for (const callback of this.callbacks) await callback.onTrainBegin(run);
  }
  override async onEpochBegin(epoch: number): Promise<void> {
    for (const callback of this.callbacks) await callback.onEpochBegin(epoch);
  }
  override async onEpochEnd(epoch: number, logs: EpochLogs): Promise<void> {
    for (const callback of this.callbacks) await callback.onEpochEnd(epoch, logs);
  }
  override async onTrainEnd(lastLogs: EpochLogs | null): Promise<void> {
    for (const callback of this.callbacks) await callback.onTrainEnd(lastLogs);
  }
}

export type MonitorMode = 'auto' | 'min' | 'max';

function resolveHigherIsBetter(owner: string, monitor: MetricName, mode: MonitorMode): boolean {
  if (!METRIC_NAMES.includes(monitor))
    throw new RangeError(`${owner}: 'monitor' must be one of ${METRIC_NAMES.join(', ')}, got "${String(monitor)}".`);
  switch (mode) {
    case 'min': return false;
    case 'max': return true;
    case 'auto': return HIGHER_IS_BETTER[monitor];
    default: throw new RangeError(`${owner}: 'mode' must be auto, min or max, got "${String(mode)}".`);
  }
}

function checkNonNegative(owner: string, name: string, value: number, integer: boolean): void {
  if (!(Number.isFinite(value) && value >= 0 && (!integer || Number.isInteger(value))))
    throw new RangeError(`${owner}: '${name}' must be a ${integer ? 'non-negative integer' : 'finite number ≥ 0'}, got ${value}.`);
}

export interface EarlyStoppingOptions {
  /** Metric to watch. @defaultValue `'valLoss'` */
  monitor?: MetricName;
  /** Smallest change that counts as an improvement (its sign is ignored, as in Keras). @defaultValue `0` */
  minDelta?: number;
  /** Epochs without improvement before stopping. @defaultValue `5` (Keras: 0) */
  patience?: number;
  /** `auto` takes the direction from the metric (accuracy: higher is better). @defaultValue `'auto'` */
  mode?: MonitorMode;
  /**
   * Value the metric must beat. Until it is beaten, improvements update the best epoch but do not reset the
   * patience counter, so training stops `patience` epochs after the first monitored epoch. @defaultValue `null`
   */
  baseline?: number | null;
  /**
   * At the end of training put back the weights of the best monitored epoch, whether or not early stopping
   * triggered (modern Keras); if no epoch beat `baseline` the best of them is still restored.
   * @defaultValue `true` (Keras: false)
   */
  restoreBestWeights?: boolean;
  /** Number of initial epochs that are not monitored (warm-up). @defaultValue `0` */
  startFromEpoch?: number;
}

/** Keras 3 EarlyStopping; see the file comment for the epoch numbering. */
export class EarlyStopping extends Callback {
  readonly monitor: MetricName;
  readonly minDelta: number;
  readonly patience: number;
  readonly mode: MonitorMode;
  readonly baseline: number | null;
  readonly restoreBestWeights: boolean;
  readonly startFromEpoch: number;
  readonly higherIsBetter: boolean;

  /** Monitored epochs since the last improvement that also beat the baseline. */
  wait = 0;
  best: number | null = null;
  /** 1-based epoch of `best`; null before the first monitored epoch. */
  bestEpoch: number | null = null;
  /** Epoch at which this callback asked training to stop; null if it never did. */
  stoppedEpoch: number | null = null;
  /** Epoch whose weights `onTrainEnd` put back; null if it restored nothing. */
  restoredEpoch: number | null = null;
  stopReason: string | null = null;
  private bestWeights: Float32Array[] | null = null;
  private run: TrainingRun | null = null;

  constructor(options: EarlyStoppingOptions = {}) {
    super();
    this.monitor = options.monitor ?? 'valLoss';
    this.minDelta = Math.abs(options.minDelta ?? 0);
    this.patience = options.patience ?? 5;
    this.mode = options.mode ?? 'auto';
    this.baseline = options.baseline ?? null;
    this.restoreBestWeights = options.restoreBestWeights ?? true;
    this.startFromEpoch = options.startFromEpoch ?? 0;
    this.higherIsBetter = resolveHigherIsBetter('EarlyStopping', this.monitor, this.mode);
    checkNonNegative('EarlyStopping', 'minDelta', this.minDelta, false);
    checkNonNegative('EarlyStopping', 'patience', this.patience, true);
    checkNonNegative('EarlyStopping', 'startFromEpoch', this.startFromEpoch, true);
    if (this.baseline !== null && !Number.isFinite(this.baseline))
      throw new RangeError(`EarlyStopping: 'baseline' must be a finite number or null, got ${this.baseline}.`);
  }

  /** Keras `_is_improvement`: `monitor_op(current − min_delta, reference)`, with min_delta negated for `min`. */
  isImprovement(current: number, reference: number | null): boolean {
    if (reference === null) return true;
    return this.higherIsBetter ? current - this.minDelta > reference : current + this.minDelta < reference;
  }

  override async onTrainBegin(run: TrainingRun): Promise<void> {
    this.run = run; // allow instances to be reused, as Keras does
    this.wait = 0;
    this.best = null;
    this.bestEpoch = null;
    this.stoppedEpoch = null;
    this.restoredEpoch = null;
    this.stopReason = null;
    this.bestWeights = null;
  }

  override async onEpochEnd(epoch: number, logs: EpochLogs): Promise<void> {
    const current = logs[this.monitor];
    if (current === null || current === undefined || epoch <= this.startFromEpoch) return;
    const run = this.requireRun();
    if (this.restoreBestWeights && this.bestWeights === null) {
      this.bestWeights = run.getWeights(); // the first monitored epoch seeds the snapshot
      this.bestEpoch = epoch;
    }
    this.wait++;
    if (this.isImprovement(current, this.best)) {
      this.best = current;
      this.bestEpoch = epoch;
      if (this.restoreBestWeights) this.bestWeights = run.getWeights();
      // Only restart the wait if we beat both the baseline and our previous best.
      if (this.baseline === null || this.isImprovement(current, this.baseline)) this.wait = 0;
      return;
    }
    if (this.wait >= this.patience && epoch > 1) {
      this.stoppedEpoch = epoch;
      this.stopReason = this.describeStop();
      run.stop(this.stopReason);
    }
  }

  override async onTrainEnd(): Promise<void> {
    if (this.restoreBestWeights && this.bestWeights !== null) {
      this.requireRun().setWeights(this.bestWeights);
      this.restoredEpoch = this.bestEpoch;
    }
  }

  private describeStop(): string {
    const delta = this.minDelta > 0 ? ` by more than ${this.minDelta}` : '';
    const epochs = `${this.wait} epoch${this.wait === 1 ? '' : 's'}`;
    if (this.baseline !== null && (this.best === null || !this.isImprovement(this.best, this.baseline)))
      return `early stopping: ${this.monitor} did not beat the baseline ${this.baseline}${delta} in ${epochs}`;
    return `early stopping: ${this.monitor} did not improve${delta} for ${epochs}`;
  }

  private requireRun(): TrainingRun {
    if (this.run === null) throw new Error('EarlyStopping: onTrainBegin was not called.');
    return this.run;
  }
}

export interface ReduceLrOnPlateauOptions {
  /** @defaultValue `'valLoss'` */
  monitor?: MetricName;
  /** New rate = rate · factor; must be < 1. @defaultValue `0.1` */
  factor?: number;
  /** Epochs without improvement before reducing. @defaultValue `10` */
  patience?: number;
  /** @defaultValue `'auto'` */
  mode?: MonitorMode;
  /** Threshold for a new best: `current < best − minDelta` (or `>` best + minDelta in max mode). @defaultValue `1e-4` */
  minDelta?: number;
  /** Epochs to wait after a reduction before counting again. @defaultValue `0` */
  cooldown?: number;
  /** Lower bound on the learning rate. @defaultValue `0` */
  minLearningRate?: number;
}

/** Keras 3 ReduceLROnPlateau. The epoch's logs keep the rate used during it; a reduction applies from the next epoch. */
export class ReduceLrOnPlateau extends Callback {
  readonly monitor: MetricName;
  readonly factor: number;
  readonly patience: number;
  readonly mode: MonitorMode;
  readonly minDelta: number;
  readonly cooldown: number;
  readonly minLearningRate: number;
  readonly higherIsBetter: boolean;
  wait = 0;
  cooldownCounter = 0;
  best = Infinity;
  /** Every reduction made, in order. */
  readonly reductions: Array<{ epoch: number; from: number; to: number }> = [];
  private run: TrainingRun | null = null;

  constructor(options: ReduceLrOnPlateauOptions = {}) {
    super();
    this.monitor = options.monitor ?? 'valLoss';
    this.factor = options.factor ?? 0.1;
    this.patience = options.patience ?? 10;
    this.mode = options.mode ?? 'auto';
    this.minDelta = options.minDelta ?? 1e-4;
    this.cooldown = options.cooldown ?? 0;
    this.minLearningRate = options.minLearningRate ?? 0;
    this.higherIsBetter = resolveHigherIsBetter('ReduceLrOnPlateau', this.monitor, this.mode);
    if (!(this.factor >= 0 && this.factor < 1))
      throw new RangeError(`ReduceLrOnPlateau: 'factor' must be in [0, 1) (it multiplies the rate), got ${this.factor}.`);
    checkNonNegative('ReduceLrOnPlateau', 'patience', this.patience, true);
    checkNonNegative('ReduceLrOnPlateau', 'cooldown', this.cooldown, true);
    checkNonNegative('ReduceLrOnPlateau', 'minDelta', this.minDelta, false);
    checkNonNegative('ReduceLrOnPlateau', 'minLearningRate', this.minLearningRate, false);
  }

  override async onTrainBegin(run: TrainingRun): Promise<void> {
    this.run = run;
    this.wait = 0;
    this.cooldownCounter = 0;
    this.best = this.higherIsBetter ? -Infinity : Infinity;
    this.reductions.length = 0;
  }

  override async onEpochEnd(epoch: number, logs: EpochLogs): Promise<void> {
    const current = logs[this.monitor];
    if (current === null || current === undefined || this.run === null) return;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.wait = 0;
    }
    const improved = this.higherIsBetter ? current > this.best + this.minDelta : current < this.best - this.minDelta;
    if (improved) {
      this.best = current;
      this.wait = 0;
    } else if (this.cooldownCounter <= 0) {
      this.wait++;
      if (this.wait >= this.patience) {
        const from = this.run.learningRate;
        // Keras compares the float32 variable with np.float32(min_lr); do the same so a rate already at the floor stays put.
        if (Math.fround(from) > Math.fround(this.minLearningRate)) {
          const to = Math.max(from * this.factor, this.minLearningRate);
          this.run.learningRate = to;
          this.reductions.push({ epoch, from, to });
          this.cooldownCounter = this.cooldown;
          this.wait = 0;
        }
      }
    }
  }
}
