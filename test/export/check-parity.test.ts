import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FinetuneError } from '../../src/errors.js';
import { checkParity, ParityError } from '../../src/export/check-parity.js';
import { exportClassifier } from '../../src/export/export-classifier.js';
import { writeExportedModel } from '../../src/export/write-exported-model.js';
import { preprocessImage } from '../../src/image/preprocess-image.js';
import type { ModelProto } from '../../src/onnx/proto.js';
import { buildResnetBackbone, buildVggBackbone } from '../../src/onnx/test-backbones.js';
import type { TestBackbone } from '../../src/onnx/test-backbones.js';
import { predictProbabilities } from '../../src/train/predict-probabilities.js';
import type { HeadWeights } from '../../src/types.js';
import { cutTestBackbone, randomHead, runFloat, testSpec, writeImageFolder } from './fixtures.js';

const CLASSES = ['apple', 'pear', 'plum'];
// Shorter side 36 then a 32 crop: resizing and cropping both matter.
const SPEC = testSpec({ resizeMode: 'shorter-side', resizeSize: 36, cropSize: 32 });

let dir: string;
let images: string[];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'finetune-parity-'));
  images = await writeImageFolder(join(dir, 'data'), CLASSES, 2, { size: 44 });
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Trained {
  cut: ModelProto;
  head: HeadWeights;
  /** The trainer's probabilities on the cached features. */
  expected: Float32Array;
}

/** What a training run hands to export: the cut, a head, and predictProbabilities on the embed stage's features. */
async function train(backbone: TestBackbone, hidden?: number): Promise<Trained> {
  const cut = cutTestBackbone(backbone);
  const per = 3 * 32 * 32;
  const input = new Float32Array(images.length * per);
  for (let i = 0; i < images.length; i++) await preprocessImage(images[i]!, SPEC, { out: input, outOffset: i * per });
  const features = await runFloat(cut, 'input', input, [images.length, 3, 32, 32], 'features');
  const head = randomHead(backbone.embeddingDim, CLASSES.length, { hidden, seed: 21 });
  return { cut, head, expected: predictProbabilities(head, features, images.length) };
}

