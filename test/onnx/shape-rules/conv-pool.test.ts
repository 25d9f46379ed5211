import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attribute } from '../../../src/onnx/graph-builder.js';
import { convPoolRules } from '../../../src/onnx/shape-rules/conv-pool.js';
import { FLOAT, INT32, INT64, UINT8, applyRule, outDims } from './apply-rule.js';

const image = (size: number, channels = 3): { elemType: number; dims: Array<number | string> } =>
  ({ elemType: FLOAT, dims: ['N', channels, size, size] });

test('Conv: ResNet-50 conv1 (7×7, stride 2, pads 3) maps 224 to 112', () => {
  // ONNX Conv doc: floor((224 + 3 + 3 − 7) / 2) + 1 = 112.
  const dims = outDims(convPoolRules, 'Conv', {
    inputs: [image(224), { elemType: FLOAT, dims: [64, 3, 7, 7] }],
    attributes: [attribute.ints('strides', [2, 2]), attribute.ints('pads', [3, 3, 3, 3])],
  });
  assert.deepEqual(dims, ['N', 64, 112, 112]);
});

test('Conv: kernel from the weights, dilation, asymmetric pads, auto_pad', () => {
  const w = { elemType: FLOAT, dims: [8, 3, 3, 3] };
  // No pads: 32 − 3 + 1 = 30; dilation 2 makes the kernel span 5: 32 − 5 + 1 = 28.
  assert.deepEqual(outDims(convPoolRules, 'Conv', { inputs: [image(32), w] }), ['N', 8, 30, 30]);
  assert.deepEqual(outDims(convPoolRules, 'Conv', { inputs: [image(32), w], attributes: [attribute.ints('dilations', [2, 2])] }),
    ['N', 8, 28, 28]);
  // pads [top=1, left=0, bottom=0, right=2]: H 32+1−3+1 = 31, W 32+2−3+1 = 32.
  assert.deepEqual(outDims(convPoolRules, 'Conv', { inputs: [image(32), w], attributes: [attribute.ints('pads', [1, 0, 0, 2])] }),
    ['N', 8, 31, 32]);
  // SAME_UPPER with stride 2: ceil(33 / 2) = 17; VALID: floor((33 − 3) / 2) + 1 = 16.
  for (const [autoPad, expected] of [['SAME_UPPER', 17], ['SAME_LOWER', 17], ['VALID', 16]] as const) {
    assert.deepEqual(outDims(convPoolRules, 'Conv', {
      inputs: [image(33), w], attributes: [attribute.string('auto_pad', autoPad), attribute.ints('strides', [2, 2])],
    }), ['N', 8, expected, expected], autoPad);
  }
});

test('Conv: symbolic spatial sizes stay unknown; unknown weights or input give an unknown shape', () => {
  assert.deepEqual(outDims(convPoolRules, 'Conv', { inputs: [{ elemType: FLOAT, dims: ['N', 3, 'H', 'W'] }, { dims: [8, 3, 3, 3] }] }),
    ['N', 8, null, null]);
  assert.deepEqual(applyRule(convPoolRules, 'Conv', { inputs: [image(32), {}] }), [{ elemType: FLOAT }]);
  assert.deepEqual(applyRule(convPoolRules, 'Conv', { inputs: [{ elemType: FLOAT }, { dims: [8, 3, 3, 3] }] }), [{ elemType: FLOAT }]);
});

test('Conv: hostile attributes (stride 0, a negative size) give unknown sizes, not NaN', () => {
  const w = { elemType: FLOAT, dims: [8, 3, 3, 3] };
  assert.deepEqual(outDims(convPoolRules, 'Conv', { inputs: [image(32), w], attributes: [attribute.ints('strides', [0, -1])] }),
    ['N', 8, null, null]);
  assert.deepEqual(outDims(convPoolRules, 'Conv', { inputs: [image(2), w], attributes: [attribute.ints('kernel_shape', [9, 9])] }),
    ['N', 8, null, null]);
});

