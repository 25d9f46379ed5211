import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FinetuneError } from '../../src/errors.js';
import { checkParity, ParityError, pickSample } from '../../src/export/check-parity.js';
import type { ParityReport } from '../../src/export/check-parity.js';
import { buildParityProbes } from '../../src/export/parity-probes.js';
import { exportClassifier } from '../../src/export/export-classifier.js';
import { writeExportedModel } from '../../src/export/write-exported-model.js';
import { preprocessImage } from '../../src/image/preprocess-image.js';
import { makeTensor } from '../../src/onnx/graph-builder.js';
import type { ModelProto } from '../../src/onnx/proto.js';
import { encodeModel } from '../../src/onnx/write-model.js';
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
  /** The cached features of `images`. */
  features: Float32Array;
  /** The trainer's probabilities on the cached features. */
  expected: Float32Array;
}

/** Class index of each image: writeImageFolder writes them class by class. */
const LABELS = Int32Array.from({ length: 6 }, (_, index) => Math.floor(index / 2));

/** What a training run hands to export: the cut, a head, and predictProbabilities on the embed stage's features. */
async function train(backbone: TestBackbone, hidden?: number): Promise<Trained> {
  const cut = cutTestBackbone(backbone);
  const per = 3 * 32 * 32;
  const input = new Float32Array(images.length * per);
  for (let i = 0; i < images.length; i++) await preprocessImage(images[i]!, SPEC, { out: input, outOffset: i * per });
  const features = await runFloat(cut, 'input', input, [images.length, 3, 32, 32], 'features');
  const head = randomHead(backbone.embeddingDim, CLASSES.length, { hidden, seed: 21 });
  return { cut, head, features, expected: predictProbabilities(head, features, images.length) };
}

/** Every option a training run passes, for a model exported with SPEC and baked preprocessing. */
function runOptions(trained: Trained) {
  return { preprocess: SPEC, withPreprocessing: true, numClasses: 3, classNames: CLASSES, features: trained.features, labels: LABELS };
}

function failsWith(part: string, pattern: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof ParityError, `expected a ParityError, got ${String(error)}`);
    assert.equal(error.code, 'PARITY_FAILED');
    assert.ok(error.report.checks.some((check) => check.part === part && check.checked && !check.ok), error.message);
    assert.match(error.message, pattern);
    return true;
  };
}

