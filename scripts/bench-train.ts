/**
 * Head-training speed and memory on a synthetic problem the size of a real one: 10,000 × 2048 features,
 * 3 classes, a linear head, Adam, batch 32, 20 epochs. Prints ms/epoch and peak RSS; when PyTorch imports
 * (`apt-get install python3-torch`; tried with `python3`, then `/usr/bin/python3`), trains the same problem in
 * PyTorch with 2 threads in the same run (same data through a temp raw file, same optimizer settings) and
 * prints the ratio.
 *
 * Usage: npx tsx scripts/bench-train.ts [--samples 10000] [--dim 2048] [--classes 3] [--batch-size 32]
 *          [--epochs 20] [--hidden 256] [--torch-epochs 3] [--no-torch] [--sweep 0] [--json]
 * `--sweep N` also times an N-config learning-rate/seed sweep (5 epochs each) with worker threads.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fit, type LabelledFeatures } from '../src/train/fit.js';
import { Rng } from '../src/util/rng.js';
import { sweep } from '../src/train/sweep.js';
import { asBytes } from '../src/util/fs.js';

export interface TrainBenchOptions {
  numSamples?: number;
  embeddingDim?: number;
  numClasses?: number;
  batchSize?: number;
  epochs?: number;
  hidden?: readonly number[];
  /** Epochs for PyTorch (its per-epoch time is what is compared); 0 skips it. */
  torchEpochs?: number;
  /** Configs in an optional sweep timing; 0 skips it. */
  sweepConfigs?: number;
  log?: (line: string) => void;
}

export interface TrainBenchReport {
  readonly problem: string;
  readonly cpu: string;
  readonly ours: { msPerEpoch: number; featureBytes: number; rssBeforeFeaturesBytes: number; peakRssBytes: number;
    /** (peak RSS − RSS before the features existed) / feature bytes: ≤ 1.5 is the target. */
    peakOverFeatures: number; finalLoss: number; finalAccuracy: number };
  readonly torch: { msPerEpoch: number; peakRssBytes: number; version: string; threads: number; finalLoss: number; epochs: number } | { skipped: string };
  /** PyTorch ms/epoch ÷ ours: > 1 means we are faster. */
  readonly speedRatio: number | null;
  readonly sweep: { configs: number; epochs: number; workers: number; seconds: number } | null;
}

/** Seeded blobs written straight into one Float32Array (no temporaries the size of the matrix). */
function makeProblem(numSamples: number, embeddingDim: number, numClasses: number): LabelledFeatures {
  const rng = new Rng(1234);
  const centres = Float32Array.from({ length: numClasses * embeddingDim }, () => rng.nextFloat() * 0.2 - 0.1);
  const features = new Float32Array(numSamples * embeddingDim);
  const labels = new Int32Array(numSamples);
  for (let row = 0; row < numSamples; row++) {
    const label = (labels[row] = row % numClasses);
    for (let feature = 0; feature < embeddingDim; feature++)
      features[row * embeddingDim + feature] = Math.max(0, centres[label * embeddingDim + feature]! + rng.nextFloat() - 0.5);
  }
  return { features, labels, numSamples, embeddingDim };
}

