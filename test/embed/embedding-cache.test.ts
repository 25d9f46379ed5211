import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { EmbeddingCache, defaultCachePath, extractorKey } from '../../src/embed/embedding-cache.js';
import { mergeCaches } from '../../src/embed/merge-caches.js';
import { FinetuneError } from '../../src/errors.js';
import type { FeatureExtractorSpec } from '../../src/types.js';
import { sha256 } from '../../src/util/hash.js';
import { expectedVector, TEST_SPEC } from './fixtures/cache-fixtures.js';

let dir: string;
before(async () => { dir = await mkdtemp(join(tmpdir(), 'finetune-cache-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

const shaOf = (name: string): string => sha256(name);
const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;

/** Parses a .npy v1 file: header dict and raw body. */
function parseNpy(bytes: Uint8Array): { descr: string; fortranOrder: boolean; shape: number[]; body: Uint8Array; headerEnd: number } {
  assert.deepEqual([...bytes.subarray(0, 6)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59], 'magic');
  assert.equal(bytes[6], 1, 'major version');
  assert.equal(bytes[7], 0, 'minor version');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true);
  const headerEnd = 10 + headerLength;
  assert.equal(headerEnd % 64, 0, 'data starts 64-byte aligned');
  const header = new TextDecoder('latin1').decode(bytes.subarray(10, headerEnd));
  assert.ok(header.endsWith('\n'));
  const descr = /'descr': '([^']+)'/.exec(header)![1]!;
  const fortranOrder = /'fortran_order': (True|False)/.exec(header)![1] === 'True';
  const shapeText = /'shape': \(([^)]*)\)/.exec(header)![1]!;
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  return { descr, fortranOrder, shape, body: bytes.subarray(headerEnd), headerEnd };
}

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

  it('reports stats and extractors as JSON-friendly values', () => {
    const cache = EmbeddingCache.open({ path: join(dir, 'stats.sqlite') });
    const key = cache.registerExtractor(TEST_SPEC, 8);
    cache.putMany(key, [shaOf('x'), shaOf('y')].map((imageSha) => ({ imageSha, vector: expectedVector(imageSha, 8) })));
    cache.putMany(key, [{ imageSha: shaOf('x'), vector: new Float32Array(8) }], { variant: 'v' });
    const stats = cache.stats();
    assert.equal(stats.extractors, 1);
    assert.equal(stats.vectors, 3);
    assert.ok(stats.sizeBytes > 0);
    const [info] = cache.listExtractors();
    assert.ok(info);
    assert.deepEqual(JSON.parse(JSON.stringify(info)), info, 'survives JSON');
    assert.equal(info.key, key);
    assert.deepEqual(info.spec, JSON.parse(JSON.stringify(TEST_SPEC)));
    assert.equal(info.vectors, 3);
    assert.equal(info.variantVectors, 1);
    assert.equal(info.sizeBytes, 3 * 8 * 4);
    assert.match(info.lastUsedAt, /^\d{4}-\d\d-\d\dT/);
    assert.equal(cache.resolveExtractor(key.slice(0, 8)).key, key);
    assert.throws(() => cache.resolveExtractor('zzzzzzzz'), { code: 'INVALID_OPTION' });
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
    assert.throws(() => cache.prune({}), TypeError);
    const byKey = cache.prune({ extractor: drop.slice(0, 10) });
    assert.deepEqual(byKey.removedExtractors, [drop]);
    assert.equal(byKey.removedVectors, 2);
    const byAge = cache.prune({ olderThanDays: 30 });
    assert.deepEqual(byAge.removedExtractors, [old]);
    assert.deepEqual(cache.listExtractors().map((info) => info.key), [keep]);
    assert.equal(cache.count(keep), 2);
    const everything = cache.prune({ all: true, vacuum: false });
    assert.equal(everything.removedVectors, 2);
    assert.equal(cache.stats().vectors, 0);
    cache.close();
  });

  it('exports features.npy, labels.npy and files.txt that NumPy can read', async () => {
    const cache = EmbeddingCache.open({ path: join(dir, 'export.sqlite') });
    const key = cache.registerExtractor(TEST_SPEC, 8);
    const rows = ['cat/1.png', 'dog/2.png', 'dog/3.png'].map((file, label) => ({ imageSha: shaOf(file), label, file }));
    cache.putMany(key, rows.map((row) => ({ imageSha: row.imageSha, vector: expectedVector(row.imageSha, 8) })));
    const outDir = join(dir, 'export');
    const result = await cache.exportNpy(key, [...rows, { imageSha: shaOf('gone'), label: 1, file: 'gone.png' }], outDir);
    assert.equal(result.count, 3);
    assert.deepEqual(result.missing, ['gone.png']);
    const features = parseNpy(await readFile(result.featuresPath));
    assert.equal(features.descr, '<f4');
    assert.equal(features.fortranOrder, false);
    assert.deepEqual(features.shape, [3, 8]);
    assert.equal(features.body.byteLength, 3 * 8 * 4);
    const values = new Float32Array(new Uint8Array(features.body).buffer);
    for (let row = 0; row < 3; row++) assert.deepEqual(values.subarray(row * 8, row * 8 + 8), expectedVector(rows[row]!.imageSha, 8));
    const labels = parseNpy(await readFile(result.labelsPath));
    assert.equal(labels.descr, '<i4');
    assert.deepEqual(labels.shape, [3]);
    assert.deepEqual([...new Int32Array(new Uint8Array(labels.body).buffer)], [0, 1, 2]);
    assert.equal(await readFile(result.filesPath, 'utf8'), 'cat/1.png\ndog/2.png\ndog/3.png\n');
    if (hasNumpy) {   // the real consumer, when installed
      const check = spawnSync('python3', ['-c', [
        'import numpy as np, sys',
        `f = np.load(sys.argv[1]); l = np.load(sys.argv[2])`,
        'print(f.dtype, f.shape, l.dtype, l.shape, repr(float(f[1, 2])), list(l))',
      ].join('\n'), result.featuresPath, result.labelsPath], { encoding: 'utf8' });
      assert.equal(check.status, 0, check.stderr);
      assert.equal(check.stdout.trim(), `float32 (3, 8) int32 (3,) ${JSON.stringify(expectedVector(rows[1]!.imageSha, 8)[2])} [0, 1, 2]`
        .replace(/\[0, 1, 2\]$/, '[np.int32(0), np.int32(1), np.int32(2)]'));
    }
    // Without rows: everything, named by sha.
    const all = await cache.exportNpy(key, undefined, join(dir, 'export-all'));
    assert.equal(all.count, 3);
    assert.deepEqual(parseNpy(await readFile(all.labelsPath)).shape, [3]);
    cache.close();
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
