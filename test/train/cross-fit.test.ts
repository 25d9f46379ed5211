/** Cross-fitting and its parts: stratified folds, merged heads, temperature scaling, ECE, no leakage, determinism. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { calibrationReport, fitTemperature, softmaxWithTemperature } from '../../src/train/calibration.js';
import {
  crossFit, foldSeed, foldStandardizations, otherFoldsBestEpochs, prewarmFoldWorkers, trainFold, trainFoldsInWorkers,
} from '../../src/train/cross-fit.js';
import type { FoldJob } from '../../src/train/cross-fit.js';
import { fit } from '../../src/train/fit.js';
import { foldClassCounts, stratifiedFolds } from '../../src/train/folds.js';
import { mergeHeads } from '../../src/train/merge-heads.js';
import { predictLogits } from '../../src/train/predict-probabilities.js';
import { fitStandardization } from '../../src/train/standardization.js';
import type { HeadWeights } from '../../src/types.js';
import { closeIdleTrainWorkers, idleTrainWorkerCount } from '../../src/train/train-workers.js';
import { Rng } from '../../src/util/rng.js';
import { makeBlobs } from './synthetic.js';

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
};

function randomHead(seed: number, embeddingDim: number, widths: readonly number[], numClasses: number): HeadWeights {
  const rng = new Rng(seed);
  const dims = [embeddingDim, ...widths, numClasses];
  const layers = dims.slice(1).map((outputDim, l) => ({
    inputDim: dims[l]!, outputDim, activation: l === dims.length - 2 ? 'linear' as const : 'relu' as const,
    kernel: Float32Array.from({ length: dims[l]! * outputDim }, () => rng.nextFloat() * 2 - 1),
    bias: Float32Array.from({ length: outputDim }, () => rng.nextFloat() - 0.5),
  }));
  const standardization = {
    mean: Float32Array.from({ length: embeddingDim }, () => rng.nextFloat()),
    std: Float32Array.from({ length: embeddingDim }, () => 0.5 + rng.nextFloat()),
  };
  return { embeddingDim, numClasses, layers, standardization };
}

describe('stratifiedFolds', () => {
  it('spreads every class over the folds as evenly as it can, fold sizes within one, the same for the same seed', () => {
    const labels = Int32Array.from([...Array(23).fill(0), ...Array(11).fill(1), ...Array(7).fill(2)]);
    const foldOf = stratifiedFolds(labels, 3, 5, 9);
    for (const perClass of foldClassCounts(foldOf, labels, 5, 3).map((counts, fold) => ({ fold, counts }))) {
      assert.ok(perClass.counts[0]! >= 4 && perClass.counts[0]! <= 5, `class 0 in fold ${perClass.fold}: ${perClass.counts}`);
      assert.ok(perClass.counts[1]! >= 2 && perClass.counts[1]! <= 3);
      assert.ok(perClass.counts[2]! >= 1 && perClass.counts[2]! <= 2);
    }
    const sizes = [0, 1, 2, 3, 4].map((fold) => foldOf.filter((f) => f === fold).length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `fold sizes ${sizes}`);
    assert.deepEqual(stratifiedFolds(labels, 3, 5, 9), foldOf);
    assert.notDeepEqual(stratifiedFolds(labels, 3, 5, 10), foldOf);
    assert.throws(() => stratifiedFolds(labels, 3, 1, 9), RangeError);
    assert.throws(() => stratifiedFolds(Int32Array.of(0, 1), 2, 3, 9), RangeError);
  });
});

describe('mergeHeads', () => {
  const features = Float32Array.from({ length: 7 * 6 }, (_, i) => Math.sin(i) * 2);
  const meanLogits = (heads: readonly HeadWeights[]) => {
    const all = heads.map((head) => predictLogits(head, features, 7));
    return all[0]!.map((_, i) => all.reduce((sum, logits) => sum + logits[i]!, 0) / heads.length);
  };

  it('linear heads: one linear head whose logits are the mean of theirs (standardizations folded), divided by T', () => {
    const heads = [1, 2, 3, 4, 5].map((seed) => randomHead(seed, 6, [], 4));
    const merged = mergeHeads(heads, { temperature: 2 });
    assert.equal(merged.layers.length, 1);
    assert.equal(merged.standardization, null);
    const expected = meanLogits(heads).map((value) => value / 2);
    assert.ok(maxAbsDiff(predictLogits(merged, features, 7), expected) < 1e-5);
  });

  it('MLP heads: one wider MLP (K heads side by side) whose logits are the mean of theirs', () => {
    const heads = [1, 2, 3].map((seed) => randomHead(seed, 6, [5, 4], 3));
    const merged = mergeHeads(heads);
    assert.deepEqual(merged.layers.map((layer) => [layer.inputDim, layer.outputDim]), [[6, 15], [15, 12], [12, 3]]);
    assert.ok(maxAbsDiff(predictLogits(merged, features, 7), meanLogits(heads)) < 1e-5);
    assert.throws(() => mergeHeads([heads[0]!, randomHead(4, 6, [5], 3)]), RangeError);
  });
});

describe('temperature scaling and ECE', () => {
  it('recovers the temperature labels were drawn with, and lowers the NLL', () => {
    const rng = new Rng(3);
    const rows = 4000, numClasses = 4, trueTemperature = 2.5;
    const logits = Float32Array.from({ length: rows * numClasses }, () => (rng.nextFloat() * 2 - 1) * 6);
    const probabilities = softmaxWithTemperature(logits, numClasses, trueTemperature);
    const labels = Int32Array.from({ length: rows }, (_, row) => {
      let draw = rng.nextFloat(), k = 0;
      while (k < numClasses - 1 && (draw -= probabilities[row * numClasses + k]!) > 0) k++;
      return k;
    });
    const fitted = fitTemperature(logits, labels, numClasses);
    assert.ok(Math.abs(fitted.temperature - trueTemperature) < 0.2, `fitted T = ${fitted.temperature}`);
    assert.ok(fitted.nllAfter < fitted.nllBefore);
    const before = calibrationReport(softmaxWithTemperature(logits, numClasses), labels, numClasses).ece;
    const after = calibrationReport(softmaxWithTemperature(logits, numClasses, fitted.temperature), labels, numClasses).ece;
    assert.ok(after < 0.03 && after < before / 3, `ECE ${before} → ${after}`);
  });

  it('ECE by hand: 15 equal-width bins of the top probability', () => {
    // Two predictions at confidence 0.9 (bin 13), one right; one at 0.6 (bin 9), right.
    const probabilities = Float32Array.of(0.9, 0.1, 0.9, 0.1, 0.4, 0.6);
    const report = calibrationReport(probabilities, [0, 1, 1], 2);
    assert.equal(report.bins.length, 15);
    assert.equal(report.bins[13]!.count, 2);
    assert.equal(report.bins[13]!.accuracy, 0.5);
    assert.equal(report.bins[9]!.count, 1);
    assert.equal(report.bins[0]!.accuracy, null);
    // (2/3)·|0.5 − 0.9| + (1/3)·|1 − 0.6|
    assert.ok(Math.abs(report.ece - ((2 / 3) * 0.4 + (1 / 3) * 0.4)) < 1e-6);
  });
});

describe('crossFit', () => {
  const data = makeBlobs({ numSamples: 150, embeddingDim: 8, numClasses: 3, noise: 1.2, offset: 3, scale: 2, seed: 4 });
  const options = { folds: 5, seed: 13, epochs: 30, learningRate: 0.01, numClasses: 3 };

  it('predicts every row with the head that did not train on it, and exports the calibrated mean of the fold heads', async () => {
    const result = await crossFit(data, options);
    assert.equal(result.folds.length, 5);
    assert.equal(result.folds.reduce((sum, fold) => sum + fold.heldOutCount, 0), 150);
    for (let row = 0; row < data.numSamples; row++) {
      const head = result.folds[result.foldOf[row]!]!.fit.head;
      const own = predictLogits(head, data.features.subarray(row * 8, (row + 1) * 8), 1);
      assert.ok(maxAbsDiff(own, result.oofLogits.subarray(row * 3, (row + 1) * 3)) < 1e-6);
    }
    // Each fold standardized with its own training rows only.
    for (const fold of result.folds) {
      const mean = new Float64Array(8);
      let count = 0;
      for (let row = 0; row < data.numSamples; row++) {
        if (result.foldOf[row] === fold.fold - 1) continue;
        count++;
        for (let f = 0; f < 8; f++) mean[f]! += data.features[row * 8 + f]!;
      }
      assert.ok(maxAbsDiff(fold.fit.head.standardization!.mean, mean.map((value) => value / count)) < 1e-4);
    }
    const expected = mergeHeads(result.folds.map((fold) => fold.fit.head), { temperature: result.temperature });
    assert.ok(maxAbsDiff(predictLogits(result.head, data.features), predictLogits(expected, data.features)) < 1e-6);
    assert.ok(result.cvAccuracy > 0.6 && result.cvAccuracy <= 1);
    assert.ok(result.nllAfter <= result.nllBefore, 'temperature scaling never raises the out-of-fold NLL');
  });

  it('refuses non-finite features once, before any fold trains', async () => {
    const features = data.features.slice();
    features[40 * 8 + 2] = Number.NaN;
    await assert.rejects(crossFit({ ...data, features }, options), (error: Error & { code?: string }) => error.code === 'DATASET_INVALID');
  });

  it('is bit-identical for the same seed and different for another', async () => {
    const [a, b, c] = await Promise.all([crossFit(data, options), crossFit(data, options), crossFit(data, { ...options, seed: 14 })]);
    assert.deepEqual(a.head.layers[0]!.kernel, b.head.layers[0]!.kernel);
    assert.deepEqual(a.oofLogits, b.oofLogits);
    assert.equal(a.temperature, b.temperature);
    assert.notDeepEqual(a.head.layers[0]!.kernel, c.head.layers[0]!.kernel);
    assert.deepEqual(a.folds.map((fold) => fold.seed), b.folds.map((fold) => fold.seed));
  });

  for (const hidden of [[], [4]]) it(`each early-stopped fold keeps the epoch the other folds found best (median, capped at its own last epoch; hidden [${hidden}])`, async () => {
    const options = { folds: 5, seed: 13, epochs: 30, learningRate: 0.1, numClasses: 3, hidden };   // every fold stops early
    const result = await crossFit(data, options);
    const bests = result.folds.map((fold) => fold.fit.bestEpoch!);
    const median = (values: number[]): number => { const s = [...values].sort((a, b) => a - b); return Math.round((s[1]! + s[2]!) / 2); };
    result.folds.forEach((fold, index) =>
      assert.equal(fold.fit.keptEpoch, Math.min(fold.fit.stoppedEpoch, median(bests.filter((_, other) => other !== index))), `fold ${fold.fold}`));
    const earlier = result.folds.filter((fold) => fold.fit.keptEpoch < fold.fit.stoppedEpoch);
    assert.ok(earlier.length > 0, 'some fold keeps an epoch before its last (else this test shows nothing)');
    for (const fold of earlier) {
      // The kept head is the fold's own trajectory at that epoch: the same fit run for exactly keptEpoch epochs.
      const rows = (heldOut: boolean) => Array.from({ length: data.numSamples }, (_, row) => row).filter((row) => (result.foldOf[row] === fold.fold - 1) === heldOut);
      const pick = (picked: number[]) => ({ numSamples: picked.length, embeddingDim: 8, labels: Int32Array.from(picked, (row) => data.labels[row]!),
        features: Float32Array.from(picked.flatMap((row) => [...data.features.subarray(row * 8, row * 8 + 8)])) });
      const replay = await fit(pick(rows(false)), { ...options, seed: fold.seed, epochs: fold.fit.keptEpoch, earlyStopping: null, validation: pick(rows(true)),
        standardization: fold.fit.head.standardization! });
      assert.equal(fold.fit.head.layers.length, hidden.length + 1);
      fold.fit.head.layers.forEach((layer, l) => {
        assert.deepEqual(layer.kernel, replay.head.layers[l]!.kernel, `layer ${l}`);
        assert.deepEqual(layer.bias, replay.head.layers[l]!.bias, `layer ${l}`);
      });
      assert.equal(fold.fit.restoredEpoch, fold.fit.keptEpoch);
    }
    const last = await crossFit(data, { ...options, keptEpochRule: 'last' });
    assert.deepEqual(last.folds.map((fold) => fold.fit.keptEpoch), last.folds.map((fold) => fold.fit.stoppedEpoch));
    assert.notDeepEqual(last.oofLogits, result.oofLogits);
  });

  it('foldStandardizations: each fold\'s training-row statistics, as fitStandardization gives them, from one pass for all folds', () => {
    const features = Float32Array.from(data.features, (value, i) => value * 100 + 1e4 + (i % 8 === 5 ? 0 : Math.sin(i)));
    for (let row = 0; row < data.numSamples; row++) features[row * 8 + 3] = 7.25;   // a constant feature: std 1
    const shifted = { ...data, features };
    const foldOf = stratifiedFolds(data.labels, 3, 4, 2);
    foldStandardizations(shifted, foldOf, 4).forEach(({ mean, std }, fold) => {
      const rows = Array.from({ length: data.numSamples }, (_, row) => row).filter((row) => foldOf[row] !== fold);
      const picked = Float32Array.from(rows.flatMap((row) => [...features.subarray(row * 8, row * 8 + 8)]));
      const expected = fitStandardization(picked, rows.length, 8);
      for (let f = 0; f < 8; f++) {
        assert.ok(Math.abs(mean[f]! - expected.mean[f]!) <= 1e-6 * Math.abs(expected.mean[f]!), `fold ${fold} mean ${f}: ${mean[f]} vs ${expected.mean[f]}`);
        assert.ok(Math.abs(std[f]! - expected.std[f]!) <= 1e-5 * expected.std[f]!, `fold ${fold} std ${f}: ${std[f]} vs ${expected.std[f]}`);
      }
      assert.equal(std[3], 1);
      assert.equal(mean[3], 7.25);
    });
  });

  it('folds trained in a worker thread beside this one give bit-identical results (kept epochs, views, calibration)', async () => {
    const numViews = 2;
    const views = { features: Float32Array.from({ length: data.numSamples * numViews * 8 }, (_, i) => data.features[Math.floor(i / (numViews * 8)) * 8 + (i % 8)]! + 0.1 * Math.sin(i)), numViews };
    const early = { ...options, learningRate: 0.1, views };   // every fold stops early: kept epochs come from snapshots
    const messages: string[] = [];
    const [here, parallel] = [await crossFit(data, { ...early, workers: 0 }),
      await crossFit(data, { ...early, workers: 1, onProgress: (event) => { if (event.status === 'message') messages.push(event.message ?? ''); } })];
    assert.ok(here.folds.some((fold) => fold.fit.keptEpoch < fold.fit.stoppedEpoch), 'some fold keeps an earlier epoch (snapshots cross the thread)');
    assert.deepEqual(parallel.oofLogits, here.oofLogits);
    assert.deepEqual(parallel.head, here.head);
    assert.equal(parallel.temperature, here.temperature);
    assert.deepEqual(parallel.folds.map((fold) => [fold.fit.keptEpoch, fold.fit.history.length, fold.heldOutLoss]),
      here.folds.map((fold) => [fold.fit.keptEpoch, fold.fit.history.length, fold.heldOutLoss]));
    assert.equal(messages.filter((message) => /^Fold \d\/5/.test(message)).length, 5, messages.join('\n'));
    await assert.rejects(crossFit(data, { ...options, workers: -1 }), (error: Error & { code?: string }) => error.code === 'INVALID_OPTION');

    // Every fold in the workers (none here): the same fits, snapshots included, as trainFold in this thread.
    const foldOf = stratifiedFolds(data.labels, 3, 3, 5);
    const jobs: FoldJob[] = [0, 1, 2].map((fold) => ({
      fold, seed: foldSeed(5, fold + 1), snapshotBudgetBytes: 1 << 20,
      trainRows: Int32Array.from(foldOf.keys()).filter((row) => foldOf[row] !== fold), heldOutRows: Int32Array.from(foldOf.keys()).filter((row) => foldOf[row] === fold),
      options: { numClasses: 3, epochs: 12, learningRate: 0.1, hidden: [4], dropout: 0.2, threads: 1 },
    }));
    const inWorkers = await trainFoldsInWorkers(data, views, jobs, 2, undefined, () => {}, { trainHere: false });
    for (const job of jobs) {
      const local = await trainFold(data, views, job);
      assert.deepEqual(inWorkers[job.fold]!.result.head, local.result.head, `fold ${job.fold}`);
      assert.deepEqual(inWorkers[job.fold]!.result.history.map((logs) => logs.valLoss), local.result.history.map((logs) => logs.valLoss));
      assert.deepEqual(inWorkers[job.fold]!.snapshots, local.snapshots);
      assert.equal(local.snapshots!.size, local.result.stoppedEpoch);
    }
    // A fold failing in a worker fails the call with the error's code and message.
    const failing = jobs.map((job) => ({ ...job, options: { ...job.options, batchSize: -1 } }));
    await assert.rejects(trainFoldsInWorkers(data, views, failing, 1, undefined, () => {}, { trainHere: false }),
      (error: Error & { code?: string }) => error.code === 'INVALID_OPTION' && /batch/i.test(error.message));
    // A worker that cannot start leaves its folds to this thread (the results unchanged); with none to fall back on, it fails.
    // (This thread sleeps 2 s before its first fold, so the worker's failure arrives while this thread still trains.)
    const announced: string[] = [];
    const withoutWorker = await trainFoldsInWorkers(data, views, jobs, 1, undefined, (job, where) => {
      if (announced.push(`${job.fold}${where}`) === 1) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
    }, { workerModule: 'no-such-worker' });
    assert.deepEqual(withoutWorker.map((trained) => trained.result.head), inWorkers.map((trained) => trained.result.head));
    assert.deepEqual(announced, ['0', '1', '2']);
    await assert.rejects(trainFoldsInWorkers(data, views, jobs, 1, undefined, () => {}, { trainHere: false, workerModule: 'no-such-worker' }));
  });

  it('fold workers started beforehand (prewarmFoldWorkers) take folds of a small cross-fit, bit-identical to one thread',
    { skip: availableParallelism() < 2 ? 'one core: no fold worker' : false }, async () => {
      // 300 × 1024, 3 classes, 30 epochs: ≈ 0.06 s of estimated fold work, below PARALLEL_FOLDS_MIN_SECONDS, so only a
      // worker already started takes folds.
      const small = makeBlobs({ numSamples: 300, embeddingDim: 1024, numClasses: 3, seed: 5 });
      const smallOptions = { folds: 5, seed: 3, epochs: 30, numClasses: 3 };
      const inWorker = (messages: string[]) => messages.filter((message) => message.endsWith('(worker thread)')).length;
      const run = async () => {
        const messages: string[] = [];
        const result = await crossFit(small, { ...smallOptions, onProgress: (event) => { if (event.status === 'message') messages.push(event.message ?? ''); } });
        return { result, messages };
      };
      await closeIdleTrainWorkers();   // (earlier tests' workers)
      const cold = await run();
      assert.equal(inWorker(cold.messages), 0, 'without a started worker the small cross-fit stays in this thread');
      prewarmFoldWorkers(5);
      for (let waited = 0; idleTrainWorkerCount('cross-fit-worker', true) === 0; waited += 20) {
        assert.ok(waited < 60_000, 'the prewarmed worker gets ready');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const warm = await run();
      assert.ok(inWorker(warm.messages) >= 1, warm.messages.join('\n'));
      assert.deepEqual(warm.result.oofLogits, cold.result.oofLogits);
      assert.deepEqual(warm.result.head, cold.result.head);
      assert.equal(warm.result.temperature, cold.result.temperature);
      assert.equal(idleTrainWorkerCount('cross-fit-worker', true), 1, 'the worker is back in the pool, ready for the next call');
      await closeIdleTrainWorkers();
    });

  it('a process whose fold workers sit idle in the pool exits on its own', { skip: availableParallelism() < 2 ? 'one core' : false }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'finetune-pool-exit-'));
    try {
      const script = join(dir, 'idle-pool.mts');
      const crossFitModule = new URL('../../src/train/cross-fit.ts', import.meta.url).href;
      const workersModule = new URL('../../src/train/train-workers.ts', import.meta.url).href;
      await writeFile(script, [
        `import { crossFit, prewarmFoldWorkers } from ${JSON.stringify(crossFitModule)};`,
        `import { idleTrainWorkerCount } from ${JSON.stringify(workersModule)};`,
        'const numSamples = 60, embeddingDim = 8;',
        'const data = { features: Float32Array.from({ length: numSamples * embeddingDim }, (_, i) => Math.sin(i) + (i % 3)), labels: Int32Array.from({ length: numSamples }, (_, row) => row % 3), numSamples, embeddingDim };',
        'prewarmFoldWorkers(5);',
        'await crossFit(data, { folds: 3, epochs: 3, numClasses: 3, workers: 1 });',
        "while (idleTrainWorkerCount('cross-fit-worker', true) === 0) await new Promise((resolve) => setTimeout(resolve, 20));",
        "process.stdout.write(`idle ${idleTrainWorkerCount('cross-fit-worker')}\\n`);",
      ].join('\n'));
      const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk) => { output += chunk; });
      child.stderr.on('data', (chunk) => { output += chunk; });
      const killer = setTimeout(() => child.kill('SIGKILL'), 45_000);   // far above the ~1–3 s it takes when it exits
      const [code, signal] = await once(child, 'exit') as [number | null, NodeJS.Signals | null];
      clearTimeout(killer);
      assert.equal(signal, null, `killed: the idle workers kept the process alive\n${output}`);
      assert.equal(code, 0, output);
      assert.match(output, /^idle [1-9]/m, 'the process ended with a started worker idle in the pool');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('otherFoldsBestEpochs: the median of the other folds\' best epochs, capped at the fold\'s own kept epoch', () => {
    const fits = [{ bestEpoch: 3, keptEpoch: 8 }, { bestEpoch: 10, keptEpoch: 15 }, { bestEpoch: 5, keptEpoch: 6 }, { bestEpoch: null, keptEpoch: 4 }];
    // fold 1: others 10, 5 → 8 (7.5 rounded); fold 2: 3, 5 → 4; fold 3: 3, 10 → 7, capped at 6; fold 4: 3, 10, 5 → 5, capped at 4.
    assert.deepEqual(otherFoldsBestEpochs(fits), [8, 4, 6, 4]);
    assert.deepEqual(otherFoldsBestEpochs([{ bestEpoch: null, keptEpoch: 7 }, { bestEpoch: null, keptEpoch: 9 }]), [7, 9]);
  });

  it('a held-out row\'s augmented views never reach the fold that holds it out', async () => {
    const numViews = 2;
    const views = Float32Array.from({ length: data.numSamples * numViews * 8 }, (_, i) => data.features[Math.floor(i / (numViews * 8)) * 8 + (i % 8)]! + 0.1);
    // keptEpochRule 'last': the held-out rows' views reach the other folds, so they may move the epoch those folds
    // find best, which (other-folds-best) picks which epoch of fold 1's own trajectory it keeps; the weights of each
    // epoch are what this checks.
    const lastEpoch = { ...options, keptEpochRule: 'last' as const };
    const base = await crossFit(data, { ...lastEpoch, views: { features: views, numViews } });
    const changed = Float32Array.from(views);
    for (let row = 0; row < data.numSamples; row++) {
      if (base.foldOf[row] !== 0) continue;
      for (let i = 0; i < numViews * 8; i++) changed[row * numViews * 8 + i]! += 5;
    }
    const other = await crossFit(data, { ...lastEpoch, views: { features: changed, numViews } });
    assert.deepEqual(other.folds[0]!.fit.head.layers[0]!.kernel, base.folds[0]!.fit.head.layers[0]!.kernel,
      'fold 1 holds those rows out: their views must not change it');
    assert.notDeepEqual(other.folds[1]!.fit.head.layers[0]!.kernel, base.folds[1]!.fit.head.layers[0]!.kernel,
      'the other folds train on those rows and their views');
  });
});
