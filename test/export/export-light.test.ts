/** Export on top of the light zoo fixtures in ../shared (ResNet50, VGG19, SqueezeNet graphs at opset 9, IR 3). */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkParity } from '../../src/export/check-parity.js';
import { exportClassifier } from '../../src/export/export-classifier.js';
import { writeExportedModel } from '../../src/export/write-exported-model.js';
import { IMAGENET_SPEC } from '../../src/image/preprocess-spec.js';
import { preprocessImage } from '../../src/image/preprocess-image.js';
import { cutBackbone } from '../../src/onnx/cut-backbone.js';
import { opsetVersion } from '../../src/onnx/graph-builder.js';
import { readModel } from '../../src/onnx/read-model.js';
import { predictProbabilities } from '../../src/train/predict-probabilities.js';
import { lightFixture, skipWithoutShared } from '../helpers/shared.js';
import { randomHead, runFloat, writeImageFolder } from './fixtures.js';

const CLASSES = ['one', 'two'];
let dir: string;
let images: string[];

describe('export on the light zoo fixtures', { skip: skipWithoutShared }, () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'finetune-light-export-'));
    images = await writeImageFolder(join(dir, 'data'), CLASSES, 1, { size: 256 });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // Single-threaded wasm needs ~10 s per image for VGG19 at 224×224: its 143M (generated) parameters are over the
  // web budget, so only the parts export added run there; ResNet-50's 25M fit once.
  for (const [name, webImages] of [['resnet50', 1], ['vgg19', 0], ['squeezenet', 2]] as const) {
    it(`${name}: opset 9 kept, parity in onnxruntime-node and (${webImages} images end to end) onnxruntime-web`, async () => {
      const source = await readModel(lightFixture(name));
      const cut = cutBackbone(source);
      const per = 3 * 224 * 224;
      const input = new Float32Array(images.length * per);
      for (let i = 0; i < images.length; i++) await preprocessImage(images[i]!, IMAGENET_SPEC, { out: input, outOffset: i * per });
      const features = await runFloat(cut.model, cut.inputName, input, [images.length, 3, 224, 224], 'features');
      const head = randomHead(cut.embeddingDim, CLASSES.length, { seed: 13 });
      const expected = predictProbabilities(head, features, images.length);
      const model = exportClassifier(cut.model, head, { classNames: CLASSES, preprocess: IMAGENET_SPEC });
      assert.equal(opsetVersion(model), opsetVersion(source));
      const path = join(dir, `${name}.onnx`);
      await writeExportedModel(path, model);
      const report = await checkParity(path, images, expected, {
        preprocess: IMAGENET_SPEC, withPreprocessing: true, numClasses: 2, classNames: CLASSES, features, webBudgetBytes: 150e6,
      });
      assert.equal(report.ok, true, report.summary);
      assert.equal(report.n, 2);
      assert.equal(report.webStatus, 'ok', report.summary);
      assert.equal(report.web?.n ?? 0, webImages, report.summary);
    });
  }
});