const PYTORCH_SCRIPT = String.raw`
import json, resource, sys, time
import numpy as np, torch
torch.set_num_threads(2)
a = json.loads(sys.argv[1])
N, D, K, B, E = a['numSamples'], a['embeddingDim'], a['numClasses'], a['batchSize'], a['epochs']
X = torch.from_numpy(np.fromfile(a['features'], dtype=np.float32).reshape(N, D))
y = torch.from_numpy(np.fromfile(a['labels'], dtype=np.int32).astype(np.int64))
X = (X - X.mean(0)) / X.std(0, unbiased=False).clamp_min(1e-12)   # standardize once, as a PyTorch user would
torch.manual_seed(0)
widths = [D] + a['hidden'] + [K]
layers = []
for i in range(len(widths) - 1):
    layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
    if i + 2 < len(widths): layers.append(torch.nn.ReLU())
model = torch.nn.Sequential(*layers)
opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
loss_fn = torch.nn.CrossEntropyLoss()
times, loss_sum = [], 0.0
for epoch in range(E):
    start = time.perf_counter()
    perm = torch.randperm(N)
    loss_sum = 0.0
    for s in range(0, N, B):
        idx = perm[s:s + B]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(X[idx]), y[idx])
        loss.backward()
        opt.step()
        loss_sum += loss.item() * len(idx)
    times.append(time.perf_counter() - start)
times.sort()
print(json.dumps({'msPerEpoch': times[len(times) // 2] * 1000, 'peakRssBytes': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                  'version': torch.__version__, 'threads': torch.get_num_threads(), 'finalLoss': loss_sum / N, 'epochs': E}))
`;

