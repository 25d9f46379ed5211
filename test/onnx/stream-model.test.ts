import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { FinetuneError } from '../../src/errors.js';
import { attribute, emptyTensor, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../../src/onnx/graph-builder.js';
import { TensorDataType } from '../../src/onnx/proto.js';
import type { ModelProto } from '../../src/onnx/proto.js';
import { readModel } from '../../src/onnx/read-model.js';
import { inlineModelSize, referenceWeights, streamModel } from '../../src/onnx/stream-model.js';
import { buildResnetBackbone, buildVgg16Backbone, buildVggBackbone } from '../../src/onnx/test-backbones.js';
import { encodeModel } from '../../src/onnx/write-model.js';
import { lightFixture, mobilenetInt8Path, skipWithoutShared } from '../helpers/shared.js';
import { syntheticInput } from './helpers.js';

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'finetune-stream-'));
  try { await fn(dir); } finally { await rm(dir, { recursive: true, force: true }); }
}

/** A model with a Constant node, an int64 initializer without raw_data and metadata: every kind of piece. */
function mixedModel(): ModelProto {
  const w = makeTensor('w', 'float32', [3, 2], [1, 2, 3, 4, 5, 6]);
  const shape = emptyTensor('shape', TensorDataType.INT64, [2]);
  shape.int64_data = [0, -1];
  const graph = makeGraph([
    makeNode('Constant', [], ['c'], { attributes: [attribute.tensor('value', makeTensor('cv', 'float32', [2], [0.5, -0.5]))] }),
    makeNode('MatMul', ['x', 'w'], ['m']),
    makeNode('Add', ['m', 'c'], ['a']),
    makeNode('Reshape', ['a', 'shape'], ['y']),
  ], [makeValueInfo('x', 'float32', ['N', 3])], [makeValueInfo('y', 'float32', ['N', 2])], { initializers: [w, shape], name: 'mixed' });
  return makeModel(graph, { opset: 13, metadata: { note: 'hello' }, docString: 'doc' });
}

test('streamModel writes exactly the bytes encodeModel gives, and says where every weight sits', async () => {
  await withTempDir(async (dir) => {
    const models = [mixedModel(), buildVggBackbone({ opset: 7, batch: 1 }).model, buildResnetBackbone().model];
    if (!skipWithoutShared) {
      for (const path of [lightFixture('resnet50'), mobilenetInt8Path]) models.push(await readModel(path));
    }
    for (const [index, model] of models.entries()) {
      const path = join(dir, `m${index}.onnx`);
      const written = await streamModel(model, path);
      const bytes = await readFile(path);
      assert.ok(bytes.equals(Buffer.from(encodeModel(model))), `model ${index}: the same bytes as encodeModel`);
      assert.equal(written.sizeBytes, bytes.length);
      assert.equal(inlineModelSize(model), bytes.length);
      assert.match(written.sha256, /^[0-9a-f]{64}$/);
      assert.equal(written.externalData, null);
      const withRaw = model.graph!.initializer.filter((tensor) => tensor.raw_data);
      assert.equal(written.weights.length, withRaw.length);
      for (const weight of written.weights) {
        const tensor = withRaw.find((candidate) => candidate.name === weight.name)!;
        assert.equal(weight.file, 'model');
        assert.deepEqual(bytes.subarray(weight.offset, weight.offset + weight.length), Buffer.from(tensor.raw_data!), weight.name);
      }
    }
  });
});

