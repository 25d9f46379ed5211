import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { FinetuneError } from '../../src/errors.js';
import { exportClassifier, exportHead } from '../../src/export/export-classifier.js';
import { METADATA_KEYS } from '../../src/export/exported-model-format.js';
import { readExportedModelInfo } from '../../src/export/exported-model-format.js';
import { makeGraph, makeModel, makeNode, makeValueInfo, opsetVersion } from '../../src/onnx/graph-builder.js';
import { buildResnetBackbone, buildVggBackbone } from '../../src/onnx/test-backbones.js';
import { encodeModel } from '../../src/onnx/write-model.js';
import { normalizePixels } from '../../src/image/preprocess-image.js';
import { predictProbabilities } from '../../src/train/predict-probabilities.js';
import type { PreprocessSpec } from '../../src/types.js';
import {
  argmax, cutTestBackbone, flattenBackbone, maxAbsDiff, randomHead, randomPixels, runExported, runFloat, testSpec,
} from './fixtures.js';

const CLASSES = ['cat', 'dog', 'bird'];

/** Float backbone input for `n` uint8 HWC crops, via the embed stage's own normalisation. */
function normalizeBatch(pixels: Uint8Array, n: number, spec: PreprocessSpec): Float32Array {
  const per = spec.cropSize * spec.cropSize * 3;
  const out = new Float32Array(n * per);
  for (let i = 0; i < n; i++) normalizePixels(pixels.subarray(i * per, (i + 1) * per), spec, out, i * per);
  return out;
}

async function checkBackbone(kind: 'vgg' | 'resnet', opset: number, withPreprocessing: boolean): Promise<void> {
  const backbone = kind === 'vgg' ? buildVggBackbone({ opset }) : buildResnetBackbone({ opset });
  const cut = cutTestBackbone(backbone);
  const spec = testSpec({ channelOrder: kind === 'vgg' ? 'BGR' : 'RGB' });
  const head = randomHead(backbone.embeddingDim, CLASSES.length, { hidden: kind === 'vgg' ? 16 : undefined, seed: opset });
  const n = 3;
  const pixels = randomPixels(n * 32 * 32 * 3, opset + 1);
  const input = normalizeBatch(pixels, n, spec);
  const features = await runFloat(cut, 'input', input, [n, 3, 32, 32], 'features');
  const expected = predictProbabilities(head, features, n);

  const exported = exportClassifier(cut, head, { classNames: CLASSES, preprocess: spec, withPreprocessing });
  assert.equal(opsetVersion(exported), opset, 'the backbone opset is kept');
  const tensor = withPreprocessing ? new ort.Tensor('uint8', pixels, [n, 32, 32, 3]) : new ort.Tensor('float32', input, [n, 3, 32, 32]);
  const inputName = withPreprocessing ? 'image' : 'input';
  const result = await runExported(exported, inputName, tensor);
  assert.deepEqual(result.dims, [n, CLASSES.length]);
  assert.ok(maxAbsDiff(result.probabilities, expected) <= 1e-4, `max diff ${maxAbsDiff(result.probabilities, expected)}`);
  for (let row = 0; row < n; row++) {
    assert.equal(argmax(result.probabilities, row, CLASSES.length), argmax(expected, row, CLASSES.length));
    assert.equal(result.label[row], CLASSES[argmax(result.probabilities, row, CLASSES.length)]);
  }
  assert.deepEqual(result.labels, CLASSES);
}