describe('checkParity', () => {
  for (const [kind, build, hidden] of [['VGG-like', buildVggBackbone, 8], ['ResNet-like', buildResnetBackbone, undefined]] as const) {
    for (const withPreprocessing of [true, false]) {
      it(`${kind} ${withPreprocessing ? 'with baked' : 'without'} preprocessing passes in onnxruntime-node and onnxruntime-web`, async () => {
        const { cut, head, expected } = await train(build({ opset: 9 }), hidden);
        const model = exportClassifier(cut, head, { classNames: CLASSES, preprocess: SPEC, withPreprocessing });
        const path = join(dir, `${kind}-${withPreprocessing}.onnx`);
        await writeExportedModel(path, model);
        const messages: string[] = [];
        const report = await checkParity(path, images, expected, {
          preprocess: SPEC, withPreprocessing, numClasses: CLASSES.length,
          onProgress: (event) => { if (event.stage === 'parity') messages.push(event.message); },
        });
        assert.equal(report.ok, true, report.summary);
        assert.equal(report.n, images.length);
        assert.ok(report.maxAbsDiff <= 1e-4, report.summary);
        assert.equal(report.argmaxAgreement, 1);
        assert.equal(report.node.labelOutputOk, true);
        assert.equal(report.webStatus, 'ok');
        assert.ok(report.webMaxAbsDiff !== null && report.webMaxAbsDiff <= 1e-4, report.summary);
        assert.equal(report.web?.quantizedBackbone, false);
        assert.equal(report.web.preprocessingMaxAbsDiff === null, !withPreprocessing);
        assert.ok(report.web.headMaxAbsDiff <= 1e-5 && report.web.backboneMaxAbsDiff <= 1e-4, report.summary);
        assert.match(messages.at(-1) ?? '', /onnxruntime-node on 6 images: max \|Δp\|/);
      });
    }
  }

  it('fails with PARITY_FAILED when the probabilities disagree, and reports by how much', async () => {
    const { cut, head, expected } = await train(buildResnetBackbone({ opset: 12 }));
    const bytes = (await import('../../src/onnx/write-model.js')).encodeModel(
      exportClassifier(cut, head, { classNames: CLASSES, preprocess: SPEC }));
    // Rotate the class columns: the trainer "predicted" something else.
    const wrong = new Float32Array(expected.length);
    for (let row = 0; row < images.length; row++) {
      for (let k = 0; k < 3; k++) wrong[row * 3 + k] = expected[row * 3 + ((k + 1) % 3)]!;
    }
    await assert.rejects(checkParity(bytes, images, wrong, { preprocess: SPEC, withPreprocessing: true, numClasses: 3, web: false }),
      (error: unknown) => error instanceof ParityError && error.code === 'PARITY_FAILED' && !error.report.nodeOk &&
        error.report.webStatus === 'skipped' && error.report.maxAbsDiff > 1e-4);
    const report = await checkParity(bytes, images, wrong, {
      preprocess: SPEC, withPreprocessing: true, numClasses: 3, web: false, throwOnMismatch: false,
    });
    assert.equal(report.ok, false);
    assert.ok(report.argmaxAgreement < 1);
    // A tiny perturbation within the tolerance still passes.
    const close = expected.map((value, index) => value + (index % 2 === 0 ? 5e-5 : -5e-5));
    const fine = await checkParity(bytes, images, close, { preprocess: SPEC, withPreprocessing: true, numClasses: 3, web: false });
    assert.equal(fine.ok, true);
    // A model exported with other preprocessing is refused before running anything.
    await assert.rejects(checkParity(bytes, images, expected, {
      preprocess: { ...SPEC, mean: [0, 0, 0] }, withPreprocessing: true, numClasses: 3, web: false,
    }), (error: unknown) => error instanceof FinetuneError && error.code === 'PARITY_FAILED' && /preprocessing/.test(error.message));
  });

  it('a failed parity check inside writeExportedModel leaves no file behind', async () => {
    const { cut, head, expected } = await train(buildVggBackbone({ opset: 13, width: 4 }), 4);
    const model = exportClassifier(cut, head, { classNames: CLASSES, preprocess: SPEC });
    const out = join(dir, 'atomic');
    const path = join(out, 'model.onnx');
    const wrong = expected.map((value) => 1 - value);
    await assert.rejects(writeExportedModel(path, model, {
      verify: async (tmpPath) => {
        await checkParity(tmpPath, images, wrong, { preprocess: SPEC, withPreprocessing: true, numClasses: 3, web: false });
      },
    }), ParityError);
    assert.deepEqual(await readdir(out), []);
    const written = await writeExportedModel(path, model, {
      verify: async (tmpPath) => {
        await checkParity(tmpPath, images, expected, { preprocess: SPEC, withPreprocessing: true, numClasses: 3, web: false });
      },
    });
    assert.deepEqual(await readdir(out), ['model.onnx']);
    assert.match(written.sha256, /^[0-9a-f]{64}$/);
  });
});

describe('buildParityProbes', () => {
  it('exposes the preprocessing output and features, and cuts out a head that reproduces the model', async () => {
    const { buildParityProbes } = await import('../../src/export/parity-probes.js');
    const ort = await import('onnxruntime-node');
    const backbone = buildResnetBackbone({ opset: 7 });
    const head = randomHead(backbone.embeddingDim, 3, { hidden: 5, seed: 2 });
    const probes = buildParityProbes(exportClassifier(cutTestBackbone(backbone), head, { classNames: CLASSES, preprocess: SPEC }));
    assert.equal(probes.quantizedBackbone, false);
    assert.equal(probes.preprocessedTensor, 'input');
    const probe = await ort.InferenceSession.create(probes.probeModel);
    const pixels = new Uint8Array(2 * 32 * 32 * 3).map((_, index) => (index * 37) % 256);
    const out = await probe.run({ image: new ort.Tensor('uint8', pixels, [2, 32, 32, 3]) });
    const features = out[probes.featureTensor]!.data as Float32Array;
    assert.equal(features.length, 2 * backbone.embeddingDim);
    assert.deepEqual(out['input']!.dims, [2, 3, 32, 32]);
    const headSession = await ort.InferenceSession.create(probes.headModel);
    const headOut = await headSession.run({ [probes.featureTensor]: new ort.Tensor('float32', features, [2, backbone.embeddingDim]) });
    const expected = predictProbabilities(head, features, 2);
    const fromHead = headOut['probabilities']!.data as Float32Array;
    const fromModel = out['probabilities']!.data as Float32Array;
    for (let i = 0; i < 6; i++) {
      assert.ok(Math.abs(fromHead[i]! - fromModel[i]!) <= 1e-6);
      assert.ok(Math.abs(fromHead[i]! - expected[i]!) <= 1e-5);
    }
  });
});
