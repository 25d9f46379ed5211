/**
 * Head-training speed and memory against PyTorch, measured one after the other in one run (issue 13):
 *
 *   small  10,000 × 2048 features, 3 classes, linear head, Adam, batch 32      both sides   target ≥ 1.5×
 *   wide    5,000 × 1280 features, 1,000 classes, batch 32                      both sides   target ≥ 1.0×
 *   large 100,000 × 2048 features, 1,000 classes, batch 32                      ours: ms/epoch, peak RSS ≤ 1.2× features
 *   sweep  20 configs (5 learning rates × linear/256 hidden × dropout 0/0.2) over the small problem: wall time ≤ 10 s
 *
 * Each problem holds out 1/5 of its rows for validation, evaluated every epoch on both sides. Times are the
 * median of the epochs after a warm-up epoch (6 epochs: 1 + 5; the large problem, ours only, 3: 1 + 2). Each of our runs is a child process, so its peak
 * RSS is its own. PyTorch runs through `/usr/bin/python3` (Debian's python3-torch) with 2 threads, on the same
 * data (temp raw files), standardized once up front as a PyTorch user would; OPENBLAS_CORETYPE and
 * OPENBLAS_L2_SIZE are removed from its environment (they can force slow kernels), and the OpenBLAS kernel
 * it runs is printed. `--torch-coretype SkylakeX` sets it instead, to see a tuned BLAS. PyTorch runs twice,
 * with libgomp's default spin-waiting and with OMP_WAIT_POLICY=PASSIVE, and the faster run is the baseline
 * (the spinning threads were the cause of 10× swings between runs on this 2-core machine).
 *
 * Usage: npx tsx scripts/bench-train.ts [--cases small,wide,large,sweep] [--epochs 6] [--large-epochs 3] [--sweep-epochs 5]
 *          [--no-torch] [--torch-coretype NAME] [--threads N] [--markdown] [--json]
 * Run it under the CPU lock (`flock /work/.locks/cpu npm run bench -- train`); it warns when other processes
 * used the CPU meanwhile.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fit, type LabelledFeatures } from '../src/train/fit.js';
import { sweep } from '../src/train/sweep.js';
import { asBytes } from '../src/util/fs.js';
import { Rng } from '../src/util/rng.js';
import { watchCpuContention } from './lib/cpu-contention.js';

export interface BenchCase {
  readonly name: 'small' | 'wide' | 'large' | 'sweep';
  readonly numSamples: number;
  readonly embeddingDim: number;
  readonly numClasses: number;
  readonly batchSize: number;
  /** Whether PyTorch runs the same problem. */
  readonly torch: boolean;
  readonly target: string;
}

export const CASES: readonly BenchCase[] = [
  { name: 'small', numSamples: 10_000, embeddingDim: 2048, numClasses: 3, batchSize: 32, torch: true, target: 'PyTorch ÷ ours ≥ 1.5×' },
  { name: 'wide', numSamples: 5_000, embeddingDim: 1280, numClasses: 1000, batchSize: 32, torch: true, target: 'PyTorch ÷ ours ≥ 1.0×' },
  { name: 'large', numSamples: 100_000, embeddingDim: 2048, numClasses: 1000, batchSize: 32, torch: false, target: 'peak RSS ≤ 1.2× features' },
  { name: 'sweep', numSamples: 10_000, embeddingDim: 2048, numClasses: 3, batchSize: 32, torch: false, target: 'wall ≤ 10 s' },
];

/** 20 configurations: 5 learning rates × linear/256 hidden × dropout 0/0.2. */
export const SWEEP_GRID = { learningRate: [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], hidden: [[], [256]], dropout: [0, 0.2] };

export interface OursResult {
  readonly msPerEpoch: number;
  readonly epochMs: readonly number[];
  readonly featureBytes: number;
  readonly rssBeforeFeaturesBytes: number;
  readonly peakRssBytes: number;
  readonly finalValLoss: number;
  readonly finalValAccuracy: number;
  readonly sweepSeconds?: number;
  /** CPU seconds of the sweep's process, its worker threads included: the work, whatever else ran on the machine. */
  readonly sweepCpuSeconds?: number;
  readonly sweepConfigs?: number;
}

