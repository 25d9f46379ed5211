import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fit } from '../../src/train/fit.js';
import { predictProbabilities } from '../../src/train/predict-probabilities.js';
import { fitStandardization, foldStandardization } from '../../src/train/standardization.js';
import type { HeadWeights } from '../../src/types.js';
import { makeBlobs } from './synthetic.js';

test('fitStandardization: population mean/std per feature; a constant feature gets std 1', () => {
  // Columns: (1, 3, 5) → mean 3, std √(8/3) = 1.6329932; (7, 7, 7) → mean 7, std 0 → 1.
  const { mean, std } = fitStandardization(Float32Array.of(1, 7, 3, 7, 5, 7), 3, 2);
  assert.deepEqual([...mean], [3, 7]);
  assert.ok(Math.abs(std[0]! - 1.6329932) < 1e-6);
  assert.equal(std[1], 1);
});

test('predictProbabilities: a hand-checked linear head with standardization', () => {
  // x = (3, 1), mean (1, 1), std (2, 1) → x' = (1, 0); kernel [[1, −1], [5, 5]], bias (0, ln 3)
  // logits = (1·1 + 0·5, 1·(−1) + 0·5) + (0, ln 3) = (1, −1 + ln 3); softmax = (e/(e + 3/e), …) = (0.7112346, 0.2887654)
  const head: HeadWeights = {
    embeddingDim: 2, numClasses: 2, standardization: { mean: Float32Array.of(1, 1), std: Float32Array.of(2, 1) },
    layers: [{ inputDim: 2, outputDim: 2, kernel: Float32Array.of(1, -1, 5, 5), bias: Float32Array.of(0, Math.log(3)), activation: 'linear' }],
  };
  const probabilities = predictProbabilities(head, Float32Array.of(3, 1));
  const e = Math.E, expected = e / (e + 3 / e);
  assert.ok(Math.abs(probabilities[0]! - expected) < 1e-7 && Math.abs(probabilities[1]! - (1 - expected)) < 1e-7, String(probabilities));
  assert.throws(() => predictProbabilities(head, new Float32Array(3)), RangeError);
});

test('foldStandardization: the folded head gives the same probabilities to 1e-5, with no standardization left', async () => {
  const data = makeBlobs({ numSamples: 120, embeddingDim: 16, numClasses: 4, noise: 1.5, offset: 40, scale: 10, seed: 3 });
  for (const hidden of [[], [12]]) {
    const { head } = await fit(data, { hidden, epochs: 20, learningRate: 0.03, earlyStopping: null });
    const folded = foldStandardization(head);
    assert.equal(folded.standardization, null);
    assert.equal(folded.layers.length, head.layers.length);
    if (hidden.length > 0) assert.equal(folded.layers.at(-1), head.layers.at(-1)); // only the first layer changes
    const before = predictProbabilities(head, data.features), after = predictProbabilities(folded, data.features);
    let maxDifference = 0;
    for (let i = 0; i < before.length; i++) maxDifference = Math.max(maxDifference, Math.abs(before[i]! - after[i]!));
    assert.ok(maxDifference < 1e-5, `hidden [${hidden}]: max |Δp| = ${maxDifference}`);
    // And the probabilities are not trivial (the head did learn something input-dependent).
    assert.ok(Math.max(...before) > 0.9);
  }
  const plain = { embeddingDim: 1, numClasses: 2, standardization: null, layers: [] };
  assert.equal(foldStandardization(plain), plain);
});
