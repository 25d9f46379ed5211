import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EarlyStopping, ReduceLrOnPlateau, type Callback, type EpochLogs, type MetricName, type TrainingRun,
} from '../../src/train/callbacks.js';

/** A fake run whose "weights" are the number of the epoch that produced them, so a restore names its epoch. */
class FakeRun implements TrainingRun {
  learningRate = 0.1;
  weightsEpoch = 0;
  stopReason: string | null = null;
  readonly restores: number[] = [];
  constructor(readonly epochs: number) {}
  getWeights(): Float32Array[] { return [Float32Array.of(this.weightsEpoch)]; }
  setWeights(weights: readonly Float32Array[]): void {
    this.weightsEpoch = weights[0]![0]!;
    this.restores.push(this.weightsEpoch);
  }
  stop(reason: string): void { this.stopReason ??= reason; }
  get stopRequested(): boolean { return this.stopReason !== null; }
}

const logsFor = (epoch: number, monitor: MetricName, value: number, learningRate: number): EpochLogs => ({
  epoch, loss: NaN, accuracy: NaN, valLoss: null, valAccuracy: null, learningRate, seconds: 0, [monitor]: value,
});

/** Drives a callback through a scripted metric sequence, as fit's loop does (1-based epochs). */
async function script(callback: Callback, monitor: MetricName, values: readonly number[]) {
  const run = new FakeRun(values.length);
  await callback.onTrainBegin(run);
  let epochsRun = 0;
  for (const [index, value] of values.entries()) {
    const epoch = index + 1;
    run.weightsEpoch = epoch; // training this epoch produced "weights = epoch"
    epochsRun = epoch;
    await callback.onEpochEnd(epoch, logsFor(epoch, monitor, value, run.learningRate));
    if (run.stopRequested) break;
  }
  await callback.onTrainEnd(null);
  return { run, epochsRun, finalWeightsEpoch: run.weightsEpoch };
}

test('EarlyStopping: patience counts epochs since the best, then restores the best epoch', async () => {
  // patience 2, valLoss 1.0, 0.8, 0.9, 0.85, 0.7
  // e1 best 1.0 (wait 0) · e2 0.8 < 1.0 best (wait 0) · e3 0.9 wait 1 · e4 0.85 wait 2 ≥ 2 → stop at 4; e5 never runs.
  const callback = new EarlyStopping({ patience: 2 });
  const { run, epochsRun, finalWeightsEpoch } = await script(callback, 'valLoss', [1.0, 0.8, 0.9, 0.85, 0.7]);
  assert.equal(epochsRun, 4);
  assert.equal(callback.stoppedEpoch, 4);
  assert.equal(callback.bestEpoch, 2);
  assert.equal(callback.best, 0.8);
  assert.equal(callback.restoredEpoch, 2);
  assert.equal(finalWeightsEpoch, 2);
  assert.equal(run.stopReason, 'early stopping: valLoss did not improve for 2 epochs');
});

test('EarlyStopping: min_delta — a smaller gain is not an improvement', async () => {
  // minDelta 0.1, patience 2, valLoss 1.0, 0.95, 0.85, 0.8, 0.79
  // e1 best 1.0 · e2 0.95 + 0.1 = 1.05 ≮ 1.0 → wait 1 · e3 0.85 + 0.1 = 0.95 < 1.0 → best 0.85, wait 0
  // e4 0.8 + 0.1 = 0.9 ≮ 0.85 → wait 1 (lower, yet not "best") · e5 0.89 ≮ 0.85 → wait 2 → stop at 5; restore 3.
  const callback = new EarlyStopping({ patience: 2, minDelta: 0.1 });
  const { epochsRun, finalWeightsEpoch, run } = await script(callback, 'valLoss', [1.0, 0.95, 0.85, 0.8, 0.79]);
  assert.equal(epochsRun, 5);
  assert.equal(callback.bestEpoch, 3);
  assert.equal(finalWeightsEpoch, 3);
  assert.equal(run.stopReason, 'early stopping: valLoss did not improve by more than 0.1 for 2 epochs');
});

test('EarlyStopping: baseline — improvements that miss the baseline do not reset the wait; the best is still restored', async () => {
  // baseline 0.5, patience 3, valLoss 0.9, 0.8, 0.85
  // e1: snapshot e1, wait 1; improves on none → best 0.9 but 0.9 ≮ 0.5 → wait stays 1
  // e2: wait 2; 0.8 < 0.9 → best 0.8 (epoch 2), misses the baseline → wait stays 2
  // e3: wait 3; 0.85 no improvement; 3 ≥ 3 → stop at 3. Nothing beat the baseline, epoch 2 is restored anyway.
  const callback = new EarlyStopping({ patience: 3, baseline: 0.5 });
  const { epochsRun, finalWeightsEpoch, run } = await script(callback, 'valLoss', [0.9, 0.8, 0.85, 0.1]);
  assert.equal(epochsRun, 3);
  assert.equal(callback.bestEpoch, 2);
  assert.equal(finalWeightsEpoch, 2);
  assert.equal(run.stopReason, 'early stopping: valLoss did not beat the baseline 0.5 in 3 epochs');

  // Same data without a baseline: e2 resets the wait, so e3 only reaches wait 1 and e4 (0.1) becomes the best.
  const plain = new EarlyStopping({ patience: 3 });
  const withoutBaseline = await script(plain, 'valLoss', [0.9, 0.8, 0.85, 0.1]);
  assert.equal(withoutBaseline.epochsRun, 4);
  assert.equal(plain.stoppedEpoch, null);
  assert.equal(withoutBaseline.finalWeightsEpoch, 4);
});

