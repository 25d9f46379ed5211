import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FinetuneError } from '../../src/errors.js';
import { Callback, type TrainingRun } from '../../src/train/callbacks.js';
import { fit, type LabelledFeatures } from '../../src/train/fit.js';
import { argmaxRows, accuracy } from '../../src/train/metrics.js';
import { predictProbabilities } from '../../src/train/predict-probabilities.js';
import type { ProgressEvent } from '../../src/types.js';
import { makeBlobs } from './synthetic.js';

const train = makeBlobs({ numSamples: 300, embeddingDim: 20, numClasses: 3, noise: 1.5, offset: 5, scale: 3, seed: 1 });
const validation = makeBlobs({ numSamples: 150, embeddingDim: 20, numClasses: 3, noise: 1.5, offset: 5, scale: 3, seed: 2 });

function heldOutAccuracy(head: Parameters<typeof predictProbabilities>[0], data: LabelledFeatures): number {
  return accuracy(data.labels, argmaxRows(predictProbabilities(head, data.features), head.numClasses));
}

test('a linear head reaches high accuracy on a separable problem, and predictProbabilities agrees with valAccuracy', async () => {
  const events: ProgressEvent[] = [];
  const result = await fit(train, { validation, epochs: 40, onProgress: (event) => events.push(event) });
  const kept = result.history.find((logs) => logs.epoch === result.keptEpoch)!;
  assert.ok(kept.valAccuracy! >= 0.95, `valAccuracy ${kept.valAccuracy}`);
  // The head returned holds the kept epoch's weights: its held-out accuracy is that epoch's valAccuracy.
  assert.equal(heldOutAccuracy(result.head, validation), kept.valAccuracy);
  assert.equal(result.head.layers.length, 1);
  assert.equal(result.head.layers[0]!.kernel.length, 20 * 3);
  assert.ok(result.head.standardization !== null);
  assert.equal(events.filter((event) => event.stage === 'train' && event.status === 'epoch').length, result.history.length);
  assert.deepEqual(events.at(-1), { stage: 'train', status: 'done', epoch: result.stoppedEpoch, epochs: 40,
    logs: { ...result.history.at(-1)! }, message: result.stopReason });
  assert.equal(result.monitor, 'valLoss');
});

test('an MLP head with dropout, label smoothing and balanced class weights also learns', async () => {
  const imbalanced = makeBlobs({ numSamples: 240, embeddingDim: 20, numClasses: 3, noise: 1.5, offset: 5, scale: 3, seed: 3, counts: [160, 60, 20] });
  const result = await fit(imbalanced, {
    validation, hidden: [16, 8], dropout: 0.2, labelSmoothing: 0.1, classWeight: 'balanced', epochs: 60, seed: 5,
  });
  assert.deepEqual(result.head.layers.map((layer) => [layer.inputDim, layer.outputDim, layer.activation]),
    [[20, 16, 'relu'], [16, 8, 'relu'], [8, 3, 'linear']]);
  assert.ok(heldOutAccuracy(result.head, validation) >= 0.9, String(heldOutAccuracy(result.head, validation)));
});

test('determinism: the same seed gives bit-identical weights and history; another seed does not', async () => {
  const options = { validation, hidden: [8], dropout: 0.3, epochs: 5, seed: 123, earlyStopping: null } as const;
  const [first, second, other] = await Promise.all([fit(train, options), fit(train, options), fit(train, { ...options, seed: 124 })]);
  const weights = (result: typeof first) => result.head.layers.flatMap((layer) => [...layer.kernel, ...layer.bias]);
  assert.deepEqual(weights(first), weights(second));
  const withoutTime = (result: typeof first) => result.history.map(({ seconds: _seconds, ...rest }) => rest);
  assert.deepEqual(withoutTime(first), withoutTime(second));
  assert.notDeepEqual(weights(first), weights(other));
});

