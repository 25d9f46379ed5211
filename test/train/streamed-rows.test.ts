import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FeatureFileWriter, openFeatureFile } from '../../src/train/feature-file.js';
import { fit } from '../../src/train/fit.js';
import { predictProbabilities } from '../../src/train/predict-probabilities.js';
import { selectRows, streamedFeatures } from '../../src/train/streamed-features.js';
import { mapRows, readRows } from '../../src/train/streamed-rows.js';
import { makeBlobs } from './synthetic.js';

const data = makeBlobs({ numSamples: 250, embeddingDim: 6, numClasses: 3, noise: 1, offset: 2, scale: 3, seed: 4 });

test('mapRows over a streamed split (many windows) equals the same call on the rows in memory, bit for bit; readRows reads whole rows', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'finetune-streamed-rows-'));
  try {
    const writer = await FeatureFileWriter.create(join(dir, 'f.npy'), data.numSamples, data.embeddingDim);
    await writer.append(data.features);
    await writer.close();
    const file = await openFeatureFile(join(dir, 'f.npy'));
    try {
      const { head } = await fit(data, { epochs: 2, numClasses: 3, seed: 1 });
      // Every third row, as a fold would take them; windows of 5 blocks of 4 rows (budget 2 × 20 rows × 24 bytes).
      const indices = Int32Array.from({ length: 84 }, (_, i) => i * 3);
      const inMemory = selectRows(data, indices);
      const streamed = selectRows(streamedFeatures(file, data.labels), indices);
      const perRows = (features: Float32Array, numSamples: number): Float32Array => predictProbabilities(head, features, numSamples);
      let calls = 0;
      const expected = predictProbabilities(head, inMemory.features, inMemory.numSamples);
      const actual = await mapRows(streamed, 3, (features, numSamples) => { calls++; return perRows(features, numSamples); },
        { memoryBudgetBytes: 2 * 20 * 24, blockRows: 4 });
      assert.ok(calls > 3, `expected several windows, got ${calls}`);
      assert.deepEqual(actual, expected);
      assert.deepEqual(await mapRows(inMemory, 3, perRows), expected);
      await assert.rejects(mapRows(streamed, 4, perRows, { memoryBudgetBytes: 2 * 20 * 24, blockRows: 4 }), /returned \d+ values for \d+ rows of width 4/);

      const picked = await readRows(streamed, [0, 5, 83]);
      assert.deepEqual(picked.features, Float32Array.from([0, 15, 249].flatMap((row) => [...data.features.subarray(row * 6, row * 6 + 6)])));
      assert.deepEqual([...picked.labels], [0, 15, 249].map((row) => data.labels[row]));
      assert.deepEqual(await readRows(inMemory, [0, 5, 83]), picked);
    } finally {
      await file.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
