import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cacheStats, listExtractors, pruneCache, resolveExtractor } from '../../src/embed/cache-admin.js';
import { EmbeddingCache } from '../../src/embed/embedding-cache.js';
import { sha256 } from '../../src/util/hash.js';
import { expectedVector, TEST_SPEC } from './fixtures/cache-fixtures.js';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'finetune-cache-admin-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

const shaOf = (name: string): string => sha256(name);

describe('cache administration', () => {
  it('reports stats and extractors as JSON-friendly values', () => {
    const cache = EmbeddingCache.open({ path: join(dir, 'stats.sqlite') });
    const key = cache.registerExtractor(TEST_SPEC, 8);
    cache.putMany(key, [shaOf('x'), shaOf('y')].map((imageSha) => ({ imageSha, vector: expectedVector(imageSha, 8) })));
    cache.putMany(key, [{ imageSha: shaOf('x'), vector: new Float32Array(8) }], { variant: 'v' });
    const stats = cacheStats(cache);
    assert.equal(stats.extractors, 1);
    assert.equal(stats.vectors, 3);
    assert.ok(stats.sizeBytes > 0);
    const [info] = listExtractors(cache);
    assert.ok(info);
    assert.deepEqual(JSON.parse(JSON.stringify(info)), info, 'survives JSON');
    assert.equal(info.key, key);
    assert.deepEqual(info.spec, JSON.parse(JSON.stringify(TEST_SPEC)));
    assert.equal(info.vectors, 3);
    assert.equal(info.variantVectors, 1);
    assert.equal(info.sizeBytes, 3 * 8 * 4);
    assert.match(info.lastUsedAt, /^\d{4}-\d\d-\d\dT/);
    assert.equal(resolveExtractor(cache, key.slice(0, 8)).key, key);
    assert.throws(() => resolveExtractor(cache, 'zzzzzzzz'), { code: 'INVALID_OPTION' });
    cache.close();
  });

  it('reads an extractor stored before specs recorded the resize filter as the legacy sharp-linear', () => {
    const cache = EmbeddingCache.open({ path: join(dir, 'legacy.sqlite') });
    const { resizeFilter: _, ...oldPreprocess } = TEST_SPEC.preprocess;
    const key = cache.registerExtractor({ ...TEST_SPEC, preprocess: oldPreprocess as typeof TEST_SPEC.preprocess }, 8);
    const [info] = listExtractors(cache);
    assert.equal(info?.key, key);   // the stored key is kept
    assert.equal(info?.spec.preprocess.resizeFilter, 'sharp-linear');
    assert.equal(info?.spec.preprocess.cropSize, TEST_SPEC.preprocess.cropSize);
    cache.close();
  });

  it('prunes by extractor prefix, by age and entirely', () => {
    const cache = EmbeddingCache.open({ path: join(dir, 'prune.sqlite') });
    const keep = cache.registerExtractor(TEST_SPEC, 8);
    const old = cache.registerExtractor({ ...TEST_SPEC, layer: 'old' }, 8);
    const drop = cache.registerExtractor({ ...TEST_SPEC, layer: 'drop' }, 8);
    for (const key of [keep, old, drop]) {
      cache.putMany(key, ['1', '2'].map((n) => ({ imageSha: shaOf(n), vector: new Float32Array(8).fill(1) })));
    }
    cache.database.prepare('UPDATE extractors SET last_used_at = last_used_at - 40 * 86400 WHERE key = ?').run(old);
    assert.throws(() => pruneCache(cache, {}), TypeError);
    const byKey = pruneCache(cache, { extractor: drop.slice(0, 10) });
    assert.deepEqual(byKey.removedExtractors, [drop]);
    assert.equal(byKey.removedVectors, 2);
    const byAge = pruneCache(cache, { olderThanDays: 30 });
    assert.deepEqual(byAge.removedExtractors, [old]);
    assert.deepEqual(listExtractors(cache).map((info) => info.key), [keep]);
    assert.equal(cache.count(keep), 2);
    const everything = pruneCache(cache, { all: true, vacuum: false });
    assert.equal(everything.removedVectors, 2);
    assert.equal(cacheStats(cache).vectors, 0);
    cache.close();
  });
});
