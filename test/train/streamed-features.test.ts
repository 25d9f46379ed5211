import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FinetuneError } from '../../src/errors.js';
import { FeatureFileWriter, openFeatureFile, readLabelFile, type FeatureFile } from '../../src/train/feature-file.js';
import { fit } from '../../src/train/fit.js';
import { fitStandardization } from '../../src/train/standardization.js';
import { createWindowBuffers, scanStreamed, selectRows, streamedFeatures, WindowReader } from '../../src/train/streamed-features.js';
import { copyRows } from '../../src/util/copy-rows.js';
import type { LabelledFeatures } from '../../src/train/training-data.js';
import { encodeNpyHeader } from '../../src/util/npy.js';
import { Rng } from '../../src/util/rng.js';
import { makeBlobs } from './synthetic.js';

async function withDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'finetune-streamed-'));
  try { return await body(dir); } finally { await rm(dir, { recursive: true, force: true }); }
}

/** Writes `data` as features.npy (through FeatureFileWriter, in chunks) and labels.npy; opens them. */
async function toFile(dir: string, data: LabelledFeatures, name = 'features'): Promise<{ file: FeatureFile; labels: Int32Array }> {
  const path = join(dir, `${name}.npy`);
  const writer = await FeatureFileWriter.create(path, data.numSamples, data.embeddingDim);
  for (let row = 0; row < data.numSamples; row += 7)
    await writer.append(data.features.subarray(row * data.embeddingDim, Math.min(data.numSamples, row + 7) * data.embeddingDim));
  await writer.close();
  const labelsPath = join(dir, `${name}-labels.npy`);
  await writeFile(labelsPath, Buffer.concat([encodeNpyHeader('<i4', [data.numSamples]), new Uint8Array(data.labels.buffer, data.labels.byteOffset, data.labels.byteLength)]));
  return { file: await openFeatureFile(path), labels: await readLabelFile(labelsPath) };
}

const train = makeBlobs({ numSamples: 300, embeddingDim: 12, numClasses: 3, noise: 1.5, offset: 5, scale: 3, seed: 1 });
const validation = makeBlobs({ numSamples: 100, embeddingDim: 12, numClasses: 3, noise: 1.5, offset: 5, scale: 3, seed: 2 });

test('a feature file round-trips rows and labels; bad files fail with the path and a hint', () => withDir(async (dir) => {
  const { file, labels } = await toFile(dir, train);
  try {
    assert.equal(file.numRows, 300);
    assert.equal(file.embeddingDim, 12);
    assert.deepEqual(labels, train.labels);
    const out = new Float32Array(5 * 12);
    await file.read(100, 5, out);
    assert.deepEqual(out, train.features.subarray(100 * 12, 105 * 12));
    await assert.rejects(file.read(298, 5, out), RangeError);
  } finally { await file.close(); }
  await writeFile(join(dir, 'bad.npy'), 'not numpy');
  await assert.rejects(openFeatureFile(join(dir, 'bad.npy')), (error: FinetuneError) =>
    error.code === 'DATASET_INVALID' && error.message.includes('bad.npy') && /no \\x93NUMPY magic/.test(error.message));
  await writeFile(join(dir, 'short.npy'), Buffer.concat([encodeNpyHeader('<f4', [10, 4]), Buffer.alloc(39 * 4)]));
  await assert.rejects(openFeatureFile(join(dir, 'short.npy')), /holds 156 data bytes, its header promises 160/);
  await writeFile(join(dir, 'f64.npy'), Buffer.concat([encodeNpyHeader('<f8', [2, 2]), Buffer.alloc(32)]));
  await assert.rejects(openFeatureFile(join(dir, 'f64.npy')), /holds <f8 with shape \(2, 2\); features must be float32/);
  // A writer that learns the row count at the end (a streamed export) rewrites its reserved header.
  const open = await FeatureFileWriter.create(join(dir, 'sub', 'open.npy'), null, 2);
  await open.append(Float32Array.of(1, 2, 3, 4));
  await open.append(Float32Array.of(5, 6));
  await open.close();
  const reread = await openFeatureFile(join(dir, 'sub', 'open.npy'));
  const rows = new Float32Array(6);
  await reread.read(0, 3, rows);
  await reread.close();
  assert.deepEqual([reread.numRows, reread.embeddingDim, [...rows]], [3, 2, [1, 2, 3, 4, 5, 6]]);
  // An unfinished writer leaves nothing under the final name.
  const writer = await FeatureFileWriter.create(join(dir, 'partial.npy'), 3, 2);
  await writer.append(new Float32Array(2));
  await assert.rejects(writer.close(), /1 of 3 rows were written/);
  await assert.rejects(openFeatureFile(join(dir, 'partial.npy')), { code: 'ENOENT' });
}));

