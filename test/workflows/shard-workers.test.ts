/**
 * Issue 9's acceptance tests: 4 shard workers as 4 processes over one folder, merged, equal an unsharded run;
 * a worker killed mid-shard and rerun completes the set; shards made with different preprocessing refuse to merge.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { EmbeddingCache } from '../../src/embed/embedding-cache.js';
import { shardOf } from '../../src/embed/shard-of.js';
import { FinetuneError } from '../../src/errors.js';
import { embedDataset } from '../../src/workflows/embed-dataset.js';
import { runFinetune } from '../../src/workflows/run-finetune.js';
import type { ShardReport } from '../../src/workflows/embed-dataset.js';
import { hashImageFiles } from '../../src/image/read-image-file.js';
import { mergeShardCaches, shardCacheStatus } from '../../src/workflows/shard-caches.js';
import { runCli, writeTestBackbone, writeTestDataset } from './shard-fixtures.js';
import type { TestDataset } from './shard-fixtures.js';

let dir: string, backbone: string, data: TestDataset;
/** The unsharded reference run's cache and extractor key. */
let referencePath: string, key: string;
let shardDir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-shards-'));
  backbone = await writeTestBackbone(join(dir, 'backbone.onnx'));
  data = await writeTestDataset(join(dir, 'data'), 20);
  const reference = await embedDataset(data.root, { backbone, cacheDir: join(dir, 'reference'), device: 'cpu' });
  referencePath = reference.cachePath;
  key = reference.extractorKey;
  shardDir = join(dir, 'shards');
});
after(async () => { await rm(dir, { recursive: true, force: true }); });

/** Every vector of the extractor in a cache file, by image sha. */
function readAll(path: string): Map<string, Float32Array> {
  const cache = EmbeddingCache.open({ path, readonly: true });
  try {
    return cache.getMany(key, cache.imageShas(key));
  } finally {
    cache.close();
  }
}

function assertSameVectors(actual: Map<string, Float32Array>, expected: Map<string, Float32Array>): void {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort(), 'same images, none missing, none extra');
  for (const [sha, want] of expected) {
    const got = actual.get(sha)!;
    assert.equal(got.length, want.length);
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-5 * (1 + Math.abs(want[i]!)), `${sha.slice(0, 8)}[${i}]`);
  }
}

