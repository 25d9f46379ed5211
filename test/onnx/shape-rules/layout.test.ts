import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attribute } from '../../../src/onnx/graph-builder.js';
import { layoutRules } from '../../../src/onnx/shape-rules/layout.js';
import { FLOAT, INT64, UINT8, applyRule, outDims } from './apply-rule.js';

const map = { elemType: FLOAT, dims: ['N', 512, 7, 7] as Array<number | string> };
const ints = (value: Array<number | string>) => ({ elemType: INT64, dims: [value.length], value });

test('Flatten multiplies the dims before and after `axis` (axis may equal the rank)', () => {
  assert.deepEqual(outDims(layoutRules, 'Flatten', { inputs: [map] }), ['N', 25088]);
  assert.deepEqual(outDims(layoutRules, 'Flatten', { inputs: [map], attributes: [attribute.int('axis', 0)] }), [1, null]);
  assert.deepEqual(outDims(layoutRules, 'Flatten', { inputs: [map], attributes: [attribute.int('axis', -2)] }), [null, 49]);
  assert.deepEqual(outDims(layoutRules, 'Flatten', { inputs: [{ dims: [2, 3, 4] }], attributes: [attribute.int('axis', 3)] }), [24, 1]);
  assert.equal(outDims(layoutRules, 'Flatten', { inputs: [map], attributes: [attribute.int('axis', 9)] }), undefined);
});

test('Reshape: 0 copies the input dim, −1 is inferred, symbols cancel', () => {
  assert.deepEqual(outDims(layoutRules, 'Reshape', { inputs: [map, ints([0, -1])] }), ['N', 25088]);
  assert.deepEqual(outDims(layoutRules, 'Reshape', { inputs: [{ dims: [1, 1024, 1, 1] }, ints([1, -1])] }), [1, 1024]);
  assert.deepEqual(outDims(layoutRules, 'Reshape', { inputs: [map, ints(['N', -1])] }), ['N', 25088]);
  assert.deepEqual(outDims(layoutRules, 'Reshape', { inputs: [map, ints([-1, 49])] }), [null, 49]);
  // allowzero: a 0 is a size of 0.
  assert.deepEqual(outDims(layoutRules, 'Reshape', { inputs: [{ dims: [0, 4] }, ints([0, 4])], attributes: [attribute.int('allowzero', 1)] }), [0, 4]);
  // An unknown target shape: unknown dims, the type is kept.
  assert.deepEqual(applyRule(layoutRules, 'Reshape', { inputs: [map, { elemType: INT64, dims: [2] }] }), [{ elemType: FLOAT, dims: undefined, value: undefined }]);
});

test('Squeeze/Unsqueeze read axes from input 1 since opset 13, from the attribute before', () => {
  const x = { elemType: FLOAT, dims: ['N', 1024, 1, 1] };
  assert.deepEqual(outDims(layoutRules, 'Squeeze', { inputs: [x, ints([2, 3])] }), ['N', 1024]);
  assert.deepEqual(outDims(layoutRules, 'Squeeze', { inputs: [x], attributes: [attribute.ints('axes', [-1, -2])], opset: 11 }), ['N', 1024]);
  // No axes: every dim of size 1 goes.
  assert.deepEqual(outDims(layoutRules, 'Squeeze', { inputs: [{ dims: [1, 3, 1] }] }), [3]);
  // Axes computed at run time: unknown, not a guess.
  assert.equal(outDims(layoutRules, 'Squeeze', { inputs: [x, { elemType: INT64, dims: [1] }] }), undefined);
  assert.equal(outDims(layoutRules, 'Squeeze', { inputs: [x, ints([7])] }), undefined);
  assert.deepEqual(outDims(layoutRules, 'Unsqueeze', { inputs: [{ dims: ['N', 3] }, ints([0, 3])] }), [1, 'N', 3, 1]);
  assert.deepEqual(outDims(layoutRules, 'Unsqueeze', { inputs: [{ dims: [5] }], attributes: [attribute.ints('axes', [-1])], opset: 9 }), [5, 1]);
  assert.equal(outDims(layoutRules, 'Unsqueeze', { inputs: [{ dims: [5] }, ints([1, 1])] }), undefined);
  // Values pass through: Unsqueeze(Gather(Shape(x), 0), 0) is ['N'].
  assert.deepEqual(applyRule(layoutRules, 'Unsqueeze', { inputs: [{ elemType: INT64, dims: [], value: ['N'] }, ints([0])] })[0]!.value, ['N']);
});

