/** runFinetune through the library on a small seeded test backbone: what it writes when an optional artifact fails. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { readRun } from '../../src/run/read-run.js';
import type { ProgressEvent } from '../../src/types.js';
import { runFinetune } from '../../src/workflows/run-finetune.js';
import { makeShapesDataset } from '../../scripts/lib/make-shapes.js';
import sharp from 'sharp';
import { isFinetuneError } from '../../src/errors.js';
import type { RunFinetuneResult } from '../../src/workflows/run-finetune.js';
import { useShapesWorkspace } from '../helpers/shapes-workspace.js';

// The test set: a resized, recompressed copy of a training image, and one other image.
const { dir, backbonePath } = useShapesWorkspace('finetune-run-', { perClass: 6, size: 40, backboneSeed: 3 }, async ({ dir }) => {
  await mkdir(join(dir, 'test', 'circle'), { recursive: true });
  await sharp(join(dir, 'shapes', 'circle', 'circle-000.jpg')).resize(33, 33).jpeg({ quality: 90 }).toFile(join(dir, 'test', 'circle', 'copy.jpg'));
  await makeShapesDataset(join(dir, 'other'), { perClass: 1, size: 40, seed: 99 });
  await mkdir(join(dir, 'test', 'square'), { recursive: true });
  await sharp(join(dir, 'other', 'square', 'square-000.jpg')).toFile(join(dir, 'test', 'square', 'other.jpg'));
});

describe('runFinetune cross-fits by default (issue 12)', () => {
  let run: RunFinetuneResult;
  const events: ProgressEvent[] = [];
  const options = () => ({
    backbone: backbonePath, data: join(dir, 'shapes'), test: join(dir, 'test'), home: join(dir, 'home'), device: 'cpu' as const,
    webParity: false, train: { epochs: 8 },
  });
  before(async () => {
    run = await runFinetune({ ...options(), out: join(dir, 'cv'), onProgress: (event) => events.push(event) });
  });

  it('predicts every labelled image out of fold: cross-validated accuracy with a Wilson interval, calibration, per-fold summaries', async () => {
    assert.equal(run.fit, null);
    assert.equal(run.crossFit?.folds.length, 5);
    const cv = run.crossValidation!;
    assert.equal(cv.n, 18);
    assert.equal(cv.folds, 5);
    assert.ok(cv.accuracyInterval[0] <= cv.accuracy && cv.accuracy <= cv.accuracyInterval[1]);
    assert.equal(cv.perClassAccuracy.length, 3);
    assert.ok(cv.calibration.nllAfter <= cv.calibration.nllBefore);
    assert.equal(cv.calibration.reliabilityAfter.length, 15);
    const saved = await readRun(join(dir, 'cv'));
    assert.equal(saved.metrics?.training, null);
    assert.deepEqual(saved.metrics?.crossValidation, cv);
    assert.equal(saved.metrics?.crossFit?.foldResults.length, 5);
    assert.equal(saved.manifest?.crossFit?.folds, 5);
    assert.equal(saved.manifest?.crossFit?.foldSeeds.length, 5);
    assert.equal(saved.manifest?.crossFit?.kernelInitializer, run.crossFit?.kernelInitializer);
    assert.equal(saved.manifest?.split.validationCount, 0, 'no image is held out of training for validation');
    assert.deepEqual([...new Set(saved.history?.map((entry) => entry.fold))], [1, 2, 3, 4, 5]);
    assert.ok(saved.labelIssues !== null && saved.files.labelIssues !== undefined);
    const html = await readFile(run.files.report!, 'utf8');
    for (const id of ['cross-validation', 'reliability-diagram', 'label-issues', 'near-duplicates']) assert.match(html, new RegExp(`id="${id}"`));
  });

  it('exports the calibrated mean of the fold heads: the model reproduces the trainer\'s calibrated probabilities', () => {
    assert.ok(run.parity !== null && run.parity.n > 0);
    assert.ok(run.parity.maxAbsDiff <= 1e-5, `max |Δp| ${run.parity.maxAbsDiff}`);
  });

  it('reports a resized copy of a training image in the test set as a near duplicate across the split, and warns', async () => {
    assert.deepEqual(run.nearDuplicates, { threshold: 0.98, clusters: 1, images: 2, crossSplitClusters: 1 });
    const rows = (await readRun(join(dir, 'cv'))).nearDuplicates!;
    assert.deepEqual(rows.map((row) => [row.cluster, row.split, row.path.split('/').slice(-2).join('/')]),
      [[1, 'train', 'circle/circle-000.jpg'], [1, 'test', 'circle/copy.jpg']]);
    assert.ok(events.some((event) => event.stage === 'warn' && /near-duplicate images span training and test/.test(event.message)));
  });

  it('the same seed gives bit-identical weights; run.json records the folds, their seeds and the initializer', async () => {
    const again = await runFinetune({ ...options(), out: join(dir, 'cv-again'), export: 'head' });
    assert.deepEqual(await readFile(join(dir, 'cv-again', 'head.onnx')), await readFile(join(dir, 'cv', 'head.onnx')));
    assert.deepEqual(again.crossFit!.oofLogits, run.crossFit!.oofLogits);
    const other = await runFinetune({ ...options(), out: join(dir, 'cv-other'), export: 'head', seed: 7 });
    assert.notDeepEqual(other.crossFit!.folds.map((fold) => fold.seed), run.crossFit!.folds.map((fold) => fold.seed));
  });

  it('an MLP head: the K fold heads are averaged inside one exported graph, which reproduces the trainer', async () => {
    const mlp = await runFinetune({ ...options(), out: join(dir, 'cv-mlp'), folds: 3, train: { epochs: 4, hidden: [6] }, duplicateThreshold: null });
    assert.deepEqual(mlp.crossFit!.head.layers.map((layer) => [layer.inputDim, layer.outputDim]), [[128, 18], [18, 3]],
      'three 128→6→3 heads side by side: 128→18→3');
    assert.ok(mlp.parity !== null && mlp.parity.maxAbsDiff <= 1e-5, `max |Δp| ${mlp.parity?.maxAbsDiff}`);
  });

  it('--validation-split needs --folds 1, and the folds cannot outnumber the images', async () => {
    await assert.rejects(runFinetune({ ...options(), out: join(dir, 'bad'), validationSplit: 0.3 }),
      (error) => isFinetuneError(error) && error.code === 'INVALID_OPTION' && /--folds 1/.test(error.hint ?? ''));
    await assert.rejects(runFinetune({ ...options(), out: join(dir, 'bad'), folds: 19 }),
      (error) => isFinetuneError(error) && error.code === 'DATASET_INVALID' && /18 labelled images/.test(error.message));
  });
});

describe('runFinetune', () => {
  it('a report that cannot be written is a warning: model.onnx, metrics.json and run.json are all written (issue 14, defect 2)', async () => {
    const out = join(dir, 'run');
    // report.html is a non-empty folder, so the report's atomic rename fails.
    await mkdir(join(out, 'report.html'), { recursive: true });
    await writeFile(join(out, 'report.html', 'keep'), 'x');
    const events: ProgressEvent[] = [];
    const result = await runFinetune({
      backbone: backbonePath, data: join(dir, 'shapes'), out, home: join(dir, 'home'), device: 'cpu', webParity: false,
      folds: 1, train: { epochs: 3 }, onProgress: (event) => events.push(event),
    });
    const warnings = events.flatMap((event) => (event.stage === 'warn' ? [event.message] : []));
    assert.ok(warnings.some((message) => /report\.html was not written/.test(message) && /finetune report/.test(message)),
      `warnings: ${warnings.join(' | ')}`);
    assert.equal(result.files.report, undefined);
    for (const key of ['model', 'head', 'metrics', 'manifest', 'historyJson', 'labels', 'skipped'] as const) {
      assert.ok(result.files[key] !== undefined && existsSync(result.files[key]!), `${key} is missing`);
    }
    const run = await readRun(out);
    assert.equal(run.manifest?.training?.epochs, 3);
    assert.equal(run.metrics?.validation?.n, result.validation?.n);
  });
});