describe('4 shard workers as 4 processes', () => {
  let shardFiles: string[];

  before(async () => {
    // Each worker finds its shard a different way; all must agree on the assignment.
    const common = ['embed', '--data', data.root, '--backbone', backbone, '--cache-dir', shardDir, '--device', 'cpu', '--threads', '1', '--json'];
    const runs = await Promise.all([
      runCli([...common, '--shard', '0/4']),
      runCli(common, { env: { JOB_COMPLETION_INDEX: '1', FINETUNE_SHARD_COUNT: '4' } }),
      runCli([...common, '--shards', '4'], { env: { JOB_COMPLETION_INDEX: '2' } }),
      runCli(common, { env: { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_MAX: '4', SLURM_ARRAY_TASK_COUNT: '4' } }),
    ]);
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const results = runs.map((run) => JSON.parse(run.stdout) as { shard: { index: number; count: number }; shardSource: string; computed: number; inShard: number; cachePath: string });
    assert.deepEqual(results.map((r) => [r.shard, r.shardSource]), [
      [{ index: 0, count: 4 }, 'flag'], [{ index: 1, count: 4 }, 'kubernetes'], [{ index: 2, count: 4 }, 'kubernetes'], [{ index: 3, count: 4 }, 'slurm'],
    ]);
    shardFiles = results.map((r) => r.cachePath);
    assert.deepEqual(shardFiles.map((path) => path.slice(shardDir.length + 1)),
      [0, 1, 2, 3].map((k) => `embeddings.shard-${k}-of-4.sqlite`));
  });

  it('each image lands in exactly the shard its content hash names', async () => {
    const shas = await hashImageFiles(data.images);
    const distinct = new Set(shas as string[]);
    let stored = 0;
    for (let k = 0; k < 4; k++) {
      const vectors = readAll(shardFiles[k]!);
      for (const sha of vectors.keys()) assert.equal(shardOf(sha, 4), k, `${sha.slice(0, 8)} is in shard ${k}`);
      stored += vectors.size;
    }
    assert.equal(stored, distinct.size, 'every distinct image once across the shards');
    assert.ok(shas.length > distinct.size, 'the dataset holds a duplicate, which is computed once');
  });

  it('merged, they hold exactly the unsharded run\'s keys and vectors; a second merge changes nothing', async () => {
    const target = join(dir, 'merged', 'embeddings.sqlite');
    const first = await mergeShardCaches([shardDir], target);
    assert.equal(first.complete, true);
    assert.equal(first.merge.sources.length, 4);
    assertSameVectors(readAll(target), readAll(referencePath));
    const again = await mergeShardCaches(shardFiles, join(dir, 'merged'));
    assert.equal(again.target, target);
    assert.equal(again.merge.inserted, 0);
    assert.equal(again.merge.alreadyPresent, first.merge.inserted);
    assertSameVectors(readAll(target), readAll(referencePath));
    // Training with the merged cache runs no backbone inference.
    const run = await runFinetune({ backbone, data: data.root, cacheDir: join(dir, 'merged'), out: join(dir, 'run'), export: 'head', device: 'cpu', train: { epochs: 2 } });
    assert.deepEqual(run.cache, { hits: 61, computed: 0, backboneBatches: 0 });
  });

  it('status with the dataset: expected = done + failed per shard, the broken PNG counted in its shard', async () => {
    const status = await shardCacheStatus({ cacheDir: shardDir, data: data.root });
    assert.equal(status.extractorKey, key);
    assert.equal(status.groups.length, 1);
    const group = status.groups[0]!;
    assert.equal(group.complete, true);
    const corruptSha = (await hashImageFiles([data.corrupt]))[0]!;
    let expected = 0;
    for (const shard of group.shards) {
      assert.equal(shard.state, 'complete');
      assert.equal(shard.expected, shard.done + shard.failed, `shard ${shard.index}`);
      assert.equal(shard.failed, shard.index === shardOf(corruptSha, 4) ? 1 : 0);
      expected += shard.expected!;
    }
    assert.equal(expected, status.dataset!.distinct);
  });

  it('kill -9 mid-shard leaves it unfinished; rerunning only that shard completes the set', async () => {
    // The other three shards are done (copied from the run above); shard 2 runs with a slow decoder and is killed.
    const killDir = join(dir, 'killed');
    await mkdir(killDir, { recursive: true });
    for (const k of [0, 1, 3]) {
      for (const suffix of ['.sqlite', '.json']) {
        await copyFile(join(shardDir, `embeddings.shard-${k}-of-4${suffix}`), join(killDir, `embeddings.shard-${k}-of-4${suffix}`));
      }
    }
    const killed = await runSlowWorker([data.root, backbone, killDir, '2/4', '40'], 4);
    assert.equal(killed.signal, 'SIGKILL');
    const shardPath = join(killDir, 'embeddings.shard-2-of-4.sqlite');
    const db = new Database(shardPath);
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    db.close();
    const report = JSON.parse(await readFile(join(killDir, 'embeddings.shard-2-of-4.json'), 'utf8')) as ShardReport;
    assert.equal(report.state, 'running', 'a dead worker leaves its report unfinished');

    const before = await shardCacheStatus({ cacheDir: killDir, data: data.root });
    const shard2 = before.groups[0]!.shards[2]!;
    assert.equal(shard2.state, 'unfinished');
    const stored = shard2.done;
    assert.ok(stored >= 4 && stored < shard2.expected!, `killed mid-shard: ${stored} of ${shard2.expected} stored`);
    const partial = await mergeShardCaches([killDir], join(dir, 'partial'));
    assert.equal(partial.complete, false);
    assert.deepEqual(partial.status!.groups[0]!.incomplete, [2]);

    const rerun = await runCli(['embed', '-d', data.root, '-b', backbone, '--cache-dir', killDir, '--shard', '2/4', '--device', 'cpu', '--json']);
    assert.equal(rerun.code, 0, rerun.stderr);
    const result = JSON.parse(rerun.stdout) as { computed: number; cacheHits: number; failed: unknown[] };
    assert.equal(result.computed, shard2.expected! - stored - shard2.failed, 'computes exactly what was missing');
    assert.ok(result.cacheHits >= stored, 'and reuses every stored vector');

    const merged = await mergeShardCaches([killDir], join(dir, 'partial'));
    assert.equal(merged.complete, true);
    assertSameVectors(readAll(merged.target), readAll(referencePath));
  });
});

describe('shards made with different preprocessing', () => {
  it('refuse to merge, naming the differing field, and write nothing', async () => {
    const mixDir = join(dir, 'mixed');
    await embedDataset(data.root, { backbone, cacheDir: mixDir, shard: { index: 0, count: 2 }, device: 'cpu' });
    await embedDataset(data.root, { backbone, cacheDir: mixDir, shard: { index: 1, count: 2 }, device: 'cpu', preprocess: { resize: 20 } });
    const target = join(dir, 'mixed-merged', 'embeddings.sqlite');
    await assert.rejects(mergeShardCaches([mixDir], target), (error: unknown) => {
      assert.ok(error instanceof FinetuneError);
      assert.equal(error.code, 'CACHE_MISMATCH');
      assert.match(error.message, /preprocess\.resizeSize \((18 vs 20|20 vs 18)\)/);
      return true;
    });
    await assert.rejects(readFile(target), { code: 'ENOENT' });
  });
});

/** Runs the slow shard worker and SIGKILLs it once a progress line reports `killAfter` computed images. */
function runSlowWorker(args: string[], killAfter: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const worker = new URL('./shard-worker.ts', import.meta.url).pathname;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', worker, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buffered = '', stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffered.slice(0, newline)) as { computed?: number };
        buffered = buffered.slice(newline + 1);
        if ((line.computed ?? 0) >= killAfter) child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('error', reject);
    child.on('close', (code, signal) => (signal === null && code !== 0 ? reject(new Error(stderr)) : resolve({ code, signal })));
  });
}
