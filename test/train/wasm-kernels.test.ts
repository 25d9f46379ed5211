import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsDenseKernels, type ParameterBlock } from '../../src/train/dense-kernels.js';
import { fit } from '../../src/train/fit.js';
import { applyUpdate, type OptimizerStep } from '../../src/train/optimizers.js';
import { fastestDenseKernels, isWasmSimdAvailable, wasmDenseKernels } from '../../src/train/wasm-dense-kernels.js';
import { Rng } from '../../src/util/rng.js';
import { makeBlobs } from './synthetic.js';
import * as jsLoss from '../../src/train/loss.js';

const fill = (array: Float32Array, rng: Rng, scale = 1): Float32Array => {
  for (let i = 0; i < array.length; i++) array[i] = (rng.nextFloat() * 2 - 1) * scale;
  return array;
};

/** |actual − expected| ≤ tolerance · magnitude, where magnitude bounds the size of the summed terms. */
function assertNear(actual: ArrayLike<number>, expected: ArrayLike<number>, magnitude: ArrayLike<number> | number, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    const scale = typeof magnitude === 'number' ? magnitude : magnitude[i]!;
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tolerance * scale, `${what}[${i}]: ${actual[i]} vs ${expected[i]} (scale ${scale})`);
  }
}

test('this Node runs the WebAssembly SIMD kernels, and fit uses them by default', () => {
  assert.equal(isWasmSimdAvailable(), true);
  assert.equal(fastestDenseKernels(), wasmDenseKernels);
});

// Shapes with every tail: rows not a multiple of 4 or 2, inputDim not a multiple of 16 or 4, odd outputDim.
const SHAPES: ReadonlyArray<[rows: number, inputDim: number, outputDim: number]> =
  [[1, 1, 1], [3, 5, 3], [4, 16, 2], [7, 37, 5], [32, 130, 11], [5, 2048, 3]];

test('forward, backwardInput and backwardWeights agree with the float64 reference to float32 rounding, for every tail', () => {
  const rng = new Rng(11);
  for (const [rows, inputDim, outputDim] of SHAPES) {
    const numParams = outputDim * inputDim + outputDim;
    const lengths = [rows * inputDim, numParams, numParams, rows * outputDim, rows * outputDim, rows * inputDim];
    const wasm = wasmDenseKernels.createWorkspace(lengths), js = jsDenseKernels.createWorkspace(lengths);
    const [x, params, grads, out, gradOut, gradIn] = wasm.arrays as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
    fill(x, rng); fill(params, rng); fill(gradOut, rng);
    js.arrays.forEach((array, index) => array.set(wasm.arrays[index]!));
    const [jx, jparams, jgrads, jout, jgradOut, jgradIn] = js.arrays as typeof wasm.arrays & Float32Array[];
    const shape = `${rows}×${inputDim}→${outputDim}`;

    wasm.forward(x, 0, rows, inputDim, params, 0, params, outputDim * inputDim, outputDim, out, 0);
    js.forward(jx!, 0, rows, inputDim, jparams!, 0, jparams!, outputDim * inputDim, outputDim, jout!, 0);
    // Each output sums inputDim products of magnitude ≤ 1: float32 accumulation is within ~inputDim·2⁻²⁴ of it.
    assertNear(out, jout!, inputDim + 1, 1e-6, `forward ${shape}`);

    wasm.backwardInput(gradOut, rows, outputDim, params, 0, inputDim, gradIn);
    js.backwardInput(jgradOut!, rows, outputDim, jparams!, 0, inputDim, jgradIn!);
    assertNear(gradIn, jgradIn!, outputDim, 1e-6, `backwardInput ${shape}`);

    const block = { params, grads, state: [] }, jblock = { params: jparams!, grads: jgrads!, state: [] };
    wasm.backwardWeights(gradOut, rows, outputDim, x, 0, inputDim, block, 0, null);
    js.backwardWeights(jgradOut!, rows, outputDim, jx!, 0, inputDim, jblock, 0, null);
    assertNear(grads, jgrads!, rows, 1e-6, `backwardWeights ${shape}`);
    assert.deepEqual(params, jparams, 'without a step the parameters are untouched');
  }
});