export interface TorchResult {
  /** The thread setting of the faster of the two runs (libgomp's default spin-waiting, or OMP_WAIT_POLICY=PASSIVE). */
  readonly ompWaitPolicy: 'default' | 'PASSIVE';
  /** ms/epoch of the other run. */
  readonly otherMsPerEpoch: number;
  readonly msPerEpoch: number;
  readonly epochMs: readonly number[];
  readonly peakRssBytes: number;
  readonly version: string;
  readonly threads: number;
  readonly blas: string;
  readonly finalValLoss: number;
  readonly finalValAccuracy: number;
}

export interface CaseReport {
  readonly bench: BenchCase;
  readonly ours: OursResult;
  readonly torch: TorchResult | { readonly skipped: string } | null;
  /** PyTorch ms/epoch ÷ ours: > 1 means we are faster. */
  readonly speedRatio: number | null;
}


/** Seeded blobs written straight into one Float32Array (no temporaries the size of the matrix). */
export function makeProblem(numSamples: number, embeddingDim: number, numClasses: number): LabelledFeatures {
  const rng = new Rng(1234);
  const centres = Float32Array.from({ length: numClasses * embeddingDim }, () => rng.nextFloat() * 0.2 - 0.1);
  const features = new Float32Array(numSamples * embeddingDim);
  const labels = new Int32Array(numSamples);
  for (let row = 0; row < numSamples; row++) {
    const label = (labels[row] = row % numClasses);
    const offset = row * embeddingDim, centre = label * embeddingDim;
    for (let feature = 0; feature < embeddingDim; feature++)
      features[offset + feature] = Math.max(0, centres[centre + feature]! + rng.nextFloat() - 0.5);
  }
  return { features, labels, numSamples, embeddingDim };
}

/** The first 4/5 of the rows train, the last 1/5 validate; views, not copies. */
function splitProblem(data: LabelledFeatures): { train: LabelledFeatures; validation: LabelledFeatures } {
  const numTrain = data.numSamples - Math.floor(data.numSamples / 5), dim = data.embeddingDim;
  const part = (from: number, to: number): LabelledFeatures => ({
    features: data.features.subarray(from * dim, to * dim), labels: data.labels.subarray(from, to), numSamples: to - from, embeddingDim: dim,
  });
  return { train: part(0, numTrain), validation: part(numTrain, data.numSamples) };
}

/** Runs in a child process: one case of ours, optionally writing the problem for PyTorch first. */
async function runOursChild(bench: BenchCase, epochs: number, sweepEpochs: number, dataDir: string | null, threads: number | null): Promise<OursResult> {
  const rssBeforeFeaturesBytes = process.memoryUsage().rss;
  const data = makeProblem(bench.numSamples, bench.embeddingDim, bench.numClasses);
  if (dataDir !== null) {
    await writeFile(join(dataDir, 'features.f32'), asBytes(data.features));
    await writeFile(join(dataDir, 'labels.i32'), asBytes(data.labels));
  }
  const { train, validation } = splitProblem(data);
  const featureBytes = data.features.byteLength;
  if (bench.name === 'sweep') {
    const startedAt = performance.now(), cpuAtStart = process.cpuUsage();
    const results = await sweep(train, validation, SWEEP_GRID, { batchSize: bench.batchSize, epochs: sweepEpochs, earlyStopping: null,
      workers: availableParallelism() });
    const sweepSeconds = (performance.now() - startedAt) / 1000;
    const cpu = process.cpuUsage(cpuAtStart), sweepCpuSeconds = (cpu.user + cpu.system) / 1e6;
    const best = results[0]!;
    return { msPerEpoch: NaN, epochMs: [], featureBytes, rssBeforeFeaturesBytes, peakRssBytes: process.resourceUsage().maxRSS * 1024,
      finalValLoss: best.valLoss, finalValAccuracy: best.valAccuracy, sweepSeconds, sweepCpuSeconds, sweepConfigs: results.length };
  }
  const result = await fit(train, { validation, batchSize: bench.batchSize, epochs, earlyStopping: null, seed: 1, ...(threads === null ? {} : { threads }) });
  const epochMs = result.history.map((logs) => logs.seconds * 1000);
  const last = result.history.at(-1)!;
  return {
    msPerEpoch: median(epochMs.slice(1)), epochMs, featureBytes, rssBeforeFeaturesBytes,
    peakRssBytes: process.resourceUsage().maxRSS * 1024, finalValLoss: last.valLoss!, finalValAccuracy: last.valAccuracy!,
  };
}

