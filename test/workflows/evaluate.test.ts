import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FinetuneError } from '../../src/errors.js';
import { exportClassifier } from '../../src/export/export-classifier.js';
import { writeExportedModel } from '../../src/export/write-exported-model.js';
import { evaluate, formatEvaluation } from '../../src/workflows/evaluate.js';
import { colorBackbone, colorHead, testSpec, writeImageFolder } from '../export/fixtures.js';

const CLASSES = ['red', 'green', 'blue'];
const SPEC = testSpec({ resizeMode: 'shorter-side', resizeSize: 36, cropSize: 32 });

let dir: string;
let modelPath: string;
let misfiled: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-evaluate-'));
  const images = await writeImageFolder(join(dir, 'data'), CLASSES, 3, { size: 40 });
  // One blue image filed under red: the model (rightly) says blue, so evaluation counts it wrong.
  misfiled = join(dir, 'data', 'red', 'zz-actually-blue.png');
  await copyFile(images[6]!, misfiled);
  await writeFile(join(dir, 'data', 'green', 'notes.txt'), 'not an image');
  modelPath = join(dir, 'model.onnx');
  await writeExportedModel(modelPath, exportClassifier(colorBackbone(32), colorHead(), { classNames: CLASSES, preprocess: SPEC }));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('evaluate', () => {
  it('computes accuracy, per-class metrics, the confusion matrix and the most confidently wrong files', async () => {
    const report = await evaluate(modelPath, join(dir, 'data'), { device: 'cpu' });
    assert.equal(report.n, 10);
    assert.equal(report.accuracy, 9 / 10);
    assert.deepEqual(report.classNames, CLASSES);
    // rows: true red (3 right + 1 predicted blue), green, blue
    assert.deepEqual(report.confusionMatrix, [[3, 0, 1], [0, 3, 0], [0, 0, 3]]);
    const [red, green, blue] = report.perClass;
    assert.deepEqual(red, { className: 'red', precision: 1, recall: 3 / 4, f1: (2 * 0.75) / 1.75, support: 4 });
    assert.deepEqual(green, { className: 'green', precision: 1, recall: 1, f1: 1, support: 3 });
    assert.equal(blue!.precision, 3 / 4);
    assert.equal(blue!.recall, 1);
    assert.equal(report.mostConfidentlyWrong.length, 1);
    assert.equal(report.mostConfidentlyWrong[0]!.path, misfiled);
    assert.equal(report.mostConfidentlyWrong[0]!.trueClass, 'red');
    assert.equal(report.mostConfidentlyWrong[0]!.predictedClass, 'blue');
    assert.ok(report.mostConfidentlyWrong[0]!.probability > 0.5);
    assert.deepEqual(report.skipped.map((file) => file.path), [join(dir, 'data', 'green', 'notes.txt')]);

    const text = formatEvaluation(report);
    assert.match(text, /^Accuracy: 90\.0% on 10 images \(3 classes\)/);
    assert.match(text, /\nred +1\.000 +0\.750 +0\.857 +4\n/);
    assert.match(text, /#0 red +3 +0 +1\n/);
    assert.match(text, /zz-actually-blue\.png {2}true red, predicted blue/);
    assert.deepEqual(JSON.parse(formatEvaluation(report, { json: true })).confusionMatrix, report.confusionMatrix);
  });

  it('accepts a folder with only some of the model classes', async () => {
    const partial = join(dir, 'partial');
    await mkdir(join(partial, 'green'), { recursive: true });
    await copyFile(join(dir, 'data', 'green', 'green-0.png'), join(partial, 'green', 'a.png'));
    const report = await evaluate(modelPath, partial, { device: 'cpu' });
    assert.equal(report.n, 1);
    assert.equal(report.accuracy, 1);
    assert.deepEqual(report.perClass.map((row) => row.support), [0, 1, 0]);
  });

  it('names folders that are not classes of the model', async () => {
    const other = join(dir, 'other');
    await mkdir(join(other, 'purple'), { recursive: true });
    await mkdir(join(other, 'red'), { recursive: true });
    await copyFile(misfiled, join(other, 'purple', 'x.png'));
    await copyFile(misfiled, join(other, 'red', 'x.png'));
    await assert.rejects(evaluate(modelPath, other, { device: 'cpu' }), (error: unknown) =>
      error instanceof FinetuneError && error.code === 'DATASET_INVALID' && /"purple"/.test(error.message) &&
      /red, green, blue/.test(error.hint ?? '') && !/"red"/.test(error.message));
  });
});