test('standardizeRows agrees with the reference, tails included', () => {
  const rng = new Rng(8);
  for (const [rows, dim] of [[1, 3], [5, 37], [32, 2048]] as const) {
    const wasm = wasmDenseKernels.createWorkspace([rows * dim, dim, dim]);
    const [x, mean, invStd] = wasm.arrays as [Float32Array, Float32Array, Float32Array];
    fill(x, rng, 10); fill(mean, rng, 5); invStd.set(fill(new Float32Array(dim), rng).map((v) => 1 / (Math.abs(v) + 0.1)));
    const expected = x.slice();
    jsDenseKernels.createWorkspace([]).standardizeRows(expected, rows, dim, mean, invStd);
    wasm.standardizeRows(x, rows, dim, mean, invStd);
    assertNear(x, expected, expected.map((v) => Math.max(Math.abs(v), 1)), 1e-6, `standardizeRows ${rows}×${dim}`);
  }
});

const STEPS: readonly OptimizerStep[] = [
  { kind: 'adam', alpha: 0.003, oneMinusBeta1: 0.1, oneMinusBeta2: 0.001, epsilon: 1e-7, decay: 0, momentum: 0 },
  { kind: 'amsgrad', alpha: 0.003, oneMinusBeta1: 0.1, oneMinusBeta2: 0.001, epsilon: 1e-7, decay: 1e-4, momentum: 0 },
  { kind: 'sgd', alpha: 0.05, oneMinusBeta1: 0, oneMinusBeta2: 0, epsilon: 0, decay: 0.001, momentum: 0 },
  { kind: 'momentum', alpha: 0.05, oneMinusBeta1: 0, oneMinusBeta2: 0, epsilon: 0, decay: 0, momentum: 0.9 },
  { kind: 'nesterov', alpha: 0.05, oneMinusBeta1: 0, oneMinusBeta2: 0, epsilon: 0, decay: 0.01, momentum: 0.9 },
];

test('the optimizer update fused into backwardWeights equals gradient-then-applyUpdate, for every optimizer', () => {
  const rng = new Rng(5);
  const [rows, inputDim, outputDim] = [6, 37, 5];
  const numParams = outputDim * inputDim + outputDim;
  for (const step of STEPS) {
    const lengths = [rows * inputDim, rows * outputDim, numParams, numParams, numParams, numParams, numParams];
    const wasm = wasmDenseKernels.createWorkspace(lengths);
    const [x, gradOut, params, grads, s1, s2, s3] = wasm.arrays as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
    fill(x, rng); fill(gradOut, rng); fill(params, rng);
    fill(s1, rng, 0.01); s2.set(fill(new Float32Array(numParams), rng, 1e-4).map(Math.abs)); s3.set(s2.map((v) => v * 1.5));
    const reference: ParameterBlock = { params: params.slice(), grads: new Float32Array(numParams), state: [s1.slice(), s2.slice(), s3.slice()] };
    jsDenseKernels.createWorkspace([]).backwardWeights(gradOut, rows, outputDim, x, 0, inputDim, reference, 0, null);
    applyUpdate(step, reference.params, reference.grads, reference.state);
    // Two steps in a row, to exercise the stored state as well.
    const before = params.slice();
    wasm.backwardWeights(gradOut, rows, outputDim, x, 0, inputDim, { params, grads, state: [s1, s2, s3] }, 0, step);
    assert.ok(grads.every((value) => value === 0), `${step.kind}: the fused pass writes no gradient`);
    assertNear(params, reference.params, before.map((value) => Math.max(Math.abs(value), 1e-2)), 1e-5, `${step.kind} params`);
    assertNear(s1, reference.state[0]!, 1e-2, 1e-5, `${step.kind} state 1`);
    // The update alone (gradients computed elsewhere) matches too.
    grads.set(reference.grads);
    const alone = { params: params.slice(), grads: reference.grads.slice(), state: [s1.slice(), s2.slice(), s3.slice()] };
    wasm.update({ params, grads, state: [s1, s2, s3] }, 0, numParams, step);
    applyUpdate(step, alone.params, alone.grads, alone.state);
    assertNear(params, alone.params, alone.params.map((value) => Math.max(Math.abs(value), 1e-2)), 1e-5, `${step.kind} update`);
  }
});