test('Transpose permutes dims (reverses them by default); an invalid perm gives unknown dims', () => {
  assert.deepEqual(outDims(layoutRules, 'Transpose', { inputs: [{ dims: ['N', 224, 224, 3] }], attributes: [attribute.ints('perm', [0, 3, 1, 2])] }),
    ['N', 3, 224, 224]);
  assert.deepEqual(outDims(layoutRules, 'Transpose', { inputs: [{ dims: [2, 3, 4] }] }), [4, 3, 2]);
  assert.equal(outDims(layoutRules, 'Transpose', { inputs: [{ dims: [2, 3] }], attributes: [attribute.ints('perm', [0, 0])] }), undefined);
  assert.equal(outDims(layoutRules, 'Transpose', { inputs: [{ dims: [2, 3] }], attributes: [attribute.ints('perm', [1, 0, 2])] }), undefined);
});

test('Concat adds sizes on the axis and concatenates known values', () => {
  assert.deepEqual(outDims(layoutRules, 'Concat', {
    inputs: [{ dims: ['N', 64, 55, 55] }, { dims: ['N', 64, 55, 55] }], attributes: [attribute.int('axis', 1)],
  }), ['N', 128, 55, 55]);
  // Building a Reshape target: Concat([N], [-1]) = [N, -1].
  assert.deepEqual(applyRule(layoutRules, 'Concat', { inputs: [ints(['N']), ints([-1])], attributes: [attribute.int('axis', 0)] })[0],
    { elemType: INT64, dims: [2], value: ['N', -1] });
  assert.deepEqual(outDims(layoutRules, 'Concat', { inputs: [{ dims: ['N', 3] }, { dims: ['N', 'K'] }], attributes: [attribute.int('axis', -1)] }), ['N', null]);
  assert.equal(outDims(layoutRules, 'Concat', { inputs: [{ dims: [2] }, {}], attributes: [attribute.int('axis', 0)] }), undefined);
  assert.equal(outDims(layoutRules, 'Concat', { inputs: [{ dims: [2] }, { dims: [3] }], attributes: [attribute.int('axis', 4)] }), undefined);
});

test('QLinearConcat concatenates every third input after the output scale and zero point', () => {
  const scale = { elemType: FLOAT, dims: [] }, zero = { elemType: UINT8, dims: [] };
  const part = (channels: number) => ({ elemType: UINT8, dims: [1, channels, 7, 7] });
  assert.deepEqual(applyRule(layoutRules, 'QLinearConcat', {
    inputs: [scale, zero, part(16), scale, zero, part(48), scale, zero], attributes: [attribute.int('axis', 1)],
  }), [{ elemType: UINT8, dims: [1, 64, 7, 7], value: undefined }]);
});

test('Gather replaces the axis by the indices dims and picks known values', () => {
  const shape = { elemType: INT64, dims: [4], value: ['N', 512, 7, 7] };
  assert.deepEqual(applyRule(layoutRules, 'Gather', { inputs: [shape, { elemType: INT64, dims: [], value: [0] }] }),
    [{ elemType: INT64, dims: [], value: ['N'] }]);
  assert.deepEqual(applyRule(layoutRules, 'Gather', { inputs: [shape, ints([-1, 1])] })[0]!.value, [7, 512]);
  // Embedding lookup: [vocab, hidden] gathered by [N, seq] → [N, seq, hidden].
  assert.deepEqual(outDims(layoutRules, 'Gather', { inputs: [{ dims: [30522, 768] }, { dims: ['N', 128] }] }), ['N', 128, 768]);
  assert.deepEqual(outDims(layoutRules, 'Gather', { inputs: [map, { dims: [] }], attributes: [attribute.int('axis', 1)] }), ['N', 7, 7]);
  assert.equal(outDims(layoutRules, 'Gather', { inputs: [map, { dims: [] }], attributes: [attribute.int('axis', -5)] }), undefined);
});
