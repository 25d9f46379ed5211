import assert from 'node:assert/strict';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { EmbeddingCache, extractorKey } from '../../src/embed/embedding-cache.js';
import { defaultBatchSize, extractEmbeddings, type LazyFeatureExtractor } from '../../src/embed/extract-embeddings.js';
import { shardOf } from '../../src/embed/shard-of.js';
import { FinetuneError } from '../../src/errors.js';
import { preprocessImage } from '../../src/image/preprocess-image.js';
import { createSession } from '../../src/runtime/session.js';
import type { ProgressEvent } from '../../src/types.js';
import { TINY_PREPROCESS, tinyExtractor, writeImages } from './fixtures/embed-fixtures.js';

let dir: string;
let images: string[];
let bad: { truncated: string; textAsPng: string; empty: string; absent: string };
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-extract-'));
  images = await writeImages(join(dir, 'images'), 20);
  const jpeg = await readFile(images[1]!);
  bad = {
    truncated: join(dir, 'bad', 'truncated.jpg'),
    textAsPng: join(dir, 'bad', 'notes.png'),
    empty: join(dir, 'bad', 'empty.jpg'),
    absent: join(dir, 'bad', 'absent.png'),
  };
  await mkdir(join(dir, 'bad'), { recursive: true });
  await writeFile(bad.truncated, jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  await writeFile(bad.textAsPng, 'hello, I am a text file\n');
  await writeFile(bad.empty, new Uint8Array(0));
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

const openCache = (name: string): EmbeddingCache => EmbeddingCache.open({ cacheDir: join(dir, name) });

/** Features computed the slow, obvious way: one image at a time. */
async function referenceFeatures(paths: readonly string[]): Promise<Float32Array[]> {
  const extractor = tinyExtractor();
  const session = await createSession(extractor.modelBytes, { device: 'cpu' });
  const out: Float32Array[] = [];
  for (const path of paths) {
    const x = await preprocessImage(path, TINY_PREPROCESS);
    out.push((await session.runFloat('input', x, [1, 3, 8, 8]))['features']!.data);
  }
  await session.release();
  return out;
}

function assertClose(actual: Float32Array, expected: Float32Array, message: string): void {
  assert.equal(actual.length, expected.length, message);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= 1e-4 * (1 + Math.abs(expected[i]!)), `${message}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('extractEmbeddings', () => {
  it('embeds in batches, skips and lists bad files, and finishes', async () => {
    const cache = openCache('basic');
    const items = [...images.slice(0, 5), bad.truncated, ...images.slice(5, 12), bad.textAsPng, bad.empty, ...images.slice(12), bad.absent]
      .map((path) => ({ path }));
    const events: ProgressEvent[] = [];
    const result = await extractEmbeddings(items, tinyExtractor(), { cache, device: 'cpu', batchSize: 6, onProgress: (e) => events.push(e) });
    assert.equal(result.computed, 20);
    assert.equal(result.cacheHits, 0);
    assert.equal(result.backboneBatches, Math.ceil(20 / 6));
    assert.equal(result.provider, 'cpu');
    assert.deepEqual(result.failed.map((f) => f.path), [bad.truncated, bad.textAsPng, bad.empty, bad.absent]);
    assert.match(result.failed.find((f) => f.path === bad.empty)!.reason, /empty file/);
    assert.match(result.failed.find((f) => f.path === bad.absent)!.reason, /file not found/);
    assert.equal(result.okIndices.length, 20);
    assert.deepEqual(result.okIndices.map((i) => items[i]!.path), images);
    assert.equal(result.features.length, 20 * 16);
    const expected = await referenceFeatures(images);
    for (let row = 0; row < 20; row++) assertClose(result.features.subarray(row * 16, row * 16 + 16), expected[row]!, `row ${row}`);
    assert.equal(cache.count(result.extractorKey), 20);
    // Progress: start … done, monotone, ending at total.
    assert.equal(events[0]?.stage, 'embed');
    assert.equal(events[0]?.status, 'start');
    const last = events.at(-1)!;
    assert.ok(last.stage === 'embed' && last.status === 'done' && last.done === items.length && last.failed === 4 && last.computed === 20);
    let previous = -1;
    for (const event of events) {
      assert.ok(event.stage === 'embed' && event.done >= previous);
      previous = event.done;
    }
    cache.close();
  });

  it('serves a second run entirely from the cache without loading the backbone', async () => {
    const cache = openCache('rerun');
    const items = images.map((path) => ({ path }));
    const first = await extractEmbeddings(items, tinyExtractor(), { cache, device: 'cpu', batchSize: 8 });
    // Same spec, unloadable model bytes: any backbone inference would throw MODEL_INVALID.
    const unloadable = { ...tinyExtractor(), modelBytes: new TextEncoder().encode('not a model') };
    const second = await extractEmbeddings(items, unloadable, { cache, batchSize: 8 });
    assert.equal(second.cacheHits, 20);
    assert.equal(second.computed, 0);
    assert.equal(second.backboneBatches, 0);
    assert.equal(second.provider, null);
    assert.deepEqual(second.features, first.features);
    // Renamed and moved copies still hit.
    const moved = join(dir, 'moved', 'deeper');
    await mkdir(moved, { recursive: true });
    const renamed = await Promise.all(images.map(async (path, i) => {
      const target = join(moved, `renamed-${i}.bin`);
      await copyFile(path, target);
      return { path: target };
    }));
    const third = await extractEmbeddings(renamed, unloadable, { cache });
    assert.equal(third.cacheHits, 20);
    assert.deepEqual(third.features, first.features);
    // A different resize size is a different extractor: everything misses.
    const resized = tinyExtractor({ preprocess: { ...TINY_PREPROCESS, resizeSize: 16 } });
    const fourth = await extractEmbeddings(items, resized, { cache, device: 'cpu' });
    assert.equal(fourth.cacheHits, 0);
    assert.equal(fourth.computed, 20);
    assert.notDeepEqual(fourth.features, first.features);
    cache.close();
  });

  it('finds a rerun\'s hits by the files\' stat without reading them; a changed file is read and recomputed', async () => {
    const folder = join(dir, 'memo');
    await mkdir(folder, { recursive: true });
    const paths = await Promise.all(images.slice(0, 10).map(async (path, i) => {
      const target = join(folder, `${i}.jpg`);
      await copyFile(path, target);
      return target;
    }));
    const items = paths.map((path) => ({ path }));
    const cache = openCache('memo');
    await new Promise((done) => setTimeout(done, 2100));   // the memo keeps files unchanged for ≥ 2 s only
    const first = await extractEmbeddings(items, tinyExtractor(), { cache, device: 'cpu', batchSize: 4 });
    assert.equal(first.computed, 10);
    // Count the file reads of the next runs (fs/promises.readFile, as readImageFile calls it).
    const replacement = await readFile(images[15]!);
    const fsPromises = createRequire(import.meta.url)('node:fs/promises') as typeof import('node:fs/promises');
    const reads: string[] = [];
    const original = fsPromises.readFile;
    const readFileMock = mock.method(fsPromises, 'readFile', function (this: unknown, ...args: Parameters<typeof readFile>) {
      reads.push(String(args[0]));
      return original.apply(this, args);
    });
    syncBuiltinESMExports();
    try {
      const second = await extractEmbeddings(items, tinyExtractor(), { cache, device: 'cpu', batchSize: 4 });
      assert.equal(second.cacheHits, 10);
      assert.deepEqual(second.features, first.features);
      assert.deepEqual(reads, [], 'no image file is read when its stat matches the remembered sha');
      // Overwrite one file with another image: new size/ctime, so it is read, hashed and computed.
      await writeFile(paths[3]!, replacement);
      const third = await extractEmbeddings(items, tinyExtractor(), { cache, device: 'cpu', batchSize: 4 });
      assert.deepEqual(reads, [paths[3]], 'only the changed file is read');
      assert.equal(third.computed, 1);
      assert.equal(third.cacheHits, 9);
      const [expected] = await referenceFeatures([images[15]!]);
      assertClose(third.features.subarray(3 * 16, 4 * 16), expected!, 'the changed file\'s new features');
    } finally {
      readFileMock.mock.restore();
      syncBuiltinESMExports();
      cache.close();
    }
  });

  it('calls a lazy extractor\'s loadModel only when an image misses the cache', async () => {
    const cache = openCache('lazy');
    const eager = tinyExtractor();
    let loads = 0;
    const { modelBytes, ...rest } = eager;
    const lazy: LazyFeatureExtractor = { ...rest, modelSizeBytes: modelBytes.byteLength, loadModel: async () => { loads++; return modelBytes; } };
    const items = images.slice(0, 10).map((path) => ({ path }));
    const first = await extractEmbeddings(items, lazy, { cache, device: 'cpu', batchSize: 4 });
    assert.equal(first.computed, 10);
    assert.equal(loads, 1, 'loaded once for the misses');
    const again = await extractEmbeddings(items, lazy, { cache, device: 'cpu', batchSize: 4 });
    assert.equal(again.cacheHits, 10);
    assert.equal(loads, 1, 'a run served from the cache never loads the model');
    assert.deepEqual(again.features, first.features);
    const eagerRun = await extractEmbeddings(items, eager, { cache: openCache('lazy-eager'), device: 'cpu', batchSize: 4 });
    assert.deepEqual(eagerRun.features, first.features);
    cache.close();
  });

  it('starts loading the backbone when the first batch to compute exists, not once it is decoded', async () => {
    const { modelBytes, ...rest } = tinyExtractor();
    let loadStarted = false;
    const lazy: LazyFeatureExtractor = { ...rest, modelSizeBytes: modelBytes.byteLength, loadModel: async () => { loadStarted = true; return modelBytes; } };
    const loadStartedAtDecode: boolean[] = [];
    const preprocess: typeof preprocessImage = async (input, spec, options) => {
      loadStartedAtDecode.push(loadStarted);
      return preprocessImage(input, spec, options);
    };
    const result = await extractEmbeddings(images.slice(0, 8).map((path) => ({ path })), lazy,
      { cache: openCache('load-early'), device: 'cpu', batchSize: 4, preprocess });
    assert.equal(result.computed, 8);
    assert.deepEqual(loadStartedAtDecode, new Array(8).fill(true), 'the load began before any image of the first batch decoded');
  });

  it('only fills the cache with collectFeatures: false (same outcome, no features kept)', async () => {
    const items = [...images.slice(0, 6), bad.textAsPng, images[2]!].map((path) => ({ path }));
    const kept = await extractEmbeddings(items, tinyExtractor(), { cache: openCache('collect-a'), device: 'cpu', batchSize: 4 });
    const cache = openCache('collect-b');
    const filled = await extractEmbeddings(items, tinyExtractor(), { cache, device: 'cpu', batchSize: 4, collectFeatures: false });
    assert.equal(filled.features.length, 0);
    assert.equal(kept.features.length, 7 * 16);
    for (const field of ['okIndices', 'imageShas', 'failed', 'cacheHits', 'computed', 'backboneBatches'] as const) {
      assert.deepEqual(filled[field], kept[field], field);
    }
    const rerun = await extractEmbeddings(items, tinyExtractor(), { cache, device: 'cpu', batchSize: 4, collectFeatures: false });
    assert.deepEqual([rerun.cacheHits, rerun.computed, rerun.okIndices], [7, 0, kept.okIndices]);
    cache.close();
  });

  it('fails on the first bad file with strict', async () => {
    const cache = openCache('strict');
    const items = [...images.slice(0, 3), bad.textAsPng, ...images.slice(3, 6)].map((path) => ({ path }));
    await assert.rejects(extractEmbeddings(items, tinyExtractor(), { cache, device: 'cpu', batchSize: 2, strict: true }), (error: unknown) => {
      assert.ok(error instanceof FinetuneError);
      assert.equal(error.code, 'IMAGE_DECODE_FAILED');
      assert.ok(error.message.includes(bad.textAsPng), error.message);
      return true;
    });
    await assert.rejects(extractEmbeddings([{ path: bad.empty }], tinyExtractor(), { cache, strict: true }),
      { code: 'IMAGE_DECODE_FAILED', message: /empty file/ });
    cache.close();
  });

  it('computes duplicate contents once and gives both the same row', async () => {
    const cache = openCache('duplicates');
    const copy = join(dir, 'copy-of-0.png');
    await copyFile(images[0]!, copy);
    const items = [images[0]!, images[1]!, copy, images[2]!].map((path) => ({ path }));
    const result = await extractEmbeddings(items, tinyExtractor(), { cache, device: 'cpu' });
    assert.equal(result.computed, 3);
    assert.equal(result.cacheHits, 1);
    assert.deepEqual(result.okIndices, [0, 1, 2, 3]);
    assert.equal(result.imageShas[0], result.imageShas[2]);
    assert.deepEqual(result.features.subarray(0, 16), result.features.subarray(32, 48));
    cache.close();
  });

  it('runs models with a fixed batch of 1 image by image', async () => {
    const cache = openCache('batch1');
    const items = images.slice(0, 5).map((path) => ({ path }));
    const result = await extractEmbeddings(items, tinyExtractor({ batch: 1 }), { cache, device: 'cpu', batchSize: 4 });
    assert.equal(result.computed, 5);
    const expected = await referenceFeatures(images.slice(0, 5));
    for (let row = 0; row < 5; row++) assertClose(result.features.subarray(row * 16, row * 16 + 16), expected[row]!, `row ${row}`);
    cache.close();
  });

  it('stops on abort, keeping the batches already written', async () => {
    const cache = openCache('abort');
    const controller = new AbortController();
    const items = images.map((path) => ({ path }));
    await assert.rejects(extractEmbeddings(items, tinyExtractor(), {
      cache, device: 'cpu', batchSize: 4, prefetchBatches: 1,
      onProgress: (event) => { if (event.stage === 'embed' && event.computed >= 4) controller.abort(); },
      signal: controller.signal,
    }), { name: 'AbortError' });
    const stored = cache.count(extractorKey(tinyExtractor().spec));
    assert.ok(stored >= 4 && stored < 20 && stored % 4 === 0, `stored ${stored}`);
    cache.close();
  });

  it('reports a wrong embeddingDim as INFERENCE_FAILED and validates options', async () => {
    const cache = openCache('wrongdim');
    await assert.rejects(extractEmbeddings([{ path: images[0]! }], tinyExtractor({ embeddingDim: 12 }), { cache, device: 'cpu' }),
      { code: 'INFERENCE_FAILED', message: /expected 1 × 12 values/ });
    await assert.rejects(extractEmbeddings([], tinyExtractor(), { cache, batchSize: 0 }), RangeError);
    await assert.rejects(extractEmbeddings([], tinyExtractor(), { cache, shard: { index: 2, count: 2 } }), RangeError);
    const empty = await extractEmbeddings([], tinyExtractor(), { cache });
    assert.equal(empty.features.length, 0);
    cache.close();
  });

  it('splits images across shards by content, each exactly once', async () => {
    const items = images.map((path) => ({ path }));
    const seen: number[] = [];
    for (let index = 0; index < 3; index++) {
      const cache = openCache(`shard-${index}`);
      const result = await extractEmbeddings(items, tinyExtractor(), { cache, device: 'cpu', shard: { index, count: 3 } });
      assert.equal(result.otherShards, 20 - result.okIndices.length);
      for (const sha of result.imageShas) assert.equal(shardOf(sha, 3), index);
      seen.push(...result.okIndices);
      cache.close();
    }
    assert.deepEqual(seen.sort((a, b) => a - b), images.map((_, i) => i));
  });

  it('picks batch sizes by model size', () => {
    assert.equal(defaultBatchSize(3.6e6), 32);
    assert.equal(defaultBatchSize(98e6), 16);
    assert.equal(defaultBatchSize(548e6), 8);
  });
});