test('the wasm kernels are deterministic and refuse arrays from outside their workspace', () => {
  const run = (): Float32Array => {
    const workspace = wasmDenseKernels.createWorkspace([32 * 300, 7 * 300 + 7, 32 * 7]);
    const [x, params, out] = workspace.arrays as [Float32Array, Float32Array, Float32Array];
    fill(x, new Rng(1)); fill(params, new Rng(2));
    workspace.forward(x, 0, 32, 300, params, 0, params, 2100, 7, out, 0);
    return out.slice();
  };
  assert.deepEqual(run(), run());
  const workspace = wasmDenseKernels.createWorkspace([4, 4, 4]);
  assert.throws(() => workspace.forward(new Float32Array(4), 0, 1, 4, workspace.arrays[1]!, 0, workspace.arrays[1]!, 0, 1, workspace.arrays[2]!, 0),
    /pass arrays from this workspace/);
});

test('fit on the wasm kernels: bit-identical on reruns, loss history within 1e-5 relative of the reference kernels', async () => {
  const train = makeBlobs({ numSamples: 400, embeddingDim: 70, numClasses: 6, noise: 3, seed: 1 });
  const validation = makeBlobs({ numSamples: 100, embeddingDim: 70, numClasses: 6, noise: 3, seed: 2 });
  for (const options of [{}, { hidden: [24], dropout: 0.2 }, { optimizer: 'sgd', momentum: 0.9, learningRate: 0.01, weightDecay: 1e-3 }] as const) {
    const base = { ...options, validation, epochs: 8, earlyStopping: null, seed: 3 };
    const [wasmRun, wasmRerun, jsRun] = [await fit(train, { ...base, kernels: wasmDenseKernels }),
      await fit(train, { ...base, kernels: wasmDenseKernels }), await fit(train, { ...base, kernels: jsDenseKernels })];
    const weights = (result: typeof wasmRun) => result.head.layers.flatMap((layer) => [...layer.kernel, ...layer.bias]);
    assert.deepEqual(weights(wasmRerun), weights(wasmRun));
    jsRun.history.forEach((logs, index) => {
      for (const key of ['loss', 'valLoss'] as const) {
        const reference = logs[key]!, value = wasmRun.history[index]![key]!;
        assert.ok(Math.abs(value - reference) <= 1e-5 * Math.abs(reference), `${JSON.stringify(options)} epoch ${index + 1} ${key}: ${value} vs ${reference}`);
      }
    });
  }
});

