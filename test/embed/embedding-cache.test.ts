import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { EmbeddingCache, SETTLED_MS, defaultCachePath, extractorKey } from '../../src/embed/embedding-cache.js';
import { mergeCaches } from '../../src/embed/merge-caches.js';
import { FinetuneError } from '../../src/errors.js';
import type { FeatureExtractorSpec } from '../../src/types.js';
import { sha256 } from '../../src/util/hash.js';
import { expectedVector, TEST_SPEC } from './fixtures/cache-fixtures.js';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'finetune-cache-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

const shaOf = (name: string): string => sha256(name);
describe('extractorKey', () => {
  it('ignores key order and changes with any spec field', () => {
    const reordered = JSON.parse(JSON.stringify({ preprocess: TEST_SPEC.preprocess, pooling: 'avg', layer: TEST_SPEC.layer,
      backboneSha256: TEST_SPEC.backboneSha256 })) as FeatureExtractorSpec;
    assert.equal(extractorKey(reordered), extractorKey(TEST_SPEC));
    const variants: FeatureExtractorSpec[] = [
      { ...TEST_SPEC, layer: 'other' },
      { ...TEST_SPEC, pooling: 'max' },
      { ...TEST_SPEC, backboneSha256: 'b'.repeat(64) },
      { ...TEST_SPEC, preprocess: { ...TEST_SPEC.preprocess, resizeSize: 224 } },
      { ...TEST_SPEC, preprocess: { ...TEST_SPEC.preprocess, mean: [0.5, 0.5, 0.5] } },
      { ...TEST_SPEC, preprocess: { ...TEST_SPEC.preprocess, resizeFilter: 'torch-bilinear' } },   // a changed filter misses
    ];
    const keys = new Set([extractorKey(TEST_SPEC), ...variants.map(extractorKey)]);
    assert.equal(keys.size, variants.length + 1);
  });

  it('defaults to <FINETUNE_HOME>/embeddings/embeddings.sqlite', () => {
    const saved = process.env['FINETUNE_HOME'];
    process.env['FINETUNE_HOME'] = '/tmp/ft-home';
    try {
      assert.equal(defaultCachePath(), '/tmp/ft-home/embeddings/embeddings.sqlite');
      assert.equal(defaultCachePath('/x/y'), '/x/y/embeddings.sqlite');
    } finally {
      if (saved === undefined) delete process.env['FINETUNE_HOME']; else process.env['FINETUNE_HOME'] = saved;
    }
  });
});

