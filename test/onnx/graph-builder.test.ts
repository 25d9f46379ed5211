import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import {
  attribute, attributeInt, attributeInts, attributeString, irVersionForOpset, makeGraph, makeModel, makeNode, makeTensor,
  makeValueInfo, opsetVersion, setOpsetAtLeast, valueInfoDims,
} from '../../src/onnx/graph-builder.js';
import { pruneGraph } from '../../src/onnx/prune-graph.js';
import { TensorDataType } from '../../src/onnx/proto.js';
import { decodeModel } from '../../src/onnx/read-model.js';
import { tensorFloat32, tensorNumbers } from '../../src/onnx/tensor-data.js';
import { encodeModel } from '../../src/onnx/write-model.js';
import { runModel } from './helpers.js';

test('makeTensor stores each element type so that it reads back', () => {
  assert.deepEqual(tensorNumbers(makeTensor('a', 'int64', [2, 2], [1, -2, 3, 2 ** 40])), [1, -2, 3, 2 ** 40]);
  assert.deepEqual(tensorNumbers(makeTensor('b', 'uint8', [3], [0, 128, 255])), [0, 128, 255]);
  assert.deepEqual(tensorNumbers(makeTensor('c', 'int8', [2], [-128, 127])), [-128, 127]);
  assert.deepEqual(tensorNumbers(makeTensor('d', 'int32', [], [7])), [7]);
  assert.deepEqual(tensorFloat32(makeTensor('e', 'float32', [2], [0.5, -1.25])), new Float32Array([0.5, -1.25]));
  const strings = makeTensor('f', 'string', [2], ['cat', 'Größe']);
  assert.equal(strings.data_type, TensorDataType.STRING);
  assert.deepEqual(strings.string_data.map((s) => new TextDecoder().decode(s)), ['cat', 'Größe']);
  assert.throws(() => makeTensor('g', 'float32', [2, 3], [1, 2]), /dims \[2, 3\] hold 6 values, got 2/);
});

test('attributes and value infos read back as written', () => {
  const node = makeNode('Conv', ['x', 'w'], ['y'], {
    attributes: [attribute.ints('pads', [1, 1, 1, 1]), attribute.int('group', 2), attribute.string('auto_pad', 'NOTSET')],
  });
  assert.equal(node.name, 'y');
  assert.deepEqual(attributeInts(node, 'pads'), [1, 1, 1, 1]);
  assert.equal(attributeInt(node, 'group', 1), 2);
  assert.equal(attributeInt(node, 'missing', 9), 9);
  assert.equal(attributeString(node, 'auto_pad', ''), 'NOTSET');
  assert.throws(() => attribute.int('axis', 1.5), TypeError);
  assert.deepEqual(valueInfoDims(makeValueInfo('x', 'float32', ['N', 3, null, 224])), ['N', 3, null, 224]);
});

