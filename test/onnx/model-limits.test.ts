import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FinetuneError } from '../../src/errors.js';
import { attribute, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../../src/onnx/graph-builder.js';
import { DataLocation, onnxType } from '../../src/onnx/proto.js';
import type { GraphProto } from '../../src/onnx/proto.js';
import { DEFAULT_MODEL_LIMITS, countNodes, decodeModel, readModel } from '../../src/onnx/read-model.js';
import { buildVggBackbone } from '../../src/onnx/test-backbones.js';
import { encodeModel, writeModel } from '../../src/onnx/write-model.js';
import { makeShapesDataset } from '../../scripts/lib/make-shapes.js';
import { runCli } from '../cli/helpers.js';

function varint(value: number): number[] {
  const bytes: number[] = [];
  while (value > 0x7f) { bytes.push((value & 0x7f) | 0x80); value = Math.floor(value / 128); }
  bytes.push(value);
  return bytes;
}

/**
 * The bytes of a model whose graph is `count` copies of one Relu node, assembled field by field: building it through
 * protobufjs objects would itself take the memory the limit protects.
 */
function modelWithNodes(count: number): Uint8Array {
  const node = onnxType('NodeProto').encode(onnxType('NodeProto').fromObject(makeNode('Relu', ['x'], ['y']))).finish();
  const output = onnxType('ValueInfoProto').encode(onnxType('ValueInfoProto').fromObject(makeValueInfo('y', 'float32', [1]))).finish();
  const nodeField = Uint8Array.from([0x0a, ...varint(node.length), ...node]);
  const outputField = Uint8Array.from([0x62, ...varint(output.length), ...output]);
  const graphLength = nodeField.length * count + outputField.length;
  const header = Uint8Array.from([0x08, 7, 0x42, 2, 0x10, 13, 0x3a, ...varint(graphLength)]);   // ir_version 7, opset 13, graph
  const bytes = new Uint8Array(header.length + graphLength);
  bytes.set(header, 0);
  for (let index = 0; index < count; index++) bytes.set(nodeField, header.length + index * nodeField.length);
  bytes.set(outputField, header.length + count * nodeField.length);
  return bytes;
}

function isLimitError(pattern: RegExp, hint: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof FinetuneError, `expected a FinetuneError, got ${String(error)}`);
    assert.equal(error.code, 'LIMIT_EXCEEDED');
    assert.match(error.message, pattern);
    assert.match(error.hint ?? '', hint);
    return true;
  };
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'finetune-limits-'));
  try { await fn(dir); } finally { await rm(dir, { recursive: true, force: true }); }
}

/** A sparse file of `sizeBytes`: it takes no disk space. */
async function sparseFile(path: string, sizeBytes: number): Promise<void> {
  const handle = await open(path, 'w');
  try { await handle.truncate(sizeBytes); } finally { await handle.close(); }
}

test('a model over the node limit is refused before it is decoded; the limit can be raised', () => {
  const defaultLimit = DEFAULT_MODEL_LIMITS.maxNodes;
  assert.equal(defaultLimit, 250_000);
  assert.throws(() => decodeModel(modelWithNodes(defaultLimit + 1)),
    isLimitError(/more than 250,000 nodes/, /--max-nodes/));
  const small = modelWithNodes(1001);
  assert.throws(() => decodeModel(small, { limits: { maxNodes: 1000 } }), isLimitError(/more than 1,000 nodes/, /--max-nodes/));
  assert.equal(decodeModel(small, { limits: { maxNodes: 1001 } }).graph!.node.length, 1001);
  assert.throws(() => decodeModel(small, { limits: { maxNodes: 0 } }), /'maxNodes' must be a positive integer/);
});

test('countNodes counts subgraph and function nodes and skips weights', () => {
  const branch = (n: number): GraphProto => makeGraph(Array.from({ length: n }, (_, i) => makeNode('Identity', ['x'], [`b${i}`])),
    [], [makeValueInfo(`b${n - 1}`, 'float32', [1])]);
  const graph = makeGraph([makeNode('If', ['cond'], ['y'], { attributes: [attribute.graph('then_branch', branch(3)), attribute.graph('else_branch', branch(2))] })],
    [makeValueInfo('cond', 'bool', [])], [makeValueInfo('y', 'float32', [1])],
    { initializers: [makeTensor('w', 'float32', [1000], new Float32Array(1000))] });
  const model = makeModel(graph);
  model.functions = [{ name: 'f', input: [], output: [], attribute: [], attribute_proto: [], node: [makeNode('Relu', ['a'], ['b'])],
    opset_import: [], value_info: [], metadata_props: [] }];
  assert.equal(countNodes(encodeModel(model)), 1 + 3 + 2 + 1);
  assert.equal(countNodes(encodeModel(buildVggBackbone().model)), buildVggBackbone().model.graph!.node.length);
});

