// light_vgg19 on its own: ~20 GFLOPs per image at 224×224, so it gets a file that runs in parallel with the rest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cutBackbone } from '../../src/onnx/cut-backbone.js';
import { readModel } from '../../src/onnx/read-model.js';
import { lightFixture, skipWithoutShared } from '../helpers/shared.js';
import { BATCH, crossCheck, syntheticInput } from './helpers.js';

test('light_vgg19: auto-cut gives 4096 features (fc7 after ReLU) at batch 8', { skip: skipWithoutShared }, async () => {
  const model = await readModel(lightFixture('vgg19'));
  const cut = cutBackbone(model);
  assert.equal(cut.embeddingDim, 4096);
  assert.equal(cut.pooling, 'none');
  assert.equal(cut.model.graph!.node.filter((n) => n.op_type === 'Gemm').length, 2, 'fc6 and fc7 kept, fc8 removed');
  await crossCheck(model, cut, { input: syntheticInput([BATCH, 3, 224, 224]), fullBatch: 1, referenceRows: [BATCH - 1], relative: true });
});