test('helper threads split wide calls by output: bit-identical to one thread, and disposed cleanly', () => {
  const [rows, inputDim, outputDim] = [32, 301, 157]; // 1.5M multiply-adds per call: above the threshold that wakes helpers
  const numParams = outputDim * inputDim + outputDim;
  const lengths = [rows * inputDim, numParams, numParams, numParams, numParams, rows * outputDim, rows * outputDim, rows * inputDim];
  const runWith = (threads: number): Float32Array[] => {
    const workspace = wasmDenseKernels.createWorkspace(lengths, { threads });
    const [x, params, grads, m, v, out, gradOut, gradIn] = workspace.arrays as Float32Array[] as [Float32Array, Float32Array, Float32Array,
      Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
    const rng = new Rng(21);
    fill(x, rng); fill(params, rng); fill(gradOut, rng);
    const block = { params, grads, state: [m, v] };
    try {
      workspace.forward(x, 0, rows, inputDim, params, 0, params, outputDim * inputDim, outputDim, out, 0);
      workspace.backwardInput(gradOut, rows, outputDim, params, 0, inputDim, gradIn);
      for (let step = 0; step < 3; step++) workspace.backwardWeights(gradOut, rows, outputDim, x, 0, inputDim, block, 0, STEPS[0]!);
      workspace.backwardWeights(gradOut, rows, outputDim, x, 0, inputDim, block, 0, null);
      workspace.update(block, 0, numParams, STEPS[1]!.kind === 'amsgrad' ? STEPS[0]! : STEPS[1]!);
      return [out, gradIn, params, grads, m, v].map((array) => array.slice());
    } finally {
      workspace.dispose();
    }
  };
  const single = runWith(1), parallel = runWith(3);
  parallel.forEach((array, index) => assert.deepEqual(array, single[index], `array ${index}`));
});

test('helper threads start on the first call wide enough to split, never for a narrow head', () => {
  const [rows, narrowDim, wideDim] = [32, 1280, 157];   // 32×1280×3 ≈ 0.1M multiply-adds; 32×1280×157 ≈ 6.4M
  const workspace = wasmDenseKernels.createWorkspace([rows * narrowDim, wideDim * narrowDim + wideDim, rows * wideDim], { threads: 2 });
  const running = (): number => (workspace as unknown as { runningHelpers: number }).runningHelpers;
  const [x, params, out] = workspace.arrays as [Float32Array, Float32Array, Float32Array];
  try {
    assert.equal(running(), 0);
    workspace.forward(x, 0, rows, narrowDim, params, 0, params, 3 * narrowDim, 3, out, 0);
    assert.equal(running(), 0, 'a 3-class layer stays on this thread');
    workspace.forward(x, 0, rows, narrowDim, params, 0, params, wideDim * narrowDim, wideDim, out, 0);
    assert.equal(running(), 1, 'a wide layer starts the helper');
  } finally {
    workspace.dispose();
  }
  assert.equal(running(), 0);
});

test('fit with kernel threads gives bit-identical weights to one thread (a 200-class head)', async () => {
  const train = makeBlobs({ numSamples: 256, embeddingDim: 260, numClasses: 200, noise: 1, seed: 6 });
  const base = { epochs: 2, earlyStopping: null, batchSize: 32 } as const;
  const [one, two] = [await fit(train, { ...base, threads: 1 }), await fit(train, { ...base, threads: 2 })];
  assert.deepEqual(two.head.layers[0]!.kernel, one.head.layers[0]!.kernel);
  assert.deepEqual(two.history.map((logs) => logs.loss), one.history.map((logs) => logs.loss));
});

test('softmax cross-entropy in wasm agrees with the reference: smoothing, class weights, gradient (also in place), NaN', async () => {
  const { softmaxCrossEntropyRows } = await import('../../src/train/loss.js');
  const rng = new Rng(31);
  for (const [rows, numClasses] of [[1, 2], [5, 3], [32, 1000], [7, 13]] as const) {
    const workspace = wasmDenseKernels.createWorkspace([rows * numClasses, rows * numClasses, rows, numClasses]);
    const [logits, gradient, labelBlock, weights] = workspace.arrays as [Float32Array, Float32Array, Float32Array, Float32Array];
    fill(logits, rng, 20);
    const labels = new Int32Array(labelBlock.buffer, labelBlock.byteOffset, rows);
    labels.forEach((_, row) => { labels[row] = rng.nextInt(numClasses); });
    weights.set(fill(new Float32Array(numClasses), rng).map((v) => Math.abs(v) + 0.5));
    for (const [smoothing, classWeights] of [[0, null], [0.1, weights]] as const) {
      const expectedGradient = new Float32Array(rows * numClasses);
      const expected = softmaxCrossEntropyRows(logits, 0, labels, rows, numClasses, smoothing, classWeights, expectedGradient, 0, 1 / rows);
      const actual = workspace.softmaxCrossEntropy(logits, 0, labels, rows, numClasses, smoothing, classWeights, gradient, 0, 1 / rows);
      const shape = `${rows}×${numClasses} smoothing ${smoothing}`;
      assert.equal(actual.correct, expected.correct, shape);
      assert.ok(Math.abs(actual.weightedLossSum - expected.weightedLossSum) <= 1e-6 * Math.abs(expected.weightedLossSum), `${shape}: loss ${actual.weightedLossSum} vs ${expected.weightedLossSum}`);
      assertNear(gradient, expectedGradient, 1 / rows, 2e-6, `${shape} gradient`);
      // In place (gradient aliasing logits), as the reference allows.
      const saved = logits.slice();
      const result = workspace.softmaxCrossEntropy(logits, 0, labels, rows, numClasses, smoothing, classWeights, logits, 0, 1 / rows);
      assert.equal(result.weightedLossSum, actual.weightedLossSum);
      assert.deepEqual(logits, gradient, `${shape}: in place`);
      logits.set(saved);
    }
  }
  // NaN anywhere in a row makes the loss NaN (the divergence guard relies on it); Infinity too.
  const workspace = wasmDenseKernels.createWorkspace([6, 2]);
  const [logits, labelBlock] = workspace.arrays as [Float32Array, Float32Array];
  const labels = new Int32Array(labelBlock.buffer, labelBlock.byteOffset, 2);
  for (const poison of [[NaN, 0, 1], [0, NaN, 1], [0, 1, Infinity]]) {
    logits.set([0.5, 0.2, 0.1, ...poison]);
    assert.ok(Number.isNaN(workspace.softmaxCrossEntropy(logits, 0, labels, 2, 3, 0, null, null, 0, 0).weightedLossSum), String(poison));
  }
});

test('dropout in wasm draws exactly what Rng.nextFloat draws: same masks and values as the reference, for every tail and rate', () => {
  for (const length of [0, 1, 3, 4, 5, 37, 4096 + 3]) {
    for (const rate of [0.2, 0.5, 1e-9, 0.999999, 1 - 2 ** -33]) {
      const keep = 1 / (1 - rate);
      const wasm = wasmDenseKernels.createWorkspace([length, length]), js = jsDenseKernels.createWorkspace([length, length]);
      const values = fill(new Float32Array(length), new Rng(length + 1), 3);
      // What network.ts did before the kernels drew the masks: one nextFloat per value, in order.
      const before = new Rng(77), expectedMask = new Float32Array(length), expectedValues = values.slice();
      for (let i = 0; i < length; i++) {
        expectedMask[i] = before.nextFloat() < rate ? 0 : keep;
        expectedValues[i] = expectedValues[i]! * expectedMask[i]!;
      }
      const nextDraw = before.nextUint32();
      for (const workspace of [wasm, js]) {
        const [buffer, mask] = workspace.arrays as [Float32Array, Float32Array];
        buffer.set(values);
        const rng = new Rng(77);
        workspace.dropout(buffer, mask, length, rng.skip(length), rate, keep);
        const what = `${workspace === wasm ? 'wasm' : 'js'} length ${length} rate ${rate}`;
        assert.deepEqual(mask, expectedMask, what);
        assert.deepEqual(buffer, expectedValues, what);
        assert.equal(rng.nextUint32(), nextDraw, `${what}: the stream continues where the draws ended`);
      }
      wasm.dispose();
    }
  }
});

test('softmax cross-entropy in wasm writes no subnormal gradient for confidently rejected classes (x86 slows down ~100× on each)', () => {
  const rows = 4, numClasses = 5;
  const workspace = wasmDenseKernels.createWorkspace([rows * numClasses, rows * numClasses, rows]);
  const [logits, gradient, labelBlock] = workspace.arrays as [Float32Array, Float32Array, Float32Array];
  const labels = new Int32Array(labelBlock.buffer, labelBlock.byteOffset, rows);
  // Gaps of 60 to 300 below each row's maximum: exp underflows towards or below float32's normal range.
  logits.set([40, -60, -90, -100, -260, 0, -70, -88, -120, -300, 10, 10, -80, -95, -87, -3, -66, -64.5, -200, 0]);
  labels.set([0, 0, 1, 4]);
  const batch = workspace.softmaxCrossEntropy(logits, 0, labels, rows, numClasses, 0, null, gradient, 0, 1 / rows);
  const subnormal = [...gradient].filter((value) => value !== 0 && Math.abs(value) < 2 ** -126);
  assert.deepEqual(subnormal, [], 'subnormal gradient values');
  const { softmaxCrossEntropyRows } = jsLoss;
  const expectedGradient = new Float32Array(rows * numClasses);
  const expected = softmaxCrossEntropyRows(logits, 0, labels, rows, numClasses, 0, null, expectedGradient, 0, 1 / rows);
  assert.ok(Math.abs(batch.weightedLossSum - expected.weightedLossSum) <= 1e-6 * Math.abs(expected.weightedLossSum));
  assertNear(gradient, expectedGradient, 1 / rows, 2e-6, 'gradient');
  workspace.dispose();
});

test('backwardWeights skips zero gradient rows bit-exactly: the float32 sum in row order, with ReLU/dropout zeros (±0)', () => {
  const rng = new Rng(21);
  for (const [rows, inputDim, outputDim] of [[32, 37, 5], [9, 64, 2], [6, 19, 1]] as const) {
    const numParams = outputDim * inputDim + outputDim;
    const workspace = wasmDenseKernels.createWorkspace([rows * inputDim, rows * outputDim, numParams, numParams]);
    const [x, gradOut, params, grads] = workspace.arrays as [Float32Array, Float32Array, Float32Array, Float32Array];
    fill(x, rng); fill(gradOut, rng);
    // Dead units (whole columns), rows with every output zero, and scattered zeros, some of them −0 (dropout's 0 · g < 0).
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < outputDim; j++) {
        const index = i * outputDim + j, draw = rng.nextFloat();
        if (j === 1 || i % 3 === 0 || draw < 0.4) gradOut[index] = draw < 0.2 ? -0 : 0;
      }
    workspace.backwardWeights(gradOut, rows, outputDim, x, 0, inputDim, { params, grads, state: [] }, 0, null);
    const expected = new Float32Array(numParams);
    for (let j = 0; j < outputDim; j++) {
      for (let p = 0; p < inputDim; p++) {
        let sum = 0;
        for (let i = 0; i < rows; i++) sum = Math.fround(sum + Math.fround(gradOut[i * outputDim + j]! * x[i * inputDim + p]!));
        expected[j * inputDim + p] = sum;
      }
      let bias = 0;
      for (let i = 0; i < rows; i++) bias = Math.fround(bias + gradOut[i * outputDim + j]!);
      expected[outputDim * inputDim + j] = bias;
    }
    // Bytes, so that −0 and +0 differ.
    assert.deepEqual(new Uint32Array(grads.buffer, grads.byteOffset, numParams), new Uint32Array(expected.buffer), `${rows}×${inputDim}→${outputDim}`);
    if (outputDim > 1) assert.ok(grads.subarray(inputDim, 2 * inputDim).every((value) => Object.is(value, 0)), 'a dead unit\'s gradient is +0');
    workspace.dispose();
  }
});

