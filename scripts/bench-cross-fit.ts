/**
 * What cross-fitting costs (issue 12: K = 5 must cost at most 5× the single-split training): on the same features,
 * the default recipe's training time with one 80/20 split (`fit`, the baseline) and with 5 folds (`crossFit`: five
 * fits of 80 % each, out-of-fold prediction, the merged head, temperature scaling), by default with no fold worker
 * started before the call ("cold": a worker is started only where the work pays for its start), by default with the
 * fold workers started before the call ("warm": prewarmFoldWorkers, as a cross-fitting run does before extracting
 * the features), and with every fold in this thread (`workers: 0`). Medians of ≥ 5 repetitions (3× as many for the
 * 300-row case, whose baseline is 20–60 ms) after a warm-up, all measured in this run, alternately (fit, cold,
 * warm, one thread, fit, …); wall time and process CPU time (all threads: a cold worker's start and the folds in
 * workers count; a warm worker's start does not).
 *
 * Features: seeded Gaussian blobs shaped like the task (300 labelled images × 1280-d MobileNetV2 features ×
 * 3 classes) and a larger one (3,000 × 1280 × 10), so the ratio does not hinge on one size. Early stopping is on, as
 * in the default, so each fit runs until its own patience ends; a fixed-epochs row (no early stopping) shows the
 * pure cost ratio.
 *
 *   npx tsx scripts/bench-cross-fit.ts [--repeats 7] [--dist] [--run]
 *
 * `--dist` runs the compiled package (dist/, `npm run build` first), as `npm i finetune` users do: its fold worker
 * starts faster than one started from the sources through tsx. `--run` adds what a CLI user sees: the training phase
 * of one-shot runs on 300 images, `--folds 5` against `--folds 1` (see runFolds; needs ../shared's zoo).
 */
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FitOptions, LabelledFeatures } from '../src/train/fit.js';
import { selectRows } from '../src/train/streamed-features.js';
import { Rng } from '../src/util/rng.js';
import { watchCpuContention } from './lib/cpu-contention.js';
import { median } from './lib/stats.js';

const fromDist = process.argv.includes('--dist');
const compiled = new URL('../dist/train/cross-fit.js', import.meta.url);
if (fromDist && !existsSync(compiled)) throw new Error('bench-cross-fit --dist: dist/ is missing; run `npm run build` first.');
if (fromDist && statSync(compiled).mtimeMs < statSync(new URL('../src/train/cross-fit.ts', import.meta.url)).mtimeMs)
  process.stderr.write('warning: dist/train/cross-fit.js is older than src/train/cross-fit.ts; run `npm run build` to measure the sources\' code.\n');
const { crossFit, prewarmFoldWorkers } = (await import(fromDist ? compiled.href : '../src/train/cross-fit.js')) as typeof import('../src/train/cross-fit.js');
const { fit } = (await import(fromDist ? new URL('../dist/train/fit.js', import.meta.url).href : '../src/train/fit.js')) as typeof import('../src/train/fit.js');
const { closeIdleTrainWorkers, idleTrainWorkerCount } = (await import(fromDist ? new URL('../dist/train/train-workers.js', import.meta.url).href : '../src/train/train-workers.js')) as typeof import('../src/train/train-workers.js');

const repeatsIndex = process.argv.indexOf('--repeats');
const repeats = Math.max(5, repeatsIndex === -1 ? 7 : Number(process.argv[repeatsIndex + 1]));

function blobs(numSamples: number, embeddingDim: number, numClasses: number, seed: number): LabelledFeatures {
  const rng = new Rng(seed);
  const centres = Float32Array.from({ length: numClasses * embeddingDim }, () => rng.nextFloat() * 2 - 1);
  const features = new Float32Array(numSamples * embeddingDim), labels = new Int32Array(numSamples);
  for (let row = 0; row < numSamples; row++) {
    const label = (labels[row] = row % numClasses);
    for (let feature = 0; feature < embeddingDim; feature++) {
      const noise = (rng.nextFloat() + rng.nextFloat() + rng.nextFloat() - 1.5) * 4;
      features[row * embeddingDim + feature] = Math.max(0, centres[label * embeddingDim + feature]! + noise);
    }
  }
  return { features, labels, numSamples, embeddingDim };
}