test('with external data, large initializers go to an aligned data file that readModel and onnxruntime load', async () => {
  await withTempDir(async (dir) => {
    const model = buildResnetBackbone({ seed: 4 }).model;
    const path = join(dir, 'model.onnx');
    const written = await streamModel(model, path, { externalData: { path: `${path}.data`, location: 'model.onnx.data' } });
    const large = model.graph!.initializer.filter((tensor) => (tensor.raw_data?.length ?? 0) >= 1024);
    assert.equal(written.externalData?.tensors, large.length);
    assert.ok(written.sizeBytes < 20_000, `the model file keeps only the structure (${written.sizeBytes} bytes)`);
    for (const weight of written.weights.filter((w) => w.file === 'external')) assert.equal(weight.offset % 4096, 0, weight.name);
    assert.ok(Buffer.from(encodeModel(await readModel(path))).equals(Buffer.from(encodeModel(model))), 'reloads to the same model');
    const input = syntheticInput([2, 3, 32, 32]);
    const inline = await ort.InferenceSession.create(encodeModel(model));
    const external = await ort.InferenceSession.create(path);
    try {
      const a = (await inline.run({ input }))[inline.outputNames[0]!]!.data as Float32Array;
      const b = (await external.run({ input }))[external.outputNames[0]!]!.data as Float32Array;
      assert.deepEqual(b, a);
    } finally {
      await inline.release();
      await external.release();
    }
  });
});

test('referenceWeights: a small model that reads its weights from a large one already on disk', async () => {
  await withTempDir(async (dir) => {
    const model = buildVggBackbone({ seed: 2 }).model;
    const written = await streamModel(model, join(dir, 'big.onnx'));
    const small = referenceWeights(model, written.weights, { model: 'big.onnx' });
    assert.equal(model.graph!.initializer[0]!.raw_data !== undefined, true, 'the input model is not modified');
    const bytes = encodeModel(small);
    assert.ok(bytes.length < written.sizeBytes / 10);
    await writeFile(join(dir, 'small.onnx'), bytes);
    const input = syntheticInput([1, 3, 32, 32]);
    const a = await ort.InferenceSession.create(join(dir, 'big.onnx'));
    const b = await ort.InferenceSession.create(join(dir, 'small.onnx'));
    try {
      assert.deepEqual((await b.run({ input }))[b.outputNames[0]!]!.data, (await a.run({ input }))[a.outputNames[0]!]!.data);
    } finally {
      await a.release();
      await b.release();
    }
  });
});

test('a model over 2 GiB without external data is refused before anything is written', async () => {
  await withTempDir(async (dir) => {
    // Views of one zero-filled 1 GiB buffer: calloc'ed, so they take no memory until touched.
    const zeros = new Uint8Array(2 ** 30);
    const tensors = [0, 1, 2].map((i) => ({ ...emptyTensor(`w${i}`, TensorDataType.FLOAT, [2 ** 28]), raw_data: zeros }));
    const graph = makeGraph([makeNode('Identity', ['w0'], ['y'])], [], [makeValueInfo('y', 'float32', [2 ** 28])], { initializers: tensors });
    const model = makeModel(graph);
    assert.ok(inlineModelSize(model) > 3 * 2 ** 30);
    await assert.rejects(streamModel(model, join(dir, 'big.onnx')), (error: unknown) =>
      error instanceof FinetuneError && error.code === 'EXPORT_FAILED' && /over protobuf's 2 GiB limit/.test(error.message) &&
      /--external-data/.test(error.hint ?? ''));
    await assert.rejects(readFile(join(dir, 'big.onnx')), /ENOENT/);
  });
});

test('buildVgg16Backbone has VGG16\'s 138,357,544 parameters at 224 × 224', () => {
  const small = buildVgg16Backbone({ inputSize: 32, numClasses: 10 });
  assert.equal(small.embeddingDim, 4096);
  assert.deepEqual(small.spatialShape, [512, 1, 1]);
  // Counting without building the 553 MB model: conv layers + fc6 (25088 → 4096) + fc7 + fc8 (4096 → 1000).
  const convs = [[3, 64], [64, 64], [64, 128], [128, 128], [128, 256], [256, 256], [256, 256],
    [256, 512], [512, 512], [512, 512], [512, 512], [512, 512], [512, 512]];
  let params = 0;
  for (const [inC, outC] of convs) params += inC! * outC! * 9 + outC!;
  params += 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000;
  assert.equal(params, 138_357_544);
  let smallParams = 0;
  for (const tensor of small.model.graph!.initializer) smallParams += tensor.raw_data!.length / 4;
  assert.equal(smallParams, params - (25088 - 512) * 4096 - (1000 - 10) * 4096 - (1000 - 10));
});
