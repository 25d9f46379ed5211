import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EmbeddingCache } from '../../src/embed/embedding-cache.js';
import { shardOf } from '../../src/embed/shard-of.js';
import { FinetuneError } from '../../src/errors.js';
import { embedCachePath, embedDataset, readShardReport } from '../../src/workflows/embed-dataset.js';
import { exportEmbeddings } from '../../src/workflows/export-embeddings.js';
import { hashImageFiles } from '../../src/image/read-image-file.js';
import { mergeShardCaches, resolveCacheTarget, shardCacheStatus } from '../../src/workflows/shard-caches.js';
import { writeTestBackbone, writeTestDataset } from './shard-fixtures.js';
import type { TestDataset } from './shard-fixtures.js';
import { listExtractors } from '../../src/embed/cache-admin.js';

let dir: string, backbone: string, data: TestDataset;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-embed-dataset-'));
  backbone = await writeTestBackbone(join(dir, 'backbone.onnx'));
  data = await writeTestDataset(join(dir, 'data'), 10);   // 30 images + a duplicate + a broken PNG = 32 files
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

/** Reads a little-endian .npy v1.0 file: shape and raw bytes. */
async function readNpy(path: string): Promise<{ shape: number[]; body: Buffer; descr: string }> {
  const bytes = await readFile(path);
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLength).toString('latin1');
  const shape = /'shape': \(([^)]*)\)/.exec(header)![1]!.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  return { shape, body: bytes.subarray(10 + headerLength), descr: /'descr': '([^']+)'/.exec(header)![1]! };
}

describe('embedDataset, unsharded', () => {
  it('embeds every image once, skips the broken one with its reason and content hash, writes skipped.txt', async () => {
    const cacheDir = join(dir, 'cache');
    const events: string[] = [];
    const result = await embedDataset(data.root, {
      backbone, cacheDir, device: 'cpu', reportDir: join(dir, 'report'), onProgress: (event) => events.push(event.stage),
    });
    assert.equal(result.total, 32);
    assert.equal(result.inShard, 32);
    assert.equal(result.shard, null);
    assert.equal(result.computed, 30, '30 distinct decodable images');
    assert.equal(result.cacheHits, 1, 'the duplicate is computed once');
    assert.equal(result.failed.length, 1);
    assert.equal(result.failed[0]!.path, data.corrupt);
    assert.equal(result.failed[0]!.imageSha, (await hashImageFiles([data.corrupt]))[0]);
    assert.equal(result.embeddingDim, 32);
    assert.equal(result.provider, 'cpu');
    assert.ok(result.backboneBatches >= 1);
    assert.equal(result.cachePath, join(cacheDir, 'embeddings.sqlite'));
    assert.deepEqual(result.dataset.classNames, ['ant', 'bee', 'cat']);
    assert.ok(events.includes('embed') && events.includes('warn'));
    const skipped = await readFile(result.files['skipped']!, 'utf8');
    assert.match(skipped, new RegExp(`${data.corrupt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\t`));

    const again = await embedDataset(data.root, { backbone, cacheDir, device: 'cpu' });
    assert.deepEqual([again.computed, again.cacheHits, again.backboneBatches, again.provider], [0, 31, 0, null], 'a rerun computes nothing');
  });

  it('a different preprocessing misses the cache (a new extractor key)', async () => {
    const cacheDir = join(dir, 'cache');
    const other = await embedDataset(data.root, { backbone, cacheDir, device: 'cpu', preprocess: { resize: 20 } });
    assert.equal(other.computed, 30);
    const cache = EmbeddingCache.open({ cacheDir, readonly: true });
    assert.equal(listExtractors(cache).length, 2);
    cache.close();
  });
});

