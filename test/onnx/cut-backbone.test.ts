import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { FinetuneError } from '../../src/errors.js';
import { cutBackbone } from '../../src/onnx/cut-backbone.js';
import type { CutBackbone } from '../../src/onnx/cut-backbone.js';
import { valueInfoDims } from '../../src/onnx/graph-builder.js';
import type { ModelProto } from '../../src/onnx/proto.js';
import { readModel } from '../../src/onnx/read-model.js';
import { tensorNumbers } from '../../src/onnx/tensor-data.js';
import { buildResnetBackbone, buildVggBackbone } from '../../src/onnx/test-backbones.js';
import type { TestBackbone, TestBackboneOptions } from '../../src/onnx/test-backbones.js';
import { lightFixture, mobilenetInt8Path, skipWithoutShared } from '../helpers/shared.js';
import { maxDiff, poolSpatial, rowsDiffer, runModel, sliceBatch, syntheticInput, withExtraOutput } from './helpers.js';

const BATCH = 8;

/** Runs the cut at batch 8 and checks it against `tensor` read from the full model (pooled/dequantized here). */
async function crossCheck(full: ModelProto, cut: CutBackbone, options: {
  input: ort.Tensor; fullBatch: number; relative?: boolean; tolerance?: number; dequantize?: { scale: number; zeroPoint: number };
}): Promise<Float32Array> {
  const features = (await runModel(cut.model, { [cut.inputName]: options.input })).features!;
  assert.equal(features.type, 'float32');
  assert.deepEqual(features.dims, [BATCH, cut.embeddingDim]);
  const cutData = features.data as Float32Array;
  assert.ok(rowsDiffer(cutData, BATCH), 'features depend on the input image');

  const probe = withExtraOutput(full, cut.featureTensor);
  const rows: number[] = [];
  const indices = options.fullBatch === 1 ? [0, BATCH - 1] : [...Array(BATCH).keys()];
  let reference: Float32Array;
  if (options.fullBatch === 1) {
    const parts: Float32Array[] = [];
    for (const i of indices) parts.push(await readFeatures(probe, cut, sliceBatch(options.input, i), options.dequantize));
    reference = concat(parts);
    for (const i of indices) rows.push(i);
  } else {
    reference = await readFeatures(probe, cut, options.input, options.dequantize);
    rows.push(...indices);
  }
  const width = cut.embeddingDim;
  const selected = concat(rows.map((row) => cutData.subarray(row * width, (row + 1) * width)));
  const diff = maxDiff(selected, reference, options.relative);
  assert.ok(diff <= (options.tolerance ?? 1e-5), `max ${options.relative ? 'relative' : 'abs'} diff ${diff}`);
  return cutData;
}

async function readFeatures(probe: ModelProto, cut: CutBackbone, input: ort.Tensor,
  dequantize?: { scale: number; zeroPoint: number }): Promise<Float32Array> {
  const tensor = (await runModel(probe, { [cut.inputName]: input }))[cut.featureTensor]!;
  let data: Float32Array = Float32Array.from(tensor.data as ArrayLike<number>);
  if (dequantize) for (let i = 0; i < data.length; i++) data[i] = (data[i]! - dequantize.zeroPoint) * dequantize.scale;
  if (cut.pooling === 'avg' || cut.pooling === 'max') data = poolSpatial(data, tensor.dims, cut.pooling);
  return data;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) { out.set(part, offset); offset += part.length; }
  return out;
}

const cases: Array<[string, (o: TestBackboneOptions) => TestBackbone, TestBackboneOptions]> = [
  ['VGG-like, symbolic batch, opset 13', buildVggBackbone, {}],
  ['VGG-like, batch 1 with Reshape [1, -1], opset 7', buildVggBackbone, { batch: 1, flatten: 'reshape', opset: 7 }],
  ['VGG-like, softmax, opset 21, 64×64', buildVggBackbone, { softmax: true, opset: 21, inputSize: 64 }],
  ['ResNet-like, symbolic batch', buildResnetBackbone, {}],
  ['ResNet-like, batch 1 with Reshape, opset 9', buildResnetBackbone, { batch: 1, flatten: 'reshape', opset: 9, softmax: true }],
];

