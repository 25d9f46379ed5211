import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attribute, makeGraph, makeNode, makeTensor, makeValueInfo } from '../../src/onnx/graph-builder.js';
import { inferShapes } from '../../src/onnx/infer-shapes.js';
import type { AttributeProto, GraphProto } from '../../src/onnx/proto.js';
import { SHAPE_RULES, SHAPE_RULE_FAMILIES, mergeFamilies } from '../../src/onnx/shape-rules/index.js';
import { buildResnetBackbone, buildVggBackbone } from '../../src/onnx/test-backbones.js';
import { Rng } from '../../src/util/rng.js';

test('Shape → Gather → Unsqueeze → Concat → Reshape resolves a symbolic batch through the table', () => {
  const graph = makeGraph([
    makeNode('Shape', ['x'], ['shape']),
    makeNode('Gather', ['shape', 'zero'], ['batch'], { attributes: [attribute.int('axis', 0)] }),
    makeNode('Unsqueeze', ['batch', 'axes'], ['batch1']),
    makeNode('Concat', ['batch1', 'minus_one'], ['target'], { attributes: [attribute.int('axis', 0)] }),
    makeNode('Reshape', ['x', 'target'], ['flat']),
  ], [makeValueInfo('x', 'float32', ['batch_size', 512, 7, 7])], [makeValueInfo('flat', 'float32', undefined)], {
    initializers: [makeTensor('zero', 'int64', [], [0]), makeTensor('axes', 'int64', [1], [0]), makeTensor('minus_one', 'int64', [1], [-1])],
  });
  const infos = inferShapes(graph);
  assert.deepEqual(infos.get('target')?.value, ['batch_size', -1]);
  assert.deepEqual(infos.get('flat'), { elemType: 1, dims: ['batch_size', 25088], value: undefined });
});

test('an operator without a rule gives unknown outputs, filled from value_info where declared', () => {
  const graph = makeGraph([
    makeNode('MysteryOp', ['x'], ['y'], { domain: 'com.example' }),
    makeNode('MysteryOp', ['y'], ['z'], { domain: 'com.example' }),
    makeNode('Relu', ['z'], ['out']),
  ], [makeValueInfo('x', 'float32', ['N', 3])], [makeValueInfo('out', 'float32', undefined)], {
    valueInfo: [makeValueInfo('z', 'float32', ['N', 8])],
  });
  assert.equal(SHAPE_RULES.has('MysteryOp'), false);
  const infos = inferShapes(graph);
  assert.deepEqual(infos.get('y'), {});
  assert.deepEqual(infos.get('z'), { elemType: 1, dims: ['N', 8] });
  assert.deepEqual(infos.get('out'), { elemType: 1, dims: ['N', 8] });
});

test('a rule that throws is reported with the node it failed on, not turned into an unknown shape', () => {
  const graph = makeGraph([makeNode('Relu', ['x'], ['y'], { name: 'stage3/relu' })],
    [makeValueInfo('x', 'float32', [1])], [makeValueInfo('y', 'float32', undefined)]);
  const rules = new Map(SHAPE_RULES);
  rules.set('Relu', () => { throw new TypeError('boom'); });
  assert.throws(() => inferShapes(graph, { rules }), (error: Error) => {
    assert.match(error.message, /shape rule for Relu failed on node "stage3\/relu": boom/);
    assert.ok(error.cause instanceof TypeError);
    return true;
  });
});

test('the table: every family is merged and an operator defined twice is refused', () => {
  const total = Object.values(SHAPE_RULE_FAMILIES).reduce((sum, family) => sum + Object.keys(family).length, 0);
  assert.equal(SHAPE_RULES.size, total);
  for (const op of ['Conv', 'Gemm', 'Reshape', 'ReduceMean', 'Constant', 'Relu']) assert.ok(SHAPE_RULES.has(op), op);
  assert.throws(() => mergeFamilies({ a: { Relu: () => [] }, b: { Relu: () => [] } }), /Relu is defined by both the a and b families/);
});

/** Replaces one attribute of a random node with a hostile value of the same kind. */
function mutateAttribute(graph: GraphProto, rng: Rng): void {
  const withAttributes = graph.node.filter((node) => node.attribute.length > 0);
  const node = withAttributes[rng.nextInt(withAttributes.length)]!;
  const index = rng.nextInt(node.attribute.length);
  const old = node.attribute[index]!;
  const hostile = [0, -1, -7, 1, 3, 2 ** 31, -(2 ** 40), 65];
  const pick = (): number => hostile[rng.nextInt(hostile.length)]!;
  let replacement: AttributeProto;
  if (old.ints.length > 0 || old.type === 7) {
    replacement = attribute.ints(old.name ?? '', Array.from({ length: rng.nextInt(6) }, pick));
  } else if (old.s) {
    replacement = attribute.string(old.name ?? '', ['SAME_UPPER', 'VALID', 'NOTSET', 'bogus'][rng.nextInt(4)]!);
  } else {
    replacement = attribute.int(old.name ?? '', pick());
  }
  node.attribute = node.attribute.map((attr, i) => (i === index ? replacement : attr));
}

test('hostile attributes and dims never make inferShapes throw (seeded, 600 cases)', () => {
  const rng = new Rng(20);
  const builders = [
    () => buildVggBackbone({ opset: 13, flatten: 'reshape' }).model,
    () => buildResnetBackbone({ opset: 11, batch: 1, flatten: 'reshape' }).model,
    () => buildResnetBackbone({ opset: 18 }).model,
  ];
  for (let round = 0; round < 600; round++) {
    const graph = builders[round % builders.length]!().graph!;
    for (let edits = 1 + rng.nextInt(3); edits > 0; edits--) {
      if (rng.nextInt(4) === 0) {
        const tensor = graph.initializer[rng.nextInt(graph.initializer.length)]!;
        tensor.dims = tensor.dims.map((dim) => (rng.nextInt(2) ? dim : [-1, 0, 2 ** 40][rng.nextInt(3)]!));
      } else {
        mutateAttribute(graph, rng);
      }
    }
    const infos = inferShapes(graph, { opset: round % 2 ? 13 : 9 });
    for (const [name, info] of infos) {
      for (const dim of info.dims ?? []) {
        assert.ok(dim === null || typeof dim === 'string' || Number.isFinite(dim), `round ${round}: ${name} has dim ${dim}`);
      }
    }
  }
});
