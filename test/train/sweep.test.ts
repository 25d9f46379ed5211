import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FinetuneError } from '../../src/errors.js';
import { expandGrid, formatSweepTable, sweep } from '../../src/train/sweep.js';
import { toSharedFeatures } from '../../src/train/train-workers.js';
import { makeBlobs } from './synthetic.js';

const train = makeBlobs({ numSamples: 300, embeddingDim: 24, numClasses: 3, noise: 1.5, offset: 2, scale: 2, seed: 1 });
const validation = makeBlobs({ numSamples: 150, embeddingDim: 24, numClasses: 3, noise: 1.5, offset: 2, scale: 2, seed: 2 });
const grid = { learningRate: [1e-5, 0.03], hidden: [[], [8]], seed: [1, 2] };
const base = { epochs: 6, earlyStopping: null } as const;

test('expandGrid: every combination in a fixed order, base options fill the rest', () => {
  const configs = expandGrid({ learningRate: [0.1, 0.01], dropout: [0, 0.5] }, { hidden: [4], seed: 3 });
  assert.deepEqual(configs.map((c) => [c.learningRate, c.dropout, c.hidden, c.seed, c.weightDecay]), [
    [0.1, 0, [4], 3, 0], [0.1, 0.5, [4], 3, 0], [0.01, 0, [4], 3, 0], [0.01, 0.5, [4], 3, 0],
  ]);
  assert.throws(() => expandGrid({ seed: [] }), FinetuneError);
});

test('sweep picks the best config, and worker threads give exactly the in-thread results', async () => {
  const inThread = await sweep(train, validation, grid, { ...base, workers: 0 });
  const inWorkers = await sweep(train, validation, grid, { ...base, workers: 2 });
  assert.equal(inThread.length, 8);
  // A learning rate of 1e-5 barely moves the weights in 6 epochs: every 0.03 config ranks above every 1e-5 config.
  assert.deepEqual(inThread.slice(0, 4).map((r) => r.config.learningRate), [0.03, 0.03, 0.03, 0.03]);
  assert.ok(inThread[0]!.valAccuracy > 0.9, String(inThread[0]!.valAccuracy));
  for (let i = 1; i < inThread.length; i++) assert.ok(inThread[i - 1]!.valLoss <= inThread[i]!.valLoss);
  const summary = (results: typeof inThread) =>
    results.map((r) => [r.rank, r.index, r.valLoss, r.valAccuracy, [...r.fit!.head.layers[0]!.kernel]]);
  assert.deepEqual(summary(inWorkers), summary(inThread));
  const table = formatSweepTable(inThread).split('\n');
  assert.match(table[0]!, /^rank\s+learningRate\s+weightDecay\s+hidden\s+dropout\s+seed\s+valLoss\s+valAccuracy\s+epoch\s+seconds$/);
  assert.match(table[1]!, /^\s*1\s+0\.03\s+0\s+(linear|8)\s+0\s+[12]\s+\d\.\d{4}\s+\d\.\d{4}\s+6\/6\s+\d+\.\d\d$/);
  assert.equal(table.at(-1), 'ranked by valLoss of the kept epoch; epoch = kept/stopped');
});

test('a cross-fitted sweep ranks configs by out-of-fold loss, the same in threads and workers, and takes no validation split', async () => {
  const cvGrid = { learningRate: [1e-5, 0.03] };
  const inThread = await sweep(train, null, cvGrid, { ...base, folds: 3, workers: 0 });
  const inWorkers = await sweep(train, null, cvGrid, { ...base, folds: 3, workers: 2 });
  assert.deepEqual(inThread.map((r) => r.config.learningRate), [0.03, 1e-5]);
  for (const result of inThread) {
    assert.equal(result.fit, null);
    assert.equal(result.crossFit?.folds.length, 3);
    assert.equal(result.valLoss, result.crossFit?.cvLoss);
    assert.equal(result.crossFit?.temperature, 1, 'sweeps rank uncalibrated heads');
  }
  assert.deepEqual(inWorkers.map((r) => [r.index, r.valLoss, [...r.crossFit!.head.layers[0]!.kernel]]),
    inThread.map((r) => [r.index, r.valLoss, [...r.crossFit!.head.layers[0]!.kernel]]));
  assert.match(formatSweepTable(inThread), /ranked by the cross-validated loss \(3 folds, out of fold\)/);
  await assert.rejects(sweep(train, validation, cvGrid, { ...base, folds: 3 }), (error: FinetuneError) => /--folds 1/.test(error.hint ?? ''));
});

test('sweep ranks by valAccuracy on request and needs a validation split', async () => {
  const results = await sweep(train, validation, { learningRate: [1e-5, 0.03] }, { ...base, rankBy: 'valAccuracy', workers: 0 });
  assert.equal(results[0]!.config.learningRate, 0.03);
  assert.equal(results[0]!.rankBy, 'valAccuracy');
  await assert.rejects(sweep(train, null, grid), (error: FinetuneError) => error.code === 'INVALID_OPTION');
  await assert.rejects(sweep(train, validation, { dropout: [1.5] }), (error: FinetuneError) => /--dropout/.test(error.message));
});

test('sweep refuses non-finite validation features before training any config', async () => {
  const features = validation.features.slice();
  features[5 * 24 + 3] = NaN;
  const messages: string[] = [];
  await assert.rejects(sweep(train, { ...validation, features }, grid, { ...base, workers: 2, onProgress: (event) => {
    if (event.stage === 'info') messages.push(event.message ?? '');
  } }), (error: FinetuneError) => error.code === 'DATASET_INVALID' && /validation features hold 1 non-finite value .* row 5\./.test(error.message));
  assert.deepEqual(messages, []);
});

test('toSharedFeatures copies into a SharedArrayBuffer once, and not again', () => {
  const shared = toSharedFeatures(train);
  assert.ok(shared.features.buffer instanceof SharedArrayBuffer);
  assert.deepEqual(shared.features, train.features);
  assert.equal(toSharedFeatures(shared).features, shared.features);
});
