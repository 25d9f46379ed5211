/**
 * Out-of-core head training (issue 18): a synthetic 1,000,000 × 1280 float32 feature file (~5 GB, written to the
 * temp folder once, deleted afterwards) and a 100-class linear head trained from it with bounded memory, next to
 * the same head trained in memory on a 100,000-row subset.
 *
 * Prints ms per epoch and peak RSS of the streamed run (target ≤ 1.5 GB), and the validation accuracy of both
 * (target: equal within ±0.5 %), on a held-out file of 20,000 rows of the same task. Each run is its own child
 * process, so its peak RSS is its own; the file lives in the page cache, which RSS does not count.
 *
 * The task: 100 classes, centres uniform in [−0.15, 0.15]^1280 (`--centre-scale`), rows = centre + noise (sum of
 * three uniforms, std 0.5 per feature): linearly separable up to a little overlap, so accuracy is high but not
 * trivially 100 % (on 60k rows: 99.6 % streamed vs 99.0 % for 8 epochs in memory on 20k).
 *
 * Usage: npx tsx scripts/bench-out-of-core.ts [--rows 1000000] [--dim 1280] [--classes 100] [--subset 100000]
 *          [--epochs 2] [--subset-epochs 10] [--max-memory-mib 512] [--centre-scale 0.15] [--keep DIR]
 * Run it under the CPU lock; it checks free disk space first and warns when other processes used the CPU.
 */
import { spawnSync } from 'node:child_process';
import { statfsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FeatureFileWriter, openFeatureFile, readLabelFile } from '../src/train/feature-file.js';
import { fit, type FitResult } from '../src/train/fit.js';
import { streamedFeatures } from '../src/train/streamed-features.js';
import { encodeNpyHeader } from '../src/util/npy.js';
import { Rng } from '../src/util/rng.js';
import { watchCpuContention } from './lib/cpu-contention.js';

interface Args { rows: number; dim: number; classes: number; subset: number; epochs: number; subsetEpochs: number; maxMemoryMib: number; centreScale: number; keep: string | null }

const CHUNK_ROWS = 8192;

/** Writes `rows` rows of the task (seed fixes centres; `rowSeed` the rows) as features/labels .npy. */
async function writeTask(dir: string, name: string, rows: number, dim: number, classes: number, centreScale: number, rowSeed: number): Promise<void> {
  const centresRng = new Rng(7);
  const centres = Float32Array.from({ length: classes * dim }, () => (centresRng.nextFloat() * 2 - 1) * centreScale);
  const rng = new Rng(rowSeed);
  const writer = await FeatureFileWriter.create(join(dir, `${name}.npy`), rows, dim);
  const labels = new Int32Array(rows);
  const chunk = new Float32Array(CHUNK_ROWS * dim);
  try {
    for (let start = 0; start < rows; start += CHUNK_ROWS) {
      const count = Math.min(CHUNK_ROWS, rows - start);
      for (let row = 0; row < count; row++) {
        const label = (labels[start + row] = rng.nextInt(classes));
        const offset = row * dim, centre = label * dim;
        for (let feature = 0; feature < dim; feature++)
          chunk[offset + feature] = centres[centre + feature]! + (rng.nextFloat() + rng.nextFloat() + rng.nextFloat() - 1.5);
      }
      await writer.append(chunk.subarray(0, count * dim));
    }
    await writer.close();
  } catch (error) {
    await writer.abort();
    throw error;
  }
  await writeFile(join(dir, `${name}-labels.npy`), Buffer.concat([encodeNpyHeader('<i4', [rows]), new Uint8Array(labels.buffer)]));
}

interface RunReport { msPerEpoch: number[]; valAccuracy: number[]; peakRssBytes: number; seconds: number; scanSeconds: number }

/** Child: trains streamed from the file (mode 'streamed') or in memory on the first `subset` rows ('subset'). */
async function runChild(dir: string, mode: 'streamed' | 'subset', args: Args): Promise<RunReport> {
  const file = await openFeatureFile(join(dir, 'train.npy'));
  const validationFile = await openFeatureFile(join(dir, 'validation.npy'));
  const labels = await readLabelFile(join(dir, 'train-labels.npy'));
  const validationLabels = await readLabelFile(join(dir, 'validation-labels.npy'));
  const startedAt = performance.now();
  let result: FitResult;
  let firstEpochAt = 0;
  const onProgress = (event: { stage: string; status: string }) => { if (event.stage === 'train' && event.status === 'batch' && firstEpochAt === 0) firstEpochAt = performance.now(); };
  try {
    if (mode === 'streamed') {
      result = await fit(streamedFeatures(file, labels), {
        validation: streamedFeatures(validationFile, validationLabels), epochs: args.epochs, earlyStopping: null, seed: 1,
        memoryBudgetBytes: args.maxMemoryMib * 2 ** 20, onProgress, progressIntervalMs: 0,
      });
    } else {
      const features = new Float32Array(args.subset * args.dim);
      await file.read(0, args.subset, features);
      const validation = new Float32Array(validationFile.numRows * args.dim);
      await validationFile.read(0, validationFile.numRows, validation);
      result = await fit({ features, labels: labels.slice(0, args.subset), numSamples: args.subset, embeddingDim: args.dim }, {
        validation: { features: validation, labels: validationLabels, numSamples: validationFile.numRows, embeddingDim: args.dim },
        epochs: args.subsetEpochs, earlyStopping: null, seed: 1, onProgress, progressIntervalMs: 0,
      });
    }
  } finally {
    await file.close();
    await validationFile.close();
  }
  return {
    msPerEpoch: result.history.map((logs) => logs.seconds * 1000), valAccuracy: result.history.map((logs) => logs.valAccuracy!),
    peakRssBytes: process.resourceUsage().maxRSS * 1024, seconds: (performance.now() - startedAt) / 1000,
    scanSeconds: (firstEpochAt - startedAt) / 1000,
  };
}