test('optimizer state of parameters whose gradient stays 0 decays to exactly 0, never sticking in subnormals (x86 slows down on each)', () => {
  // A confident head's gradients are exactly 0 (exp's cut-off): Adam's m shrinks ×0.9 a step and, once subnormal,
  // m − m·0.1 rounds back to m: it stuck there and every later update paid a microcode assist (epochs 6× slower).
  const length = 67;   // 16 vectors and a scalar tail
  // Both workspaces: the JS one (the fallback where wasm SIMD is missing) stores its float64 arithmetic as float32 too.
  for (const kernels of [wasmDenseKernels, jsDenseKernels])
  for (const step of STEPS.filter((candidate) => candidate.kind !== 'sgd')) {
    const workspace = kernels.createWorkspace([length, length, length, length, length]);
    const [params, grads, s1, s2, s3] = workspace.arrays as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
    params.fill(0.5);
    // Even entries: a recent gradient of ~1e-3; odd ones: state already tiny (v decays only ×0.999 a step).
    for (let i = 0; i < length; i++) { s1[i] = i % 2 === 0 ? 1e-3 : 1e-37; s2[i] = s3[i] = i % 2 === 0 ? 1e-6 : 1e-37; }
    const isSubnormal = (value: number): boolean => value !== 0 && Math.abs(value) < 1.1754944e-38;
    for (let i = 0; i < 4000; i++) workspace.update({ params, grads, state: [s1, s2, s3] }, 0, length, { ...step, decay: 0 });
    assert.ok(![...s1, ...s2].some(isSubnormal), `${kernels.name} ${step.kind}: no subnormal state after 4,000 zero-gradient steps`);
    assert.ok(s1.every((value) => value === 0), `${kernels.name} ${step.kind}: the first moment (or velocity) is exactly 0`);
    assert.ok(params.every((value) => Number.isFinite(value) && Math.abs(value - 0.5) < 0.1), `${kernels.name} ${step.kind}: parameters stay near where they were`);
    workspace.dispose();
  }
});