describe('exportClassifier', () => {
  for (const opset of [7, 9, 12, 13]) {
    for (const kind of ['vgg', 'resnet'] as const) {
      it(`${kind}-like opset ${opset}: probabilities, label and labels match the head, with baked preprocessing`, async () => {
        await checkBackbone(kind, opset, true);
      });
    }
  }
  for (const kind of ['vgg', 'resnet'] as const) {
    it(`${kind}-like without preprocessing keeps the float input and matches the head`, async () => {
      await checkBackbone(kind, 13, false);
    });
  }

  it('bakes NHWC and BGR preprocessing: Cast, Mul, Sub, Div, Gather, named finetune/preprocess/*', async () => {
    const size = 4;
    const spec = testSpec({ resizeSize: size, cropSize: size, layout: 'NHWC', channelOrder: 'BGR', scale: 1, mean: [10, 20, 30], std: [2, 4, 8] });
    const cut = flattenBackbone(size);
    const head = randomHead(size * size * 3, 2, { seed: 3 });
    const exported = exportClassifier(cut, head, { classNames: ['a', 'b'], preprocess: spec });
    const ops = exported.graph!.node.filter((node) => node.name?.startsWith('finetune/preprocess/')).map((node) => node.op_type);
    assert.deepEqual(ops, ['Cast', 'Mul', 'Sub', 'Div', 'Gather']);
    assert.ok(exported.graph!.node.every((node) => node.name === 'flatten' || node.name?.startsWith('finetune/')));
    const pixels = randomPixels(2 * size * size * 3, 5);
    const features = normalizeBatch(pixels, 2, spec);
    // By hand for the first pixel: BGR puts blue first, (b·1 − 30) / 8.
    assert.equal(features[0], (pixels[2]! - 30) / 8);
    const expected = predictProbabilities(head, features, 2);
    const result = await runExported(exported, 'image', new ort.Tensor('uint8', pixels, [2, size, size, 3]));
    assert.ok(maxAbsDiff(result.probabilities, expected) <= 1e-5);
  });

  it('stores class names, preprocessing, input type and provenance in metadata_props', async () => {
    const backbone = buildResnetBackbone({ opset: 12 });
    const spec = testSpec();
    const exported = exportClassifier(cutTestBackbone(backbone), randomHead(backbone.embeddingDim, 3), {
      classNames: CLASSES, preprocess: spec, backboneId: 'resnet-like', backboneSha256: 'ab'.repeat(32),
      trainingSummary: { epochs: 4, valAccuracy: 0.75 }, toolVersion: '9.9.9', metadata: { note: 'hello' },
    });
    const metadata = Object.fromEntries(exported.metadata_props.map((entry) => [entry.key, entry.value]));
    assert.deepEqual(JSON.parse(metadata[METADATA_KEYS.classNames]!), CLASSES);
    assert.deepEqual(JSON.parse(metadata[METADATA_KEYS.preprocess]!), spec);
    assert.equal(metadata[METADATA_KEYS.backboneId], 'resnet-like');
    assert.equal(metadata[METADATA_KEYS.backboneSha256], 'ab'.repeat(32));
    assert.deepEqual(JSON.parse(metadata[METADATA_KEYS.trainingSummary]!), { epochs: 4, valAccuracy: 0.75 });
    assert.equal(metadata[METADATA_KEYS.toolVersion], '9.9.9');
    assert.equal(metadata['note'], 'hello');
    // onnxruntime's JS API does not expose model metadata; readExportedModelInfo reads it from the bytes.
    const bytes = encodeModel(exported);
    const info = await readExportedModelInfo(bytes);
    assert.deepEqual(info.classNames, CLASSES);
    assert.deepEqual(info.preprocess, spec);
    assert.equal(info.inputName, 'image');
    assert.equal(info.inputType, 'uint8-image');
    assert.deepEqual(info.inputShape, ['N', 32, 32, 3]);
    assert.deepEqual(info.outputNames, ['probabilities', 'label', 'labels']);
  });

  it('does not modify the backbone model it is given', () => {
    const backbone = buildVggBackbone({ opset: 9 });
    const cut = cutTestBackbone(backbone);
    const before = encodeModel(cut);
    exportClassifier(cut, randomHead(backbone.embeddingDim, 3), { classNames: CLASSES, preprocess: testSpec() });
    assert.deepEqual(encodeModel(cut), before);
  });

  it('renames internal tensors that collide with the public names image, probabilities, label, labels', async () => {
    // input "image" → Relu → "probabilities" → Identity → "labels" → Flatten → features
    const graph = makeGraph([
      makeNode('Relu', ['image'], ['probabilities']),
      makeNode('Identity', ['probabilities'], ['labels']),
      makeNode('Flatten', ['labels'], ['features']),
    ], [makeValueInfo('image', 'float32', ['N', 3, 2, 2])], [makeValueInfo('features', 'float32', ['N', 12])]);
    const cut = makeModel(graph, { opset: 11 });
    const spec = testSpec({ resizeSize: 2, cropSize: 2 });
    const head = randomHead(12, 2, { seed: 11 });
    const pixels = randomPixels(2 * 12, 9);
    const input = normalizeBatch(pixels, 2, spec);   // NCHW, what the backbone takes
    const features = input.map((value) => Math.max(0, value));   // Relu, then Flatten keeps the order
    const expected = predictProbabilities(head, features, 2);
    for (const withPreprocessing of [true, false]) {
      const exported = exportClassifier(cut, head, { classNames: ['x', 'y'], preprocess: spec, withPreprocessing });
      const names = exported.graph!.node.flatMap((node) => node.output);
      assert.equal(new Set(names).size, names.length, 'every tensor is produced once');
      const tensor = withPreprocessing ? new ort.Tensor('uint8', pixels, [2, 2, 2, 3])
        : new ort.Tensor('float32', input, [2, 3, 2, 2]);
      const inputName = withPreprocessing ? 'image' : exported.graph!.input[0]!.name!;
      // Without baked preprocessing `image` is not a public name of ours, so the backbone keeps its input name.
      if (!withPreprocessing) assert.equal(inputName, 'image');
      const result = await runExported(exported, inputName, tensor);
      assert.ok(maxAbsDiff(result.probabilities, expected) <= 1e-5);
      assert.deepEqual(result.labels, ['x', 'y']);
    }
  });

  it('raises the opset on request when the backbone allows it, and refuses otherwise', async () => {
    const resnet = buildResnetBackbone({ opset: 9 });
    const raised = exportClassifier(cutTestBackbone(resnet), randomHead(resnet.embeddingDim, 3), {
      classNames: CLASSES, preprocess: testSpec(), opset: 13,
    });
    assert.equal(opsetVersion(raised), 13);
    const result = await runExported(raised, 'image', new ort.Tensor('uint8', randomPixels(32 * 32 * 3, 1), [1, 32, 32, 3]));
    assert.equal(result.probabilities.length, 3);

    const vgg = buildVggBackbone({ opset: 9 });   // Dropout with a `ratio` attribute: invalid at opset 12+
    assert.throws(() => exportClassifier(cutTestBackbone(vgg), randomHead(vgg.embeddingDim, 3), {
      classNames: CLASSES, preprocess: testSpec(), opset: 13,
    }), (error: unknown) => error instanceof FinetuneError && error.code === 'INVALID_OPTION' && /Dropout/.test(error.message));
    assert.throws(() => exportClassifier(cutTestBackbone(vgg), randomHead(vgg.embeddingDim, 3), {
      classNames: CLASSES, preprocess: testSpec(), opset: 8,
    }), (error: unknown) => error instanceof FinetuneError && error.code === 'INVALID_OPTION' && /older/.test(error.message));
  });

  it('fails with EXPORT_FAILED when the head or preprocessing does not fit the backbone', () => {
    const backbone = buildResnetBackbone();
    const cut = cutTestBackbone(backbone);
    assert.throws(() => exportClassifier(cut, randomHead(backbone.embeddingDim + 1, 3), { classNames: CLASSES, preprocess: testSpec() }),
      (error: unknown) => error instanceof FinetuneError && error.code === 'EXPORT_FAILED' && /\[N, 65\]/.test(error.message));
    assert.throws(() => exportClassifier(cut, randomHead(backbone.embeddingDim, 3), {
      classNames: CLASSES, preprocess: testSpec({ resizeSize: 64, cropSize: 64 }),
    }), (error: unknown) => error instanceof FinetuneError && error.code === 'EXPORT_FAILED' && /NCHW \[N, 3, 64, 64\]/.test(error.message));
    assert.throws(() => exportClassifier(cut, randomHead(backbone.embeddingDim, 3), { classNames: ['a', 'b'], preprocess: testSpec() }),
      RangeError);
  });
});

