import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accuracy, argmaxRow, argmaxRows, classificationReport, confusionMatrix, evaluateProbabilities } from '../../src/train/metrics.js';

test('confusion matrix, per-class precision/recall/F1 and averages, by hand', () => {
  const actual = [0, 0, 0, 1, 1, 2];
  const predicted = [0, 0, 1, 1, 2, 2];
  const matrix = confusionMatrix(actual, predicted, 3);
  assert.deepEqual(matrix, [[2, 1, 0], [0, 1, 1], [0, 0, 1]]);
  const report = classificationReport(matrix, ['cat', 'dog', 'fox']);
  // cat: P 2/2, R 2/3, F1 0.8 · dog: P 1/2, R 1/2, F1 0.5 · fox: P 1/2, R 1/1, F1 2/3
  const rounded = report.perClass.map((c) => [c.className, +c.precision.toFixed(4), +c.recall.toFixed(4), +c.f1.toFixed(4), c.support]);
  assert.deepEqual(rounded, [['cat', 1, 0.6667, 0.8, 3], ['dog', 0.5, 0.5, 0.5, 2], ['fox', 0.5, 1, 0.6667, 1]]);
  assert.equal(report.accuracy, 4 / 6);
  assert.equal(accuracy(actual, predicted), 4 / 6);
  // macro F1 = (0.8 + 0.5 + 0.6667)/3 = 0.6556; weighted F1 = (0.8·3 + 0.5·2 + 0.6667·1)/6 = 0.6778
  assert.equal(+report.macro.f1.toFixed(4), 0.6556);
  assert.equal(+report.weighted.f1.toFixed(4), 0.6778);
});

test('a class that is never predicted and never present scores 0, not NaN', () => {
  const report = classificationReport(confusionMatrix([0, 1], [0, 1], 3));
  assert.deepEqual(report.perClass[2], { className: '2', precision: 0, recall: 0, f1: 0, support: 0 });
  assert.throws(() => confusionMatrix([0, 5], [0, 1], 3), /outside 0..2/);
});

test('argmaxRow and argmaxRows take the first maximum', () => {
  assert.deepEqual([...argmaxRows(Float32Array.of(0.2, 0.5, 0.3, 0.4, 0.4, 0.2), 3)], [1, 0]);
  assert.equal(argmaxRow([0.1, 0.2, 0.7, 0.5, 0.5, 0], 1, 3), 0);
});

test('evaluateProbabilities: accuracy, per-class rows and the confidently wrong images, most confident first, ties by path', () => {
  // rows: cat→cat, cat→dog (0.9), dog→dog, dog→cat (0.6), fox→cat (0.6)
  const probabilities = Float32Array.of(0.8, 0.1, 0.1, 0.05, 0.9, 0.05, 0.1, 0.8, 0.1, 0.6, 0.3, 0.1, 0.6, 0.1, 0.3);
  const metrics = evaluateProbabilities(probabilities, [0, 0, 1, 1, 2], ['a', 'b', 'c', 'e', 'd'], ['cat', 'dog', 'fox'],
    { mostConfidentlyWrong: 2 });
  assert.equal(metrics.accuracy, 2 / 5);
  assert.equal(metrics.n, 5);
  assert.deepEqual(metrics.confusionMatrix, [[1, 1, 0], [1, 1, 0], [1, 0, 0]]);
  assert.deepEqual(metrics.perClass.map((c) => [c.className, c.support]), [['cat', 2], ['dog', 2], ['fox', 1]]);
  assert.deepEqual(metrics.mostConfidentlyWrong.map((w) => [w.path, w.trueClass, w.predictedClass]),
    [['b', 'cat', 'dog'], ['d', 'fox', 'cat']], 'd and e tie at 0.6; d comes first; the list is cut at 2');
  assert.throws(() => evaluateProbabilities(probabilities, [0, 0], ['a', 'b'], ['cat', 'dog', 'fox']), RangeError);
});
