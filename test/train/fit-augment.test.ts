import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsDenseKernels, type DenseKernels, type DenseWorkspace } from '../../src/train/dense-kernels.js';
import { fit, sampleViews, type FitResult, type LabelledFeatures, type TrainingViews } from '../../src/train/fit.js';
import { Rng } from '../../src/util/rng.js';
import { makeBlobs } from './synthetic.js';

const weightsOf = (result: FitResult): number[] => result.head.layers.flatMap((layer) => [...layer.kernel, ...layer.bias]);

/** Views that repeat each original row K times. */
function repeatedViews(data: LabelledFeatures, numViews: number): TrainingViews {
  const { numSamples, embeddingDim } = data;
  const features = new Float32Array(numSamples * numViews * embeddingDim);
  for (let row = 0; row < numSamples; row++)
    for (let v = 0; v < numViews; v++)
      features.set(data.features.subarray(row * embeddingDim, (row + 1) * embeddingDim), (row * numViews + v) * embeddingDim);
  return { features, numViews };
}

/**
 * Rows tagged with what they are: feature 0 = sample id, feature 1 = view (0 the original, v for view v), so a
 * kernel spy can read which (sample, view) pairs each training step used.
 */
function taggedData(numSamples: number, numViews: number): { train: LabelledFeatures; views: TrainingViews } {
  const embeddingDim = 2;
  const features = new Float32Array(numSamples * embeddingDim);
  const labels = new Int32Array(numSamples);
  const viewFeatures = new Float32Array(numSamples * numViews * embeddingDim);
  for (let row = 0; row < numSamples; row++) {
    features[row * embeddingDim] = row;
    labels[row] = row % 2;
    for (let v = 1; v <= numViews; v++) {
      const offset = (row * numViews + v - 1) * embeddingDim;
      viewFeatures[offset] = row;
      viewFeatures[offset + 1] = v;
    }
  }
  return { train: { features, labels, numSamples, embeddingDim }, views: { features: viewFeatures, numViews } };
}

/** jsDenseKernels that also record every row the first layer's forward pass sees. */
function spyKernels(): { kernels: DenseKernels; rows: Array<[number, number]> } {
  const rows: Array<[number, number]> = [];
  const kernels: DenseKernels = {
    name: 'spy',
    createWorkspace(lengths) {
      const workspace = jsDenseKernels.createWorkspace(lengths);
      const forward = workspace.forward.bind(workspace);
      return Object.assign(workspace, {
        forward(...args: Parameters<DenseWorkspace['forward']>) {
          const [input, inputOffset, count, inputDim] = args;
          for (let row = 0; row < count; row++) rows.push([input[inputOffset + row * inputDim]!, input[inputOffset + row * inputDim + 1]!]);
          forward(...args);
        },
      });
    },
  };
  return { kernels, rows };
}

test('views that equal the originals give bit-identical weights: an epoch has the same steps as without views', async () => {
  const train = makeBlobs({ numSamples: 70, embeddingDim: 6, numClasses: 3, noise: 1.5, seed: 4 });
  const validation = makeBlobs({ numSamples: 30, embeddingDim: 6, numClasses: 3, noise: 1.5, seed: 5 });
  const options = { validation, epochs: 6, batchSize: 16, dropout: 0.2, seed: 9, earlyStopping: null } as const;
  const plain = await fit(train, options);
  const withViews = await fit(train, { ...options, views: repeatedViews(train, 3) });
  assert.deepEqual(weightsOf(withViews), weightsOf(plain));
  assert.equal(withViews.history.length, 6);
});

