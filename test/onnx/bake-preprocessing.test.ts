import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { FinetuneError } from '../../src/errors.js';
import { bakePreprocessing } from '../../src/onnx/bake-preprocessing.js';
import { makeGraph, makeModel, makeNode, makeValueInfo } from '../../src/onnx/graph-builder.js';
import { NameScope } from '../../src/onnx/graph-names.js';
import { encodeModel } from '../../src/onnx/write-model.js';
import type { PreprocessSpec } from '../../src/types.js';

const SPEC: PreprocessSpec = {
  resizeMode: 'shorter-side', resizeSize: 2, resizeFilter: 'pil-bilinear', cropSize: 2, scale: 0.5, mean: [1, 2, 3], std: [2, 4, 8], channelOrder: 'BGR', layout: 'NCHW',
};

/** A "backbone" that is the identity on its float input, so the graph's output is the preprocessed tensor. */
function identityBackbone(dims: Array<number | string>) {
  return makeGraph([makeNode('Identity', ['pixels'], ['out'])], [makeValueInfo('pixels', 'float32', dims)], [makeValueInfo('out', 'float32', dims)]);
}

test('bakePreprocessing computes (pixel·scale − mean) / std, BGR order and NCHW layout, from a uint8 HWC image', async () => {
  const graph = identityBackbone(['N', 3, 2, 2]);
  bakePreprocessing(graph, 'pixels', SPEC, { imageInput: 'image', scope: new NameScope(['pixels', 'out', 'image']) });
  assert.deepEqual(graph.input.map((input) => input.name), ['image']);
  assert.deepEqual(graph.node.map((node) => node.op_type), ['Cast', 'Mul', 'Sub', 'Div', 'Gather', 'Transpose', 'Identity']);
  assert.ok(graph.node.slice(0, 6).every((node) => node.name?.startsWith('finetune/preprocess/')));
  const pixels = Uint8Array.from({ length: 12 }, (_, i) => 10 * i);   // pixel p = [r, g, b] = [30p, 30p+10, 30p+20]
  const session = await ort.InferenceSession.create(encodeModel(makeModel(graph, { opset: 13 })));
  try {
    const out = (await session.run({ image: new ort.Tensor('uint8', pixels, [1, 2, 2, 3]) }))['out']!;
    assert.deepEqual(out.dims, [1, 3, 2, 2]);
    // Channel 0 is blue: (b·0.5 − 3) / 8; channel 2 is red: (r·0.5 − 1) / 2.
    const expected: number[] = [];
    for (const [rgbIndex, mean, std] of [[2, 3, 8], [1, 2, 4], [0, 1, 2]] as const) {
      for (let p = 0; p < 4; p++) expected.push((pixels[p * 3 + rgbIndex]! * 0.5 - mean) / std);
    }
    assert.deepEqual([...(out.data as Float32Array)], expected.map(Math.fround));
  } finally {
    await session.release();
  }
});

test('bakePreprocessing refuses an input that is not float32 or not the spec shape', () => {
  const wrongShape = identityBackbone(['N', 3, 4, 4]);
  assert.throws(() => bakePreprocessing(wrongShape, 'pixels', SPEC, { imageInput: 'image', scope: new NameScope([]) }),
    (error: FinetuneError) => error.code === 'EXPORT_FAILED' && /\[N, 3, 4, 4\].*NCHW \[N, 3, 2, 2\]/.test(error.message));
  const ints = makeGraph([], [makeValueInfo('pixels', 'int64', ['N', 3, 2, 2])], []);
  assert.throws(() => bakePreprocessing(ints, 'pixels', SPEC, { imageInput: 'image', scope: new NameScope([]) }), /not float32/);
});

test('bakePreprocessing keeps a fixed batch and lists its constants as inputs for IR 3', () => {
  const graph = identityBackbone([1, 2, 2, 3]);
  bakePreprocessing(graph, 'pixels', { ...SPEC, layout: 'NHWC', channelOrder: 'RGB' }, { imageInput: 'image', scope: new NameScope([]), listInitializersAsInputs: true });
  assert.deepEqual(graph.input[0]!.type?.tensor_type?.shape?.dim.map((dim) => dim.dim_value), [1, 2, 2, 3]);
  assert.deepEqual(graph.input.slice(1).map((input) => input.name), graph.initializer.map((tensor) => tensor.name));
  assert.deepEqual(graph.node.map((node) => node.op_type), ['Cast', 'Mul', 'Sub', 'Div', 'Identity']);
});