test('backpropagation: one full-batch SGD step equals minus the finite-difference gradient (MLP, ReLU)', async () => {
  const data = makeBlobs({ numSamples: 12, embeddingDim: 5, numClasses: 3, noise: 2, seed: 9 });
  let initial: Float32Array[] = [];
  class CaptureInitial extends Callback {
    override async onTrainBegin(run: TrainingRun): Promise<void> { initial = run.getWeights(); }
  }
  const learningRate = 1;
  const result = await fit(data, {
    hidden: [4], epochs: 1, batchSize: 12, optimizer: 'sgd', learningRate, standardize: false, earlyStopping: null,
    callbacks: [new CaptureInitial()],
  });
  // getWeights order: per layer, kernel [outputDim × inputDim] then bias. Reference loss in float64.
  const [w1, b1, w2, b2] = initial.map((array) => Float64Array.from(array)) as [Float64Array, Float64Array, Float64Array, Float64Array];
  const loss = (): number => {
    let total = 0;
    for (let row = 0; row < 12; row++) {
      const x = data.features.subarray(row * 5, row * 5 + 5);
      const hidden = Array.from({ length: 4 }, (_, j) => Math.max(0, b1[j]! + x.reduce((sum, value, p) => sum + value * w1[j * 5 + p]!, 0)));
      const logits = Array.from({ length: 3 }, (_, k) => b2[k]! + hidden.reduce((sum, value, j) => sum + value * w2[k * 4 + j]!, 0));
      const max = Math.max(...logits);
      const logSumExp = max + Math.log(logits.reduce((sum, z) => sum + Math.exp(z - max), 0));
      total += logSumExp - logits[data.labels[row]!]!;
    }
    return total / 12;
  };
  const after = result.head.layers; // [inputDim × outputDim]
  const checks: Array<[Float64Array, number, number]> = [
    [w1, 2 * 5 + 3, after[0]!.kernel[3 * 4 + 2]!], [b1, 1, after[0]!.bias[1]!],
    [w2, 0 * 4 + 2, after[1]!.kernel[2 * 3 + 0]!], [b2, 2, after[1]!.bias[2]!],
  ];
  for (const [array, index, updated] of checks) {
    const original = array[index]!, h = 1e-6;
    array[index] = original + h;
    const plus = loss();
    array[index] = original - h;
    const minus = loss();
    array[index] = original;
    const numeric = (plus - minus) / (2 * h);
    const fromStep = (original - updated) / learningRate; // θ1 = θ0 − lr·g
    assert.ok(Math.abs(numeric - fromStep) < 1e-5, `numeric ${numeric}, from the SGD step ${fromStep}`);
  }
});

test('divergence guard: a huge learning rate stops training with a hint, keeping the last good weights', async () => {
  const wild = makeBlobs({ numSamples: 200, embeddingDim: 20, numClasses: 3, offset: 1e18, scale: 1e18, seed: 4 });
  // Features of 1e18 and a learning rate of 1e10: the logits overflow float32 within the first epoch, so there are
  // no good weights to keep and fit throws a typed error with a hint.
  await assert.rejects(fit(wild, { standardize: false, optimizer: 'sgd', learningRate: 1e10, epochs: 20, earlyStopping: null }),
    (error: FinetuneError) => {
      assert.equal(error.code, 'TRAINING_DIVERGED');
      assert.match(error.message, /^Training diverged: loss is (NaN|infinite) at epoch 1 \(batch \d+\), before any epoch completed\.$/);
      assert.match(error.hint!, /Lower --learning-rate \(now 10000000000\)/);
      return true;
    });
  // A moderate run that blows up after the first epoch keeps the early-stopping best.
  const late = await fit(train, {
    validation, optimizer: 'sgd', learningRate: 0.05, epochs: 10,
    callbacks: [new (class extends Callback {
      private run: TrainingRun | null = null;
      override async onTrainBegin(run: TrainingRun) { this.run = run; }
      // Simulate an explosion after epoch 3: weights so large that the logits overflow float32.
      override async onEpochEnd(epoch: number) {
        if (epoch === 3) this.run!.setWeights(this.run!.getWeights().map((array) => array.map(() => 3e38)));
      }
    })()],
  });
  assert.equal(late.diverged, true);
  assert.match(late.stopReason, /^diverged: loss is (NaN|infinite) at epoch 4 \(batch \d+\); kept the weights of epoch [123]; try a lower --learning-rate than 0\.05$/);
  assert.ok(late.restoredEpoch! >= 1 && late.restoredEpoch! <= 3);
  assert.equal(late.history.length, 3);
  assert.ok(heldOutAccuracy(late.head, validation) > 0.8);
});

test('early stopping inside fit: stops, restores and reports the best epoch', async () => {
  // An MLP with a high learning rate overfits the small training set; valLoss turns up and patience 2 stops it.
  const small = makeBlobs({ numSamples: 60, embeddingDim: 20, numClasses: 3, noise: 4, seed: 11 });
  const result = await fit(small, { validation, hidden: [64], learningRate: 0.01, epochs: 200, earlyStopping: { patience: 2 } });
  assert.ok(result.stoppedEpoch < 200);
  assert.match(result.stopReason, /^early stopping: valLoss did not improve for 2 epochs$/);
  const losses = result.history.map((logs) => logs.valLoss!);
  const bestIndex = losses.indexOf(Math.min(...losses));
  assert.equal(result.bestEpoch, bestIndex + 1);
  assert.equal(result.restoredEpoch, result.bestEpoch);
  assert.equal(result.keptEpoch, result.bestEpoch);
  assert.equal(result.stoppedEpoch, result.bestEpoch! + 2);
});

