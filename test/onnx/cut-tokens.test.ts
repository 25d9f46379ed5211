/**
 * Cutting transformer feature extractors (issue 20): the tiny ViT fixture (pixel_values → last_hidden_state
 * [batch_size, 17, 32]) is cut at its token sequence and pooled with cls, mean-tokens, avg or max; every pooling
 * must equal the same reduction of the full model's hidden states; inspect lists the poolings.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { FinetuneError } from '../../src/errors.js';
import { cutBackbone } from '../../src/onnx/cut-backbone.js';
import { formatInspection } from '../../src/onnx/format-inspection.js';
import { inspectModel } from '../../src/onnx/inspect-model.js';
import { makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from '../../src/onnx/graph-builder.js';
import { readModel } from '../../src/onnx/read-model.js';
import { buildResnetBackbone } from '../../src/onnx/test-backbones.js';
import type { Pooling } from '../../src/types.js';
import { runModel, syntheticInput } from './helpers.js';

const VIT = join(import.meta.dirname, '..', 'fixtures', 'hub', 'tiny-vit', 'onnx', 'model.onnx');
const [BATCH, TOKENS, WIDTH] = [3, 17, 32];

/** Reference poolings of hidden states [BATCH, TOKENS, WIDTH], computed here in plain JS. */
function reference(hidden: Float32Array, pooling: Pooling): Float32Array {
  const out = new Float32Array(BATCH * WIDTH);
  for (let row = 0; row < BATCH; row++) {
    for (let d = 0; d < WIDTH; d++) {
      const at = (t: number): number => hidden[(row * TOKENS + t) * WIDTH + d]!;
      let value = 0;
      if (pooling === 'cls') value = at(0);
      else if (pooling === 'max') { value = -Infinity; for (let t = 0; t < TOKENS; t++) value = Math.max(value, at(t)); }
      else {
        const first = pooling === 'mean-tokens' ? 1 : 0;
        for (let t = first; t < TOKENS; t++) value += at(t);
        value /= TOKENS - first;
      }
      out[row * WIDTH + d] = value;
    }
  }
  return out;
}

test('a ViT feature extractor is cut at last_hidden_state; cls, mean-tokens, avg and max equal the reductions of the full output', async () => {
  const model = await readModel(VIT);
  const input = syntheticInput([BATCH, 3, 32, 32]);
  const hidden = (await runModel(model, { pixel_values: input })).last_hidden_state!;
  assert.deepEqual(hidden.dims, [BATCH, TOKENS, WIDTH]);
  const auto = cutBackbone(model);
  assert.equal(auto.featureTensor, 'last_hidden_state');
  assert.equal(auto.pooling, 'cls', 'a token sequence defaults to the CLS token');
  assert.deepEqual(auto.featureShape, ['batch_size', TOKENS, WIDTH]);
  assert.equal(auto.embeddingDim, WIDTH);
  assert.deepEqual(auto.inputShape, ['batch_size', 3, 32, 32]);
  for (const pooling of ['cls', 'mean-tokens', 'avg', 'max'] as const) {
    const cut = cutBackbone(model, { pooling });
    assert.equal(cut.pooling, pooling);
    const features = (await runModel(cut.model, { pixel_values: input })).features!;
    assert.deepEqual(features.dims, [BATCH, WIDTH], pooling);
    const expected = reference(hidden.data as Float32Array, pooling);
    const worst = Math.max(...Array.from(features.data as Float32Array, (v, i) => Math.abs(v - expected[i]!)));
    assert.ok(worst < 1e-5, `${pooling}: max |difference| ${worst}`);
  }
  assert.equal(cutBackbone(model, { pooling: 'flatten' }).embeddingDim, TOKENS * WIDTH);
});

test('opsets 9 (Slice by attributes) and 18 (reduce axes as an input): every token pooling runs and matches', async () => {
  // tokens = x * w, with x [N, 5, 4]; a graph small enough to build at any opset.
  for (const opset of [9, 18]) {
    const graph = makeGraph([makeNode('Mul', ['x', 'w'], ['last_hidden_state'])],
      [makeValueInfo('x', 'float32', ['N', 5, 4])], [makeValueInfo('last_hidden_state', 'float32', ['N', 5, 4])],
      { initializers: [makeTensor('w', 'float32', [4], [1, 2, 3, 4])] });
    const model = makeModel(graph, { opset });
    const input = syntheticInput([2, 5, 4]);
    const x = input.data as Float32Array;
    for (const pooling of ['cls', 'mean-tokens', 'avg', 'max'] as const) {
      const features = (await runModel(cutBackbone(model, { pooling }).model, { x: input })).features!;
      assert.deepEqual(features.dims, [2, 4], `opset ${opset} ${pooling}`);
      for (let row = 0; row < 2; row++) {
        for (let d = 0; d < 4; d++) {
          const tokens = Array.from({ length: 5 }, (_, t) => x[(row * 5 + t) * 4 + d]! * (d + 1));
          const expected = pooling === 'cls' ? tokens[0]! : pooling === 'max' ? Math.max(...tokens)
            : (pooling === 'avg' ? tokens : tokens.slice(1)).reduce((a, b) => a + b, 0) / (pooling === 'avg' ? 5 : 4);
          assert.ok(Math.abs((features.data as Float32Array)[row * 4 + d]! - expected) < 1e-5, `opset ${opset} ${pooling} [${row}, ${d}]`);
        }
      }
    }
  }
});

test('pooling that does not fit the tensor is an INVALID_OPTION naming the ones that do', async () => {
  const model = await readModel(VIT);
  assert.throws(() => cutBackbone(model, { pooling: 'none' }),
    (e: unknown) => e instanceof FinetuneError && e.code === 'INVALID_OPTION' && /token sequence/.test(e.message) && /--pooling cls/.test(e.hint ?? ''));
  const cnn = buildResnetBackbone({}).model;
  assert.throws(() => cutBackbone(cnn, { layer: 'resnet/stem/relu', pooling: 'cls' }),
    (e: unknown) => e instanceof FinetuneError && e.code === 'INVALID_OPTION' && /needs a token sequence/.test(e.message));
});

test('inspect shows the token tensors with concrete shapes and lists cls / mean-tokens as their poolings', async () => {
  const inspection = inspectModel(await readModel(VIT));
  assert.deepEqual(inspection.outputs, [{ name: 'last_hidden_state', type: 'float32', dims: ['batch_size', 'Addlast_hidden_state_dim_1', 'Addlast_hidden_state_dim_2'] }]);
  assert.deepEqual(inspection.autoCut, { tensor: 'last_hidden_state', classifier: 'none', quantized: false, pooling: 'cls' });
  const tokens = inspection.featureCandidates[0]!;
  assert.deepEqual(tokens, { name: 'last_hidden_state', type: 'float32', dims: ['batch_size', TOKENS, WIDTH], producer: 'Add', auto: true,
    poolings: ['cls', 'mean-tokens', 'avg', 'max', 'flatten'] });
  const text = formatInspection(inspection);
  assert.match(text, /\* +last_hidden_state +float32 +\[batch_size, 17, 32\] +Add +cls, mean-tokens, avg, max, flatten/);
  assert.match(text, /Automatic cut: "last_hidden_state", a token sequence, pooled with cls/);
});