describe('EmbeddingCache', () => {
  it('round-trips vectors bit-exactly, per extractor and variant, in WAL mode', () => {
    const cache = EmbeddingCache.open({ cacheDir: join(dir, 'roundtrip') });
    try {
      const key = cache.registerExtractor(TEST_SPEC, 8);
      assert.equal(key, extractorKey(TEST_SPEC));
      const shas = ['a', 'b', 'c'].map(shaOf);
      const vectors = shas.map((sha) => expectedVector(sha, 8));
      vectors[0]![3] = Number.MIN_VALUE;   // subnormal survives
      vectors[1]![5] = -0;
      const backing = new Float32Array(100);
      backing.set(vectors[2]!, 17);
      assert.equal(cache.putMany(key, [
        { imageSha: shas[0]!, vector: vectors[0]! }, { imageSha: shas[1]!, vector: vectors[1]! },
        { imageSha: shas[2]!, vector: backing.subarray(17, 25) },   // a view at an offset
      ]), 3);
      const found = cache.getMany(key, [...shas, shaOf('missing')]);
      assert.equal(found.size, 3);
      for (let i = 0; i < 3; i++) assert.deepEqual(found.get(shas[i]!), vectors[i]);
      assert.ok(Object.is(found.get(shas[1]!)![5], -0));
      // Same key again: kept, not duplicated.
      assert.equal(cache.putMany(key, [{ imageSha: shas[0]!, vector: new Float32Array(8) }]), 0);
      assert.deepEqual(cache.getMany(key, [shas[0]!]).get(shas[0]!), vectors[0]);
      // Variants are separate keys.
      assert.equal(cache.getMany(key, shas, { variant: 'aug:1' }).size, 0);
      cache.putMany(key, [{ imageSha: shas[0]!, vector: new Float32Array(8).fill(2) }], { variant: 'aug:1' });
      assert.deepEqual([...cache.getMany(key, [shas[0]!], { variant: 'aug:1' }).get(shas[0]!)!], new Array(8).fill(2));
      // Another extractor misses.
      const otherKey = cache.registerExtractor({ ...TEST_SPEC, layer: 'other' }, 8);
      assert.equal(cache.getMany(otherKey, shas).size, 0);
      assert.equal(cache.count(key), 3);
      assert.deepEqual(cache.imageShas(key), [...shas].sort());
      assert.equal(cache.database.pragma('journal_mode', { simple: true }), 'wal');
      assert.throws(() => cache.putMany(key, [{ imageSha: shas[0]!, vector: new Float32Array(7) }]), RangeError);
      assert.throws(() => cache.registerExtractor(TEST_SPEC, 9), { code: 'CACHE_MISMATCH' });
      assert.throws(() => cache.putMany('f'.repeat(64), []), { code: 'CACHE_MISMATCH' });
    } finally {
      cache.close();
    }
    // Persistent: a new connection sees the vectors.
    const reopened = EmbeddingCache.open({ cacheDir: join(dir, 'roundtrip'), readonly: true });
    assert.equal(reopened.count(extractorKey(TEST_SPEC)), 3);
    assert.throws(() => reopened.putMany(extractorKey(TEST_SPEC), []), TypeError);
    reopened.close();
  });

  it('refuses a file that is not a cache with CACHE_CORRUPT', async () => {
    const path = join(dir, 'garbage.sqlite');
    await writeFile(path, 'this is not a database, just some text that is long enough '.repeat(20));
    assert.throws(() => EmbeddingCache.open({ path }), (error: unknown) => {
      assert.ok(error instanceof FinetuneError);
      assert.equal(error.code, 'CACHE_CORRUPT');
      assert.match(error.hint ?? '', /Move the file away/);
      return true;
    });
    assert.throws(() => EmbeddingCache.open({ path: join(dir, 'absent.sqlite'), readonly: true }), { code: 'FILE_NOT_FOUND' });
  });

  it('takes writes from two processes at once without losing or corrupting any', async () => {
    const path = join(dir, 'concurrent.sqlite');
    const script = new URL('./fixtures/cache-writer.ts', import.meta.url).pathname;
    const batches = 40, perBatch = 25;
    const run = (worker: string) => new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', script, path, worker, String(batches), String(perBatch)],
        { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '', err = '';
      child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
      child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString(); });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`worker ${worker} exited ${code}: ${err}`))));
    });
    const outputs = await Promise.all([run('w1'), run('w2')]);
    assert.deepEqual(outputs, ['ok\n', 'ok\n']);
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    db.close();
    const cache = EmbeddingCache.open({ path, readonly: true });
    const key = extractorKey(TEST_SPEC);
    assert.equal(cache.count(key), 3 * batches * perBatch, 'own rows of both workers + the shared rows once');
    const shas: string[] = [];
    for (let batch = 0; batch < batches; batch++) {
      for (let i = 0; i < perBatch; i++) shas.push(sha256(`w1-${batch}-${i}`), sha256(`w2-${batch}-${i}`), sha256(`shared-${batch}-${i}`));
    }
    const found = cache.getMany(key, shas);
    assert.equal(found.size, shas.length);
    for (const sha of shas) assert.deepEqual(found.get(sha), expectedVector(sha, 8));
    cache.close();
  });
});

