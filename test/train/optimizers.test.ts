import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Adam, Sgd } from '../../src/train/optimizers.js';

/** Float32 storage: compare to the hand-computed float64 values with a relative tolerance. */
function assertClose(actual: number, expected: number, tolerance = 1e-6): void {
  assert.ok(Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)), `expected ${expected}, got ${actual}`);
}

function steps(optimizer: Adam | Sgd, start: number, gradients: number[]): number[] {
  const params = Float32Array.of(start);
  return gradients.map((g) => {
    optimizer.step(params, Float32Array.of(g));
    return params[0]!;
  });
}

test('Adam: two steps by hand, Keras placement of epsilon', () => {
  // lr 0.1, β1 0.9, β2 0.999, ε 1e-7, θ0 = 1, g = 0.5 then −0.25.
  // t=1: m = 0 + (0.5 − 0)·0.1 = 0.05;  v = 0 + (0.25 − 0)·0.001 = 2.5e-4
  //      α = lr·√(1−β2)/(1−β1) = 0.1·0.0316227766/0.1 = 0.0316227766
  //      θ1 = 1 − 0.05·0.0316227766/(√2.5e-4 + 1e-7) = 1 − 0.00158113883/0.0158114883 = 0.9000006325
  // t=2: m = 0.05 + (−0.25 − 0.05)·0.1 = 0.02;  v = 2.5e-4 + (0.0625 − 2.5e-4)·0.001 = 3.1225e-4
  //      α = 0.1·√(1−0.999²)/(1−0.9²) = 0.1·0.0447101778/0.19 = 0.0235316725
  //      θ2 = 0.9000006325 − 0.02·0.0235316725/(0.0176705970 + 1e-7) = 0.9000006325 − 0.0266335533 = 0.8733670792
  const adam = new Adam(1, { learningRate: 0.1 });
  const [theta1, theta2] = steps(adam, 1, [0.5, -0.25]);
  assertClose(theta1!, 0.9000006325);
  assertClose(theta2!, 0.8733670792);
  assertClose(adam.firstMoment[0]!, 0.02);
  assertClose(adam.secondMoment[0]!, 3.1225e-4);
  assert.equal(adam.iterations, 2);
});

test('Adam: epsilon is added to √v before bias correction (Keras), not to √v̂ (PyTorch)', () => {
  // g = 1e-8, θ0 = 0: m = 1e-9, v = 1e-19, √v = 3.162e-10.
  // Keras:   θ1 = −0.0316227766·1e-9/(3.162e-10 + 1e-7) = −3.1523e-4
  // PyTorch: θ1 = −0.1·(1e-9/0.1)/(√(1e-19/0.001) + 1e-7) = −0.1·1e-8/1.1e-7 = −9.09e-3 (what we must not get)
  const [theta] = steps(new Adam(1, { learningRate: 0.1 }), 0, [1e-8]);
  assertClose(theta!, -3.1523091833e-4, 1e-5);
});

test('AdamW: decoupled weight decay shrinks the parameter before the Adam step', () => {
  // wd 0.1, lr 0.1: θ = 1 − 1·0.1·0.1 = 0.99, then the same Adam step as above: 0.99 − 0.0999993675 = 0.8900006325.
  // (PyTorch-style L2 would instead add 0.1·θ to the gradient, which Adam's normalisation would mostly cancel.)
  const [theta] = steps(new Adam(1, { learningRate: 0.1, weightDecay: 0.1 }), 1, [0.5]);
  assertClose(theta!, 0.8900006325);
});

test('AMSGrad: uses the running maximum of v once v shrinks', () => {
  // g = 1 then 0.01. t=1: m = 0.1, v = 0.001, θ1 = 1 − 0.1·0.0316227766/(0.0316227766 + 1e-7) = 0.9000003162
  // t=2: m = 0.1 + (0.01 − 0.1)·0.1 = 0.091; v = 0.001 + (1e-4 − 0.001)·0.001 = 9.991e-4 < v̂ = 0.001
  //   AMSGrad: θ2 = θ1 − 0.091·0.0235316725/(√0.001 + 1e-7) = 0.9000003162 − 0.0677162369 = 0.8322840794
  //   Adam:    θ2 = θ1 − 0.091·0.0235316725/(√9.991e-4 + 1e-7)                      = 0.8322535866
  const amsgrad = steps(new Adam(1, { learningRate: 0.1, amsgrad: true }), 1, [1, 0.01]);
  const plain = steps(new Adam(1, { learningRate: 0.1 }), 1, [1, 0.01]);
  assertClose(amsgrad[0]!, 0.9000003162);
  assertClose(amsgrad[1]!, 0.8322840794);
  assertClose(plain[1]!, 0.8322535866);
});

test('SGD: plain, momentum, Nesterov and weight decay by hand', () => {
  // lr 0.1, θ0 = 1, g = 0.5 then −0.25.
  // plain:    θ1 = 1 − 0.05 = 0.95;  θ2 = 0.95 + 0.025 = 0.975
  assert.deepEqual(steps(new Sgd(1, { learningRate: 0.1 }), 1, [0.5, -0.25]).map((v) => Number(v.toFixed(7))), [0.95, 0.975]);
  // momentum 0.9: m1 = 0·0.9 − 0.5·0.1 = −0.05, θ1 = 0.95; m2 = −0.05·0.9 + 0.025 = −0.02, θ2 = 0.93
  const momentum = steps(new Sgd(1, { learningRate: 0.1, momentum: 0.9 }), 1, [0.5, -0.25]);
  assertClose(momentum[0]!, 0.95);
  assertClose(momentum[1]!, 0.93);
  // Nesterov: θ += momentum·m − lr·g after updating m: θ1 = 1 + (−0.045 − 0.05) = 0.905; θ2 = 0.905 + (−0.018 + 0.025) = 0.912
  const nesterov = steps(new Sgd(1, { learningRate: 0.1, momentum: 0.9, nesterov: true }), 1, [0.5, -0.25]);
  assertClose(nesterov[0]!, 0.905);
  assertClose(nesterov[1]!, 0.912);
  // weight decay 0.1: θ = 1 − 0.01 = 0.99, then − 0.05 = 0.94
  assertClose(steps(new Sgd(1, { learningRate: 0.1, weightDecay: 0.1 }), 1, [0.5])[0]!, 0.94);
});

test('optimizers reject bad arguments and mismatched lengths', () => {
  assert.throws(() => new Adam(1, { beta1: 1 }), RangeError);
  assert.throws(() => new Sgd(1, { momentum: -0.1 }), RangeError);
  assert.throws(() => new Adam(2).step(new Float32Array(2), new Float32Array(3)), /expected 2 params and grads/);
  assert.deepEqual(new Adam(1).getConfig(), {
    name: 'adam', learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, amsgrad: false, weightDecay: 0, epsilonPlacement: 'keras',
  });
});
