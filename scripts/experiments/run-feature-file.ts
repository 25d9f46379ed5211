/**
 * What an out-of-core run (--max-memory, src/workflows/out-of-core.ts) pays to move its features from the embedding
 * cache into the feature file it trains from, next to what the in-memory path holds: N synthetic vectors of `dim`
 * floats are put in a fresh cache; then, each in its own child process (so peak RSS is its own):
 *   stream: writeStreamedSplit (chunks of 4,096 rows from SQLite → FeatureFileWriter), the run's streamed path;
 *   memory: the same vectors read from the cache into one Float32Array, what extraction returns in memory.
 * Prints seconds, MB/s and peak RSS of each, and warns when other processes used the CPU.
 *
 * Usage: npx tsx scripts/experiments/run-feature-file.ts [--rows 200000] [--dim 1280]
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddingCache } from '../../src/embed/embedding-cache.js';
import type { FeatureExtractorSpec } from '../../src/types.js';
import { sha256 } from '../../src/util/hash.js';
import { Rng } from '../../src/util/rng.js';
import { planTrainingMemory, writeStreamedSplit } from '../../src/workflows/out-of-core.js';
import { watchCpuContention } from '../lib/cpu-contention.js';

const SPEC: FeatureExtractorSpec = {
  backboneSha256: 'b'.repeat(64), layer: 'synthetic', pooling: 'avg',
  preprocess: { resizeMode: 'shorter-side', resizeSize: 256, resizeFilter: 'pil-bilinear', cropSize: 224, scale: 1 / 255,
    mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB', layout: 'NCHW' },
};
const shaOf = (row: number): string => sha256(`row ${row}`);

function arg(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

async function child(mode: string, dir: string, rows: number, dim: number): Promise<void> {
  const started = performance.now();
  if (mode === 'stream') {
    const cache = EmbeddingCache.open({ cacheDir: join(dir, 'cache'), readonly: true });
    const key = cache.registerExtractor(SPEC, dim);
    cache.close();
    const all = Array.from({ length: rows }, (_, row) => ({ imageSha: shaOf(row), label: row % 100, file: `${row}.jpg` }));
    const split = await writeStreamedSplit({ runDir: join(dir, 'run'), cacheDir: join(dir, 'cache'), extractorKey: key, rows: all,
      trainRows: all.map((_, row) => row), validationRows: [], plan: planTrainingMemory(rows, dim, 256 * 2 ** 20) });
    await split.close();
  } else {
    const cache = EmbeddingCache.open({ cacheDir: join(dir, 'cache'), readonly: true });
    const key = cache.registerExtractor(SPEC, dim);
    const features = new Float32Array(rows * dim);
    for (let start = 0; start < rows; start += 4096) {
      const shas = Array.from({ length: Math.min(4096, rows - start) }, (_, i) => shaOf(start + i));
      const found = cache.getMany(key, shas);
      shas.forEach((sha, i) => features.set(found.get(sha)!, (start + i) * dim));
    }
    cache.close();
    if (features[dim] === undefined) throw new Error('unreachable');
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(JSON.stringify({ seconds, peakRssMiB: process.resourceUsage().maxRSS / 1024 }));
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  const rows = arg('rows', 200_000), dim = arg('dim', 1280);
  if (mode === 'stream' || mode === 'memory') return child(mode, process.argv[3]!, rows, dim);
  const dir = await mkdtemp(join(tmpdir(), 'finetune-run-feature-file-'));
  const contention = watchCpuContention();
  try {
    const cache = EmbeddingCache.open({ cacheDir: join(dir, 'cache') });
    const key = cache.registerExtractor(SPEC, dim);
    const rng = new Rng(1);
    for (let start = 0; start < rows; start += 4096) {
      const count = Math.min(4096, rows - start);
      cache.putMany(key, Array.from({ length: count }, (_, i) => ({
        imageSha: shaOf(start + i), vector: Float32Array.from({ length: dim }, () => rng.nextFloat() - 0.5) })));
    }
    cache.close();
    const mb = (rows * dim * 4) / 1e6;
    console.log(`${rows} × ${dim} float32 = ${mb.toFixed(0)} MB of vectors in the cache`);
    for (const child of ['memory', 'stream']) {
      const result = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), child, dir, '--rows', String(rows), '--dim', String(dim)],
        { encoding: 'utf8', maxBuffer: 1 << 20 });
      if (result.status !== 0) throw new Error(`${child} failed: ${result.stderr}`);
      const { seconds, peakRssMiB } = JSON.parse(result.stdout) as { seconds: number; peakRssMiB: number };
      console.log(`${child.padEnd(7)} ${seconds.toFixed(1)} s  ${(mb / seconds).toFixed(0)} MB/s  peak RSS ${peakRssMiB.toFixed(0)} MiB`);
    }
    console.log(contention.warning() ?? `other processes used ${(contention.othersCores() ?? 0).toFixed(2)} cores on average`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