const PYTORCH_SCRIPT = String.raw`
import ctypes, json, resource, sys, time
import numpy as np, torch
torch.set_num_threads(2)
blas = 'unknown'
for name in ('libopenblas.so.0', 'libopenblasp-r0.3.21.so'):
    try:
        lib = ctypes.CDLL(name); lib.openblas_get_corename.restype = ctypes.c_char_p
        blas = 'OpenBLAS ' + lib.openblas_get_corename().decode(); break
    except Exception: pass
a = json.loads(sys.argv[1])
N, D, K, B, E = a['numSamples'], a['embeddingDim'], a['numClasses'], a['batchSize'], a['epochs']
X = torch.from_numpy(np.fromfile(a['features'], dtype=np.float32).reshape(N, D))
y = torch.from_numpy(np.fromfile(a['labels'], dtype=np.int32).astype(np.int64))
T = N - N // 5
mean, std = X[:T].mean(0), X[:T].std(0, unbiased=False).clamp_min(1e-12)
X = (X - mean) / std   # standardized once, up front, as a PyTorch user would
Xt, yt, Xv, yv = X[:T], y[:T], X[T:], y[T:]
torch.manual_seed(0)
model = torch.nn.Linear(D, K)
opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
loss_fn = torch.nn.CrossEntropyLoss()
times = []
for epoch in range(E):
    start = time.perf_counter()
    perm = torch.randperm(T)
    for s in range(0, T, B):
        idx = perm[s:s + B]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(Xt[idx]), yt[idx])
        loss.backward()
        opt.step()
    with torch.no_grad():
        val_loss, correct = 0.0, 0
        for s in range(0, N - T, B):
            logits = model(Xv[s:s + B])
            val_loss += loss_fn(logits, yv[s:s + B]).item() * len(logits)
            correct += (logits.argmax(1) == yv[s:s + B]).sum().item()
    times.append((time.perf_counter() - start) * 1000)
print(json.dumps({'epochMs': times, 'msPerEpoch': sorted(times[1:])[len(times[1:]) // 2] if len(times) > 1 else times[0],
                  'peakRssBytes': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, 'version': torch.__version__,
                  'threads': torch.get_num_threads(), 'blas': blas, 'finalValLoss': val_loss / (N - T), 'finalValAccuracy': correct / (N - T)}))
`;
import { median } from './lib/stats.js';

const TORCH_PYTHON = '/usr/bin/python3';

function runTorchOnce(bench: BenchCase, epochs: number, dir: string, coretype: string | null, passive: boolean):
  Omit<TorchResult, 'ompWaitPolicy' | 'otherMsPerEpoch'> | { skipped: string } {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  if (coretype !== null) env.OPENBLAS_CORETYPE = coretype;
  if (passive) env.OMP_WAIT_POLICY = 'PASSIVE';
  else delete env.OMP_WAIT_POLICY;
  const args = JSON.stringify({ numSamples: bench.numSamples, embeddingDim: bench.embeddingDim, numClasses: bench.numClasses,
    batchSize: bench.batchSize, epochs, features: join(dir, 'features.f32'), labels: join(dir, 'labels.i32') });
  const child = spawnSync(TORCH_PYTHON, ['-c', PYTORCH_SCRIPT, args], { encoding: 'utf8', env, maxBuffer: 1 << 20 });
  if (child.status !== 0) return { skipped: `PyTorch run failed: ${child.stderr.trim().split('\n').at(-1)}` };
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Omit<TorchResult, 'ompWaitPolicy' | 'otherMsPerEpoch'>;
}

