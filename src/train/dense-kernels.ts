/**
 * The dense-layer kernels of training, behind one interface with two implementations:
 *   - `jsDenseKernels`: the reference, plain loops accumulating in float64 (kept for tests and as the fallback);
 *   - `wasmDenseKernels` (wasm-dense-kernels.ts): WebAssembly SIMD, register-tiled, float32 accumulation, the
 *     optimizer update fused into the weight-gradient pass. The default wherever WebAssembly SIMD runs.
 *
 * Weights are stored *output-major* ([outputDim × inputDim], like PyTorch's Linear) while training: the forward
 * pass is then one contiguous dot product per (row, output) and both backward passes are contiguous axpys.
 * HeadWeights transposes to [inputDim × outputDim] at the end.
 *
 * A network asks its kernels for a `DenseWorkspace` once: the workspace owns every array the kernels touch
 * (parameters, optimizer state, batch buffers; WebAssembly memory for the wasm kernels, so nothing is copied per
 * step), and the kernels are methods of the workspace.
 */
import { softmaxCrossEntropyRows } from './loss.js';
import { applyUpdate, type OptimizerStep } from './optimizers.js';
import { Rng } from '../util/rng.js';

/**
 * Optimizer state below STATE_FLUSH_BELOW is set to 0 every FLUSH_EVERY_STEPS steps, in both workspaces: state whose
 * gradient stays 0 (a confident head, a dead ReLU unit) decays into float32 subnormals and sticks there (m − m·0.1
 * rounds back to m), and x86 slows down ~100× on each subnormal it loads or stores. Adam's m needs ~170 steps from
 * 1e-30 to the subnormal range, so a pass every 64 steps catches it first (see flush_state in wasm/dense-kernels.c).
 */
export const FLUSH_EVERY_STEPS = 64;
export const STATE_FLUSH_BELOW = 1e-30;

/** Counts optimizer steps (one OptimizerStep object, however many layers it updates) and says when a flush is due. */
export class StateFlushSchedule {
  private lastStep: OptimizerStep | null = null;
  private stepsSeen = 0;
  due(step: OptimizerStep | null): boolean {
    if (step === null) return false;
    if (step !== this.lastStep) { this.lastStep = step; this.stepsSeen++; }
    return this.stepsSeen % FLUSH_EVERY_STEPS === 0;
  }
}

/** Parameters with their gradients and optimizer state (each array as long as `params`, same indices). */
export interface ParameterBlock {
  readonly params: Float32Array;
  readonly grads: Float32Array;
  /** Adam: m, v (and v̂max); SGD with momentum: velocity; else empty. */
  readonly state: readonly Float32Array[];
}

export interface DenseWorkspace {
  /** The arrays asked for in `createWorkspace`, zeroed, in order. Only these may be passed to the methods. */
  readonly arrays: readonly Float32Array[];
  /** out[i, j] = bias[j] + Σ_p input[i, p] · weights[j, p], for i < rows, j < outputDim. */
  forward(input: Float32Array, inputOffset: number, rows: number, inputDim: number,
    weights: Float32Array, weightsOffset: number, bias: Float32Array, biasOffset: number, outputDim: number,
    out: Float32Array, outOffset: number): void;
  /** gradInput[i, p] = Σ_j gradOut[i, j] · weights[j, p] (overwritten). */
  backwardInput(gradOut: Float32Array, rows: number, outputDim: number, weights: Float32Array, weightsOffset: number, inputDim: number,
    gradInput: Float32Array): void;
  /**
   * The gradient of one layer whose kernel [outputDim × inputDim] starts at `offset` of `block.params`, its bias
   * right after: gradWeights[j, p] = Σ_i gradOut[i, j] · input[i, p], gradBias[j] = Σ_i gradOut[i, j].
   * Without `step` it is written to `block.grads` at the same indices. With `step` it is applied to the
   * parameters at once (the optimizer update fused into the same pass; `block.grads` is left alone).
   */
  backwardWeights(gradOut: Float32Array, rows: number, outputDim: number, input: Float32Array, inputOffset: number, inputDim: number,
    block: ParameterBlock, offset: number, step: OptimizerStep | null): void;
  /** The optimizer update of `block.params[offset .. offset+length)` from `block.grads` (see `applyUpdate`). */
  update(block: ParameterBlock, offset: number, length: number, step: OptimizerStep): void;
  /** input[i, p] = (input[i, p] − mean[p]) · invStd[p] for i < rows, in place. */
  standardizeRows(input: Float32Array, rows: number, dim: number, mean: Float32Array, invStd: Float32Array): void;
  /** Softmax cross-entropy of a batch of logits, with its gradient (see `softmaxCrossEntropyRows`). */
  softmaxCrossEntropy: typeof softmaxCrossEntropyRows;
  /**
   * Inverted dropout of `values[0 .. length)` in place: mask[i] = 0 when the i-th draw of `Rng` from `state` is
   * below `rate` (`nextFloat() < rate`), else `keep`; values[i] *= mask[i]. The caller gets `state` from
   * `rng.skip(length)`, so the draws are those of `length` calls of `rng.nextFloat()`.
   */
  dropout(values: Float32Array, mask: Float32Array, length: number, state: number, rate: number, keep: number): void;
  /** Releases threads the workspace started; its arrays stay readable. */
  dispose(): void;
}