test('a composed head with baked preprocessing and a string label constant runs in onnxruntime', async () => {
  // uint8 HWC image → float → (x*scale − mean)/std → CHW → flatten → Gemm → Softmax, plus a labels output.
  const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
  const nodes = [
    makeNode('Cast', ['image'], ['finetune/float'], { attributes: [attribute.int('to', TensorDataType.FLOAT)] }),
    makeNode('Mul', ['finetune/float', 'finetune/scale'], ['finetune/scaled']),
    makeNode('Sub', ['finetune/scaled', 'finetune/mean'], ['finetune/centered']),
    makeNode('Div', ['finetune/centered', 'finetune/std'], ['finetune/normalized']),
    makeNode('Transpose', ['finetune/normalized'], ['finetune/chw'], { attributes: [attribute.ints('perm', [0, 3, 1, 2])] }),
    makeNode('Flatten', ['finetune/chw'], ['finetune/flat'], { attributes: [attribute.int('axis', 1)] }),
    makeNode('Gemm', ['finetune/flat', 'finetune/kernel', 'finetune/bias'], ['logits']),
    makeNode('Softmax', ['logits'], ['probabilities'], { attributes: [attribute.int('axis', 1)] }),
    makeNode('Constant', [], ['labels'], { attributes: [attribute.tensor('value', makeTensor('labels', 'string', [2], ['cat', 'dog']))] }),
  ];
  const kernel = new Float32Array(12 * 2).map((_, i) => (i % 2 === 0 ? 1 : -1) * (i / 24));
  const graph = makeGraph(nodes, [makeValueInfo('image', 'uint8', ['N', 2, 2, 3])], [
    makeValueInfo('probabilities', 'float32', ['N', 2]), makeValueInfo('labels', 'string', [2]),
  ], {
    initializers: [
      makeTensor('finetune/scale', 'float32', [], [1 / 255]), makeTensor('finetune/mean', 'float32', [3], mean),
      makeTensor('finetune/std', 'float32', [3], std), makeTensor('finetune/kernel', 'float32', [12, 2], kernel),
      makeTensor('finetune/bias', 'float32', [2], [0.1, -0.1]),
    ],
  });
  const model = makeModel(graph, { opset: 13, metadata: { classes: 'cat,dog' } });
  const back = decodeModel(encodeModel(model));
  assert.deepEqual(back.metadata_props, [{ key: 'classes', value: 'cat,dog' }]);
  const pixels = new Uint8Array(2 * 12).map((_, i) => (i * 37) % 256);
  const out = await runModel(back, { image: new ort.Tensor('uint8', pixels, [2, 2, 2, 3]) });
  assert.deepEqual(out.labels!.data, ['cat', 'dog']);
  const probabilities = out.probabilities!.data as Float32Array;
  // Expected, computed here: the same pipeline in plain loops.
  for (let image = 0; image < 2; image++) {
    const chw = new Float32Array(12);
    for (let y = 0; y < 2; y++) for (let x = 0; x < 2; x++) for (let c = 0; c < 3; c++) {
      chw[c * 4 + y * 2 + x] = (pixels[image * 12 + (y * 2 + x) * 3 + c]! / 255 - mean[c]!) / std[c]!;
    }
    const logits = [0.1, -0.1];
    for (let k = 0; k < 12; k++) for (let j = 0; j < 2; j++) logits[j]! += chw[k]! * kernel[k * 2 + j]!;
    const max = Math.max(...logits), exp = logits.map((l) => Math.exp(l - max)), sum = exp[0]! + exp[1]!;
    for (let j = 0; j < 2; j++) assert.ok(Math.abs(probabilities[image * 2 + j]! - exp[j]! / sum) < 1e-5);
  }
});

test('pruneGraph removes dead nodes, their initializers and initializer-inputs but keeps real inputs', () => {
  const graph = makeGraph([
    makeNode('Relu', ['x'], ['a']),
    makeNode('Mul', ['a', 'w_dead'], ['dead']),
    makeNode('Add', ['a', 'w_live'], ['y']),
  ], [makeValueInfo('x', 'float32', ['N', 2]), makeValueInfo('unused', 'float32', [1]), makeValueInfo('w_dead', 'float32', [2])],
  [makeValueInfo('y', 'float32', ['N', 2])], {
    initializers: [makeTensor('w_dead', 'float32', [2], [1, 2]), makeTensor('w_live', 'float32', [2], [3, 4])],
    valueInfo: [makeValueInfo('dead', 'float32', ['N', 2]), makeValueInfo('a', 'float32', ['N', 2])],
  });
  const result = pruneGraph(graph);
  assert.deepEqual(result, { removedNodes: 1, removedInitializers: 1, removedInputs: 1 });
  assert.deepEqual(graph.node.map((n) => n.op_type), ['Relu', 'Add']);
  assert.deepEqual(graph.initializer.map((t) => t.name), ['w_live']);
  assert.deepEqual(graph.input.map((i) => i.name), ['x', 'unused']);
  assert.deepEqual(graph.value_info.map((i) => i.name), ['a']);
  pruneGraph(graph, { removeUnusedInputs: true });
  assert.deepEqual(graph.input.map((i) => i.name), ['x']);
});

test('opset helpers raise versions and the IR version with them', () => {
  const model = makeModel(makeGraph([], [], []), { opset: 9 });
  assert.equal(model.ir_version, 4);
  assert.equal(opsetVersion(model), 9);
  assert.equal(setOpsetAtLeast(model, 13), 13);
  assert.equal(model.ir_version, 7);
  assert.equal(setOpsetAtLeast(model, 11), 13, 'never lowers');
  setOpsetAtLeast(model, 1, 'com.microsoft');
  assert.equal(opsetVersion(model, 'com.microsoft'), 1);
  assert.deepEqual([7, 10, 11, 12, 15, 19, 21].map(irVersionForOpset), [3, 5, 6, 7, 8, 9, 10]);
});