describe('embedDataset, sharded', () => {
  const shardDir = () => join(dir, 'shards');

  it('3 shards split the dataset by content hash into their own files, with a report each', async () => {
    const results = [];
    for (let index = 0; index < 3; index++) {
      results.push(await embedDataset(data.root, { backbone, cacheDir: shardDir(), shard: { index, count: 3 }, device: 'cpu' }));
    }
    assert.deepEqual(results.map((r) => r.cachePath), [0, 1, 2].map((k) => join(shardDir(), `embeddings.shard-${k}-of-3.sqlite`)));
    assert.equal(results.reduce((sum, r) => sum + r.inShard, 0), 32, 'every file is in exactly one shard');
    assert.equal(results.reduce((sum, r) => sum + r.computed, 0), 30);
    const corruptShard = shardOf(results.flatMap((r) => r.failed)[0]!.imageSha!, 3);
    for (const [index, result] of results.entries()) {
      assert.equal(result.failed.length, index === corruptShard ? 1 : 0, 'a decode failure is reported by its own shard only');
      const report = await readShardReport(result.cachePath);
      assert.ok(report !== null);
      assert.equal(report.state, 'complete');
      assert.deepEqual(report.shard, { index, count: 3 });
      assert.equal(report.extractorKey, result.extractorKey);
      assert.equal(report.imagesInShard, result.inShard);
      assert.equal(report.computed, result.computed);
      assert.equal(report.failed.length, result.failed.length);
      assert.equal(report.imagesTotal, 32);
    }
  });

  it('status lists a shard count not started yet as all missing, with the images expected of each', async () => {
    const status = await shardCacheStatus({ cacheDir: join(dir, 'nothing-yet'), data: data.root, shards: 5 });
    const group = status.groups[0]!;
    assert.equal(group.count, 5);
    assert.deepEqual(group.missing, [0, 1, 2, 3, 4]);
    assert.equal(group.shards.reduce((sum, s) => sum + s.expected!, 0), 31, '31 distinct contents (one duplicate)');
    assert.ok(group.shards.every((s) => s.remaining === s.expected && s.done === 0));
  });

  it('status without shard files and without --shards fails with a hint', async () => {
    await assert.rejects(shardCacheStatus({ cacheDir: join(dir, 'nothing-yet') }), (error: unknown) =>
      error instanceof FinetuneError && error.code === 'FILE_NOT_FOUND' && /--shards N/.test(error.hint ?? ''));
  });

  it('merge names missing shards from the file names, and merges what is there', async () => {
    const result = await mergeShardCaches([join(shardDir(), 'embeddings.shard-0-of-3.sqlite'), join(shardDir(), 'embeddings.shard-2-of-3.sqlite')],
      join(dir, 'merged-partial'));
    assert.equal(result.complete, false);
    assert.deepEqual(result.status!.groups[0]!.missing, [1]);
    assert.equal(result.target, join(dir, 'merged-partial', 'embeddings.sqlite'));
    assert.ok(result.merge.inserted > 0);
  });
});

describe('exportEmbeddings', () => {
  it('writes the dataset\'s rows in order with class indices, files.txt, classes.txt; unembedded files are listed', async () => {
    const out = join(dir, 'export');
    const cachePath = join(dir, 'cache', 'embeddings.sqlite');
    const reference = await embedDataset(data.root, { backbone, cacheDir: join(dir, 'cache'), device: 'cpu' });
    const result = await exportEmbeddings(out, { cachePath, extractor: reference.extractorKey.slice(0, 8), data: data.root });
    assert.equal(result.count, 31, '32 files minus the broken one');
    assert.deepEqual(result.missing, ['bee/not-really.png']);
    assert.deepEqual(result.classNames, ['ant', 'bee', 'cat']);
    assert.equal(await readFile(result.classesPath!, 'utf8'), 'ant\nbee\ncat\n');
    const files = (await readFile(result.filesPath, 'utf8')).trimEnd().split('\n');
    assert.equal(files.length, 31);
    assert.equal(files[0], 'ant/ant-000.jpg');
    const labels = await readNpy(result.labelsPath);
    assert.equal(labels.descr, '<i4');
    const labelValues = Array.from(new Int32Array(labels.body.buffer.slice(labels.body.byteOffset, labels.body.byteOffset + labels.body.byteLength)));
    assert.deepEqual(labelValues, files.map((file) => ['ant', 'bee', 'cat'].indexOf(file.split('/')[0]!)));
    const features = await readNpy(result.featuresPath);
    assert.deepEqual(features.shape, [31, 32]);
    // Row 0 is ant/ant-000.jpg's vector from the cache.
    const [sha] = await hashImageFiles([join(data.root, files[0]!)]);
    const cache = EmbeddingCache.open({ path: cachePath, readonly: true });
    const vector = cache.getMany(reference.extractorKey, [sha!]).get(sha!)!;
    cache.close();
    assert.deepEqual(new Float32Array(features.body.buffer.slice(features.body.byteOffset, features.body.byteOffset + 32 * 4)), vector);
  });

  it('refuses to guess when the cache holds several extractors', async () => {
    await assert.rejects(exportEmbeddings(join(dir, 'export2'), { cachePath: join(dir, 'cache', 'embeddings.sqlite') }),
      (error: unknown) => error instanceof FinetuneError && error.code === 'INVALID_OPTION' && /holds 2 extractors/.test(error.message));
  });
});

describe('paths', () => {
  it('embedCachePath: exact file > shard file in cacheDir > embeddings.sqlite in cacheDir > <home>/embeddings', () => {
    assert.equal(embedCachePath({ cachePath: '/x/y.sqlite', cacheDir: '/c', shard: { index: 1, count: 2 } }), '/x/y.sqlite');
    assert.equal(embedCachePath({ cacheDir: '/c', shard: { index: 1, count: 2 } }), '/c/embeddings.shard-1-of-2.sqlite');
    assert.equal(embedCachePath({ cacheDir: '/c' }), '/c/embeddings.sqlite');
    assert.equal(embedCachePath({ home: '/h' }), '/h/embeddings/embeddings.sqlite');
  });
  it('resolveCacheTarget: a folder or extension-less path means <folder>/embeddings.sqlite', () => {
    assert.equal(resolveCacheTarget(dir), join(dir, 'embeddings.sqlite'));
    assert.equal(resolveCacheTarget('/nowhere/merged'), '/nowhere/merged/embeddings.sqlite');
    assert.equal(resolveCacheTarget('/nowhere/merged.sqlite'), '/nowhere/merged.sqlite');
  });
});
