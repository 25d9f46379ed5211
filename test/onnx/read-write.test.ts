import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FinetuneError } from '../../src/errors.js';
import { attribute, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../../src/onnx/graph-builder.js';
import { DataLocation, TensorDataType } from '../../src/onnx/proto.js';
import type { ModelProto } from '../../src/onnx/proto.js';
import { decodeModel, readModel } from '../../src/onnx/read-model.js';
import { tensorFloat32, tensorNumbers } from '../../src/onnx/tensor-data.js';
import { buildResnetBackbone, buildVggBackbone } from '../../src/onnx/test-backbones.js';
import { encodeModel, writeModel } from '../../src/onnx/write-model.js';
import { lightFixture, mobilenetInt8Path, skipWithoutShared } from '../helpers/shared.js';
import { runModel, syntheticInput } from './helpers.js';

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'finetune-onnx-'));
  try { await fn(dir); } finally { await rm(dir, { recursive: true, force: true }); }
}

async function expectError(promise: Promise<unknown> | (() => unknown), code: string, pattern: RegExp): Promise<FinetuneError> {
  let caught: unknown;
  try { await (typeof promise === 'function' ? promise() : promise); } catch (error) { caught = error; }
  assert.ok(caught instanceof FinetuneError, `expected a FinetuneError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.match(caught.message, pattern);
  assert.ok(caught.hint && caught.hint.length > 10, 'has a hint');
  assert.ok(!caught.message.includes('\n'), 'one-line message');
  return caught;
}

test('encode → decode keeps the graph, weights and attributes of a test backbone', () => {
  const { model } = buildResnetBackbone({ seed: 3 });
  const bytes = encodeModel(model);
  const back = decodeModel(bytes);
  assert.equal(back.ir_version, model.ir_version);
  assert.deepEqual(back.opset_import, [{ domain: '', version: 13 }]);
  assert.equal(back.graph!.node.length, model.graph!.node.length);
  assert.deepEqual(back.graph!.node.map((n) => n.op_type), model.graph!.node.map((n) => n.op_type));
  assert.deepEqual(back.graph!.node[0]!.attribute.find((a) => a.name === 'pads')!.ints, [1, 1, 1, 1]);
  for (let i = 0; i < model.graph!.initializer.length; i++) {
    const a = model.graph!.initializer[i]!, b = back.graph!.initializer[i]!;
    assert.equal(b.name, a.name);
    assert.deepEqual(b.dims, a.dims);
    if (a.data_type === TensorDataType.FLOAT) assert.deepEqual(tensorFloat32(b), tensorFloat32(a));
    else assert.deepEqual(tensorNumbers(b), tensorNumbers(a));
  }
  assert.deepEqual(encodeModel(back), bytes, 're-encoding is byte-identical');
});

test('raw_data decodes as a view into the input buffer, not a copy', () => {
  const bytes = encodeModel(buildVggBackbone().model);
  const back = decodeModel(bytes);
  const raw = back.graph!.initializer[0]!.raw_data!;
  assert.equal(raw.buffer, bytes.buffer, 'same ArrayBuffer as the encoded model');
  bytes[raw.byteOffset] = bytes[raw.byteOffset]! ^ 0xff;
  assert.equal(raw[0], bytes[raw.byteOffset], 'writes to the input show through');
});

test('int64 values round-trip, including INT64_MAX/MIN and symbolic dims', () => {
  const slice = makeNode('Slice', ['x', 'starts', 'ends'], ['y'], { attributes: [attribute.ints('big', [9223372036854775807, -9223372036854775808, -1, 2 ** 40])] });
  const graph = makeGraph([slice], [makeValueInfo('x', 'float32', ['batch', 3])], [makeValueInfo('y', 'float32', [null, 3])], {
    initializers: [makeTensor('starts', 'int64', [1], [0]), makeTensor('ends', 'int64', [1], [9223372036854775807n as unknown as number])],
  });
  const back = decodeModel(encodeModel(makeModel(graph, { opset: 13 })));
  const ints = back.graph!.node[0]!.attribute[0]!.ints;
  assert.equal(ints[0], 9223372036854775807);
  assert.equal(ints[1], -9223372036854775808);
  assert.deepEqual(ints.slice(2), [-1, 2 ** 40]);
  const view = back.graph!.initializer[1]!.raw_data!;
  assert.equal(new DataView(view.buffer, view.byteOffset, 8).getBigInt64(0, true), 9223372036854775807n);
  assert.deepEqual(back.graph!.input[0]!.type!.tensor_type!.shape!.dim, [{ dim_param: 'batch' }, { dim_value: 3 }]);
  assert.deepEqual(back.graph!.output[0]!.type!.tensor_type!.shape!.dim[0], {});
});

test('writeModel writes a file that readModel and onnxruntime load', async () => {
  await withTempDir(async (dir) => {
    const backbone = buildVggBackbone({ seed: 5 });
    const path = join(dir, 'nested', 'vgg.onnx');
    await writeModel(path, backbone.model);
    const back = await readModel(path);
    assert.equal(back.graph!.node.length, backbone.model.graph!.node.length);
    const input = syntheticInput([2, 3, 32, 32]);
    const [a, b] = await Promise.all([runModel(backbone.model, { input }), runModel(back, { input })]);
    assert.deepEqual(a[backbone.outputName]!.data, b[backbone.outputName]!.data);
  });
});

test('external data is loaded from files next to the model', async () => {
  await withTempDir(async (dir) => {
    const weight = new Float32Array([1.5, -2, 3.25, 4, 0.5, 6]);
    const padding = new Uint8Array(16).fill(7);
    await writeFile(join(dir, 'weights.bin'), Buffer.concat([padding, Buffer.from(weight.buffer)]));
    const w = makeTensor('w', 'float32', [3, 2], weight);
    delete w.raw_data;
    w.data_location = DataLocation.EXTERNAL;
    w.external_data = [{ key: 'location', value: 'weights.bin' }, { key: 'offset', value: '16' }, { key: 'length', value: '24' }];
    const graph = makeGraph([makeNode('MatMul', ['x', 'w'], ['y'])], [makeValueInfo('x', 'float32', ['N', 3])],
      [makeValueInfo('y', 'float32', ['N', 2])], { initializers: [w] });
    await writeFile(join(dir, 'model.onnx'), encodeModel(makeModel(graph)));

    const model = await readModel(join(dir, 'model.onnx'));
    const loaded = model.graph!.initializer[0]!;
    assert.deepEqual(tensorFloat32(loaded), weight);
    assert.equal(loaded.data_location, undefined);
    assert.deepEqual(loaded.external_data, []);
    const out = await runModel(model, { x: syntheticInput([1, 3]) });
    assert.equal(out.y!.dims[1], 2);

    const bytes = await readFile(join(dir, 'model.onnx'));
    await expectError(() => decodeModel(bytes), 'MODEL_INVALID', /external file "weights\.bin"/);
    assert.equal(decodeModel(bytes, { externalData: 'keep' }).graph!.initializer[0]!.data_location, DataLocation.EXTERNAL);
    await rm(join(dir, 'weights.bin'));
    await expectError(readModel(join(dir, 'model.onnx')), 'FILE_NOT_FOUND', /weights\.bin.*external data of tensor "w"/);
  });
});

test('bad files fail with one-line errors and hints', async () => {
  await withTempDir(async (dir) => {
    await expectError(readModel(join(dir, 'missing.onnx')), 'FILE_NOT_FOUND', /No file at .*missing\.onnx/);
    await mkdir(join(dir, 'folder.onnx'));
    await expectError(readModel(join(dir, 'folder.onnx')), 'MODEL_INVALID', /is a folder/);
    await writeFile(join(dir, 'notes.onnx'), 'these are not the weights you are looking for\n');
    await expectError(readModel(join(dir, 'notes.onnx')), 'MODEL_INVALID', /notes\.onnx" is not a valid ONNX model/);
    await writeFile(join(dir, 'image.onnx'), Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex'));
    await expectError(readModel(join(dir, 'image.onnx')), 'MODEL_INVALID', /not a valid ONNX model/);
    await writeFile(join(dir, 'empty.onnx'), new Uint8Array(0));
    await expectError(readModel(join(dir, 'empty.onnx')), 'MODEL_INVALID', /has no graph/);

    const bytes = encodeModel(buildVggBackbone().model);
    for (const fraction of [0.01, 0.3, 0.5, 0.9, 0.999]) {
      const cut = Math.floor(bytes.length * fraction);
      await writeFile(join(dir, 'truncated.onnx'), bytes.subarray(0, cut));
      await expectError(readModel(join(dir, 'truncated.onnx')), 'MODEL_INVALID', /not a valid ONNX model/);
    }
  });
});

test('encodeModel rejects objects that are not models', () => {
  const bad = { graph: { node: 'oops' } } as unknown as ModelProto;
  assert.throws(() => encodeModel(bad), (error: unknown) => error instanceof FinetuneError && error.code === 'EXPORT_FAILED');
});

test('the light zoo fixtures and the int8 MobileNetV2 decode and re-encode byte-identically', { skip: skipWithoutShared }, async () => {
  for (const path of [lightFixture('resnet50'), lightFixture('vgg19'), lightFixture('squeezenet'), mobilenetInt8Path]) {
    const original = await readFile(path);
    const model = decodeModel(original);
    assert.ok(model.graph!.node.length > 50, path);
    const again = encodeModel(model);
    assert.deepEqual(decodeModel(again).graph!.node.length, model.graph!.node.length);
    assert.equal(again.length, original.length, `${path}: same size after re-encoding`);
  }
});