function findTorchPython(): string | null {
  for (const python of ['python3', '/usr/bin/python3']) {
    const probe = spawnSync(python, ['-c', 'import torch, numpy'], { stdio: 'ignore' });
    if (probe.status === 0) return python;
  }
  return null;
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function runTrainBench(options: TrainBenchOptions = {}): Promise<TrainBenchReport> {
  const numSamples = options.numSamples ?? 10_000, embeddingDim = options.embeddingDim ?? 2048;
  const numClasses = options.numClasses ?? 3, batchSize = options.batchSize ?? 32, epochs = options.epochs ?? 20;
  const hidden = options.hidden ?? [], torchEpochs = options.torchEpochs ?? 3, sweepConfigs = options.sweepConfigs ?? 0;
  const log = options.log ?? (() => {});
  const problem = `${numSamples} × ${embeddingDim} features, ${numClasses} classes, ${hidden.length === 0 ? 'linear head' : `MLP [${hidden.join(',')}]`}, Adam, batch ${batchSize}`;

  const rssBeforeFeaturesBytes = process.memoryUsage().rss;
  const data = makeProblem(numSamples, embeddingDim, numClasses);
  log(`training ${problem} for ${epochs} epochs…`);
  const result = await fit(data, { hidden, batchSize, epochs, earlyStopping: null, seed: 1 });
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;
  const featureBytes = data.features.byteLength;
  const last = result.history.at(-1)!;
  const ours = {
    msPerEpoch: median(result.history.map((logs) => logs.seconds * 1000)), featureBytes, rssBeforeFeaturesBytes, peakRssBytes,
    peakOverFeatures: (peakRssBytes - rssBeforeFeaturesBytes) / featureBytes, finalLoss: last.loss, finalAccuracy: last.accuracy,
  };

  let torch: TrainBenchReport['torch'];
  const python = torchEpochs > 0 ? findTorchPython() : null;
  if (torchEpochs <= 0) torch = { skipped: 'disabled (--no-torch or --torch-epochs 0)' };
  else if (python === null) torch = { skipped: 'PyTorch is not importable (apt-get install python3-torch)' };
  else {
    const dir = await mkdtemp(join(tmpdir(), 'finetune-bench-train-'));
    try {
      await writeFile(join(dir, 'features.f32'), asBytes(data.features));
      await writeFile(join(dir, 'labels.i32'), asBytes(data.labels));
      await writeFile(join(dir, 'bench.py'), PYTORCH_SCRIPT);
      log(`training the same problem in PyTorch (${python}, 2 threads) for ${torchEpochs} epochs…`);
      const args = JSON.stringify({ numSamples, embeddingDim, numClasses, batchSize, epochs: torchEpochs, hidden: [...hidden],
        features: join(dir, 'features.f32'), labels: join(dir, 'labels.i32') });
      const child = spawnSync(python, [join(dir, 'bench.py'), args], { encoding: 'utf8', maxBuffer: 1 << 20 });
      if (child.status !== 0) torch = { skipped: `PyTorch run failed: ${child.stderr.trim().split('\n').at(-1)}` };
      else torch = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as TrainBenchReport['torch'];
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  let sweepReport: TrainBenchReport['sweep'] = null;
  if (sweepConfigs > 0) {
    const validation = makeProblem(Math.max(numClasses, Math.floor(numSamples / 5)), embeddingDim, numClasses);
    const learningRate = Array.from({ length: Math.ceil(sweepConfigs / 2) }, (_, i) => 1e-4 * 2 ** i);
    const workers = Math.min(availableParallelism(), sweepConfigs);
    log(`sweep: ${learningRate.length * 2} configs × 5 epochs on ${workers} worker threads…`);
    const startedAt = performance.now();
    const results = await sweep(data, validation, { learningRate, seed: [1, 2] }, { hidden, batchSize, epochs: 5, earlyStopping: null, workers });
    sweepReport = { configs: results.length, epochs: 5, workers, seconds: (performance.now() - startedAt) / 1000 };
  }

  return {
    problem, cpu: `${cpus()[0]?.model ?? 'unknown CPU'} × ${availableParallelism()}`, ours, torch,
    speedRatio: 'msPerEpoch' in torch ? torch.msPerEpoch / ours.msPerEpoch : null, sweep: sweepReport,
  };
}

export function formatTrainBench(report: TrainBenchReport): string {
  const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  const rows: string[][] = [['', 'ms/epoch', 'peak RSS', 'final loss', 'notes']];
  const { ours, torch } = report;
  rows.push(['finetune (TS)', ours.msPerEpoch.toFixed(0), mb(ours.peakRssBytes), ours.finalLoss.toFixed(4),
    `features ${mb(ours.featureBytes)}; peak − baseline = ${ours.peakOverFeatures.toFixed(2)}× features`]);
  if ('msPerEpoch' in torch)
    rows.push([`PyTorch ${torch.version}`, torch.msPerEpoch.toFixed(0), mb(torch.peakRssBytes), torch.finalLoss.toFixed(4),
      `${torch.threads} threads, median of ${torch.epochs} epochs`]);
  else rows.push(['PyTorch', '–', '–', '–', torch.skipped]);
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = [`${report.problem} · ${report.cpu}`,
    ...rows.map((row) => row.map((cell, column) => (column === 0 || column === 4 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ').trimEnd())];
  if (report.speedRatio !== null) lines.push(`speed ratio (PyTorch ms/epoch ÷ ours): ${report.speedRatio.toFixed(2)}× ${report.speedRatio >= 1 ? '(parity or better)' : '(slower than PyTorch)'}`);
  if (report.sweep !== null) lines.push(`sweep: ${report.sweep.configs} configs × ${report.sweep.epochs} epochs on ${report.sweep.workers} workers in ${report.sweep.seconds.toFixed(1)} s`);
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const flag = (name: string, fallback: string): string => {
    const index = process.argv.indexOf(`--${name}`);
    return index >= 0 ? process.argv[index + 1] ?? fallback : fallback;
  };
  const asJson = process.argv.includes('--json');
  const hiddenFlag = flag('hidden', '');
  const report = await runTrainBench({
    numSamples: Number(flag('samples', '10000')), embeddingDim: Number(flag('dim', '2048')), numClasses: Number(flag('classes', '3')),
    batchSize: Number(flag('batch-size', '32')), epochs: Number(flag('epochs', '20')),
    hidden: hiddenFlag === '' ? [] : hiddenFlag.split(',').map(Number),
    torchEpochs: process.argv.includes('--no-torch') ? 0 : Number(flag('torch-epochs', '3')),
    sweepConfigs: Number(flag('sweep', '0')),
    log: (line) => { if (!asJson) process.stderr.write(`${line}\n`); },
  });
  process.stdout.write(asJson ? `${JSON.stringify(report, null, 2)}\n` : `${formatTrainBench(report)}\n`);
}
