/**
 * The rules transformer exports need (issue 20): Slice and Expand (layout), small-integer values through
 * ConstantOfShape, Equal and Where (the `expand(-1, …)` idiom), the multi-output layer normalizations; and, end to end,
 * every tensor of the tiny ViT fixture (opset 14, decomposed LayerNorm, attention reshapes from Shape ops) inferred.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { attribute, makeTensor } from '../../../src/onnx/graph-builder.js';
import { inferShapes } from '../../../src/onnx/infer-shapes.js';
import { readModel } from '../../../src/onnx/read-model.js';
import { constantRules } from '../../../src/onnx/shape-rules/constants.js';
import { elementwiseRules } from '../../../src/onnx/shape-rules/elementwise.js';
import { layoutRules } from '../../../src/onnx/shape-rules/layout.js';
import { normalizationRules } from '../../../src/onnx/shape-rules/normalization.js';
import { BOOL, FLOAT, INT64, applyRule, outDims } from './apply-rule.js';

const ints = (value: Array<number | string>) => ({ elemType: INT64, dims: [value.length], value });
const INT64_MAX = 9223372036854775807;

test('Slice: counts per axis with ONNX clamping, negative steps, symbolic axes kept whole, values of a sliced shape', () => {
  const tokens = { elemType: FLOAT, dims: ['N', 197, 768] };
  // x[:, 1:] (patch tokens) and x[:, 0:1] (the CLS token)
  assert.deepEqual(outDims(layoutRules, 'Slice', { inputs: [tokens, ints([1]), ints([INT64_MAX]), ints([1])] }), ['N', 196, 768]);
  assert.deepEqual(outDims(layoutRules, 'Slice', { inputs: [tokens, ints([0]), ints([1]), ints([1])] }), ['N', 1, 768]);
  assert.deepEqual(outDims(layoutRules, 'Slice', { inputs: [tokens, ints([-1]), ints([-INT64_MAX]), ints([-1]), ints([-1])] }), ['N', 197, 768]);
  assert.deepEqual(outDims(layoutRules, 'Slice', { inputs: [{ dims: [10] }, ints([2]), ints([9]), null, ints([3])] }), [3]);
  assert.deepEqual(outDims(layoutRules, 'Slice', { inputs: [{ dims: [10] }, ints([20]), ints([30])] }), [0]);
  // A symbolic axis: kept whole → the same symbol; cut → unknown.
  assert.deepEqual(outDims(layoutRules, 'Slice', { inputs: [tokens, ints([0]), ints([INT64_MAX]), ints([0])] }), ['N', 197, 768]);
  assert.deepEqual(outDims(layoutRules, 'Slice', { inputs: [tokens, ints([1]), ints([INT64_MAX]), ints([0])] }), [null, 197, 768]);
  // Shape(x)[0:2] keeps its values.
  assert.deepEqual(applyRule(layoutRules, 'Slice', { inputs: [ints(['N', 32, 4, 4]), ints([0]), ints([2]), ints([0])] })[0],
    { elemType: INT64, dims: [2], value: ['N', 32] });
  // Opset < 10 reads attributes; unknown starts give unknown sizes but a known rank.
  assert.deepEqual(outDims(layoutRules, 'Slice', { inputs: [{ dims: [8, 8] }], opset: 9,
    attributes: [attribute.ints('starts', [2]), attribute.ints('ends', [6]), attribute.ints('axes', [1])] }), [8, 4]);
  assert.deepEqual(outDims(layoutRules, 'Slice', { inputs: [{ dims: [8, 8] }, { elemType: INT64, dims: [1] }, ints([4])] }), [null, null]);
});

test('Expand broadcasts against the shape values; an unknown shape of known length gives the rank', () => {
  assert.deepEqual(outDims(layoutRules, 'Expand', { inputs: [{ elemType: FLOAT, dims: [1, 1, 32] }, ints(['N', 1, 1])] }), ['N', 1, 32]);
  assert.deepEqual(outDims(layoutRules, 'Expand', { inputs: [{ dims: [3, 1] }, ints([2, 1, 6])] }), [2, 3, 6]);
  assert.deepEqual(outDims(layoutRules, 'Expand', { inputs: [{ dims: [1, 32] }, { elemType: INT64, dims: [3] }] }), [null, null, null]);
});

test('ConstantOfShape, Equal and Where carry small integer values: Where(Equal(s, −1), 1, s) resolves', () => {
  const ones = applyRule(constantRules, 'ConstantOfShape', { inputs: [ints([3])],
    attributes: [attribute.tensor('value', makeTensor('one', 'int64', [1], [1]))] })[0]!;
  assert.deepEqual(ones, { elemType: INT64, dims: [3], constant: true, value: [1, 1, 1] });
  const minusOnes = applyRule(elementwiseRules, 'Mul', { inputs: [ones, { elemType: INT64, dims: [], value: [-1] }] })[0]!;
  assert.deepEqual(minusOnes.value, [-1, -1, -1]);
  const shape = ints(['batch_size', -1, -1]);
  const mask = applyRule(elementwiseRules, 'Equal', { inputs: [shape, minusOnes] })[0]!;
  assert.deepEqual(mask, { elemType: BOOL, dims: [3], value: [0, 1, 1] });
  assert.deepEqual(applyRule(elementwiseRules, 'Where', { inputs: [mask, ones, shape] })[0]!.value, ['batch_size', 1, 1]);
  // Two different symbols may be equal at run time: unknown, not a guess.
  assert.deepEqual(applyRule(elementwiseRules, 'Equal', { inputs: [ints(['a']), ints(['b'])] })[0]!.value, [null]);
  // A float fill is not tracked.
  assert.equal(applyRule(constantRules, 'ConstantOfShape', { inputs: [ints([2])] })[0]!.value, undefined);
});

test('LayerNormalization and SkipLayerNormalization: every output, statistics with size 1 from the axis on', () => {
  const x = { elemType: FLOAT, dims: ['N', 197, 768] };
  assert.deepEqual(applyRule(normalizationRules, 'LayerNormalization', { inputs: [x, { dims: [768] }, { dims: [768] }], outputs: 3 }), [
    { elemType: FLOAT, dims: ['N', 197, 768] }, { elemType: FLOAT, dims: ['N', 197, 1] }, { elemType: FLOAT, dims: ['N', 197, 1] },
  ]);
  assert.deepEqual(applyRule(normalizationRules, 'LayerNormalization', { inputs: [x], attributes: [attribute.int('axis', 1)] })[1]!.dims, ['N', 1, 1]);
  const skip = applyRule(normalizationRules, 'SkipLayerNormalization', { inputs: [x, x, { dims: [768] }], outputs: 4 });
  assert.deepEqual(skip.map((info) => info.dims), [['N', 197, 768], ['N', 197, 1], ['N', 197, 1], ['N', 197, 768]]);
});

test('the tiny ViT export: every tensor gets concrete dims, the tokens [batch_size, 17, 32]', async () => {
  const model = await readModel(join(import.meta.dirname, '..', '..', 'fixtures', 'hub', 'tiny-vit', 'onnx', 'model.onnx'));
  const graph = model.graph!;
  const infos = inferShapes(graph, { opset: 14 });
  const unknown = graph.node.flatMap((node) => node.output.filter((name) => {
    const dims = infos.get(name)?.dims;
    return !dims || dims.some((dim) => dim === null);
  }).map((name) => `${node.op_type} ${name}`));
  assert.deepEqual(unknown, []);
  assert.deepEqual(infos.get('last_hidden_state')?.dims, ['batch_size', 17, 32]);
  assert.deepEqual(infos.get('/blocks.0/Softmax_output_0')?.dims, ['batch_size', 2, 17, 17], 'attention weights per head');
});
