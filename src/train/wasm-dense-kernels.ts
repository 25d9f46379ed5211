/**
 * The dense kernels in WebAssembly SIMD (source: wasm/dense-kernels.c, built by scripts/build-wasm.ts).
 *
 * Chosen by measurement over blocked JS loops and onnxruntime (see notes in the commit and README "Benchmarks"):
 * register-tiled f32x4 kernels run the GEMMs of a mini-batch step at 10–20 GMAC/s on one core, 20–40× the
 * reference JS loops, with no per-call overhead (a step is a few synchronous calls into the module) and with the
 * optimizer update fused into the weight-gradient pass, so the gradient of a 1,280 × 1,000 kernel is never
 * written to memory. Each workspace is one instance with its own memory, sized once, so a network's arrays
 * are views that never move.
 *
 * Numerics: sums accumulate in float32 in a fixed order and WebAssembly has no FMA contraction, so results are
 * bit-identical run to run on any machine; they differ from the float64-accumulating reference by float32
 * rounding (test/train/wasm-kernels.test.ts bounds it).
 */
import { softmaxCrossEntropyRows } from './loss.js';
import type { OptimizerStep } from './optimizers.js';
import { jsDenseKernels, type DenseKernels, type DenseWorkspace, type ParameterBlock } from './dense-kernels.js';
import { DENSE_KERNELS_WASM_BASE64 } from './wasm/dense-kernels-wasm.js';

interface KernelExports {
  /** First byte after the module's stack and static data. */
  readonly __heap_base: { readonly value: number };
  dense_forward(x: number, rows: number, inDim: number, w: number, bias: number, outDim: number, out: number, jBegin: number, jEnd: number): void;
  dense_backward_input(g: number, rows: number, outDim: number, w: number, inDim: number, gx: number, pBegin: number, pEnd: number): void;
  dense_backward_weights(g: number, rows: number, outDim: number, x: number, inDim: number,
    params: number, grads: number, s1: number, s2: number, s3: number, update: number, jBegin: number, jEnd: number): void;
  apply_update(params: number, grads: number, s1: number, s2: number, s3: number, length: number, update: number): void;
  standardize_rows(x: number, rows: number, dim: number, mean: number, invStd: number): void;
}

/**
 * Memory layout of a workspace: the module's stack and static data below `RESERVED_BYTES` (checked against its
 * `__heap_base`), then the `update_t` the C code reads, then the arrays, 16-byte aligned.
 */
const PAGE_BYTES = 65536;
const RESERVED_BYTES = PAGE_BYTES;
const UPDATE_OFFSET = RESERVED_BYTES;
const ARRAYS_OFFSET = RESERVED_BYTES + 64;
/** Index arithmetic in the C code is 32-bit signed. */
const MAX_WORKSPACE_BYTES = 2 ** 31 - PAGE_BYTES;
const MODE = { gradient: 0, adam: 1, amsgrad: 2, sgd: 3, momentum: 4, nesterov: 5 } as const;

/**
 * The slice of the WebAssembly JS API used here. TypeScript declares `WebAssembly` only in lib.dom, which this
 * Node project does not load, so the global is typed locally instead of globally.
 */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { readonly exports: unknown };
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => { readonly buffer: ArrayBuffer };
}
const wasm = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

let compiled: object | null | undefined;

/** The compiled module, or null when this runtime cannot run WebAssembly SIMD. Compiled once per thread. */
function kernelModule(): object | null {
  if (compiled === undefined) {
    const bytes = Buffer.from(DENSE_KERNELS_WASM_BASE64, 'base64');
    compiled = wasm.validate(bytes) ? new wasm.Module(bytes) : null;
  }
  return compiled;
}

class WasmDenseWorkspace implements DenseWorkspace {
  readonly arrays: readonly Float32Array[];
  readonly softmaxCrossEntropy = softmaxCrossEntropyRows;
  private readonly exports: KernelExports;
  private readonly buffer: ArrayBuffer;
  private readonly updateFloats: Float32Array;
  private readonly updateInts: Int32Array;

