import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attribute } from '../../../src/onnx/graph-builder.js';
import { linearRules } from '../../../src/onnx/shape-rules/linear.js';
import { FLOAT, INT32, UINT8, applyRule, outDims } from './apply-rule.js';

test('Gemm: [M, K] × [K, N] → [M, N], with transA/transB choosing the axes', () => {
  const a = { elemType: FLOAT, dims: ['N', 4096] }, b = { elemType: FLOAT, dims: [4096, 1000] };
  assert.deepEqual(applyRule(linearRules, 'Gemm', { inputs: [a, b, { dims: [1000] }] }), [{ elemType: FLOAT, dims: ['N', 1000] }]);
  // VGG16-7's fc layers store B as [N, K] with transB = 1.
  assert.deepEqual(outDims(linearRules, 'Gemm', { inputs: [a, { dims: [1000, 4096] }], attributes: [attribute.int('transB', 1)] }), ['N', 1000]);
  assert.deepEqual(outDims(linearRules, 'Gemm', { inputs: [{ dims: [4096, 'N'] }, b], attributes: [attribute.int('transA', 1)] }), ['N', 1000]);
  assert.deepEqual(outDims(linearRules, 'Gemm', { inputs: [{}, b] }), [null, 1000]);
});

test('QGemm reads B at input 3 and is float unless given an output zero point', () => {
  const scale = { elemType: FLOAT, dims: [] }, zero = { elemType: UINT8, dims: [] };
  const inputs = [{ elemType: UINT8, dims: [1, 1280] }, scale, zero, { elemType: UINT8, dims: [1280, 1000] }, null, scale, zero];
  assert.deepEqual(applyRule(linearRules, 'QGemm', { inputs, attributes: [attribute.int('transB', 0)] }), [{ elemType: FLOAT, dims: [1, 1000] }]);
  assert.equal(applyRule(linearRules, 'QGemm', { inputs: [...inputs, zero] })[0]!.elemType, UINT8);
});

test('MatMul follows numpy.matmul: batch axes broadcast, 1-D operands lose their added axis', () => {
  // numpy.matmul shapes: (N,12,197,64) @ (N,12,64,197) → (N,12,197,197); (2,3) @ (3,) → (2,); (3,) @ (3,4) → (4,).
  assert.deepEqual(outDims(linearRules, 'MatMul', { inputs: [{ dims: ['N', 12, 197, 64] }, { dims: ['N', 12, 64, 197] }] }), ['N', 12, 197, 197]);
  assert.deepEqual(outDims(linearRules, 'MatMul', { inputs: [{ dims: [2, 3] }, { dims: [3] }] }), [2]);
  assert.deepEqual(outDims(linearRules, 'MatMul', { inputs: [{ dims: [3] }, { dims: [3, 4] }] }), [4]);
  assert.deepEqual(outDims(linearRules, 'MatMul', { inputs: [{ dims: [5, 1, 2, 3] }, { dims: [7, 3, 4] }] }), [5, 7, 2, 4]);
  assert.equal(outDims(linearRules, 'MatMul', { inputs: [{ dims: [] }, { dims: [3] }] }), undefined);
});

test('MatMulInteger gives int32, MatMulIntegerToFloat float, QLinearMatMul reads B at input 3', () => {
  const a = { elemType: UINT8, dims: [1, 8] }, b = { elemType: UINT8, dims: [8, 2] };
  assert.deepEqual(applyRule(linearRules, 'MatMulInteger', { inputs: [a, b] }), [{ elemType: INT32, dims: [1, 2] }]);
  assert.deepEqual(applyRule(linearRules, 'MatMulIntegerToFloat', { inputs: [a, b] }), [{ elemType: FLOAT, dims: [1, 2] }]);
  const scale = { elemType: FLOAT, dims: [] }, zero = { elemType: UINT8, dims: [] };
  assert.deepEqual(applyRule(linearRules, 'QLinearMatMul', { inputs: [a, scale, zero, b, scale, zero, scale, zero] }),
    [{ elemType: UINT8, dims: [1, 2] }]);
});
