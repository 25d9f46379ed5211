import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attribute } from '../../../src/onnx/graph-builder.js';
import { elementwiseRules } from '../../../src/onnx/shape-rules/elementwise.js';
import { BOOL, FLOAT, INT32, INT64, INT8, UINT8, applyRule, outDims } from './apply-rule.js';

const map = { elemType: FLOAT, dims: ['N', 64, 56, 56] as Array<number | string> };

test('unary operators keep type and shape; predicates give bool', () => {
  for (const op of ['Relu', 'Sigmoid', 'Clip', 'BatchNormalization', 'Softmax', 'HardSwish']) { // LayerNormalization: normalization family
    assert.deepEqual(applyRule(elementwiseRules, op, { inputs: [map] }), [{ elemType: FLOAT, dims: map.dims }], op);
  }
  for (const op of ['Not', 'IsNaN', 'IsInf']) {
    assert.deepEqual(applyRule(elementwiseRules, op, { inputs: [map] }), [{ elemType: BOOL, dims: map.dims }], op);
  }
});

test('Identity and Cast pass small integer values through; Cast takes its type from `to`', () => {
  const shape = { elemType: INT64, dims: [2], value: ['N', 512] };
  assert.deepEqual(applyRule(elementwiseRules, 'Identity', { inputs: [shape] }), [{ elemType: INT64, dims: [2], value: ['N', 512] }]);
  assert.deepEqual(applyRule(elementwiseRules, 'Cast', { inputs: [shape], attributes: [attribute.int('to', INT32)] }),
    [{ elemType: INT32, dims: [2], value: ['N', 512] }]);
  assert.deepEqual(applyRule(elementwiseRules, 'CastLike', { inputs: [map, { elemType: INT8, dims: [] }] }), [{ elemType: INT8, dims: map.dims }]);
});

test('Dropout has an optional bool mask output', () => {
  assert.deepEqual(applyRule(elementwiseRules, 'Dropout', { inputs: [map], outputs: 2 }),
    [{ elemType: FLOAT, dims: map.dims }, { elemType: BOOL, dims: map.dims }]);
});

test('QuantizeLinear: the zero point decides the type (uint8 by default); DequantizeLinear: the scale does', () => {
  const scale = { elemType: FLOAT, dims: [] };
  assert.equal(applyRule(elementwiseRules, 'QuantizeLinear', { inputs: [map, scale] })[0]!.elemType, UINT8);
  assert.equal(applyRule(elementwiseRules, 'QuantizeLinear', { inputs: [map, scale, { elemType: INT8, dims: [] }] })[0]!.elemType, INT8);
  assert.equal(applyRule(elementwiseRules, 'QuantizeLinear', { inputs: [map, scale], attributes: [attribute.int('output_dtype', INT8)] })[0]!.elemType, INT8);
  assert.deepEqual(applyRule(elementwiseRules, 'DequantizeLinear', { inputs: [{ elemType: UINT8, dims: [1, 1280] }, scale] }),
    [{ elemType: FLOAT, dims: [1, 1280] }]);
  assert.deepEqual(applyRule(elementwiseRules, 'DynamicQuantizeLinear', { inputs: [map], outputs: 3 }),
    [{ elemType: UINT8, dims: map.dims }, { elemType: FLOAT, dims: [] }, { elemType: UINT8, dims: [] }]);
});

test('binary operators broadcast numpy-style', () => {
  // numpy: (N,64,56,56) + (64,1,1) → (N,64,56,56); (5,1,3) * (4,1) → (5,4,3).
  assert.deepEqual(outDims(elementwiseRules, 'Add', { inputs: [map, { elemType: FLOAT, dims: [64, 1, 1] }] }), map.dims);
  assert.deepEqual(outDims(elementwiseRules, 'Mul', { inputs: [{ dims: [5, 1, 3] }, { dims: [4, 1] }] }), [5, 4, 3]);
  // Two different fixed sizes cannot broadcast: unknown; a symbol against a size takes the size.
  assert.deepEqual(outDims(elementwiseRules, 'Sub', { inputs: [{ dims: [3] }, { dims: [4] }] }), [null]);
  assert.deepEqual(outDims(elementwiseRules, 'Sub', { inputs: [{ dims: ['N', 3] }, { dims: [7, 3] }] }), [7, 3]);
  assert.equal(outDims(elementwiseRules, 'Add', { inputs: [map, {}] }), undefined);
  assert.deepEqual(outDims(elementwiseRules, 'Sum', { inputs: [{ dims: [2, 1] }, { dims: [3] }, { dims: [1, 1] }] }), [2, 3]);
});

test('comparisons give bool; Where takes the type of its second input; PRelu broadcasts the slope', () => {
  assert.equal(applyRule(elementwiseRules, 'Greater', { inputs: [map, { elemType: FLOAT, dims: [] }] })[0]!.elemType, BOOL);
  assert.deepEqual(applyRule(elementwiseRules, 'Where', {
    inputs: [{ elemType: BOOL, dims: [4, 1] }, { elemType: INT64, dims: [1, 3] }, { elemType: INT64, dims: [] }],
  }), [{ elemType: INT64, dims: [4, 3], value: undefined }]);
  assert.deepEqual(outDims(elementwiseRules, 'PRelu', { inputs: [map, { elemType: FLOAT, dims: [64, 1, 1] }] }), map.dims);
});

test('Add/Sub/Mul/Div compute small integer values (Div truncates; a zero divisor is unknown)', () => {
  const value = (op: string, a: Array<number | string>, b: Array<number | string>) =>
    applyRule(elementwiseRules, op, { inputs: [{ elemType: INT64, dims: [a.length], value: a }, { elemType: INT64, dims: [b.length], value: b }] })[0]!.value;
  assert.deepEqual(value('Mul', [2, 3], [4]), [8, 12]);
  assert.deepEqual(value('Div', [7, -7], [2]), [3, -3]);
  assert.deepEqual(value('Div', [7], [0]), [null]);
  assert.deepEqual(value('Add', ['N', 1], [1, 1]), [null, 2]);
  assert.equal(value('Add', [1, 2, 3], [1, 2]), undefined);
  assert.equal(value('Pow', [2], [3]), undefined);
});

test('QLinearAdd/QLinearMul broadcast input 0 with input 3', () => {
  const scale = { elemType: FLOAT, dims: [] }, zero = { elemType: UINT8, dims: [] };
  assert.deepEqual(applyRule(elementwiseRules, 'QLinearAdd', {
    inputs: [{ elemType: UINT8, dims: [1, 32, 7, 7] }, scale, zero, { elemType: UINT8, dims: [1, 32, 1, 1] }, scale, zero, scale, zero],
  }), [{ elemType: UINT8, dims: [1, 32, 7, 7] }]);
});

test('an omitted optional input is left out of the broadcast', () => {
  assert.deepEqual(outDims(elementwiseRules, 'Max', { inputs: [{ dims: [2, 3] }, null, { dims: [3] }] }), [2, 3]);
});
