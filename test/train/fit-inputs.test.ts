import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FinetuneError } from '../../src/errors.js';
import { fit } from '../../src/train/fit.js';
import { makeBlobs } from './synthetic.js';

// Issue 14, defect 4: non-finite features (a backbone emitting NaN/Inf) must stop fit before any work with an error
// that names the split, the rows and the count, not "diverged … lower --learning-rate" or a "completed" run.
const train = makeBlobs({ numSamples: 120, embeddingDim: 8, numClasses: 3, seed: 1 });
const validation = makeBlobs({ numSamples: 60, embeddingDim: 8, numClasses: 3, seed: 2 });

const withValues = (data: typeof train, entries: ReadonlyArray<[row: number, feature: number, value: number]>) => {
  const features = data.features.slice();
  for (const [row, feature, value] of entries) features[row * data.embeddingDim + feature] = value;
  return { ...data, features };
};

test('NaN and Infinity in training rows: a DATASET_INVALID error naming the rows and counts, before any epoch', async () => {
  const poisoned = withValues(train, [[7, 0, NaN], [7, 3, NaN], [42, 5, Infinity], [99, 1, -Infinity]]);
  const events: unknown[] = [];
  await assert.rejects(fit(poisoned, { validation, epochs: 3, onProgress: (event) => events.push(event) }), (error: FinetuneError) => {
    assert.ok(error instanceof FinetuneError);
    assert.equal(error.code, 'DATASET_INVALID');
    assert.equal(error.message,
      'The training features hold 4 non-finite values (2 NaN, 2 ±Infinity) in 3 of 120 rows: rows 7, 42, 99.');
    assert.match(error.hint!, /backbone/);
    assert.match(error.hint!, /finetune cache prune/);
    assert.doesNotMatch(error.hint!, /learning-rate/);
    return true;
  });
  assert.deepEqual(events, [], 'no epoch ran');
});

test('non-finite values only in validation rows fail too (they used to "complete" with a NaN valLoss)', async () => {
  const poisoned = withValues(validation, [[3, 2, NaN], [59, 7, Infinity]]);
  await assert.rejects(fit(train, { validation: poisoned, epochs: 2 }), (error: FinetuneError) => {
    assert.equal(error.code, 'DATASET_INVALID');
    assert.equal(error.message,
      'The validation features hold 2 non-finite values (1 NaN, 1 ±Infinity) in 2 of 60 rows: rows 3, 59.');
    return true;
  });
});

test('many bad rows are counted in full and listed up to 10', async () => {
  const entries: Array<[number, number, number]> = Array.from({ length: 25 }, (_, i) => [i * 4, 1, NaN]);
  await assert.rejects(fit(withValues(train, entries), { epochs: 1 }), (error: FinetuneError) => {
    assert.equal(error.message,
      'The training features hold 25 non-finite values (25 NaN, 0 ±Infinity) in 25 of 120 rows: rows 0, 4, 8, 12, 16, 20, 24, 28, 32, 36, … (15 more).');
    return true;
  });
});

test('augmented views: a non-finite available view fails; the same values in an unavailable view are never read', async () => {
  const numViews = 2;
  const features = new Float32Array(train.numSamples * numViews * train.embeddingDim).fill(0.5);
  features[(5 * numViews + 1) * train.embeddingDim + 4] = NaN; // row 5, view 2
  const available = new Uint8Array(train.numSamples * numViews).fill(1);
  await assert.rejects(fit(train, { views: { features, numViews, available }, epochs: 1 }), (error: FinetuneError) => {
    assert.equal(error.code, 'DATASET_INVALID');
    assert.equal(error.message,
      'The augmented views of the training rows hold 1 non-finite value (1 NaN, 0 ±Infinity) in 1 of 120 rows: row 5.');
    return true;
  });
  available[5 * numViews + 1] = 0;
  const result = await fit(train, { views: { features, numViews, available }, epochs: 1, earlyStopping: null });
  assert.ok(Number.isFinite(result.history[0]!.loss));
});

test('labels out of range are collected: every bad row counted, in both splits', async () => {
  const labels = train.labels.slice();
  labels[3] = 3; labels[10] = -1;
  await assert.rejects(fit({ ...train, labels }, { numClasses: 3, epochs: 1 }), (error: FinetuneError) => {
    assert.equal(error.code, 'DATASET_INVALID');
    assert.equal(error.message, 'The training labels hold 2 values outside 0..2 in 120 rows: row 3 (label 3), row 10 (label -1).');
    return true;
  });
  const validationLabels = validation.labels.slice();
  validationLabels[59] = 7;
  await assert.rejects(fit(train, { validation: { ...validation, labels: validationLabels }, epochs: 1 }), (error: FinetuneError) => {
    assert.equal(error.message, 'The validation labels hold 1 value outside 0..2 in 60 rows: row 59 (label 7).');
    return true;
  });
});
