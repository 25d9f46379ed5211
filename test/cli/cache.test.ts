/** `finetune cache ls | info | prune | export | merge | status` end to end as child processes. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EmbeddingCache } from '../../src/embed/embedding-cache.js';
import { embedDataset } from '../../src/workflows/embed-dataset.js';
import { runCli, writeTestBackbone, writeTestDataset } from '../workflows/shard-fixtures.js';
import type { TestDataset } from '../workflows/shard-fixtures.js';
import { listExtractors } from '../../src/embed/cache-admin.js';

let dir: string, backbone: string, data: TestDataset, key: string;
const cacheDir = () => join(dir, 'cache');
const shardDir = () => join(dir, 'shards');
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-cli-cache-'));
  backbone = await writeTestBackbone(join(dir, 'backbone.onnx'));
  data = await writeTestDataset(join(dir, 'data'), 8);
  key = (await embedDataset(data.root, { backbone, cacheDir: cacheDir(), device: 'cpu' })).extractorKey;
  await embedDataset(data.root, { backbone, cacheDir: cacheDir(), device: 'cpu', preprocess: { resize: 20 } });
  // Shards 0 and 2 of 3 are done; shard 1 never ran.
  for (const index of [0, 2]) await embedDataset(data.root, { backbone, cacheDir: shardDir(), shard: { index, count: 3 }, device: 'cpu' });
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

describe('read-only cache commands', { concurrency: true }, () => {
  it('ls --json lists both extractors with their vectors', async () => {
    const run = await runCli(['cache', 'ls', '--cache-dir', cacheDir(), '--json']);
    assert.equal(run.code, 0, run.stderr);
    const listed = JSON.parse(run.stdout) as { extractors: Array<{ key: string; vectors: number; spec: { preprocess: { resizeSize: number } } }> };
    assert.equal(listed.extractors.length, 2);
    assert.ok(listed.extractors.every((info) => info.vectors === 24));
    assert.deepEqual(listed.extractors.map((info) => info.spec.preprocess.resizeSize).sort(), [18, 20]);
  });

  it('ls shows the shard files beside a cache', async () => {
    const run = await runCli(['cache', 'ls', '--cache-dir', shardDir()]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /does not exist yet/);
    assert.match(run.stdout, /0\/3\s+\d+\s+.*embeddings\.shard-0-of-3\.sqlite/);
    assert.match(run.stdout, /2\/3\s+\d+\s+.*embeddings\.shard-2-of-3\.sqlite/);
  });

  it('info <prefix> prints the extractor\'s spec', async () => {
    const run = await runCli(['cache', 'info', key.slice(0, 10), '--cache-dir', cacheDir()]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stdout.includes(key));
    assert.match(run.stdout, /layer\s+vgg\/dense1_relu/);
    assert.match(run.stdout, /embedding dim\s+32/);
  });

  it('export --data writes the NumPy files with the dataset\'s labels', async () => {
    const out = join(dir, 'npy');
    const run = await runCli(['cache', 'export', '--cache-dir', cacheDir(), '--extractor', key.slice(0, 8), '--data', data.root, '--out', out, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { count: number; missing: string[] };
    assert.equal(result.count, 25);
    assert.deepEqual(result.missing, ['bee/not-really.png']);
    assert.equal(await readFile(join(out, 'classes.txt'), 'utf8'), 'ant\nbee\ncat\n');
    assert.equal((await readFile(join(out, 'files.txt'), 'utf8')).trimEnd().split('\n').length, 25);
  });

  it('status --data shows shard 1 missing with the images it should hold', async () => {
    const run = await runCli(['cache', 'status', '--cache-dir', shardDir(), '--data', data.root, '--backbone', backbone, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const status = JSON.parse(run.stdout) as { extractorKey: string; groups: Array<{ missing: number[]; shards: Array<{ state: string; expected: number; done: number; failed: number }> }> };
    assert.equal(status.extractorKey, key, '--backbone gives the extractor key');
    const [group] = status.groups;
    assert.deepEqual(group!.missing, [1]);
    assert.deepEqual(group!.shards.map((s) => s.state), ['complete', 'missing', 'complete']);
    assert.equal(group!.shards.reduce((sum, s) => sum + s.expected, 0), 25);
    for (const shard of group!.shards) if (shard.state === 'complete') assert.equal(shard.expected, shard.done + shard.failed);
  });
});

describe('merge and prune', () => {
  it('merge with a missing shard merges what exists, names shard 1 and exits 1 (0 with --allow-incomplete)', async () => {
    const run = await runCli(['cache', 'merge', '--cache-dir', shardDir()]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stdout, /Merged 2 cache file\(s\) into .*embeddings\.sqlite: \d+ new vectors, 0 already there/);
    assert.match(run.stdout, /Missing shards \(no file\): 1/);
    assert.match(run.stdout, /finetune embed --shard 1\/3/);
    const again = await runCli(['cache', 'merge', '--cache-dir', shardDir(), '--allow-incomplete', '--json']);
    assert.equal(again.code, 0, again.stderr);
    const result = JSON.parse(again.stdout) as { complete: boolean; merge: { inserted: number } };
    assert.deepEqual([result.complete, result.merge.inserted], [false, 0], 'rerunning adds nothing');
  });

  it('merge refuses caches made with different preprocessing, naming the field', async () => {
    const mixed = join(dir, 'mixed');
    await embedDataset(data.root, { backbone, cacheDir: mixed, shard: { index: 0, count: 2 }, device: 'cpu' });
    await embedDataset(data.root, { backbone, cacheDir: mixed, shard: { index: 1, count: 2 }, device: 'cpu', preprocess: { resize: 20 } });
    const run = await runCli(['cache', 'merge', mixed, '--out', join(dir, 'mixed-out')]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /different feature extractors/);
    assert.match(run.stderr, /preprocess\.resizeSize/);
  });

  it('prune --extractor removes one extractor; prune without a selector is a usage error', async () => {
    const usage = await runCli(['cache', 'prune', '--cache-dir', cacheDir()]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /Nothing to prune/);
    assert.match(usage.stderr, /--extractor KEY .*--older-than-days N or --all/);
    const run = await runCli(['cache', 'prune', '--cache-dir', cacheDir(), '--extractor', key.slice(0, 8), '--json']);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { removedExtractors: string[]; removedVectors: number };
    assert.deepEqual(result.removedExtractors, [key]);
    assert.equal(result.removedVectors, 24);
    const cache = EmbeddingCache.open({ cacheDir: cacheDir(), readonly: true });
    assert.equal(listExtractors(cache).length, 1);
    cache.close();
  });
});
