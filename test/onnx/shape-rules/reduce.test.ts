import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attribute } from '../../../src/onnx/graph-builder.js';
import { reduceRules } from '../../../src/onnx/shape-rules/reduce.js';
import { FLOAT, INT64, applyRule, outDims } from './apply-rule.js';

const map = { elemType: FLOAT, dims: ['N', 1280, 7, 7] as Array<number | string> };
const axes = (value: number[]) => ({ elemType: INT64, dims: [value.length], value });

test('ReduceMean over H and W: keepdims (default) keeps them as 1, keepdims 0 drops them', () => {
  assert.deepEqual(outDims(reduceRules, 'ReduceMean', { inputs: [map], attributes: [attribute.ints('axes', [2, 3])] }), ['N', 1280, 1, 1]);
  assert.deepEqual(outDims(reduceRules, 'ReduceMean', {
    inputs: [map], attributes: [attribute.ints('axes', [-1, -2]), attribute.int('keepdims', 0)],
  }), ['N', 1280]);
});

test('axes come from input 1 for ReduceSum at opset 13 and every Reduce* at opset 18', () => {
  assert.deepEqual(outDims(reduceRules, 'ReduceSum', { inputs: [map, axes([1])], opset: 13 }), ['N', 1, 7, 7]);
  assert.deepEqual(outDims(reduceRules, 'ReduceMax', { inputs: [map, axes([3])], opset: 18, attributes: [attribute.int('keepdims', 0)] }),
    ['N', 1280, 7]);
  // At opset 13 ReduceMax still reads the attribute: no attribute means every axis.
  assert.deepEqual(outDims(reduceRules, 'ReduceMax', { inputs: [map, axes([3])], opset: 13 }), [1, 1, 1, 1]);
  // Axes known only at run time: unknown.
  assert.equal(outDims(reduceRules, 'ReduceL2', { inputs: [map, { elemType: INT64, dims: [1] }], opset: 18 }), undefined);
  assert.equal(outDims(reduceRules, 'ReduceMean', { inputs: [map], attributes: [attribute.ints('axes', [4])] }), undefined);
});

test('ArgMax/ArgMin give int64 indices, keeping the axis as 1 or dropping it', () => {
  const probabilities = { elemType: FLOAT, dims: ['N', 1000] };
  assert.deepEqual(applyRule(reduceRules, 'ArgMax', { inputs: [probabilities], attributes: [attribute.int('axis', 1), attribute.int('keepdims', 0)] }),
    [{ elemType: INT64, dims: ['N'] }]);
  assert.deepEqual(outDims(reduceRules, 'ArgMin', { inputs: [probabilities], attributes: [attribute.int('axis', -1)] }), ['N', 1]);
  assert.deepEqual(applyRule(reduceRules, 'ArgMax', { inputs: [probabilities], attributes: [attribute.int('axis', 2)] }), [{ elemType: INT64 }]);
});
