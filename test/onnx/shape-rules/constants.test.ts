import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attribute, makeAttribute, makeTensor } from '../../../src/onnx/graph-builder.js';
import { constantInfo, constantRules } from '../../../src/onnx/shape-rules/constants.js';
import { FLOAT, INT32, INT64, applyRule } from './apply-rule.js';

test('constantInfo: dims and type of any tensor, values of small integer tensors only', () => {
  assert.deepEqual(constantInfo(makeTensor('shape', 'int64', [2], [0, -1])), { elemType: INT64, dims: [2], constant: true, value: [0, -1] });
  assert.deepEqual(constantInfo(makeTensor('axes', 'int32', [1], [3])), { elemType: INT32, dims: [1], constant: true, value: [3] });
  assert.deepEqual(constantInfo(makeTensor('w', 'float32', [2, 2], [1, 2, 3, 4])), { elemType: FLOAT, dims: [2, 2], constant: true });
  const big = constantInfo(makeTensor('big', 'int64', [65], new Array<number>(65).fill(1)));
  assert.equal(big.value, undefined, 'more than 64 values are not tracked');
  assert.deepEqual(constantInfo(makeTensor('empty', 'int64', [0], [])).value, []);
});

test('constantInfo: a damaged tensor (too few bytes, negative dims) has no value and does not throw', () => {
  const short = makeTensor('short', 'int64', [2], [1, 2]);
  short.raw_data = short.raw_data!.subarray(0, 12);
  assert.equal(constantInfo(short).value, undefined);
  const negative = makeTensor('negative', 'int64', [1], [1]);
  negative.dims = [-1];
  assert.equal(constantInfo(negative).value, undefined);
  const typed = makeTensor('typed', 'int64', [3], [1, 2, 3]);
  delete typed.raw_data;
  typed.int64_data = [1, 2];
  assert.equal(constantInfo(typed).value, undefined, 'two stored values for three elements');
});

test('Constant: from its tensor or its value_* attribute', () => {
  assert.deepEqual(applyRule(constantRules, 'Constant', { inputs: [], attributes: [attribute.tensor('value', makeTensor('t', 'int64', [1], [7]))] }),
    [{ elemType: INT64, dims: [1], constant: true, value: [7] }]);
  assert.deepEqual(applyRule(constantRules, 'Constant', { inputs: [], attributes: [attribute.int('value_int', 5)] }),
    [{ elemType: INT64, dims: [], value: [5], constant: true }]);
  assert.deepEqual(applyRule(constantRules, 'Constant', { inputs: [], attributes: [attribute.ints('value_ints', [1, -1])] }),
    [{ elemType: INT64, dims: [2], value: [1, -1], constant: true }]);
  assert.deepEqual(applyRule(constantRules, 'Constant', { inputs: [], attributes: [attribute.floats('value_floats', [0.5, 1, 2])] }),
    [{ elemType: FLOAT, dims: [3], constant: true }]);
  assert.deepEqual(applyRule(constantRules, 'Constant', { inputs: [], attributes: [makeAttribute('value_strings', 'strings', ['a'])] }),
    [{ elemType: 8, dims: [1], constant: true }]);
  assert.deepEqual(applyRule(constantRules, 'Constant', { inputs: [] }), [{}]);
});

test('ConstantOfShape: dims from the input values, type from the value tensor', () => {
  assert.deepEqual(applyRule(constantRules, 'ConstantOfShape', { inputs: [{ elemType: INT64, dims: [2], value: ['N', 4] }] }),
    [{ elemType: FLOAT, dims: ['N', 4], constant: true }]);
  assert.deepEqual(applyRule(constantRules, 'ConstantOfShape', {
    inputs: [{ elemType: INT64, dims: [1], value: [3] }], attributes: [attribute.tensor('value', makeTensor('v', 'int64', [1], [0]))],
  }), [{ elemType: INT64, dims: [3], constant: true, value: [0, 0, 0] }]); // a small integer fill is tracked by value
  assert.deepEqual(applyRule(constantRules, 'ConstantOfShape', { inputs: [{ elemType: INT64, dims: [1] }] }),
    [{ elemType: FLOAT, dims: undefined, constant: true }]);
});

test('Shape gives the dims as values, sliced by start/end (opset 15); Size is an int64 scalar', () => {
  const x = { elemType: FLOAT, dims: ['N', 3, 224, 224] };
  assert.deepEqual(applyRule(constantRules, 'Shape', { inputs: [x] }), [{ elemType: INT64, dims: [4], value: ['N', 3, 224, 224] }]);
  assert.deepEqual(applyRule(constantRules, 'Shape', { inputs: [x], attributes: [attribute.int('start', 1), attribute.int('end', -1)] })[0]!.value,
    [3, 224]);
  assert.deepEqual(applyRule(constantRules, 'Shape', { inputs: [x], attributes: [attribute.int('start', -9), attribute.int('end', 99)] })[0]!.value,
    ['N', 3, 224, 224], 'start/end are clamped');
  assert.deepEqual(applyRule(constantRules, 'Shape', { inputs: [{}] }), [{ elemType: INT64 }]);
  assert.deepEqual(applyRule(constantRules, 'Size', { inputs: [x] }), [{ elemType: INT64, dims: [] }]);
});