test('window reader: every row of the split once per epoch, windows within the budget, block order seeded', () => withDir(async (dir) => {
  const { file, labels } = await toFile(dir, train);
  try {
    const rowBytes = 12 * 4;
    const buffers = createWindowBuffers(12, 300, { blockRows: 16, memoryBudgetBytes: 2 * 64 * rowBytes });   // 4 blocks a window
    assert.equal(buffers.windowFileRows, 64);
    const epochRows = async (data: ReturnType<typeof streamedFeatures>, seed: number): Promise<number[][]> => {
      const windows: number[][] = [];
      for await (const { data: window, order } of new WindowReader(data, buffers).windows(new Rng(seed))) {
        assert.ok(window.numSamples <= 64);
        // Identify each row by its first feature (all distinct here) and check its label came along.
        windows.push(Array.from(order!, (position) => {
          const value = window.features[position * 12]!;
          const row = train.features.findIndex((v, i) => i % 12 === 0 && v === value) / 12;
          assert.equal(window.labels[position], train.labels[row]);
          return row;
        }));
      }
      return windows;
    };
    const all = streamedFeatures(file, labels);
    const first = await epochRows(all, 1);
    assert.equal(first.length, 5);   // 19 blocks of 16 rows in windows of 4 blocks
    assert.deepEqual(first.flat().sort((a, b) => a - b), Array.from({ length: 300 }, (_, i) => i));
    assert.deepEqual(await epochRows(all, 1), first);
    assert.notDeepEqual(await epochRows(all, 2), first);
    // A subset (a cross-validation fold's complement): exactly its rows.
    const subset = Int32Array.from({ length: 300 }, (_, i) => i).filter((row) => row % 5 !== 0);
    const rows = (await epochRows(streamedFeatures(file, labels, subset), 3)).flat().sort((a, b) => a - b);
    assert.deepEqual(rows, [...subset]);
  } finally { await file.close(); }
}));

test('the streaming pass gives the in-memory standardization and names the first non-finite value', () => withDir(async (dir) => {
  const { file, labels } = await toFile(dir, train);
  try {
    const reference = fitStandardization(train.features, 300, 12);
    const small = createWindowBuffers(12, 300, { blockRows: 10, memoryBudgetBytes: 2 * 40 * 12 * 4 });
    const scanned = await scanStreamed(streamedFeatures(file, labels), 'training', small);
    for (let feature = 0; feature < 12; feature++) {
      assert.ok(Math.abs(scanned.mean[feature]! - reference.mean[feature]!) <= 1e-6 * Math.abs(reference.mean[feature]!), `mean ${feature}`);
      assert.ok(Math.abs(scanned.std[feature]! - reference.std[feature]!) <= 1e-6 * reference.std[feature]!, `std ${feature}`);
    }
    const whole = await scanStreamed(streamedFeatures(file, labels), 'training', createWindowBuffers(12, 300, { blockRows: 512 }));
    assert.deepEqual(whole, reference, 'one window is the two-pass computation itself');
  } finally { await file.close(); }
  const poisoned = { ...train, features: train.features.slice() };
  poisoned.features[123 * 12 + 4] = NaN;
  const { file: bad, labels: badLabels } = await toFile(dir, poisoned, 'poisoned');
  try {
    await assert.rejects(fit(streamedFeatures(bad, badLabels), { epochs: 1 }), (error: FinetuneError) =>
      error.code === 'DATASET_INVALID' && /training features hold a non-finite value \(NaN\) at row 123 of ".*poisoned\.npy", feature 4/.test(error.message));
  } finally { await bad.close(); }
}));

