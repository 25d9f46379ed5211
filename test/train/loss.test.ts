import { test } from 'node:test';
import assert from 'node:assert/strict';
import { softmaxCrossEntropy, softmaxRows } from '../../src/train/loss.js';

test('cross-entropy is finite and exact for huge logits', () => {
  // logits (1000, 0, −1000), label 0: log Σ exp = 1000 + log(1 + e^−1000 + e^−2000) = 1000 → loss 0.
  // label 1: loss = 1000 − 0 = 1000. A naive exp(1000) would be Infinity.
  const logits = Float32Array.of(1000, 0, -1000, 1000, 0, -1000);
  const { loss, accuracy, gradient } = softmaxCrossEntropy(logits, [0, 1], 3);
  assert.equal(loss, (0 + 1000) / 2);
  assert.equal(accuracy, 0.5);
  // d/dz of the mean: (p − y)/2 → row 0: (0,0,0); row 1: (0.5, −0.5, 0)
  assert.deepEqual([...gradient], [0, 0, 0, 0.5, -0.5, 0]);
});

test('cross-entropy with label smoothing and class weights, by hand', () => {
  // logits (0, ln 3) → p = (0.25, 0.75); label 0; smoothing 0.2 over 2 classes → y = (0.9, 0.1)
  // loss = −0.9·ln 0.25 − 0.1·ln 0.75 = 1.2476649 + 0.0287682 = 1.2764331; class 0 weight 2 → 2.5528662
  const logits = Float32Array.of(0, Math.log(3));
  const { loss, gradient } = softmaxCrossEntropy(logits, [0], 2, { labelSmoothing: 0.2, classWeights: Float32Array.of(2, 1) });
  assert.ok(Math.abs(loss - 2.5528662) < 1e-6, String(loss));
  // gradient = 2·(p − y) = 2·(0.25 − 0.9, 0.75 − 0.1) = (−1.3, 1.3)
  assert.ok(Math.abs(gradient[0]! + 1.3) < 1e-6 && Math.abs(gradient[1]! - 1.3) < 1e-6, String(gradient));
});

test('gradient matches central finite differences', () => {
  const logits = Float32Array.of(0.3, -1.2, 2.0, 0.7, 0.1, -0.4);
  const labels = [2, 0];
  const options = { labelSmoothing: 0.1, classWeights: Float32Array.of(1, 1, 3) };
  const { gradient } = softmaxCrossEntropy(logits, labels, 3, options);
  for (let i = 0; i < logits.length; i++) {
    const h = 1e-2;
    const plus = Float32Array.from(logits), minus = Float32Array.from(logits);
    plus[i]! += h;
    minus[i]! -= h;
    const numeric = (softmaxCrossEntropy(plus, labels, 3, options).loss - softmaxCrossEntropy(minus, labels, 3, options).loss) / (2 * h);
    assert.ok(Math.abs(numeric - gradient[i]!) < 1e-3, `logit ${i}: numeric ${numeric}, analytic ${gradient[i]}`);
  }
});

test('a NaN logit gives a NaN loss (the divergence guard relies on it)', () => {
  assert.ok(Number.isNaN(softmaxCrossEntropy(Float32Array.of(NaN, 1), [1], 2).loss));
  assert.ok(Number.isNaN(softmaxCrossEntropy(Float32Array.of(1, Infinity), [0], 2).loss));
});

test('softmaxRows is stable and sums to one', () => {
  const probabilities = softmaxRows(Float32Array.of(1000, 1000, 0, Math.log(3)), 2);
  assert.deepEqual([...probabilities.subarray(0, 2)], [0.5, 0.5]);
  assert.ok(Math.abs(probabilities[2]! - 0.25) < 1e-7 && Math.abs(probabilities[3]! - 0.75) < 1e-7, String(probabilities));
});