/** One in five of each class's rows validates, the rest train (what one split costs; the split itself is not timed). */
function split(data: LabelledFeatures, numClasses: number): { train: LabelledFeatures; validation: LabelledFeatures } {
  const trainRows: number[] = [], validationRows: number[] = [];
  // Labels cycle through the classes, so row / numClasses counts the rows of a class.
  data.labels.forEach((_, row) => (Math.floor(row / numClasses) % 5 === 4 ? validationRows : trainRows).push(row));
  return { train: selectRows(data, Int32Array.from(trainRows)), validation: selectRows(data, Int32Array.from(validationRows)) };
}

interface Timing { readonly wall: number; readonly cpu: number }

/** A timed call and what to do before it, untimed. */
interface Run { readonly before?: () => Promise<void>; readonly run: () => Promise<unknown> }

/**
 * Median wall and process-CPU milliseconds of each of `runs`, run in turn (after one warm-up of each) so that a
 * change in the machine's load during the run weighs on all alike.
 */
async function medians(runs: readonly Run[], rounds: number): Promise<Timing[]> {
  const samples = runs.map(() => ({ walls: [] as number[], cpus: [] as number[] }));
  for (const { before, run } of runs) { await before?.(); await run(); }   // warm-up
  for (let i = 0; i < rounds; i++)
    for (const [index, { before, run }] of runs.entries()) {
      await before?.();
      const started = performance.now(), cpuStarted = process.cpuUsage();
      await run();
      const cpu = process.cpuUsage(cpuStarted);
      samples[index]!.walls.push(performance.now() - started);
      samples[index]!.cpus.push((cpu.user + cpu.system) / 1000);
    }
  return samples.map(({ walls, cpus }) => ({ wall: median(walls), cpu: median(cpus) }));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const contention = watchCpuContention();
const rows: string[] = [];
const ratios = (folds: Timing, single: Timing): string => `${(folds.wall / single.wall).toFixed(2)}× | ${(folds.cpu / single.cpu).toFixed(2)}×`;
for (const [name, data, numClasses] of [['300 × 1280, 3 classes', blobs(300, 1280, 3, 1), 3], ['3,000 × 1280, 10 classes', blobs(3000, 1280, 10, 2), 10]] as const) {
  for (const [recipe, options] of [['default (early stopping)', {}], ['30 epochs, no early stopping', { epochs: 30, earlyStopping: null }]] as const) {
    const fitOptions: FitOptions = { seed: 1, numClasses, ...options };
    const { train, validation } = split(data, numClasses);
    const inWorkers = { cold: 0, warm: 0 };
    const counting = (key: keyof typeof inWorkers) => ({ onProgress: (event: { status: string; message?: string }) => {
      if (event.status === 'message' && event.message?.includes('worker')) inWorkers[key]++;
    } });
    const [single, cold, warm, oneThread] = await medians([
      { run: () => fit(train, { ...fitOptions, validation }) },
      // Cold: no fold worker started yet, as in a process's first crossFit (the pool is emptied before each call).
      { before: () => closeIdleTrainWorkers(), run: () => { inWorkers.cold = 0; return crossFit(data, { ...fitOptions, folds: 5, ...counting('cold') }); } },
      // Warm: the fold workers started beforehand (untimed, with time to get ready), as a run does before extraction.
      { before: async () => { prewarmFoldWorkers(5); while (idleTrainWorkerCount('cross-fit-worker', true) === 0) await sleep(10); },
        run: () => { inWorkers.warm = 0; return crossFit(data, { ...fitOptions, folds: 5, ...counting('warm') }); } },
      { run: () => crossFit(data, { ...fitOptions, folds: 5, workers: 0 }) },
    ], data.numSamples <= 300 ? 3 * repeats : repeats);   // the small case's ~20–60 ms baseline needs more samples
    await closeIdleTrainWorkers();
    rows.push(`| ${name} | ${recipe} | ${single!.wall.toFixed(0)} | ${cold!.wall.toFixed(0)} | ${ratios(cold!, single!)} | ${inWorkers.cold}/5 `
      + `| ${warm!.wall.toFixed(0)} | ${ratios(warm!, single!)} | ${inWorkers.warm}/5 | ${oneThread!.wall.toFixed(0)} | ${ratios(oneThread!, single!)} |`);
    process.stderr.write(`${name}, ${recipe}: fit ${single!.wall.toFixed(0)} ms (CPU ${single!.cpu.toFixed(0)}), crossFit cold ${cold!.wall.toFixed(0)} ms `
      + `(CPU ${cold!.cpu.toFixed(0)}, ${inWorkers.cold} folds in a worker), warm ${warm!.wall.toFixed(0)} ms (CPU ${warm!.cpu.toFixed(0)}, `
      + `${inWorkers.warm} in a worker), in one thread ${oneThread!.wall.toFixed(0)} ms (CPU ${oneThread!.cpu.toFixed(0)})\n`);
  }
}
process.stdout.write(`Cross-fitting cost (${fromDist ? 'dist/, the compiled package' : 'the sources through tsx'}): median of ${repeats} runs `
  + `(${3 * repeats} for 300 rows) `
  + 'after a warm-up (wall ms; ratios to the baseline of wall and of process CPU time). Cold: no fold worker started before the call '
  + '(a process\'s first crossFit; the default starts one only for ≥ 1 s of estimated fold work). Warm: fold workers started before the '
  + 'call (prewarmFoldWorkers, as a cross-fitting run does before extraction; their start is not timed).\n\n'
  + '| features | recipe | one 80/20 split (baseline) | cross-fit, cold | ratio | CPU ratio | folds in a worker '
  + '| cross-fit, warm | ratio | CPU ratio | folds in a worker | cross-fit, one thread | ratio | CPU ratio |\n'
  + '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n' + `${rows.join('\n')}\n`);

/**
 * `--run`: what a CLI user sees. One-shot runs on 300 generated shape images (3 classes, MobileNetV2-int8 from the
 * ../shared zoo mirror, embedding cache warm after a first run), `--folds 1` and `--folds 5` alternately: the
 * training phase from run.json (`timings.trainSeconds`: the fits plus, for 5 folds, out-of-fold metrics and the
 * label audit; not extraction or export), and how many folds the run's fold worker took.
 */
async function runFolds(): Promise<void> {
  const sharedZoo = new URL('../../shared/zoo', import.meta.url).pathname;
  if (!existsSync(sharedZoo)) { process.stdout.write(`\n--run skipped: ${sharedZoo} is absent.\n`); return; }
  const { serveMirror } = await import('../src/registry/serve-mirror.js');
  const { makeShapesDataset } = await import('./lib/make-shapes.js');
  const work = await mkdtemp(join(tmpdir(), 'finetune-bench-run-folds-'));
  const mirror = await serveMirror(sharedZoo);
  try {
    const data = join(work, 'shapes');
    await makeShapesDataset(data, { perClass: 100, seed: 11 });
    const bin = new URL(fromDist ? '../dist/cli/finetune.js' : '../bin/finetune.js', import.meta.url).pathname;
    const env = { ...process.env, FINETUNE_ZOO_MIRROR: mirror.url, FINETUNE_HOME: join(work, 'home') };
    const run = async (folds: number): Promise<{ train: number; inWorker: number }> => {
      const out = join(work, `run-${folds}`);
      await rm(out, { recursive: true, force: true });
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, '--backbone', 'mobilenetv2-int8', '--classes', '3',
        '--data', data, '--folds', String(folds), '--out', out], { env, maxBuffer: 1 << 26 });
      const { timings } = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as { timings: { trainSeconds: number } };
      return { train: timings.trainSeconds * 1000, inWorker: `${stdout}${stderr}`.split('\n').filter((line) => line.includes('(worker thread)')).length };
    };
    await run(5);   // computes the embeddings; the runs below read them from the cache
    const samples = { 1: [] as number[], 5: [] as number[], inWorker: [] as number[] };
    for (let i = 0; i < repeats; i++) {
      samples[1].push((await run(1)).train);
      const five = await run(5);
      samples[5].push(five.train);
      samples.inWorker.push(five.inWorker);
    }
    const [one, five] = [median(samples[1]), median(samples[5])];
    process.stdout.write(`\nOne-shot runs on 300 images (${fromDist ? 'dist/cli/finetune.js' : 'bin/finetune.js, the sources'}; warm embedding cache), `
      + `training phase from run.json, median of ${repeats}:\n\n| --folds 1 | --folds 5 | ratio | folds in the run's worker |\n|---|---|---|---|\n`
      + `| ${one.toFixed(0)} ms | ${five.toFixed(0)} ms | ${(five / one).toFixed(2)}× | ${samples.inWorker.join(', ')} (of 5, per run) |\n`);
  } finally {
    await mirror.close();
    await rm(work, { recursive: true, force: true });
  }
}
if (process.argv.includes('--run')) await runFolds();

const warning = contention.warning();
if (warning) process.stdout.write(`\n${warning}\n`);