test('fails before any work on bad options and data', async () => {
  await assert.rejects(fit(train, { earlyStopping: { monitor: 'valLoss' } }), (error: FinetuneError) =>
    error.code === 'INVALID_OPTION' && /without a validation split/.test(error.message));
  await assert.rejects(fit(train, { dropout: 1 }), (error: FinetuneError) => error.code === 'INVALID_OPTION' && /--dropout/.test(error.message));
  await assert.rejects(fit(train, { classWeight: { dog: 2 }, classNames: ['cat', 'bird', 'fish'] }), (error: FinetuneError) =>
    error.code === 'INVALID_OPTION' && /"dog"/.test(error.message));
  await assert.rejects(fit(train, { numClasses: 2 }), (error: FinetuneError) => error.code === 'DATASET_INVALID');
  await assert.rejects(fit({ ...train, numSamples: 299 }), RangeError);
  // No validation: the default monitor falls back to the training loss.
  const result = await fit(train, { epochs: 2 });
  assert.equal(result.monitor, 'loss');
  assert.equal(result.history[0]!.valLoss, null);
});

test('class weights by name and index are applied to the training loss only', async () => {
  const base = { validation, epochs: 1, earlyStopping: null, classNames: ['a', 'b', 'c'] } as const;
  const plain = await fit(train, base);
  const weighted = await fit(train, { ...base, classWeight: { a: 2, '1': 2, c: 2 } });
  // Doubling every class weight doubles the first-epoch loss of the same batches... but Adam is scale-invariant,
  // so the weights (and valLoss) stay nearly the same.
  assert.ok(Math.abs(weighted.history[0]!.loss - 2 * plain.history[0]!.loss) < 1e-3 * plain.history[0]!.loss);
  assert.ok(Math.abs(weighted.history[0]!.valLoss! - plain.history[0]!.valLoss!) < 1e-3);
});

test('ReduceLROnPlateau inside fit: the history shows the rate used in each epoch', async () => {
  // minDelta 10 makes every epoch after the first a non-improvement; patience 1 → halve after epochs 2, 3, 4.
  const result = await fit(train, {
    epochs: 5, earlyStopping: null, reduceLrOnPlateau: { monitor: 'loss', patience: 1, factor: 0.5, minDelta: 10 },
  });
  assert.deepEqual(result.history.map((logs) => logs.learningRate), [0.001, 0.001, 0.0005, 0.00025, 0.000125]);
  assert.equal(result.optimizer.learningRate, 0.0000625);
});

test('dropout on a linear head drops standardized input features during training only', async () => {
  const options = { validation, epochs: 5, learningRate: 0.02, earlyStopping: null, seed: 3 } as const;
  const [plain, dropped] = await Promise.all([fit(train, options), fit(train, { ...options, dropout: 0.5 })]);
  // Same init and shuffling (same seed), so the difference comes from the masks: a noisier, higher training loss.
  assert.ok(dropped.history[0]!.loss > plain.history[0]!.loss, `${dropped.history[0]!.loss} vs ${plain.history[0]!.loss}`);
  assert.ok(dropped.history.at(-1)!.valAccuracy! > 0.85, String(dropped.history.at(-1)!.valAccuracy));
  assert.equal(dropped.head.layers.length, 1);
});

test('long epochs report batch progress with an ETA (here every step: progressIntervalMs 0)', async () => {
  const events: ProgressEvent[] = [];
  const result = await fit(train, { epochs: 2, batchSize: 64, earlyStopping: null, progressIntervalMs: 0, onProgress: (event) => events.push(event) });
  const batches = events.filter((event) => event.stage === 'train' && event.status === 'batch');
  assert.deepEqual(batches.map((event) => event.status === 'batch' && [event.epoch, event.step, event.steps]),
    [[1, 1, 5], [1, 2, 5], [1, 3, 5], [1, 4, 5], [1, 5, 5], [2, 1, 5], [2, 2, 5], [2, 3, 5], [2, 4, 5], [2, 5, 5]]);
  for (const event of batches) if (event.status === 'batch') assert.ok(event.etaSeconds >= 0 && Number.isFinite(event.loss));
  const lastOfEpoch1 = batches[4]!;
  assert.ok(lastOfEpoch1.status === 'batch' && lastOfEpoch1.etaSeconds === 0);
  // The running loss after the last step is the epoch's training loss.
  assert.ok(lastOfEpoch1.status === 'batch' && Math.abs(lastOfEpoch1.loss - result.history[0]!.loss) < 1e-12);
  // Epoch events follow their batches, in order.
  assert.deepEqual(events.map((event) => event.status).slice(0, 6), ['batch', 'batch', 'batch', 'batch', 'batch', 'epoch']);
});

test('precomputed standardization (as a sweep passes it) gives the same fit; bad statistics are refused', async () => {
  const { fitStandardization } = await import('../../src/train/standardization.js');
  const options = { validation, epochs: 3, earlyStopping: null, seed: 4 } as const;
  const computed = await fit(train, options);
  const given = await fit(train, { ...options, standardization: fitStandardization(train.features, train.numSamples, train.embeddingDim) });
  assert.deepEqual(given.head, computed.head);
  const std = new Float32Array(20).fill(1);
  std[3] = 0;
  await assert.rejects(fit(train, { ...options, standardization: { mean: new Float32Array(20), std } }), /feature 3 has mean 0 and std 0/);
});