test('ConvInteger gives int32; QLinearConv reads W at input 3 and keeps the input type', () => {
  const x = { elemType: UINT8, dims: [1, 3, 8, 8] };
  assert.deepEqual(applyRule(convPoolRules, 'ConvInteger', { inputs: [x, { elemType: UINT8, dims: [4, 3, 1, 1] }] }),
    [{ elemType: INT32, dims: [1, 4, 8, 8] }]);
  const scale = { elemType: FLOAT, dims: [] }, zero = { elemType: UINT8, dims: [] };
  assert.deepEqual(applyRule(convPoolRules, 'QLinearConv', {
    inputs: [x, scale, zero, { elemType: UINT8, dims: [16, 3, 3, 3] }, scale, zero, scale, zero],
    attributes: [attribute.ints('pads', [1, 1, 1, 1])],
  }), [{ elemType: UINT8, dims: [1, 16, 8, 8] }]);
});

test('NhwcConv (com.microsoft) is channels-last: [N, H, W, C] → [N, H′, W′, M]', () => {
  assert.deepEqual(outDims(convPoolRules, 'NhwcConv', {
    inputs: [{ elemType: FLOAT, dims: ['N', 32, 32, 3] }, { elemType: FLOAT, dims: [8, 3, 3, 3] }],
    attributes: [attribute.ints('strides', [2, 2]), attribute.ints('pads', [1, 1, 1, 1])],
  }), ['N', 16, 16, 8]);
});

test('MaxPool: VGG 2×2 stride 2 halves; ceil_mode rounds up; indices output is int64', () => {
  const out = applyRule(convPoolRules, 'MaxPool', {
    inputs: [image(224, 64)], attributes: [attribute.ints('kernel_shape', [2, 2]), attribute.ints('strides', [2, 2])], outputs: 2,
  });
  assert.deepEqual(out, [{ elemType: FLOAT, dims: ['N', 64, 112, 112] }, { elemType: INT64, dims: ['N', 64, 112, 112] }]);
  // 3×3 stride 2 on 112: floor((112 − 3) / 2) + 1 = 55; with ceil_mode ceil(109 / 2) + 1 = 56 (SqueezeNet's pools).
  const pool = (size: number, ceil: number) => outDims(convPoolRules, 'MaxPool', {
    inputs: [image(size, 8)],
    attributes: [attribute.ints('kernel_shape', [3, 3]), attribute.ints('strides', [2, 2]), attribute.int('ceil_mode', ceil)],
  });
  assert.deepEqual(pool(112, 0), ['N', 8, 55, 55]);
  assert.deepEqual(pool(112, 1), ['N', 8, 56, 56]);
});

test('AveragePool and QLinearAveragePool follow the same arithmetic', () => {
  for (const op of ['AveragePool', 'LpPool', 'QLinearAveragePool']) {
    assert.deepEqual(outDims(convPoolRules, op, {
      inputs: [image(7, 1024)], attributes: [attribute.ints('kernel_shape', [7, 7])],
    }), ['N', 1024, 1, 1], op);
  }
});

test('global pools reduce every spatial axis to 1; QLinearGlobalAveragePool may be channels-last', () => {
  for (const op of ['GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool', 'QLinearGlobalAveragePool']) {
    assert.deepEqual(outDims(convPoolRules, op, { inputs: [image(7, 2048)] }), ['N', 2048, 1, 1], op);
  }
  assert.deepEqual(outDims(convPoolRules, 'QLinearGlobalAveragePool', {
    inputs: [{ elemType: UINT8, dims: [1, 7, 7, 1280] }], attributes: [attribute.int('channels_last', 1)],
  }), [1, 1, 1, 1280]);
  assert.deepEqual(applyRule(convPoolRules, 'GlobalAveragePool', { inputs: [{ elemType: FLOAT }] }), [{ elemType: FLOAT }]);
});