  constructor(module: object, lengths: readonly number[]) {
    const offsets: number[] = [];
    let end = ARRAYS_OFFSET;
    for (const length of lengths) {
      if (!(Number.isInteger(length) && length >= 0)) throw new RangeError(`createWorkspace: lengths must be integers ≥ 0, got ${length}.`);
      offsets.push(end);
      end += Math.ceil((length * 4) / 16) * 16;
    }
    if (end > MAX_WORKSPACE_BYTES)
      throw new RangeError(`createWorkspace: ${end} bytes exceed the ${MAX_WORKSPACE_BYTES} the wasm kernels address; use jsDenseKernels.`);
    const memory = new wasm.Memory({ initial: Math.ceil(end / PAGE_BYTES) });
    this.exports = new wasm.Instance(module, { env: { memory } }).exports as KernelExports;
    if (this.exports.__heap_base.value > RESERVED_BYTES)
      throw new Error(`wasm kernels: the module uses ${this.exports.__heap_base.value} bytes of static memory, more than the ${RESERVED_BYTES} reserved.`);
    this.buffer = memory.buffer;
    this.arrays = lengths.map((length, index) => new Float32Array(this.buffer, offsets[index]!, length));
    this.updateFloats = new Float32Array(this.buffer, UPDATE_OFFSET, 6);
    this.updateInts = new Int32Array(this.buffer, UPDATE_OFFSET + 24, 1);
  }

  /** Byte address of `array[offset]` in this workspace's memory. */
  private address(array: Float32Array, offset: number): number {
    if (array.buffer !== this.buffer)
      throw new RangeError('wasm kernels: pass arrays from this workspace (`workspace.arrays` or subarrays of them).');
    return array.byteOffset + 4 * offset;
  }

  private stateAddresses(block: ParameterBlock, offset: number): [number, number, number] {
    const [s1, s2, s3] = block.state;
    return [s1 === undefined ? 0 : this.address(s1, offset), s2 === undefined ? 0 : this.address(s2, offset), s3 === undefined ? 0 : this.address(s3, offset)];
  }

  private writeUpdate(step: OptimizerStep | null): void {
    const floats = this.updateFloats;
    if (step === null) { this.updateInts[0] = MODE.gradient; return; }
    floats[0] = step.alpha;
    floats[1] = step.oneMinusBeta1;
    floats[2] = step.oneMinusBeta2;
    floats[3] = step.epsilon;
    floats[4] = step.decay;
    floats[5] = step.momentum;
    this.updateInts[0] = MODE[step.kind];
  }

  forward(input: Float32Array, inputOffset: number, rows: number, inputDim: number, weights: Float32Array, weightsOffset: number,
    bias: Float32Array, biasOffset: number, outputDim: number, out: Float32Array, outOffset: number): void {
    this.exports.dense_forward(this.address(input, inputOffset), rows, inputDim, this.address(weights, weightsOffset),
      this.address(bias, biasOffset), outputDim, this.address(out, outOffset), 0, outputDim);
  }

  backwardInput(gradOut: Float32Array, rows: number, outputDim: number, weights: Float32Array, weightsOffset: number, inputDim: number,
    gradInput: Float32Array): void {
    this.exports.dense_backward_input(this.address(gradOut, 0), rows, outputDim, this.address(weights, weightsOffset), inputDim,
      this.address(gradInput, 0), 0, inputDim);
  }

  backwardWeights(gradOut: Float32Array, rows: number, outputDim: number, input: Float32Array, inputOffset: number, inputDim: number,
    block: ParameterBlock, offset: number, step: OptimizerStep | null): void {
    this.writeUpdate(step);
    const [s1, s2, s3] = this.stateAddresses(block, offset);
    this.exports.dense_backward_weights(this.address(gradOut, 0), rows, outputDim, this.address(input, inputOffset), inputDim,
      this.address(block.params, offset), this.address(block.grads, offset), s1, s2, s3, UPDATE_OFFSET, 0, outputDim);
  }

  standardizeRows(input: Float32Array, rows: number, dim: number, mean: Float32Array, invStd: Float32Array): void {
    this.exports.standardize_rows(this.address(input, 0), rows, dim, this.address(mean, 0), this.address(invStd, 0));
  }

  update(block: ParameterBlock, offset: number, length: number, step: OptimizerStep): void {
    this.writeUpdate(step);
    const [s1, s2, s3] = this.stateAddresses(block, offset);
    this.exports.apply_update(this.address(block.params, offset), this.address(block.grads, offset), s1, s2, s3, length, UPDATE_OFFSET);
  }
}

/** Whether this runtime runs the WebAssembly SIMD kernels (Node 20 does). */
export function isWasmSimdAvailable(): boolean {
  return kernelModule() !== null;
}

export const wasmDenseKernels: DenseKernels = {
  name: 'wasm-simd',
  createWorkspace(lengths) {
    const module = kernelModule();
    if (module === null) throw new RangeError('wasmDenseKernels: this runtime cannot run WebAssembly SIMD; use jsDenseKernels.');
    return new WasmDenseWorkspace(module, lengths);
  },
};

/** The WebAssembly SIMD kernels where they run, else the reference JS kernels. */
export function fastestDenseKernels(): DenseKernels {
  return isWasmSimdAvailable() ? wasmDenseKernels : jsDenseKernels;
}
