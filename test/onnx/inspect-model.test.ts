import { test } from 'node:test';
import assert from 'node:assert/strict';
import { opsetVersion } from '../../src/onnx/graph-builder.js';
import { formatInspection } from '../../src/onnx/format-inspection.js';
import { inferShapes } from '../../src/onnx/infer-shapes.js';
import { inspectModel } from '../../src/onnx/inspect-model.js';
import { readModel } from '../../src/onnx/read-model.js';
import { tensorElementCount } from '../../src/onnx/tensor-data.js';
import { buildResnetBackbone, buildVggBackbone } from '../../src/onnx/test-backbones.js';
import { lightFixture, mobilenetInt8Path, skipWithoutShared } from '../helpers/shared.js';
import { runModel, syntheticInput, withExtraOutput } from './helpers.js';

test('inspectModel on a test backbone: inputs, outputs, counts and the automatic cut', () => {
  const backbone = buildResnetBackbone({ width: 8 });
  const inspection = inspectModel(backbone.model);
  assert.equal(inspection.irVersion, 7);
  assert.deepEqual(inspection.opsets, [{ domain: 'ai.onnx', version: 13 }]);
  assert.deepEqual(inspection.inputs, [{ name: 'input', type: 'float32', dims: ['N', 3, 32, 32] }]);
  assert.equal(inspection.initializerInputs, 0);
  assert.deepEqual(inspection.outputs, [{ name: backbone.outputName, type: 'float32', dims: ['N', 10] }]);
  assert.equal(inspection.nodeCount, backbone.model.graph!.node.length);
  const params = backbone.model.graph!.initializer.reduce((sum, t) => sum + tensorElementCount(t), 0);
  assert.equal(inspection.parameterCount, params);
  // The classifier reads Flatten(pool); the cut steps back over the Flatten of a [N, 32, 1, 1] map.
  assert.deepEqual(inspection.autoCut, { tensor: 'resnet/pool', classifier: 'Gemm', quantized: false });
  assert.deepEqual(inspection.featureCandidates.find((c) => c.auto), {
    name: 'resnet/pool', type: 'float32', dims: ['N', 32, 1, 1], producer: 'GlobalAveragePool', auto: true, poolings: ['flatten', 'avg', 'max'],
  });
  assert.ok(inspection.featureCandidates.some((c) => c.name === 'resnet/flatten' && c.dims?.join() === 'N,32'));
  assert.deepEqual(JSON.parse(JSON.stringify(inspection)), inspection, 'JSON-serializable');
  const text = formatInspection(inspection);
  assert.match(text, /input\s+input\s+float32\s+\[N, 3, 32, 32\]/);
  assert.match(text, /\*\s+resnet\/pool\s+float32\s+\[N, 32, 1, 1\]\s+GlobalAveragePool/);
});

test('inspectModel separates initializers listed as inputs (IR 3)', () => {
  const backbone = buildVggBackbone({ opset: 7, batch: 1 });
  const inspection = inspectModel(backbone.model);
  assert.equal(inspection.irVersion, 3);
  assert.deepEqual(inspection.inputs.map((i) => i.name), ['input']);
  assert.equal(inspection.initializerInputs, backbone.model.graph!.initializer.length);
  assert.match(formatInspection(inspection), /initializers are also listed as graph inputs/);
});

test('static shapes match the shapes onnxruntime computes for every tensor of the test backbones', async () => {
  for (const backbone of [buildVggBackbone({ inputSize: 40 }), buildResnetBackbone({ inputSize: 24, opset: 9, flatten: 'reshape' })]) {
    const infos = inferShapes(backbone.model.graph!, { opset: opsetVersion(backbone.model) });
    const size = backbone.inputShape[2] as number;
    let probe = backbone.model;
    const names = backbone.model.graph!.node.map((n) => n.output[0]!);
    for (const name of names) probe = withExtraOutput(probe, name);
    const outputs = await runModel(probe, { input: syntheticInput([3, 3, size, size]) });
    for (const name of names) {
      const expected = outputs[name]!.dims.map((d, i) => (i === 0 ? 'N' : d));
      assert.deepEqual(infos.get(name)?.dims, expected, name);
    }
  }
});

test('inspect on the zoo fixtures: real inputs, parameters, auto-cut tensors', { skip: skipWithoutShared }, async () => {
  const resnet = inspectModel(await readModel(lightFixture('resnet50')));
  assert.deepEqual(resnet.inputs, [{ name: 'gpu_0/data_0', type: 'float32', dims: [1, 3, 224, 224] }]);
  assert.equal(resnet.initializerInputs, 269);
  assert.equal(resnet.producer, 'onnx-caffe2');
  assert.ok(resnet.parameterCount > 25_000_000 && resnet.parameterCount < 26_000_000, `${resnet.parameterCount}`);
  assert.deepEqual(resnet.autoCut, { tensor: 'r172', classifier: 'Gemm', quantized: false });

  const squeezenet = inspectModel(await readModel(lightFixture('squeezenet')));
  assert.equal('tensor' in squeezenet.autoCut && squeezenet.autoCut.tensor, 'r60');
  assert.match(formatInspection(squeezenet), /Conv 1×1 → GlobalAveragePool/);

  const mobilenet = inspectModel(await readModel(mobilenetInt8Path));
  assert.deepEqual(mobilenet.inputs, [{ name: 'input', type: 'float32', dims: ['batch_size', 3, 224, 224] }]);
  assert.deepEqual(mobilenet.autoCut, { tensor: '464_quantized', classifier: 'QLinearMatMul+QLinearAdd', quantized: true });
  assert.deepEqual(mobilenet.featureCandidates.find((c) => c.auto)?.dims, ['batch_size', 1280, 1, 1]);
  assert.ok(mobilenet.opsets.some((o) => o.domain === 'com.microsoft'));
  assert.ok(mobilenet.operators.some((o) => o.opType === 'com.microsoft.QLinearAdd' && o.count === 11));
});