test('fit on a feature file: one window equals training in memory; validation streamed equals validation in memory', () => withDir(async (dir) => {
  const { file, labels } = await toFile(dir, train);
  const { file: validationFile, labels: validationLabels } = await toFile(dir, validation, 'validation');
  try {
    const streamedTrain = streamedFeatures(file, labels), streamedValidation = streamedFeatures(validationFile, validationLabels);
    const options = { epochs: 1, earlyStopping: null, seed: 3, validation } as const;
    // One block, one window: the epoch's order is the in-memory shuffle of the first epoch.
    const inMemory = await fit(train, options);
    const oneWindow = await fit(streamedTrain, { ...options, validation: streamedValidation });
    assert.deepEqual(oneWindow.head, inMemory.head);
    assert.deepEqual(oneWindow.history.map(({ seconds: _s, ...logs }) => logs), inMemory.history.map(({ seconds: _s, ...logs }) => logs));
    // Many windows (16-row blocks, 4 blocks a window): learns as well as in memory, and early stopping works the same.
    const windowed = await fit(streamedTrain, { validation: streamedValidation, epochs: 40, blockRows: 16, memoryBudgetBytes: 2 * 64 * 12 * 4 });
    const reference = await fit(train, { validation, epochs: 40 });
    const accuracyOf = (result: typeof reference) => result.history.find((logs) => logs.epoch === result.keptEpoch)!.valAccuracy!;
    assert.ok(Math.abs(accuracyOf(windowed) - accuracyOf(reference)) <= 0.03, `${accuracyOf(windowed)} vs ${accuracyOf(reference)} in memory`);
    assert.notDeepEqual(windowed.head, reference.head, 'windows shuffle differently from the whole-file shuffle');
    assert.equal(windowed.restoredEpoch, windowed.bestEpoch);
  } finally { await file.close(); await validationFile.close(); }
}));

test('copyRows copies the rows asked for, in that order, into a new array of the same type', () => {
  const values = Float32Array.from({ length: 12 }, (_, i) => i);   // 4 rows × 3
  const picked = copyRows(values, 3, [3, 0, 3]);
  assert.ok(picked instanceof Float32Array);
  assert.deepEqual([...picked], [9, 10, 11, 0, 1, 2, 9, 10, 11]);
  picked[0] = -1;
  assert.equal(values[9], 9, 'a copy, not a view');
  const flags = copyRows(Uint8Array.from([1, 0, 0, 1]), 2, Int32Array.from([1]));
  assert.ok(flags instanceof Uint8Array);
  assert.deepEqual([...flags], [0, 1]);
});

test('selectRows picks the same rows from memory and from a file (cross-fitting folds); views and tiny budgets are refused', () => withDir(async (dir) => {
  const { file, labels } = await toFile(dir, train);
  try {
    const fold = Int32Array.from({ length: 60 }, (_, i) => 299 - 5 * i);   // unsorted on purpose
    const complement = Int32Array.from({ length: 300 }, (_, i) => i).filter((row) => !fold.includes(row));
    const options = { epochs: 1, earlyStopping: null, seed: 8 } as const;
    const inMemory = await fit(selectRows(train, complement), { ...options, validation: selectRows(train, fold) });
    const streamed = await fit(selectRows(streamedFeatures(file, labels), complement), { ...options, validation: selectRows(streamedFeatures(file, labels), fold) });
    assert.deepEqual(streamed.head, inMemory.head);
    assert.equal(streamed.history[0]!.valLoss, inMemory.history[0]!.valLoss);
    await assert.rejects(fit(streamedFeatures(file, labels), { views: { features: new Float32Array(300 * 12), numViews: 1 } }),
      (error: FinetuneError) => error.code === 'INVALID_OPTION' && /out-of-core/.test(error.message));
    await assert.rejects(fit(streamedFeatures(file, labels), { memoryBudgetBytes: 1000 }),
      (error: FinetuneError) => error.code === 'INVALID_OPTION' && /Raise --max-memory to at least 1 MiB/.test(error.hint!));
  } finally { await file.close(); }
}));