test('graphs nested too deep are refused as invalid before anything recurses into them', () => {
  // Wrapped by hand: protobufjs will not encode messages nested this deep.
  const field = (tag: number, body: Uint8Array): number[] => [tag, ...varint(body.length), ...body];
  const output = onnxType('ValueInfoProto').encode(onnxType('ValueInfoProto').fromObject(makeValueInfo('y', 'float32', [1]))).finish();
  let graph = Uint8Array.from(field(0x62, output));
  for (let depth = 0; depth < 40; depth++) {
    const attribute = Uint8Array.from([...field(0x0a, new TextEncoder().encode('then_branch')), ...field(0x32, graph)]);
    const node = Uint8Array.from([...field(0x22, new TextEncoder().encode('If')), ...field(0x2a, attribute)]);
    graph = Uint8Array.from([...field(0x0a, node), ...field(0x62, output)]);
  }
  const model = Uint8Array.from([0x08, 7, 0x42, 2, 0x10, 13, ...field(0x3a, graph)]);
  assert.throws(() => decodeModel(model), (error: unknown) =>
    error instanceof FinetuneError && error.code === 'MODEL_INVALID' && /nested more than 33 levels deep/.test(error.message));
});

test('a model file over the size limit is refused without being read (a sparse 5 GiB file)', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'huge.onnx');
    await sparseFile(path, 5 * 2 ** 30);
    await assert.rejects(readModel(path), isLimitError(/is 5\.0 GiB, over the model size limit of 4\.0 GiB/, /--max-model-size/));
    const small = join(dir, 'small.onnx');
    await writeModel(small, buildVggBackbone().model);
    await assert.rejects(readModel(small, { limits: { maxModelBytes: 1000 } }), isLimitError(/over the model size limit of 0\.0 MiB/, /--max-model-size/));
  });
});

test('external data counts toward the size limit and is not read when over it', async () => {
  await withTempDir(async (dir) => {
    const w = makeTensor('w', 'float32', [2], [1, 2]);
    delete w.raw_data;
    w.data_location = DataLocation.EXTERNAL;
    w.external_data = [{ key: 'location', value: 'w.bin' }, { key: 'length', value: '8' }];
    const graph = makeGraph([makeNode('Relu', ['w'], ['y'])], [], [makeValueInfo('y', 'float32', [2])], { initializers: [w] });
    await mkdir(join(dir, 'model'));
    await writeFile(join(dir, 'model', 'model.onnx'), encodeModel(makeModel(graph)));
    await sparseFile(join(dir, 'model', 'w.bin'), 5 * 2 ** 30);
    await assert.rejects(readModel(join(dir, 'model', 'model.onnx')), isLimitError(/with its external data is over the model size limit/, /--max-model-size/));
  });
});

test('--max-nodes and --max-model-size reach the reader: inspect and embed fail clearly, and pass when raised', { timeout: 120_000 }, async () => {
  await withTempDir(async (dir) => {
    const model = join(dir, 'many.onnx');
    await writeFile(model, modelWithNodes(2000));
    const refused = await runCli(['inspect', model, '--max-nodes', '1000']);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /^error: .*more than 1,000 nodes/m);
    assert.match(refused.stderr, /^hint: .*--max-nodes/m);
    const allowed = await runCli(['inspect', model, '--max-nodes', '5000', '--json']);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(JSON.parse(allowed.stdout).nodeCount, 2000);
    const badSize = await runCli(['inspect', model, '--max-model-size', 'lots']);
    assert.equal(badSize.code, 2);
    assert.match(badSize.stderr, /--max-model-size "lots" is not a size/);

    const backbone = join(dir, 'vgg.onnx');
    await writeModel(backbone, buildVggBackbone({ inputSize: 32 }).model);
    await makeShapesDataset(join(dir, 'shapes'), { perClass: 2, size: 32 });
    const env = { FINETUNE_HOME: join(dir, 'home') };
    const embed = await runCli(['embed', '--data', join(dir, 'shapes'), '--backbone', backbone, '--max-model-size', '10kB'], env);
    assert.equal(embed.code, 1, embed.stderr);
    assert.match(embed.stderr, /^error: .*over the model size limit of 0\.0 MiB/m);
    const run = await runCli(['--data', join(dir, 'shapes'), '--backbone', backbone, '--max-nodes', '3', '--out', join(dir, 'run')], env);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /^error: .*more than 3 nodes/m);
  });
});
