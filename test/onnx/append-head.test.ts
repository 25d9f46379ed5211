import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { HEAD_FIRST_GEMM, appendDenseHead } from '../../src/onnx/append-head.js';
import { makeGraph, makeModel, makeValueInfo } from '../../src/onnx/graph-builder.js';
import { NameScope } from '../../src/onnx/graph-names.js';
import { encodeModel } from '../../src/onnx/write-model.js';
import type { DenseLayer } from '../../src/types.js';

const OUTPUTS = { probabilities: 'p', label: 'top', labels: 'all' };

/** 2 features → relu hidden of 2 → 3 classes, weights chosen so the logits are easy to compute by hand. */
const LAYERS: DenseLayer[] = [
  { inputDim: 2, outputDim: 2, kernel: Float32Array.from([1, -1, 2, 0]), bias: Float32Array.from([0, 0.5]), activation: 'relu' },
  { inputDim: 2, outputDim: 3, kernel: Float32Array.from([1, 0, 0, 0, 1, 0]), bias: Float32Array.from([0, 0, 1]), activation: 'linear' },
];

function headGraph(opset = 13, listInitializersAsInputs = false) {
  const graph = makeGraph([], [makeValueInfo('x', 'float32', ['B', 2])], []);
  appendDenseHead(graph, 'x', { layers: LAYERS, classNames: ['cat', 'dog', 'owl'], outputNames: OUTPUTS, scope: new NameScope(['x', 'p', 'top', 'all']),
    batchDim: 'B', listInitializersAsInputs });
  return makeModel(graph, { opset });
}

test('appendDenseHead: Gemm → Relu → Gemm → Softmax, and the class name of the argmax', async () => {
  const model = headGraph();
  const graph = model.graph!;
  assert.deepEqual(graph.node.map((node) => node.op_type), ['Gemm', 'Relu', 'Gemm', 'Softmax', 'ArgMax', 'Gather', 'Identity']);
  assert.ok(graph.node.every((node) => node.name?.startsWith('finetune/head/')));
  assert.equal(graph.node[0]!.name, HEAD_FIRST_GEMM);
  assert.equal(graph.node[0]!.input[0], 'x');
  assert.deepEqual(graph.output.map((o) => o.name), ['p', 'top', 'all']);
  const session = await ort.InferenceSession.create(encodeModel(model));
  try {
    // x = [1, 1]: hidden = relu([1·1 + 1·2, 1·(−1) + 1·0 + 0.5]) = [3, 0]; logits = [3, 0, 1].
    const result = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 1]), [1, 2]) });
    const e = [Math.exp(3), 1, Math.exp(1)], sum = e[0]! + e[1]! + e[2]!;
    const probabilities = result['p']!.data as Float32Array;
    e.forEach((value, k) => assert.ok(Math.abs(probabilities[k]! - value / sum) < 1e-6, `class ${k}`));
    assert.deepEqual(result['top']!.data, ['cat']);
    assert.deepEqual(result['all']!.data, ['cat', 'dog', 'owl']);
  } finally {
    await session.release();
  }
});

test('appendDenseHead lists its initializers as inputs for IR 3 graphs and avoids names in use', () => {
  const graph = makeGraph([], [makeValueInfo('x', 'float32', ['N', 2])], []);
  appendDenseHead(graph, 'x', { layers: LAYERS, classNames: ['a', 'b', 'c'], outputNames: OUTPUTS,
    scope: new NameScope(['x', 'finetune/head/dense_0/kernel']), listInitializersAsInputs: true });
  assert.deepEqual(graph.input.map((input) => input.name), ['x', ...graph.initializer.map((tensor) => tensor.name)]);
  assert.equal(graph.initializer[0]!.name, 'finetune/head/dense_0/kernel_1');
  assert.deepEqual(graph.output[0]!.type?.tensor_type?.shape?.dim, [{ dim_param: 'N' }, { dim_value: 3 }]);
});

test('appendDenseHead refuses an unknown activation', () => {
  const graph = makeGraph([], [], []);
  const layers = [{ ...LAYERS[1]!, inputDim: 2, activation: 'gelu' as DenseLayer['activation'] }];
  assert.throws(() => appendDenseHead(graph, 'x', { layers, classNames: ['a', 'b', 'c'], outputNames: OUTPUTS, scope: new NameScope([]) }),
    /unknown activation 'gelu' in layer 0/);
});
