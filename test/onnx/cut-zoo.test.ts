// Auto-cut on the zoo's light fixtures and the real int8 MobileNetV2 (../shared).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cutBackbone } from '../../src/onnx/cut-backbone.js';
import { readModel } from '../../src/onnx/read-model.js';
import { tensorNumbers } from '../../src/onnx/tensor-data.js';
import { lightFixture, mobilenetInt8Path, skipWithoutShared } from '../helpers/shared.js';
import { BATCH, crossCheck, runModel, syntheticInput } from './helpers.js';

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

test('mobilenetv2-12-int8: --layer on a quantized spatial map dequantizes, then pools', { skip: skipWithoutShared }, async () => {
  const model = await readModel(mobilenetInt8Path);
  const cut = cutBackbone(model, { layer: '627_quantized', pooling: 'max' });
  assert.deepEqual(cut.featureShape, ['batch_size', 1280, 7, 7]);
  assert.equal(cut.dequantized, true);
  assert.equal(cut.pooling, 'max');
  const initializer = (name: string): number => tensorNumbers(model.graph!.initializer.find((t) => t.name === name)!)[0]!;
  const dequantize = { scale: initializer('627_scale'), zeroPoint: initializer('627_zero_point') };
  await crossCheck(model, cut, { input: syntheticInput([BATCH, 3, 224, 224], 3), fullBatch: BATCH, dequantize });
});

test('mobilenetv2-12-int8: --layer on the quantized [N, 1280] classifier input gives the auto-cut features', { skip: skipWithoutShared }, async () => {
  const model = await readModel(mobilenetInt8Path);
  const flat = cutBackbone(model, { layer: '472_quantized' });
  assert.deepEqual([flat.embeddingDim, flat.dequantized, flat.pooling], [1280, true, 'none']);
  assert.equal(flat.model.graph!.node.at(-1)!.op_type, 'DequantizeLinear');
  const input = syntheticInput([BATCH, 3, 224, 224], 5);
  const [a, b] = await Promise.all([
    runModel(flat.model, { input }), runModel(cutBackbone(model).model, { input }),
  ]);
  assert.deepEqual(a.features!.data, b.features!.data);
});