test('the trainer draws exactly one view per image per epoch, among the original and the K views, seeded', async () => {
  const numSamples = 40, numViews = 3, epochs = 12;
  const { train, views } = taggedData(numSamples, numViews);
  const runOnce = async (seed: number): Promise<Array<Array<[number, number]>>> => {
    const spy = spyKernels();
    await fit(train, { views, epochs, batchSize: 7, seed, standardize: false, earlyStopping: null, kernels: spy.kernels });
    assert.equal(spy.rows.length, epochs * numSamples, 'one step row per original image per epoch');
    return Array.from({ length: epochs }, (_, epoch) => spy.rows.slice(epoch * numSamples, (epoch + 1) * numSamples));
  };
  const first = await runOnce(3);
  const counts = new Array<number>(numViews + 1).fill(0);
  for (const epochRows of first) {
    const samples = epochRows.map(([sample]) => sample).sort((a, b) => a - b);
    assert.deepEqual(samples, Array.from({ length: numSamples }, (_, i) => i), 'every image exactly once per epoch');
    for (const [, view] of epochRows) {
      assert.ok(Number.isInteger(view) && view >= 0 && view <= numViews, `view ${view}`);
      counts[view]!++;
    }
  }
  // Uniform over K + 1 candidates: 480 draws, 120 expected each; the original is one of them.
  for (const count of counts) assert.ok(count > 80 && count < 160, `view counts ${counts.join(', ')}`);
  // The draw changes between epochs (it is not one fixed view per image).
  const viewsBySample = (rows: Array<[number, number]>) => rows.slice().sort((a, b) => a[0] - b[0]).map(([, view]) => view);
  assert.notDeepEqual(viewsBySample(first[0]!), viewsBySample(first[1]!));
  // Seeded: the same seed replays the same draws; another seed does not.
  assert.deepEqual(await runOnce(3), first);
  assert.notDeepEqual(await runOnce(4), first);
});

test('validation rows are never augmented', async () => {
  const { train, views } = taggedData(20, 2);
  const validation: LabelledFeatures = {
    features: Float32Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? 1000 + i / 2 : -1)), labels: new Int32Array(8), numSamples: 8, embeddingDim: 2,
  };
  const spy = spyKernels();
  await fit(train, { views, validation, epochs: 3, batchSize: 5, standardize: false, earlyStopping: null, kernels: spy.kernels });
  const validationRows = spy.rows.filter(([sample]) => sample >= 1000);
  assert.equal(validationRows.length, 3 * 8);
  for (const [, tag] of validationRows) assert.equal(tag, -1, 'validation features are read as they are');
  assert.equal(spy.rows.length - validationRows.length, 3 * 20);
});

test('unavailable views are never drawn; a row with none always uses its original', () => {
  const numViews = 4, numSamples = 3;
  const available = Uint8Array.from([1, 0, 1, 0, /* row 1 */ 0, 0, 0, 0, /* row 2 */ 1, 1, 1, 1]);
  const out = new Int32Array(numSamples);
  const seen = [new Set<number>(), new Set<number>(), new Set<number>()];
  const rng = new Rng(11);
  for (let draw = 0; draw < 400; draw++) {
    sampleViews(rng, numSamples, { numViews, available }, out);
    out.forEach((view, row) => seen[row]!.add(view));
  }
  assert.deepEqual([...seen[0]!].sort(), [0, 1, 3]);
  assert.deepEqual([...seen[1]!], [0]);
  assert.deepEqual([...seen[2]!].sort(), [0, 1, 2, 3, 4]);
});

test('a views matrix of the wrong size fails before training', async () => {
  const train = makeBlobs({ numSamples: 10, embeddingDim: 4, numClasses: 2 });
  await assert.rejects(fit(train, { views: { features: new Float32Array(10 * 4 * 2 - 1), numViews: 2 } }),
    (error: unknown) => error instanceof RangeError && /10 × 2 × 4 = 80/.test(error.message));
  await assert.rejects(fit(train, { views: { features: new Float32Array(0), numViews: 0 } }), RangeError);
  await assert.rejects(fit(train, { views: { features: new Float32Array(80), numViews: 2, available: new Uint8Array(3) } }),
    (error: unknown) => error instanceof RangeError && /'views.available' has 3 entries, expected .* 20/.test(error.message));
});