/**
 * PyTorch's best of two thread settings. libgomp's worker threads spin-wait after each parallel region; on a
 * 2-core machine they compete with OpenBLAS's own threads and with any other process, which made single epochs
 * 10× slower in our runs. OMP_WAIT_POLICY=PASSIVE removes that; the faster of the two runs is the baseline.
 */
function runTorch(bench: BenchCase, epochs: number, dir: string, coretype: string | null): TorchResult | { skipped: string } {
  const probe = spawnSync(TORCH_PYTHON, ['-c', 'import torch, numpy'], { stdio: 'ignore' });
  if (probe.status !== 0) return { skipped: `PyTorch is not importable by ${TORCH_PYTHON} (apt-get install python3-torch)` };
  const spinning = runTorchOnce(bench, epochs, dir, coretype, false);
  const passive = runTorchOnce(bench, epochs, dir, coretype, true);
  if ('skipped' in spinning) return spinning;
  if ('skipped' in passive) return passive;
  return passive.msPerEpoch < spinning.msPerEpoch
    ? { ...passive, ompWaitPolicy: 'PASSIVE', otherMsPerEpoch: spinning.msPerEpoch }
    : { ...spinning, ompWaitPolicy: 'default', otherMsPerEpoch: passive.msPerEpoch };
}

export interface TrainBenchOptions {
  readonly cases?: readonly BenchCase['name'][];
  readonly epochs?: number;
  /** Epochs of the large problem (about 30 s each on 2 cores). @defaultValue `3` */
  readonly largeEpochs?: number;
  readonly sweepEpochs?: number;
  readonly torch?: boolean;
  readonly torchCoretype?: string | null;
  /** Kernel threads of our single fits (not the sweep: one per worker). @defaultValue fit's default, the available cores */
  readonly threads?: number | null;
  readonly log?: (line: string) => void;
}

