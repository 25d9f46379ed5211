import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FinetuneError } from '../../src/errors.js';
import { cutBackbone } from '../../src/onnx/cut-backbone.js';
import { makeNode, makeTensor, valueInfoDims } from '../../src/onnx/graph-builder.js';
import type { ModelProto } from '../../src/onnx/proto.js';
import { tensorFloat32, tensorNumbers } from '../../src/onnx/tensor-data.js';
import { buildResnetBackbone, buildVggBackbone } from '../../src/onnx/test-backbones.js';
import type { TestBackbone, TestBackboneOptions } from '../../src/onnx/test-backbones.js';
import { BATCH, crossCheck, syntheticInput } from './helpers.js';

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

test('a MatMul + Add classifier is recognised like a Gemm', async () => {
  const backbone = buildResnetBackbone({ seed: 11 });
  const graph = backbone.model.graph!;
  const gemm = graph.node.find((n) => n.op_type === 'Gemm')!;
  const weight = graph.initializer.find((t) => t.name === gemm.input[1])!;
  const [outDim, inDim] = weight.dims as [number, number];
  const transposed = new Float32Array(outDim * inDim);
  const source = tensorFloat32(weight);
  for (let row = 0; row < outDim; row++) for (let col = 0; col < inDim; col++) transposed[col * outDim + row] = source[row * inDim + col]!;
  const matmulHead: ModelProto = {
    ...backbone.model,
    graph: {
      ...graph,
      node: [...graph.node.filter((n) => n !== gemm),
        makeNode('MatMul', [gemm.input[0]!, 'head/kernel'], ['head/matmul']), makeNode('Add', ['head/matmul', gemm.input[2]!], [gemm.output[0]!])],
      initializer: [...graph.initializer, makeTensor('head/kernel', 'float32', [inDim, outDim], transposed)],
    },
  };
  const cut = cutBackbone(matmulHead);
  assert.equal(cut.featureTensor, backbone.featureTensor);
  assert.equal(cut.embeddingDim, backbone.embeddingDim);
  assert.ok(!cut.model.graph!.initializer.some((t) => t.name === 'head/kernel'));
  await crossCheck(matmulHead, cut, { input: syntheticInput([BATCH, 3, 32, 32]), fullBatch: BATCH });
});