describe('EmbeddingCache file-sha memo', () => {
  it('gives a file\'s sha back while its stat is unchanged; never for a changed or just-written file', async () => {
    const path = join(dir, 'memo-image.jpg');
    await writeFile(path, 'image bytes');
    const statOf = async (): Promise<import('node:fs').Stats> => stat(path);
    const first = await statOf();
    const settledAt = (s: import('node:fs').Stats): number => Math.max(s.ctimeMs, s.mtimeMs) + SETTLED_MS;
    const cache = EmbeddingCache.open({ path: join(dir, 'memo.sqlite') });
    try {
      // Written just now: not remembered (a coarse-timestamp file system could hide a second write in the same tick).
      cache.rememberShas([{ path, stat: first, imageSha: shaOf('v1') }], settledAt(first) - 1);
      assert.deepEqual(cache.rememberedShas([{ path, stat: first }], settledAt(first)), [undefined]);
      cache.rememberShas([{ path, stat: first, imageSha: shaOf('v1') }], settledAt(first));
      assert.deepEqual(cache.rememberedShas([{ path, stat: first }, { path: join(dir, 'other.jpg'), stat: first }], settledAt(first)),
        [shaOf('v1'), undefined], 'remembered by path and signature');
      await appendFile(path, ' more');
      const second = await statOf();
      assert.deepEqual(cache.rememberedShas([{ path, stat: second }], settledAt(second)), [undefined], 'a changed file is unknown');
      cache.rememberShas([{ path, stat: second, imageSha: shaOf('v2') }], settledAt(second));
      assert.deepEqual(cache.rememberedShas([{ path, stat: second }], settledAt(second)), [shaOf('v2')]);
      assert.deepEqual(cache.rememberedShas([{ path, stat: first }], settledAt(second)), [undefined], 'the old signature is gone');
      // Pruning an extractor forgets the files whose content has no vector left; the others stay remembered.
      const other = join(dir, 'memo-other.jpg');
      await writeFile(other, 'other image');
      const otherStat = await stat(other);
      const [keep, drop] = [{ ...TEST_SPEC, layer: 'keep' }, { ...TEST_SPEC, layer: 'drop' }];
      cache.registerExtractor(keep, 4);
      cache.registerExtractor(drop, 4);
      cache.putMany(extractorKey(drop), [{ imageSha: shaOf('v2'), vector: new Float32Array(4) }, { imageSha: shaOf('o'), vector: new Float32Array(4) }]);
      cache.putMany(extractorKey(keep), [{ imageSha: shaOf('o'), vector: new Float32Array(4) }]);
      cache.rememberShas([{ path: other, stat: otherStat, imageSha: shaOf('o') }], settledAt(otherStat));
      const later = Math.max(settledAt(otherStat), settledAt(second));
      cache.deleteExtractors([extractorKey(drop)]);
      assert.deepEqual(cache.rememberedShas([{ path, stat: second }, { path: other, stat: otherStat }], later), [undefined, shaOf('o')]);
    } finally {
      cache.close();
    }
    // A store written before the memo existed, opened read-only, remembers nothing (and does not fail).
    const old = join(dir, 'old-store.sqlite');
    EmbeddingCache.open({ path: old }).close();
    const db = new Database(old);
    db.exec('DROP TABLE file_shas');
    db.close();
    const readonly = EmbeddingCache.open({ path: old, readonly: true });
    assert.deepEqual(readonly.rememberedShas([{ path, stat: await statOf() }]), [undefined]);
    readonly.rememberShas([{ path, stat: await statOf(), imageSha: shaOf('v2') }]);
    readonly.close();
  });
});

describe('mergeCaches', () => {
  const fill = (path: string, spec: FeatureExtractorSpec, names: readonly string[]): void => {
    const cache = EmbeddingCache.open({ path });
    const key = cache.registerExtractor(spec, 8);
    cache.putMany(key, names.map((name) => ({ imageSha: shaOf(name), vector: expectedVector(shaOf(name), 8) })));
    cache.close();
  };

  it('merges shards idempotently into the union', () => {
    const a = join(dir, 'shard-0.sqlite'), b = join(dir, 'shard-1.sqlite'), target = join(dir, 'merged.sqlite');
    fill(a, TEST_SPEC, ['1', '2', '3']);
    fill(b, TEST_SPEC, ['3', '4']);
    const first = mergeCaches([a, b], target);
    assert.equal(first.inserted, 4);
    assert.equal(first.alreadyPresent, 1);
    const again = mergeCaches([a, b], target);
    assert.equal(again.inserted, 0);
    const merged = EmbeddingCache.open({ path: target, readonly: true });
    const key = extractorKey(TEST_SPEC);
    assert.deepEqual(merged.imageShas(key), ['1', '2', '3', '4'].map(shaOf).sort());
    for (const [sha, vector] of merged.getMany(key, merged.imageShas(key))) assert.deepEqual(vector, expectedVector(sha, 8));
    merged.close();
  });

  it('refuses shards made with different preprocessing, naming the field', () => {
    const a = join(dir, 'mix-0.sqlite'), b = join(dir, 'mix-1.sqlite'), target = join(dir, 'mix-merged.sqlite');
    fill(a, TEST_SPEC, ['1']);
    fill(b, { ...TEST_SPEC, preprocess: { ...TEST_SPEC.preprocess, resizeSize: 232 } }, ['2']);
    assert.throws(() => mergeCaches([a, b], target), (error: unknown) => {
      assert.ok(error instanceof FinetuneError);
      assert.equal(error.code, 'CACHE_MISMATCH');
      assert.match(error.message, /preprocess\.resizeSize \(256 vs 232\)/);
      return true;
    });
    const mixed = mergeCaches([a, b], target, { allowMixedExtractors: true });
    assert.equal(mixed.inserted, 2);
    assert.throws(() => mergeCaches([join(dir, 'nope.sqlite')], target), { code: 'FILE_NOT_FOUND' });
  });
});