test('EarlyStopping: start_from_epoch ignores the warm-up epochs entirely', async () => {
  // startFromEpoch 2, patience 1, valLoss 0.1, 0.2, 0.5, 0.6, 0.4
  // e1, e2 ignored (their 0.1 and 0.2 never count) · e3 first monitored: best 0.5, wait 0 · e4 0.6 → wait 1 ≥ 1 → stop at 4.
  const callback = new EarlyStopping({ patience: 1, startFromEpoch: 2 });
  const { epochsRun, finalWeightsEpoch } = await script(callback, 'valLoss', [0.1, 0.2, 0.5, 0.6, 0.4]);
  assert.equal(epochsRun, 4);
  assert.equal(callback.bestEpoch, 3);
  assert.equal(callback.best, 0.5);
  assert.equal(finalWeightsEpoch, 3);
});

test('EarlyStopping: restores the best weights at the end even when stopping never triggered', async () => {
  // patience 5, six epochs: 1.0, 0.5, 0.6, 0.7, 0.8, 0.9 → best epoch 2, the wait reaches only 4 < 5.
  const callback = new EarlyStopping({ patience: 5 });
  const { run, epochsRun, finalWeightsEpoch } = await script(callback, 'valLoss', [1.0, 0.5, 0.6, 0.7, 0.8, 0.9]);
  assert.equal(epochsRun, 6);
  assert.equal(callback.stoppedEpoch, null);
  assert.equal(run.stopReason, null);
  assert.equal(callback.restoredEpoch, 2);
  assert.equal(finalWeightsEpoch, 2);

  // With restoreBestWeights off the weights of the last epoch stay.
  const noRestore = new EarlyStopping({ patience: 5, restoreBestWeights: false });
  const kept = await script(noRestore, 'valLoss', [1.0, 0.5, 0.6, 0.7, 0.8, 0.9]);
  assert.equal(kept.finalWeightsEpoch, 6);
  assert.equal(noRestore.restoredEpoch, null);
  assert.deepEqual(kept.run.restores, []);
});

test('EarlyStopping: accuracy is maximised (auto mode from the metric table) and ties are not improvements', async () => {
  // valAccuracy 0.5, 0.7, 0.7, 0.6 with patience 2: e2 best; e3 0.7 ≯ 0.7 → wait 1; e4 → wait 2 → stop.
  const callback = new EarlyStopping({ monitor: 'valAccuracy', patience: 2 });
  const { epochsRun, finalWeightsEpoch } = await script(callback, 'valAccuracy', [0.5, 0.7, 0.7, 0.6, 0.9]);
  assert.equal(epochsRun, 4);
  assert.equal(finalWeightsEpoch, 2);
  // mode 'min' on accuracy flips it: 0.5 stays the best, the wait reaches 2 at epoch 3.
  const inverted = new EarlyStopping({ monitor: 'valAccuracy', patience: 2, mode: 'min' });
  assert.equal((await script(inverted, 'valAccuracy', [0.5, 0.7, 0.7, 0.6])).epochsRun, 3);
  assert.equal(inverted.bestEpoch, 1);
});

test('EarlyStopping: validates its options before training', () => {
  assert.throws(() => new EarlyStopping({ patience: -1 }), /patience/);
  assert.throws(() => new EarlyStopping({ monitor: 'val_loss' as MetricName }), /monitor/);
  assert.throws(() => new EarlyStopping({ mode: 'up' as 'min' }), /mode/);
});

test('ReduceLROnPlateau: reductions, cooldown and the floor, by hand', async () => {
  // lr 0.1, factor 0.5, patience 2, minDelta 0.05, cooldown 1, minLearningRate 0.02
  // e1 1.0 best · e2 0.99 ≮ 0.95 wait 1 · e3 0.98 wait 2 → lr 0.05, cooldown 1, wait 0
  // e4 cooldown → 0; 0.9 < 0.95 → best 0.9 · e5 0.89 ≮ 0.85 wait 1 · e6 0.88 wait 2 → lr 0.025, cooldown 1
  // e7 cooldown → 0; 0.87 → wait 1 · e8 0.86 wait 2 → lr max(0.0125, 0.02) = 0.02, cooldown 1
  // e9 cooldown → 0; wait 1 · e10 wait 2, but lr 0.02 is not above the floor → unchanged.
  const callback = new ReduceLrOnPlateau({ factor: 0.5, patience: 2, minDelta: 0.05, cooldown: 1, minLearningRate: 0.02 });
  const { run } = await script(callback, 'valLoss', [1.0, 0.99, 0.98, 0.9, 0.89, 0.88, 0.87, 0.86, 0.86, 0.86]);
  assert.deepEqual(callback.reductions, [
    { epoch: 3, from: 0.1, to: 0.05 }, { epoch: 6, from: 0.05, to: 0.025 }, { epoch: 8, from: 0.025, to: 0.02 },
  ]);
  assert.equal(run.learningRate, 0.02);
  assert.throws(() => new ReduceLrOnPlateau({ factor: 1 }), /factor/);
});
