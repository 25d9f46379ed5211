/** Export on top of the real quantized MobileNetV2 from ../shared: onnxruntime-node and onnxruntime-web parity. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkParity } from '../../src/export/check-parity.js';
import { exportClassifier } from '../../src/export/export-classifier.js';
import { writeExportedModel } from '../../src/export/write-exported-model.js';
import { IMAGENET_SPEC } from '../../src/image/preprocess-spec.js';
import { preprocessImage } from '../../src/image/preprocess-image.js';
import { cutBackbone } from '../../src/onnx/cut-backbone.js';
import { readModel } from '../../src/onnx/read-model.js';
import { predictProbabilities } from '../../src/train/predict-probabilities.js';
import { predict } from '../../src/workflows/predict.js';
import { mobilenetInt8Path, skipWithoutShared } from '../helpers/shared.js';
import { randomHead, runFloat, writeImageFolder } from './fixtures.js';

describe('export on mobilenetv2-12-int8', { skip: skipWithoutShared }, () => {
  it('baked-preprocessing export matches the trainer in onnxruntime-node and onnxruntime-web', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'finetune-zoo-export-'));
    try {
      const classNames = ['a', 'b', 'c'];
      const images = await writeImageFolder(join(dir, 'data'), classNames, 2, { size: 300 });
      const cut = cutBackbone(await readModel(mobilenetInt8Path));
      assert.equal(cut.dequantized || cut.embeddingDim > 0, true);
      const spec = IMAGENET_SPEC;
      const per = 3 * 224 * 224;
      const input = new Float32Array(images.length * per);
      for (let i = 0; i < images.length; i++) await preprocessImage(images[i]!, spec, { out: input, outOffset: i * per });
      const features = await runFloat(cut.model, cut.inputName, input, [images.length, 3, 224, 224], 'features');
      const head = randomHead(cut.embeddingDim, 3, { hidden: 32, seed: 4 });
      const expected = predictProbabilities(head, features, images.length);

      const path = join(dir, 'model.onnx');
      await writeExportedModel(path, exportClassifier(cut.model, head, {
        classNames, preprocess: spec, backboneId: 'mobilenetv2-12-int8',
      }));
      const report = await checkParity(path, images, expected, { preprocess: spec, withPreprocessing: true, numClasses: 3 });
      assert.equal(report.nodeOk, true, report.summary);
      assert.ok(report.maxAbsDiff <= 1e-4, report.summary);
      // onnxruntime-web's wasm build runs the com.microsoft QLinear* contrib ops of this model, but its integer
      // arithmetic differs from onnxruntime-node's on x86 (AVX2 u8s8 saturates), so the features differ; what export
      // added (preprocessing, head) must still match exactly.
      assert.equal(report.webStatus, 'ok', report.summary);
      assert.equal(report.web?.quantizedBackbone, true);
      assert.ok(report.web.preprocessingMaxAbsDiff !== null && report.web.preprocessingMaxAbsDiff <= 1e-4, report.summary);
      assert.ok(report.web.headMaxAbsDiff <= 1e-4, report.summary);
      t.diagnostic(report.summary);

      const predictions = await predict(path, images, { device: 'cpu', top: 1 });
      predictions.forEach((prediction, row) => {
        let best = 0;
        for (let k = 1; k < 3; k++) if (expected[row * 3 + k]! > expected[row * 3 + best]!) best = k;
        assert.equal(prediction.top[0]!.className, classNames[best]);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
