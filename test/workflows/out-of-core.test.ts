/** The run's switch to out-of-core training: the memory plan, and the feature file written from the embedding cache. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EmbeddingCache } from '../../src/embed/embedding-cache.js';
import { FinetuneError } from '../../src/errors.js';
import type { ProgressEvent } from '../../src/types.js';
import { sha256 } from '../../src/util/hash.js';
import {
  checkMaxMemory, defaultMemoryBudget, planTrainingMemory, STREAMED_FEATURES_DIR, writeStreamedSplit,
} from '../../src/workflows/out-of-core.js';
import type { FeatureRow } from '../../src/workflows/out-of-core.js';
import { TEST_SPEC } from '../embed/fixtures/cache-fixtures.js';

const isInvalidMaxMemory = (error: unknown): boolean =>
  error instanceof FinetuneError && error.code === 'INVALID_OPTION' && /--max-memory/.test(error.message) && /--max-memory/.test(error.hint ?? '');

describe('planTrainingMemory', () => {
  it('the default budget is 1/8 of the machine memory, at most 2 GiB', () => {
    assert.equal(defaultMemoryBudget(8 * 2 ** 30), 2 ** 30);
    assert.equal(defaultMemoryBudget(64 * 2 ** 30), 2 * 2 ** 30);
    assert.equal(planTrainingMemory(10, 4).budgetBytes, defaultMemoryBudget());
  });

  it('streams only when rows × dim × 4 bytes exceed the budget, with blocks small enough for 16 per window', () => {
    assert.deepEqual(planTrainingMemory(100, 8, 3200), { budgetBytes: 3200, rowBytes: 32, featureBytes: 3200, streamed: false, blockRows: 0, windowRows: 0 });
    // 1 byte over: windows of ⌊3199 / 2 / 32⌋ = 49 rows → blocks of 3 rows, 16 per window.
    assert.deepEqual(planTrainingMemory(100, 8, 3199), { budgetBytes: 3199, rowBytes: 32, featureBytes: 3200, streamed: true, blockRows: 3, windowRows: 48 });
    // 1M × 1280 in 1 GiB: full 1,024-row blocks, ⌊2^29 / 5120 / 1024⌋ = 102 per window.
    const large = planTrainingMemory(1_000_000, 1280, 2 ** 30);
    assert.equal(large.streamed, true);
    assert.equal(large.blockRows, 1024);
    assert.equal(large.windowRows, 102 * 1024);
  });

  it('a budget that cannot hold one row per window buffer, or that is not a size, fails naming --max-memory', () => {
    assert.throws(() => planTrainingMemory(100, 8, 63), (error) => isInvalidMaxMemory(error) && /at least 64 bytes/.test((error as FinetuneError).hint!));
    assert.ok(planTrainingMemory(100, 8, 64).streamed);
    for (const bad of [0, -5, 1.5, Number.NaN]) {
      assert.throws(() => planTrainingMemory(100, 8, bad), isInvalidMaxMemory);
      assert.throws(() => checkMaxMemory(bad), isInvalidMaxMemory);
    }
    for (const good of [undefined, 1, 63]) checkMaxMemory(good);   // a budget too small for a row is planTrainingMemory's to refuse
  });
});

describe('writeStreamedSplit', () => {
  let dir: string;
  let key: string;
  const dim = 5;
  const rows: FeatureRow[] = Array.from({ length: 30 }, (_, i) => ({ imageSha: sha256(`image ${i}`), label: i % 3, file: `class${i % 3}/${i}.png` }));
  const vectorOf = (i: number): Float32Array => Float32Array.from({ length: dim }, (_, f) => Math.fround(i + f / 7 - 3.3));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'finetune-ooc-'));
    const cache = EmbeddingCache.open({ cacheDir: join(dir, 'cache') });
    key = cache.registerExtractor(TEST_SPEC, dim);
    cache.putMany(key, rows.map((row, i) => ({ imageSha: row.imageSha, vector: vectorOf(i) })));
    cache.close();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the cached vectors once, in row order, and opens the train and validation rows over the one file; close deletes it', async () => {
    const runDir = join(dir, 'run');
    const plan = planTrainingMemory(rows.length, dim, 100);
    const events: ProgressEvent[] = [];
    const trainRows = rows.flatMap((_, i) => (i % 5 === 0 ? [] : [i])), validationRows = rows.flatMap((_, i) => (i % 5 === 0 ? [i] : []));
    const split = await writeStreamedSplit({ runDir, cacheDir: join(dir, 'cache'), extractorKey: key, rows, trainRows, validationRows, plan,
      onProgress: (event) => events.push(event) });
    try {
      assert.equal(split.file.numRows, 30);
      assert.equal(split.file.embeddingDim, dim);
      const all = new Float32Array(30 * dim);
      await split.file.read(0, 30, all);
      assert.deepEqual(all, Float32Array.from(rows.flatMap((_, i) => [...vectorOf(i)])));
      assert.equal(split.train.numSamples, 24);
      assert.deepEqual([...split.train.rows!], trainRows);
      assert.deepEqual([...split.train.labels], trainRows.map((i) => i % 3));
      assert.deepEqual([...split.validation!.rows!], validationRows);
      assert.deepEqual(split.fitOptions, { memoryBudgetBytes: 100, blockRows: 1 });
      const messages = events.flatMap((event) => (event.stage === 'info' ? [event.message] : []));
      assert.ok(messages.some((message) => /exceed --max-memory 100 B: streaming them from a feature file/.test(message)), messages.join(' | '));
    } finally {
      await split.close();
    }
    assert.equal(existsSync(join(runDir, STREAMED_FEATURES_DIR)), false);
  });

  it('a vector missing from the cache fails with CACHE_CORRUPT and leaves no file behind', async () => {
    const runDir = join(dir, 'run-missing');
    const withMissing = [...rows, { imageSha: sha256('never cached'), label: 0, file: 'class0/gone.png' }];
    await assert.rejects(writeStreamedSplit({ runDir, cacheDir: join(dir, 'cache'), extractorKey: key, rows: withMissing,
      trainRows: withMissing.map((_, i) => i), validationRows: [], plan: planTrainingMemory(withMissing.length, dim, 100) }),
    (error) => error instanceof FinetuneError && error.code === 'CACHE_CORRUPT' && /class0\/gone\.png/.test(error.message));
    assert.equal(existsSync(join(runDir, STREAMED_FEATURES_DIR)), false);
  });
});