describe('checkParity', () => {
  for (const [kind, build, hidden] of [['VGG-like', buildVggBackbone, 8], ['ResNet-like', buildResnetBackbone, undefined]] as const) {
    for (const withPreprocessing of [true, false]) {
      it(`${kind} ${withPreprocessing ? 'with baked' : 'without'} preprocessing passes every part in onnxruntime-node and onnxruntime-web`, async () => {
        const trained = await train(build({ opset: 9 }), hidden);
        const model = exportClassifier(trained.cut, trained.head, { classNames: CLASSES, preprocess: SPEC, withPreprocessing });
        const path = join(dir, `${kind}-${withPreprocessing}.onnx`);
        await writeExportedModel(path, model);
        const messages: string[] = [];
        const report = await checkParity(path, images, trained.expected, {
          ...runOptions(trained), withPreprocessing,
          onProgress: (event) => { if (event.stage === 'parity') messages.push(event.message); },
        });
        assert.equal(report.ok, true, report.summary);
        // 4 images end to end (the sample covers the 3 classes), the head on all 6 cached vectors.
        assert.equal(report.n, 4);
        assert.ok(report.maxAbsDiff <= 1e-4, report.summary);
        assert.equal(report.argmaxAgreement, 1);
        assert.equal(report.node.labelOutputOk, true);
        const parts = (runtime: string) => report.checks.filter((check) => check.runtime === runtime && check.checked).map((check) => check.part).sort();
        assert.deepEqual(parts('onnxruntime-node'),
          ['class-names', 'end-to-end', 'features', 'head', ...(withPreprocessing ? ['preprocessing'] : [])].sort());
        assert.deepEqual(parts('onnxruntime-web'), ['end-to-end', 'head', ...(withPreprocessing ? ['preprocessing'] : [])].sort());
        assert.equal(report.checks.find((check) => check.part === 'head')?.n, 6);
        assert.equal(report.webStatus, 'ok');
        assert.ok(report.webMaxAbsDiff !== null && report.webMaxAbsDiff <= 1e-4, report.summary);
        assert.equal(report.web?.quantizedBackbone, false);
        assert.equal(report.web.preprocessingMaxAbsDiff === null, !withPreprocessing);
        assert.ok(report.web.headMaxAbsDiff <= 1e-5 && report.web.backboneMaxAbsDiff <= 1e-4, report.summary);
        assert.match(messages.at(-1) ?? '', /^onnxruntime-node: end to end on 4 images: max \|Δp\| .*the head on 6 cached vectors/);
      });
    }
  }

  it('picks a sample of 4 to 8 images that covers the classes', () => {
    assert.deepEqual(pickSample(6, LABELS, 4), [0, 1, 2, 4]);
    assert.deepEqual(pickSample(6, undefined, 4), [0, 1, 2, 3]);
    assert.deepEqual(pickSample(3, [0, 0, 1], 8), [0, 1, 2]);
    const many = Int32Array.from({ length: 100 }, (_, index) => index % 20);
    assert.equal(new Set(pickSample(100, many, 8).map((index) => many[index])).size, 8);
  });

  it('fails with PARITY_FAILED when the probabilities disagree, and reports by how much', async () => {
    const trained = await train(buildResnetBackbone({ opset: 12 }));
    const { cut, head, expected } = trained;
    const bytes = (await import('../../src/onnx/write-model.js')).encodeModel(
      exportClassifier(cut, head, { classNames: CLASSES, preprocess: SPEC }));
    // Rotate the class columns: the trainer "predicted" something else.
    const wrong = new Float32Array(expected.length);
    for (let row = 0; row < images.length; row++) {
      for (let k = 0; k < 3; k++) wrong[row * 3 + k] = expected[row * 3 + ((k + 1) % 3)]!;
    }
    await assert.rejects(checkParity(bytes, images, wrong, { ...runOptions(trained), web: false }),
      (error: unknown) => failsWith('head', /the head's probabilities differ from the trainer's on the cached vectors/)(error) &&
        error instanceof ParityError && !error.report.nodeOk && error.report.webStatus === 'skipped' && error.report.maxAbsDiff > 1e-4);
    const report = await checkParity(bytes, images, wrong, { ...runOptions(trained), web: false, throwOnMismatch: false });
    assert.equal(report.ok, false);
    assert.ok(report.argmaxAgreement < 1);
    // A tiny perturbation within the tolerance still passes.
    const close = expected.map((value, index) => value + (index % 2 === 0 ? 5e-5 : -5e-5));
    const fine = await checkParity(bytes, images, close, { ...runOptions(trained), web: false });
    assert.equal(fine.ok, true, fine.summary);
    // A model exported with other preprocessing is refused before running anything.
    await assert.rejects(checkParity(bytes, images, expected, { ...runOptions(trained), preprocess: { ...SPEC, mean: [0, 0, 0] }, web: false }),
      (error: unknown) => error instanceof FinetuneError && error.code === 'PARITY_FAILED' && /preprocessing/.test(error.message));
  });

  it('catches a wrong mean/std baked into the graph: the preprocessing part differs', async () => {
    const trained = await train(buildVggBackbone({ opset: 13, width: 4 }), 4);
    const model = exportClassifier(trained.cut, trained.head, { classNames: CLASSES, preprocess: SPEC });
    // The metadata says SPEC, but the graph divides by the wrong std: an export bug, not a user mistake.
    const std = model.graph!.initializer.find((tensor) => tensor.name === 'finetune/preprocess/std')!;
    const broken = { ...model, graph: { ...model.graph!, initializer: model.graph!.initializer.map((tensor) =>
      (tensor === std ? makeTensor(tensor.name!, 'float32', [3], [0.5, 0.5, 0.5]) : tensor)) } };
    for (const web of [false, true]) {
      await assert.rejects(writeExportedModel(join(dir, 'broken-std', 'model.onnx'), broken, {
        verify: (written) => checkParity({ written, model: broken }, images, trained.expected, { ...runOptions(trained), web }).then(() => undefined),
      }), failsWith('preprocessing', /onnxruntime-node: the baked preprocessing differs from the embedding stage's \(check the mean, std and scale/));
    }
    assert.deepEqual(await readdir(join(dir, 'broken-std')), [], 'nothing is left behind');
  });

  it('catches a swapped class order: in the names (class-names part) or in the head\'s columns (head part)', async () => {
    const trained = await train(buildResnetBackbone({ opset: 13, width: 4 }));
    const swapped = ['pear', 'apple', 'plum'];
    const renamed = exportClassifier(trained.cut, trained.head, { classNames: swapped, preprocess: SPEC });
    await assert.rejects(checkParity(encodeModel(renamed), images, trained.expected, { ...runOptions(trained), web: false }),
      failsWith('class-names', /the class order differs: the model has \[pear, apple, plum\], the run \[apple, pear, plum\]/));
    // The head's first two output columns swapped, names kept: the head no longer computes the trainer's probabilities.
    const layer = trained.head.layers.at(-1)!;
    const kernel = layer.kernel.slice(), bias = layer.bias.slice();
    for (let row = 0; row < layer.inputDim; row++) [kernel[row * 3], kernel[row * 3 + 1]] = [kernel[row * 3 + 1]!, kernel[row * 3]!];
    [bias[0], bias[1]] = [bias[1]!, bias[0]!];
    const swappedHead = { ...trained.head, layers: [...trained.head.layers.slice(0, -1), { ...layer, kernel, bias }] };
    const permuted = exportClassifier(trained.cut, swappedHead, { classNames: CLASSES, preprocess: SPEC });
    await assert.rejects(checkParity(encodeModel(permuted), images, trained.expected, { ...runOptions(trained), web: true }),
      failsWith('head', /onnxruntime-node: the head's probabilities differ from the trainer's on the cached vectors: max \|Δp\| .* on ".*"/));
  });

  it('catches a backbone that is not the one the cache was built with: the features part differs', async () => {
    const trained = await train(buildVggBackbone({ opset: 13, width: 4, seed: 1 }), 4);
    const other = cutTestBackbone(buildVggBackbone({ opset: 13, width: 4, seed: 2 }));
    const model = exportClassifier(other, trained.head, { classNames: CLASSES, preprocess: SPEC });
    await assert.rejects(checkParity(encodeModel(model), images, trained.expected, { ...runOptions(trained), web: false }),
      failsWith('features', /the backbone's features differ from the cached vectors the head was trained on/));
  });

  it('a failed parity check inside writeExportedModel leaves no file behind', async () => {
    const trained = await train(buildVggBackbone({ opset: 13, width: 4 }), 4);
    const model = exportClassifier(trained.cut, trained.head, { classNames: CLASSES, preprocess: SPEC });
    const out = join(dir, 'atomic');
    const path = join(out, 'model.onnx');
    const wrong = trained.expected.map((value) => 1 - value);
    await assert.rejects(writeExportedModel(path, model, {
      verify: async (written) => {
        await checkParity({ written, model }, images, wrong, { ...runOptions(trained), web: false });
      },
    }), ParityError);
    assert.deepEqual(await readdir(out), []);
    const written = await writeExportedModel(path, model, {
      verify: async (files) => {
        await checkParity({ written: files, model }, images, trained.expected, { ...runOptions(trained), web: false });
      },
    });
    assert.deepEqual(await readdir(out), ['model.onnx']);
    assert.match(written.sha256, /^[0-9a-f]{64}$/);
  });

  it('with external data: model.onnx + model.onnx.data, checked in onnxruntime-node and -web, moved into place together', async () => {
    const trained = await train(buildVggBackbone({ opset: 13, width: 4 }), 4);
    const model = exportClassifier(trained.cut, trained.head, { classNames: CLASSES, preprocess: SPEC });
    const out = join(dir, 'external');
    let report: ParityReport | undefined;
    const written = await writeExportedModel(join(out, 'model.onnx'), model, {
      externalData: true,
      verify: async (files) => { report = await checkParity({ written: files, model }, images, trained.expected, runOptions(trained)); },
    });
    assert.deepEqual((await readdir(out)).sort(), ['model.onnx', 'model.onnx.data']);
    assert.equal(written.externalData?.path, join(out, 'model.onnx.data'));
    assert.equal(report?.ok, true, report?.summary);
    assert.equal(report.web?.n, 4, 'onnxruntime-web ran the model with its external data end to end');
    // The pair works on its own from the final folder, and a later inline export removes the stale data file.
    const again = await checkParity(join(out, 'model.onnx'), images, trained.expected, { ...runOptions(trained), web: false });
    assert.equal(again.ok, true, again.summary);
    await writeExportedModel(join(out, 'model.onnx'), model);
    assert.deepEqual(await readdir(out), ['model.onnx']);
  });

  it('onnxruntime-web runs the full model only within its budget, and says so when it does not', async () => {
    const trained = await train(buildVggBackbone({ opset: 13, width: 4 }), 4);
    const bytes = encodeModel(exportClassifier(trained.cut, trained.head, { classNames: CLASSES, preprocess: SPEC }));
    const report = await checkParity(bytes, images, trained.expected, { ...runOptions(trained), webBudgetBytes: 1000 });
    assert.equal(report.ok, true, report.summary);
    assert.equal(report.web, null);
    assert.equal(report.webStatus, 'ok');
    assert.deepEqual(report.checks.filter((check) => check.runtime === 'onnxruntime-web' && check.checked).map((check) => check.part).sort(),
      ['head', 'preprocessing']);
    assert.match(report.summary, /onnxruntime-web \(wasm\): .*end to end skipped: the model has 0 MB of parameters, over the 0 MB budget/);
  });
});

describe('buildParityProbes', () => {
  it('exposes the preprocessing output and features, and cuts out a head and a preprocessing model', async () => {
    const ort = await import('onnxruntime-node');
    const backbone = buildResnetBackbone({ opset: 7 });
    const head = randomHead(backbone.embeddingDim, 3, { hidden: 5, seed: 2 });
    const probes = buildParityProbes(exportClassifier(cutTestBackbone(backbone), head, { classNames: CLASSES, preprocess: SPEC }));
    assert.equal(probes.quantizedBackbone, false);
    assert.equal(probes.preprocessedTensor, 'input');
    const probe = await ort.InferenceSession.create(encodeModel(probes.probe));
    const pixels = new Uint8Array(2 * 32 * 32 * 3).map((_, index) => (index * 37) % 256);
    const image = new ort.Tensor('uint8', pixels, [2, 32, 32, 3]);
    const out = await probe.run({ image });
    const features = out[probes.featureTensor]!.data as Float32Array;
    assert.equal(features.length, 2 * backbone.embeddingDim);
    assert.deepEqual(out['input']!.dims, [2, 3, 32, 32]);
    const headSession = await ort.InferenceSession.create(encodeModel(probes.head));
    const headOut = await headSession.run({ [probes.featureTensor]: new ort.Tensor('float32', features, [2, backbone.embeddingDim]) });
    const expected = predictProbabilities(head, features, 2);
    const fromHead = headOut['probabilities']!.data as Float32Array;
    const fromModel = out['probabilities']!.data as Float32Array;
    for (let i = 0; i < 6; i++) {
      assert.ok(Math.abs(fromHead[i]! - fromModel[i]!) <= 1e-6);
      assert.ok(Math.abs(fromHead[i]! - expected[i]!) <= 1e-5);
    }
    const preprocessing = await ort.InferenceSession.create(encodeModel(probes.preprocessing!));
    assert.deepEqual((await preprocessing.run({ image }))['input']!.data, out['input']!.data);
  });
});
