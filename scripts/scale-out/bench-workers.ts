/**
 * Throughput of sharded extraction on one machine: the same JPEG folder embedded by 1, 2, … worker processes
 * (each `--shard K/W` into its own cache file, ONNX Runtime threads = cores ÷ W), then merged. Prints per worker
 * count the wall time (process start to last exit, what a job array sees), the images/s of the whole run and of
 * one worker's extraction, and checks the merged cache holds every image once.
 *
 * Uses the real mobilenetv2-12-int8 from ../shared when present, else a seeded ResNet-like test backbone.
 *
 * Usage: npx tsx scripts/scale-out/bench-workers.ts [--images 200] [--workers 1,2] [--device cpu] [--json]
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeModel } from '../../src/onnx/write-model.js';
import { buildResnetBackbone } from '../../src/onnx/test-backbones.js';
import type { Device } from '../../src/types.js';
import { embedDataset } from '../../src/workflows/embed-dataset.js';
import { mergeShardCaches } from '../../src/workflows/shard-caches.js';
import { parseShard } from '../../src/workflows/shard.js';
import { writePhotoJpegs } from '../lib/photo-jpegs.js';

const self = new URL(import.meta.url).pathname;
const argv = process.argv.slice(2);

if (argv[0] === '--worker') {
  // One shard worker: <data> <backbone> <cacheDir> <K/W> <threads> <device>
  const [, data, backbone, cacheDir, shard, threads, device] = argv;
  const result = await embedDataset(data!, {
    backbone: backbone!, cacheDir: cacheDir!, shard: parseShard(shard!), device: device as Device,
    intraOpNumThreads: Number(threads), offline: true,
  });
  process.stdout.write(`${JSON.stringify({ seconds: result.seconds, inShard: result.inShard, computed: result.computed, provider: result.provider })}\n`);
} else {
  await main();
}

function flag(name: string, fallback: string): string {
  const index = argv.indexOf(`--${name}`);
  return index >= 0 ? argv[index + 1] ?? fallback : fallback;
}

async function main(): Promise<void> {
  const numImages = Number(flag('images', '200'));
  const workerCounts = flag('workers', '1,2').split(',').map(Number);
  const device = flag('device', 'cpu');
  const asJson = argv.includes('--json');
  const log = (line: string): void => { if (!asJson) process.stderr.write(`${line}\n`); };
  const cores = availableParallelism();

  const dir = await mkdtemp(join(tmpdir(), 'finetune-bench-workers-'));
  try {
    const mobilenet = resolve(new URL('../..', import.meta.url).pathname, '..', 'shared', 'zoo', 'validated', 'vision',
      'classification', 'mobilenet', 'model', 'mobilenetv2-12-int8.onnx');
    let backbone = mobilenet, backboneName = 'mobilenetv2-12-int8 (../shared)';
    if (!existsSync(mobilenet)) {
      backbone = join(dir, 'resnet-test.onnx');
      await writeModel(backbone, buildResnetBackbone({ inputSize: 64, width: 32 }).model);
      backboneName = 'ResNet-like test backbone, 64×64 (../shared absent)';
    }
    const data = join(dir, 'data');
    await writeJpegs(data, numImages);
    log(`${numImages} JPEGs (320×240) · ${backboneName} · ${cores} cores (${cpus()[0]?.model ?? 'unknown CPU'}) · device ${device}`);

    const rows = [];
    for (const workers of workerCounts) {
      const cacheDir = join(dir, `cache-${workers}`);
      const threads = Math.max(1, Math.floor(cores / workers));
      const started = performance.now();
      const results = await Promise.all(Array.from({ length: workers }, (_, k) =>
        runWorker([data, backbone, cacheDir, `${k}/${workers}`, String(threads), device])));
      const wallSeconds = (performance.now() - started) / 1000;
      const merged = await mergeShardCaches([cacheDir], join(cacheDir, 'merged.sqlite'));
      const vectors = merged.merge.inserted;
      if (vectors !== numImages || !merged.complete) throw new Error(`merged ${vectors} vectors, expected ${numImages}`);
      const perWorker = results.map((r) => r.inShard / r.seconds);
      const row = {
        workers, threadsPerWorker: threads, wallSeconds,
        imagesPerSecond: numImages / wallSeconds,
        extractImagesPerSecond: numImages / Math.max(...results.map((r) => r.seconds)),
        perWorkerImagesPerSecond: perWorker.reduce((a, b) => a + b, 0) / workers,
        provider: results[0]?.provider ?? null,
      };
      rows.push(row);
      log(`${workers} worker(s) × ${threads} thread(s): wall ${wallSeconds.toFixed(1)} s → ${row.imagesPerSecond.toFixed(1)} img/s overall ` +
        `(${row.extractImagesPerSecond.toFixed(1)} img/s excluding process start); per worker ${row.perWorkerImagesPerSecond.toFixed(1)} img/s`);
    }
    if (asJson) process.stdout.write(`${JSON.stringify({ images: numImages, backbone: backboneName, cores, device, rows }, null, 2)}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function runWorker(args: string[]): Promise<{ seconds: number; inShard: number; computed: number; provider: string | null }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', self, '--worker', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise(JSON.parse(stdout)) : reject(new Error(`worker exited ${code}: ${stderr}`))));
  });
}

/** Photo-like JPEGs, 320×240, in two class folders. */
async function writeJpegs(dir: string, count: number): Promise<void> {
  await writePhotoJpegs(count, (i) => join(dir, i % 2 === 0 ? 'a' : 'b', `photo-${String(i).padStart(5, '0')}.jpg`));
}