function parseArgs(): Args {
  const flag = (name: string, fallback: string): string => {
    const index = process.argv.indexOf(`--${name}`);
    return index >= 0 ? process.argv[index + 1] ?? fallback : fallback;
  };
  return {
    rows: Number(flag('rows', '1000000')), dim: Number(flag('dim', '1280')), classes: Number(flag('classes', '100')),
    subset: Number(flag('subset', '100000')), epochs: Number(flag('epochs', '2')), subsetEpochs: Number(flag('subset-epochs', '10')),
    maxMemoryMib: Number(flag('max-memory-mib', '512')), centreScale: Number(flag('centre-scale', '0.15')), keep: process.argv.includes('--keep') ? flag('keep', '') || null : null,
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const childIndex = process.argv.indexOf('--child');
  if (childIndex >= 0) {
    const { dir, mode, args } = JSON.parse(process.argv[childIndex + 1]!) as { dir: string; mode: 'streamed' | 'subset'; args: Args };
    process.stdout.write(`${JSON.stringify(await runChild(dir, mode, args))}\n`);
  } else {
    const args = parseArgs();
    const validationRows = 20_000;
    const needBytes = (args.rows + validationRows) * args.dim * 4 * 1.05;
    const base = args.keep ?? tmpdir();
    const { bavail, bsize } = statfsSync(base);
    if (bavail * bsize < needBytes) {
      process.stderr.write(`Not enough disk space in ${base}: need ${(needBytes / 1e9).toFixed(1)} GB, ${(bavail * bsize / 1e9).toFixed(1)} GB free.\n`);
      process.exit(1);
    }
    const dir = args.keep ?? await mkdtemp(join(tmpdir(), 'finetune-out-of-core-'));
    const contention = watchCpuContention();
    try {
      const log = (line: string) => process.stderr.write(`${line}\n`);
      let started = performance.now();
      log(`writing ${args.rows.toLocaleString('en')} × ${args.dim} (${(args.rows * args.dim * 4 / 1e9).toFixed(2)} GB) and ${validationRows.toLocaleString('en')} validation rows to ${dir}…`);
      await writeTask(dir, 'train', args.rows, args.dim, args.classes, args.centreScale, 1);
      await writeTask(dir, 'validation', validationRows, args.dim, args.classes, args.centreScale, 2);
      const writeSeconds = (performance.now() - started) / 1000;
      const run = (mode: 'streamed' | 'subset'): RunReport => {
        log(`training ${mode === 'streamed' ? `streamed from the file (${args.epochs} epochs, --max-memory ${args.maxMemoryMib} MiB)` : `in memory on the first ${args.subset.toLocaleString('en')} rows (${args.subsetEpochs} epochs)`}…`);
        const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', JSON.stringify({ dir, mode, args })],
          { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
        if (child.status !== 0) throw new Error(`${mode} run failed (exit ${child.status})`);
        return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as RunReport;
      };
      started = performance.now();
      const streamed = run('streamed');
      const subset = run('subset');
      const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
      const best = (report: RunReport) => Math.max(...report.valAccuracy);
      const lines = [
        `${args.rows.toLocaleString('en')} × ${args.dim} float32 (${(args.rows * args.dim * 4 / 1e9).toFixed(2)} GB file, written in ${writeSeconds.toFixed(0)} s), ${args.classes} classes, linear head, Adam, batch 32 · ${cpus()[0]?.model ?? 'CPU'} × ${availableParallelism()}`,
        `streamed: ms/epoch ${streamed.msPerEpoch.map((ms) => ms.toFixed(0)).join(', ')}; statistics pass ${streamed.scanSeconds.toFixed(1)} s; peak RSS ${gib(streamed.peakRssBytes)} (target ≤ 1.5 GB); valAccuracy by epoch ${streamed.valAccuracy.map((a) => (a * 100).toFixed(2)).join(', ')} %`,
        `in memory, first ${args.subset.toLocaleString('en')} rows: ms/epoch median ${[...subset.msPerEpoch].sort((a, b) => a - b)[Math.floor(subset.msPerEpoch.length / 2)]!.toFixed(0)}; peak RSS ${gib(subset.peakRssBytes)}; valAccuracy by epoch ${subset.valAccuracy.map((a) => (a * 100).toFixed(2)).join(', ')} %`,
        `best valAccuracy: streamed ${(best(streamed) * 100).toFixed(2)} % vs in-memory subset ${(best(subset) * 100).toFixed(2)} % (difference ${((best(streamed) - best(subset)) * 100).toFixed(2)} points; target within ±0.5)`,
      ];
      const warning = contention.warning();
      process.stdout.write(`${[...lines, ...(warning ? [warning] : [])].join('\n')}\n`);
    } finally {
      if (args.keep === null) await rm(dir, { recursive: true, force: true });
    }
  }
}