describe('exportHead', () => {
  for (const opset of [7, 13]) {
    it(`opset ${opset}: features in, the same probabilities as the trainer, label and labels out`, async () => {
      const head = randomHead(10, 4, { hidden: 6, seed: 5 });
      const classNames = ['w', 'x', 'y', 'z'];
      const features = new Float32Array(5 * 10);
      for (let i = 0; i < features.length; i++) features[i] = Math.sin(i) * 3;
      const model = exportHead(head, { classNames, opset });
      const result = await runExported(model, 'features', new ort.Tensor('float32', features, [5, 10]));
      const expected = predictProbabilities(head, features, 5);
      assert.ok(maxAbsDiff(result.probabilities, expected) <= 1e-5);
      for (let row = 0; row < 5; row++) assert.equal(result.label[row], classNames[argmax(expected, row, 4)]);
      assert.deepEqual(result.labels, classNames);
      const info = await readExportedModelInfo(model);
      assert.equal(info.inputType, 'features');
      assert.equal(info.preprocess, null);
    });
  }
});

describe('writeExportedModel', () => {
  it('writes nothing when the model cannot be encoded', async () => {
    const { mkdtemp, readdir, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { writeExportedModel } = await import('../../src/export/write-exported-model.js');
    const dir = await mkdtemp(join(tmpdir(), 'finetune-write-'));
    try {
      const model = exportHead(randomHead(4, 2), { classNames: ['a', 'b'] });
      const broken = { ...model, graph: { ...model.graph!, node: [{ ...model.graph!.node[0]!, input: 42 as unknown as string[] }] } };
      await assert.rejects(writeExportedModel(join(dir, 'model.onnx'), broken),
        (error: unknown) => error instanceof FinetuneError && error.code === 'EXPORT_FAILED');
      assert.deepEqual(await readdir(dir), []);
      const written = await writeExportedModel(join(dir, 'model.onnx'), model);
      assert.deepEqual(await readdir(dir), ['model.onnx']);
      assert.equal((await readExportedModelInfo(written.path)).inputType, 'features');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