export interface WorkspaceOptions {
  /**
   * Threads that may share one kernel call (split by output, so results do not depend on the count). Only the
   * wasm kernels use more than one, and only for calls big enough to pay for waking a thread. @defaultValue `1`
   */
  readonly threads?: number;
}

export interface DenseKernels {
  /** `'js'` (reference) or `'wasm-simd'`. */
  readonly name: string;
  /** A workspace holding one zeroed Float32Array per requested length. Call `dispose()` when done with it. */
  createWorkspace(lengths: readonly number[], options?: WorkspaceOptions): DenseWorkspace;
}

function dot(a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, length: number): number {
  let sum = 0;
  for (let i = 0; i < length; i++) sum += a[aOffset + i]! * b[bOffset + i]!;
  return sum;
}

function axpy(alpha: number, x: Float32Array, xOffset: number, y: Float32Array, yOffset: number, length: number): void {
  for (let i = 0; i < length; i++) y[yOffset + i] = y[yOffset + i]! + alpha * x[xOffset + i]!;
}

/** Reference workspace: dot products accumulate in float64 (JS numbers) and are rounded to float32 when stored. */
class JsDenseWorkspace implements DenseWorkspace {
  readonly arrays: readonly Float32Array[];
  readonly softmaxCrossEntropy = softmaxCrossEntropyRows;

  constructor(lengths: readonly number[]) {
    this.arrays = lengths.map((length) => new Float32Array(length));
  }

  forward(input: Float32Array, inputOffset: number, rows: number, inputDim: number, weights: Float32Array, weightsOffset: number,
    bias: Float32Array, biasOffset: number, outputDim: number, out: Float32Array, outOffset: number): void {
    for (let row = 0; row < rows; row++) {
      const rowOffset = inputOffset + row * inputDim, outRow = outOffset + row * outputDim;
      for (let j = 0; j < outputDim; j++)
        out[outRow + j] = bias[biasOffset + j]! + dot(input, rowOffset, weights, weightsOffset + j * inputDim, inputDim);
    }
  }

  backwardInput(gradOut: Float32Array, rows: number, outputDim: number, weights: Float32Array, weightsOffset: number, inputDim: number,
    gradInput: Float32Array): void {
    gradInput.fill(0, 0, rows * inputDim);
    for (let row = 0; row < rows; row++)
      for (let j = 0; j < outputDim; j++) {
        const g = gradOut[row * outputDim + j]!;
        if (g !== 0) axpy(g, weights, weightsOffset + j * inputDim, gradInput, row * inputDim, inputDim);
      }
  }

  backwardWeights(gradOut: Float32Array, rows: number, outputDim: number, input: Float32Array, inputOffset: number, inputDim: number,
    block: ParameterBlock, offset: number, step: OptimizerStep | null): void {
    const gradWeights = block.grads, biasOffset = offset + outputDim * inputDim;
    gradWeights.fill(0, offset, biasOffset);
    for (let j = 0; j < outputDim; j++) {
      let biasSum = 0;
      const weightRow = offset + j * inputDim;
      for (let row = 0; row < rows; row++) {
        const g = gradOut[row * outputDim + j]!;
        biasSum += g;
        if (g !== 0) axpy(g, input, inputOffset + row * inputDim, gradWeights, weightRow, inputDim);
      }
      gradWeights[biasOffset + j] = biasSum;
    }
    if (step !== null) this.update(block, offset, outputDim * inputDim + outputDim, step);
  }

  private readonly flushSchedule = new StateFlushSchedule();

  update(block: ParameterBlock, offset: number, length: number, step: OptimizerStep): void {
    applyUpdate(step, block.params, block.grads, block.state, offset, length);
    if (!this.flushSchedule.due(step)) return;
    for (const state of block.state)
      for (let i = offset; i < offset + length && i < state.length; i++) if (Math.abs(state[i]!) < STATE_FLUSH_BELOW) state[i] = 0;
  }

  dispose(): void {}

  dropout(values: Float32Array, mask: Float32Array, length: number, state: number, rate: number, keep: number): void {
    const rng = new Rng(state);
    for (let i = 0; i < length; i++) {
      mask[i] = rng.nextFloat() < rate ? 0 : keep;
      values[i] = values[i]! * mask[i]!;
    }
  }

  standardizeRows(input: Float32Array, rows: number, dim: number, mean: Float32Array, invStd: Float32Array): void {
    for (let row = 0; row < rows; row++) {
      const offset = row * dim;
      for (let feature = 0; feature < dim; feature++) input[offset + feature] = (input[offset + feature]! - mean[feature]!) * invStd[feature]!;
    }
  }
}

export const jsDenseKernels: DenseKernels = {
  name: 'js',
  createWorkspace: (lengths) => new JsDenseWorkspace(lengths),
};
