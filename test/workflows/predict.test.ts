import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FinetuneError } from '../../src/errors.js';
import { exportClassifier, exportHead } from '../../src/export/export-classifier.js';
import { writeExportedModel } from '../../src/export/write-exported-model.js';
import { writeModel } from '../../src/onnx/write-model.js';
import { formatPredictions, predict } from '../../src/workflows/predict.js';
import { colorBackbone, colorHead, testSpec, writeImageFolder } from '../export/fixtures.js';

// Folder names differ from the model's class names: predict must take the names from the model.
const FOLDERS = ['r', 'g', 'b'];
const CLASSES = ['rouge', 'vert', 'bleu'];
const SPEC = testSpec({ resizeMode: 'shorter-side', resizeSize: 36, cropSize: 32 });

let dir: string;
let images: string[];
let modelPath: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-predict-'));
  images = await writeImageFolder(join(dir, 'photos'), FOLDERS, 2, { size: 40 });
  modelPath = join(dir, 'model.onnx');
  await writeExportedModel(modelPath, exportClassifier(colorBackbone(32), colorHead(), { classNames: CLASSES, preprocess: SPEC }));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('predict', () => {
  it('classifies a folder recursively with class names read from the model', async () => {
    const predictions = await predict(modelPath, [join(dir, 'photos')], { device: 'cpu' });
    assert.deepEqual(predictions.map((p) => p.path), [...images].sort());
    for (const prediction of predictions) {
      const folder = prediction.path.split('/').at(-2)!;
      assert.equal(prediction.error, undefined);
      assert.equal(prediction.top.length, 3);
      assert.equal(prediction.top[0]!.className, CLASSES[FOLDERS.indexOf(folder)]);
      assert.ok(prediction.top[0]!.probability >= prediction.top[1]!.probability);
      assert.ok(prediction.top[1]!.probability >= prediction.top[2]!.probability);
      const sum = prediction.top.reduce((total, entry) => total + entry.probability, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5);
    }
  });

  it('keeps the input order, honours --top, and lists undecodable files with their error', async () => {
    const broken = join(dir, 'broken.png');
    await writeFile(broken, 'not a png');
    const inputs = [images[5]!, broken, images[0]!];
    const predictions = await predict(modelPath, inputs, { top: 1, device: 'cpu', batchSize: 2 });
    assert.deepEqual(predictions.map((p) => p.path), inputs);
    assert.deepEqual(predictions[0]!.top.map((t) => t.className), ['bleu']);
    assert.deepEqual(predictions[2]!.top.map((t) => t.className), ['rouge']);
    assert.deepEqual(predictions[1]!.top, []);
    assert.match(predictions[1]!.error ?? '', /broken\.png/);
    const text = formatPredictions(predictions);
    assert.match(text, new RegExp(`${images[5]!}  bleu \\(\\d+\\.\\d%\\)\\n`));
    assert.match(text, /broken\.png {2}error: /);
    const json = JSON.parse(formatPredictions(predictions, { json: true })) as Array<{ path: string; top: unknown[]; error?: string }>;
    assert.equal(json.length, 3);
    assert.equal(json[0]!.path, images[5]);
  });

  it('works on a model exported without baked preprocessing (float input, spec from metadata)', async () => {
    const floatPath = join(dir, 'float.onnx');
    await writeExportedModel(floatPath, exportClassifier(colorBackbone(32), colorHead(), {
      classNames: CLASSES, preprocess: SPEC, withPreprocessing: false,
    }));
    const [withBaked, withFloat] = await Promise.all([
      predict(modelPath, images, { device: 'cpu' }), predict(floatPath, images, { device: 'cpu' }),
    ]);
    for (let i = 0; i < images.length; i++) {
      assert.equal(withFloat[i]!.top[0]!.className, withBaked[i]!.top[0]!.className);
      assert.ok(Math.abs(withFloat[i]!.top[0]!.probability - withBaked[i]!.top[0]!.probability) < 1e-5);
    }
  });

  it('refuses missing inputs, models it did not export, and head-only models, with clear errors', async () => {
    await assert.rejects(predict(modelPath, [join(dir, 'nope.jpg'), join(dir, 'nada')]),
      (error: unknown) => error instanceof FinetuneError && error.code === 'FILE_NOT_FOUND' && /nope\.jpg.*nada/.test(error.message));
    const plainPath = join(dir, 'plain.onnx');
    await writeModel(plainPath, colorBackbone(32));
    await assert.rejects(predict(plainPath, images),
      (error: unknown) => error instanceof FinetuneError && error.code === 'MODEL_INVALID' && /not exported by finetune/.test(error.message));
    const headPath = join(dir, 'head.onnx');
    await writeExportedModel(headPath, exportHead(colorHead(), { classNames: CLASSES }));
    await assert.rejects(predict(headPath, images),
      (error: unknown) => error instanceof FinetuneError && error.code === 'INVALID_OPTION' && /head-only/.test(error.message));
    await assert.rejects(predict(modelPath, images, { top: 0 }),
      (error: unknown) => error instanceof FinetuneError && error.code === 'INVALID_OPTION');
  });
});