for (const [title, build, options] of cases) {
  test(`auto-cut of the ${title} test backbone finds its feature tensor and matches the full model`, async () => {
    const backbone = build(options);
    const cut = cutBackbone(backbone.model);
    const size = options.inputSize ?? 32;
    const fixedBatch = options.batch === 1;
    assert.equal(cut.featureTensor, backbone.featureTensor);
    assert.equal(cut.embeddingDim, backbone.embeddingDim);
    assert.equal(cut.pooling, build === buildResnetBackbone ? 'flatten' : 'none');
    assert.equal(cut.batchMadeSymbolic, fixedBatch);
    assert.deepEqual(cut.inputShape, ['N', 3, size, size]);
    assert.equal(cut.dequantized, false);
    assert.deepEqual(cut.model.graph!.output.map((o) => [o.name, valueInfoDims(o)]), [['features', ['N', backbone.embeddingDim]]]);
    // The classifier and everything after it are gone, and so are their weights.
    const kept = new Set(cut.model.graph!.node.map((n) => n.name));
    assert.ok(!cut.model.graph!.node.some((n) => n.output.includes(backbone.outputName)));
    assert.ok(cut.model.graph!.initializer.every((t) => !t.name!.includes('dense2') && !t.name!.endsWith('resnet/dense/weight')));
    assert.ok(kept.size < backbone.model.graph!.node.length);
    if (options.flatten === 'reshape' && fixedBatch && build === buildVggBackbone) {
      const reshape = cut.model.graph!.node.find((n) => n.op_type === 'Reshape')!;
      const shape = cut.model.graph!.initializer.find((t) => t.name === reshape.input[1])!;
      assert.match(shape.name!, /^finetune\//);
      assert.deepEqual(tensorNumbers(shape), [0, -1], 'hard-coded batch 1 replaced');
    }
    const input = syntheticInput([BATCH, 3, size, size]);
    await crossCheck(backbone.model, cut, { input, fullBatch: fixedBatch ? 1 : BATCH });
  });
}

test('layer + pooling: avg, max and flatten on a spatial map agree with the full model', async () => {
  const backbone = buildResnetBackbone({ seed: 7 });
  const input = syntheticInput([BATCH, 3, 32, 32], 2);
  const [channels, height, width] = backbone.spatialShape;
  for (const pooling of ['avg', 'max', 'flatten'] as const) {
    const cut = cutBackbone(backbone.model, { layer: backbone.spatialTensor, pooling });
    assert.equal(cut.pooling, pooling);
    assert.equal(cut.embeddingDim, pooling === 'flatten' ? channels * height * width : channels);
    assert.ok(cut.model.graph!.node.every((n) => n.op_type !== 'Gemm' && n.op_type !== 'GlobalAveragePool' || n.name!.startsWith('finetune/')));
    await crossCheck(backbone.model, cut, { input, fullBatch: BATCH });
  }
  const defaultCut = cutBackbone(backbone.model, { layer: backbone.spatialTensor });
  assert.equal(defaultCut.pooling, 'avg');
  assert.throws(() => cutBackbone(backbone.model, { layer: backbone.spatialTensor, pooling: 'none' }),
    (error: unknown) => error instanceof FinetuneError && error.code === 'INVALID_OPTION' && /pooling/.test(error.hint ?? ''));
});

test('an unknown layer lists the nearest tensor names', () => {
  const backbone = buildVggBackbone();
  assert.throws(() => cutBackbone(backbone.model, { layer: 'vgg/dense1_rleu' }), (error: unknown) => {
    assert.ok(error instanceof FinetuneError);
    assert.equal(error.code, 'LAYER_NOT_FOUND');
    assert.match(error.message, /No tensor named "vgg\/dense1_rleu"/);
    assert.match(error.hint!, /^Nearest names: [^.]*vgg\/dense1_relu/);
    return true;
  });
  assert.throws(() => cutBackbone(backbone.model, { layer: 'vgg/dense0/weight' }),
    (error: unknown) => error instanceof FinetuneError && error.code === 'LAYER_NOT_FOUND' && /weight/.test(error.message));
});

test('a graph without a recognisable classifier fails and lists candidate tensors', () => {
  const backbone = buildResnetBackbone();
  const graph = backbone.model.graph!;
  // Replace the classifier Gemm by a Relu so that no classifier can be found.
  const noHead: ModelProto = {
    ...backbone.model,
    graph: { ...graph, node: graph.node.map((n) => (n.op_type === 'Gemm' ? { ...n, op_type: 'Relu', input: [n.input[0]!] } : n)) },
  };
  assert.throws(() => cutBackbone(noHead), (error: unknown) => {
    assert.ok(error instanceof FinetuneError);
    assert.equal(error.code, 'GRAPH_EDIT_FAILED');
    assert.match(error.message, /Relu/);
    assert.match(error.hint!, /--layer/);
    assert.match(error.hint!, /resnet\/pool \[N, 64, 1, 1\]/);
    return true;
  });
});

test('cutting does not modify the input model', () => {
  const backbone = buildVggBackbone({ batch: 1, flatten: 'reshape' });
  const before = JSON.stringify(backbone.model, (_key, value) => (value instanceof Uint8Array ? value.length : value));
  cutBackbone(backbone.model);
  assert.equal(JSON.stringify(backbone.model, (_key, value) => (value instanceof Uint8Array ? value.length : value)), before);
});

test('light_resnet50: auto-cut gives 2048 features at batch 8, equal to the full model', { skip: skipWithoutShared }, async () => {
  const model = await readModel(lightFixture('resnet50'));
  const cut = cutBackbone(model);
  assert.equal(cut.embeddingDim, 2048);
  assert.deepEqual(cut.featureShape, [1, 2048, 1, 1]);
  assert.equal(cut.batchMadeSymbolic, true);
  assert.deepEqual(cut.inputShape, ['N', 3, 224, 224]);
  assert.ok(!cut.model.graph!.node.some((n) => n.op_type === 'Gemm' || n.op_type === 'Softmax'));
  // The light fixtures replace weights by 0.02 constants, so activations reach ~1e17: compare relatively.
  await crossCheck(model, cut, { input: syntheticInput([BATCH, 3, 224, 224]), fullBatch: 1, relative: true });
});

test('light_vgg19: auto-cut gives 4096 features (fc7 after ReLU) at batch 8', { skip: skipWithoutShared }, async () => {
  const model = await readModel(lightFixture('vgg19'));
  const cut = cutBackbone(model);
  assert.equal(cut.embeddingDim, 4096);
  assert.equal(cut.pooling, 'none');
  assert.equal(cut.model.graph!.node.filter((n) => n.op_type === 'Gemm').length, 2, 'fc6 and fc7 kept, fc8 removed');
  await crossCheck(model, cut, { input: syntheticInput([BATCH, 3, 224, 224]), fullBatch: 1, relative: true });
});

test('light_squeezenet: auto-cut takes the tensor before the classifier conv and average-pools it', { skip: skipWithoutShared }, async () => {
  const model = await readModel(lightFixture('squeezenet'));
  const cut = cutBackbone(model);
  assert.equal(cut.embeddingDim, 512);
  assert.equal(cut.pooling, 'avg');
  assert.deepEqual(cut.featureShape, [1, 512, 13, 13]);
  assert.ok(!cut.model.graph!.initializer.some((t) => t.name!.startsWith('conv10')), 'classifier conv removed');
  await crossCheck(model, cut, { input: syntheticInput([BATCH, 3, 224, 224]), fullBatch: 1, relative: true });
});

test('mobilenetv2-12-int8: auto-cut gives 1280 dequantized float32 features equal to the full model', { skip: skipWithoutShared }, async () => {
  const model = await readModel(mobilenetInt8Path);
  const cut = cutBackbone(model);
  assert.equal(cut.embeddingDim, 1280);
  assert.equal(cut.dequantized, true);
  assert.equal(cut.featureTensor, '464_quantized');
  assert.deepEqual(cut.inputShape, ['batch_size', 3, 224, 224]);
  assert.ok(cut.model.graph!.node.some((n) => n.op_type === 'DequantizeLinear' && n.output[0] === 'features' || n.name === 'finetune/DequantizeLinear'));
  assert.ok(!cut.model.graph!.node.some((n) => n.op_type === 'QLinearMatMul'));
  const initializer = (name: string): number => tensorNumbers(model.graph!.initializer.find((t) => t.name === name)!)[0]!;
  const dequantize = { scale: initializer('464_scale'), zeroPoint: initializer('464_zero_point') };
  const data = await crossCheck(model, cut, { input: syntheticInput([BATCH, 3, 224, 224]), fullBatch: BATCH, dequantize });
  let nonZero = 0;
  for (let i = 0; i < data.length; i++) if (data[i]! > 0) nonZero++;
  assert.ok(nonZero > data.length / 10, `real features are mostly non-zero (${nonZero}/${data.length})`);
});