export async function runTrainBench(options: TrainBenchOptions = {}): Promise<{ reports: CaseReport[]; cpu: string; threads: number; warning: string | null }> {
  const epochs = options.epochs ?? 6, sweepEpochs = options.sweepEpochs ?? 5;
  const wanted = options.cases ?? CASES.map((bench) => bench.name);
  const log = options.log ?? (() => {});
  const contention = watchCpuContention();
  const reports: CaseReport[] = [];
  for (const bench of CASES.filter((c) => wanted.includes(c.name))) {
    const withTorch = bench.torch && (options.torch ?? true);
    const dir = withTorch ? await mkdtemp(join(tmpdir(), 'finetune-bench-train-')) : null;
    try {
      log(`${bench.name}: ${bench.numSamples} × ${bench.embeddingDim}, ${bench.numClasses} classes: finetune…`);
      const caseEpochs = bench.name === 'large' ? options.largeEpochs ?? 3 : epochs;
      const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', JSON.stringify({ bench, epochs: caseEpochs, sweepEpochs, dir, threads: options.threads ?? null })],
        { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
      if (child.status !== 0) throw new Error(`bench child for ${bench.name} failed (exit ${child.status})`);
      const ours = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as OursResult;
      let torch: CaseReport['torch'] = null;
      if (dir !== null) {
        log(`${bench.name}: PyTorch…`);
        torch = runTorch(bench, epochs, dir, options.torchCoretype ?? null);
      }
      const speedRatio = torch !== null && 'msPerEpoch' in torch ? torch.msPerEpoch / ours.msPerEpoch : null;
      reports.push({ bench, ours, torch, speedRatio });
    } finally {
      if (dir !== null) await rm(dir, { recursive: true, force: true });
    }
  }
  return { reports, cpu: `${cpus()[0]?.model ?? 'unknown CPU'} × ${availableParallelism()}`, threads: options.threads ?? availableParallelism(), warning: contention.warning() };
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

function describe(bench: BenchCase): string {
  return `${bench.numSamples.toLocaleString('en')} × ${bench.embeddingDim}, ${bench.numClasses.toLocaleString('en')} classes`;
}

export function formatTrainBench(result: Awaited<ReturnType<typeof runTrainBench>>, markdown = false): string {
  const header = ['problem', 'finetune ms/epoch', 'PyTorch ms/epoch', 'PyTorch ÷ finetune', 'finetune peak RSS', 'target'];
  const rows = result.reports.map(({ bench, ours, torch, speedRatio }) => {
    if (bench.name === 'sweep')
      return [`sweep: ${ours.sweepConfigs} configs over ${describe(bench)}`, `${ours.sweepSeconds!.toFixed(1)} s wall (${ours.sweepCpuSeconds!.toFixed(0)} s CPU)`, '–', '–', mib(ours.peakRssBytes), bench.target];
    const torchCell = torch === null ? '–' : 'msPerEpoch' in torch ? torch.msPerEpoch.toFixed(0) : `skipped: ${torch.skipped}`;
    return [describe(bench), ours.msPerEpoch.toFixed(0), torchCell, speedRatio === null ? '–' : `${speedRatio.toFixed(2)}×`,
      `${mib(ours.peakRssBytes)} (${(ours.peakRssBytes / ours.featureBytes).toFixed(2)}× features)`, bench.target];
  });
  const torchInfo = result.reports.map((report) => report.torch).find((torch): torch is TorchResult => torch !== null && 'msPerEpoch' in torch);
  const notes = [`CPU: ${result.cpu}; finetune with ${result.threads} kernel thread(s) per fit (the sweep: one per worker).`,
    'Linear head, Adam, batch 32, 1/5 of the rows held out and evaluated every epoch; median of the epochs after a warm-up epoch ' +
      `(${result.reports.map((r) => `${r.bench.name}: ${r.ours.epochMs.length - 1}`).filter((text) => !text.startsWith('sweep')).join(', ')}).`,
    ...(torchInfo ? [`PyTorch ${torchInfo.version}, ${torchInfo.threads} threads, ${torchInfo.blas}; each PyTorch figure is the faster of ` +
      'libgomp\'s default spin-waiting and OMP_WAIT_POLICY=PASSIVE (per problem: ' +
      result.reports.filter((r) => r.torch !== null && 'msPerEpoch' in r.torch).map((r) => {
        const torch = r.torch as TorchResult;
        return `${r.bench.name} ${torch.ompWaitPolicy}, other ${torch.otherMsPerEpoch.toFixed(0)} ms`;
      }).join('; ') + ').'] : []),
    ...(result.warning ? [result.warning] : [])];
  if (markdown) {
    const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
    return [line(header), line(header.map(() => '---')), ...rows.map(line), '', ...notes].join('\n');
  }
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line), '', ...notes].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const flag = (name: string): string | undefined => {
    const index = process.argv.indexOf(`--${name}`);
    return index >= 0 ? process.argv[index + 1] : undefined;
  };
  const childArgs = flag('child');
  if (childArgs !== undefined) {
    const { bench, epochs, sweepEpochs, dir, threads } = JSON.parse(childArgs) as { bench: BenchCase; epochs: number; sweepEpochs: number; dir: string | null; threads: number | null };
    process.stdout.write(`${JSON.stringify(await runOursChild(bench, epochs, sweepEpochs, dir, threads))}\n`);
  } else {
    const asJson = process.argv.includes('--json');
    const result = await runTrainBench({
      cases: flag('cases')?.split(',') as BenchCase['name'][] | undefined,
      epochs: Number(flag('epochs') ?? 6), largeEpochs: Number(flag('large-epochs') ?? 3), sweepEpochs: Number(flag('sweep-epochs') ?? 5),
      torch: !process.argv.includes('--no-torch'), torchCoretype: flag('torch-coretype') ?? null,
      threads: flag('threads') === undefined ? null : Number(flag('threads')),
      log: (line) => { if (!asJson) process.stderr.write(`${line}\n`); },
    });
    process.stdout.write(asJson ? `${JSON.stringify(result, null, 2)}\n` : `${formatTrainBench(result, process.argv.includes('--markdown'))}\n`);
  }
}
