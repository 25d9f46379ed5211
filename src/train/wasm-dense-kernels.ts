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
import { Worker } from 'node:worker_threads';
import type { CrossEntropyBatch } from './loss.js';
import type { OptimizerStep } from './optimizers.js';
import { jsDenseKernels, StateFlushSchedule, type DenseKernels, type DenseWorkspace, type ParameterBlock } from './dense-kernels.js';
import { DENSE_KERNELS_WASM_BASE64 } from './wasm/dense-kernels-wasm.js';

interface KernelExports {
  /** First byte after the module's stack and static data. */
  readonly __heap_base: { readonly value: number };
  dense_forward(x: number, rows: number, inDim: number, w: number, bias: number, outDim: number, out: number, jBegin: number, jEnd: number): void;
  dense_backward_input(g: number, rows: number, outDim: number, w: number, inDim: number, gx: number, pBegin: number, pEnd: number): void;
  dense_backward_weights(g: number, rows: number, outDim: number, x: number, inDim: number,
    params: number, grads: number, s1: number, s2: number, s3: number, update: number, jBegin: number, jEnd: number): void;
  apply_update(params: number, grads: number, s1: number, s2: number, s3: number, length: number, update: number): void;
  flush_state(state: number, length: number): void;
  standardize_rows(x: number, rows: number, dim: number, mean: number, invStd: number): void;
  dropout(values: number, mask: number, length: number, state: number, threshold: number, keep: number): void;
  softmax_cross_entropy(logits: number, labels: number, rows: number, numClasses: number, labelSmoothing: number,
    classWeights: number, gradient: number, gradientScale: number, correct: number): number;
}

/**
 * Memory layout of a workspace: the module's stack and static data below `RESERVED_BYTES` (checked against its
 * `__heap_base`), then the `update_t` the C code reads, then the arrays, 16-byte aligned.
 */
const PAGE_BYTES = 65536;
const RESERVED_BYTES = PAGE_BYTES;
const UPDATE_OFFSET = RESERVED_BYTES;
/** Where softmax_cross_entropy writes its count of correct rows (after the 28-byte update_t). */
const CORRECT_OFFSET = UPDATE_OFFSET + 32;
/** Control blocks of the helper threads (see `CONTROL_INTS`), then the arrays. */
const CONTROL_OFFSET = RESERVED_BYTES + 64;
const MAX_THREADS = 32;
const ARRAYS_OFFSET = CONTROL_OFFSET + MAX_THREADS * 64;
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
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => { readonly buffer: ArrayBufferLike };
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

/** Kernel calls a helper thread can run: ids shared with HELPER_SOURCE. */
const CALL = { forward: 0, backwardInput: 1, backwardWeights: 2, update: 3 } as const;
/** A call is split across threads only above this many multiply-adds (≈ 0.1 ms on one core): waking a thread costs ~20 µs. */
const PARALLEL_MIN_MACS = 1 << 20;
/** Per-helper control block: [0] call sequence, [1] done sequence (negative: failed), [2] call id, [3..15] arguments. */
const CONTROL_INTS = 16;

/**
 * A helper thread: instantiates the same module on the same shared memory, then runs the calls the main thread
 * posts in its control block (Atomics.wait/notify; it sleeps in the kernel while idle, never spins).
 */
const HELPER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control } = workerData;
const e = new WebAssembly.Instance(module, { env: { memory } }).exports;
const calls = [e.dense_forward, e.dense_backward_input, e.dense_backward_weights, e.apply_update];
const c = new Int32Array(memory.buffer, control, ${CONTROL_INTS});
let seen = 0;
for (;;) {
  Atomics.wait(c, 0, seen);
  const sequence = Atomics.load(c, 0);
  if (sequence === seen) continue;
  seen = sequence;
  if (c[2] < 0) break;
  try {
    calls[c[2]](c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12], c[13], c[14], c[15]);
    Atomics.store(c, 1, sequence);
  } catch {
    Atomics.store(c, 1, -sequence);
  }
  Atomics.notify(c, 1);
}`;

class WasmDenseWorkspace implements DenseWorkspace {
  readonly arrays: readonly Float32Array[];
  private readonly exports: KernelExports;
  private readonly calls: ReadonlyArray<(...args: number[]) => void>;
  private readonly buffer: ArrayBufferLike;
  private readonly updateFloats: Float32Array;
  private readonly updateInts: Int32Array;
  private readonly correctInts: Int32Array;
  private readonly helpers: Array<{ readonly worker: Worker; readonly control: Int32Array }> = [];
  /** Helper threads still to start: on the first call wide enough to split (a narrow head never pays for one). */
  private helpersToStart: number;
  private readonly module: object;
  private readonly memory: { readonly buffer: ArrayBufferLike };

  constructor(module: object, lengths: readonly number[], threads: number) {
    const offsets: number[] = [];
    let end = ARRAYS_OFFSET;
    for (const length of lengths) {
      if (!(Number.isInteger(length) && length >= 0)) throw new RangeError(`createWorkspace: lengths must be integers ≥ 0, got ${length}.`);
      offsets.push(end);
      end += Math.ceil((length * 4) / 16) * 16;
    }
    if (end > MAX_WORKSPACE_BYTES)
      throw new RangeError(`createWorkspace: ${end} bytes exceed the ${MAX_WORKSPACE_BYTES} the wasm kernels address; use jsDenseKernels.`);
    const pages = Math.ceil(end / PAGE_BYTES);
    const memory = new wasm.Memory({ initial: pages, maximum: pages, shared: true });
    this.exports = new wasm.Instance(module, { env: { memory } }).exports as KernelExports;
    if (this.exports.__heap_base.value > RESERVED_BYTES)
      throw new Error(`wasm kernels: the module uses ${this.exports.__heap_base.value} bytes of static memory, more than the ${RESERVED_BYTES} reserved.`);
    const e = this.exports;
    this.calls = [e.dense_forward, e.dense_backward_input, e.dense_backward_weights, e.apply_update] as ReadonlyArray<(...args: number[]) => void>;
    this.buffer = memory.buffer;
    this.arrays = lengths.map((length, index) => new Float32Array(this.buffer, offsets[index]!, length));
    this.updateFloats = new Float32Array(this.buffer, UPDATE_OFFSET, 6);
    this.updateInts = new Int32Array(this.buffer, UPDATE_OFFSET + 24, 1);
    this.correctInts = new Int32Array(this.buffer, CORRECT_OFFSET, 1);
    this.module = module;
    this.memory = memory;
    this.helpersToStart = Math.max(0, Math.min(threads, MAX_THREADS) - 1);
  }

  /** Helper threads running now (for tests: none until a call is wide enough to split). */
  get runningHelpers(): number {
    return this.helpers.length;
  }

  private startHelpers(): void {
    for (let h = 0; h < this.helpersToStart; h++) {
      const control = CONTROL_OFFSET + h * CONTROL_INTS * 4;
      const worker = new Worker(HELPER_SOURCE, { eval: true, workerData: { module: this.module, memory: this.memory, control } });
      worker.unref();
      this.helpers.push({ worker, control: new Int32Array(this.buffer, control, CONTROL_INTS) });
    }
    this.helpersToStart = 0;
  }

  /**
   * Runs `call` over [0, total) split into contiguous parts, one per thread (this one takes the first), each
   * part a multiple of `granularity`; `argsFor(begin, end)` gives a part's arguments. Each output element is
   * computed by one thread in the same order as with one thread, so the results do not depend on the split.
   */
  private run(call: number, total: number, granularity: number, macs: number, argsFor: (begin: number, end: number) => number[]): void {
    const fn = this.calls[call]!;
    if (this.helpersToStart > 0 && macs >= PARALLEL_MIN_MACS && total >= 2 * granularity) this.startHelpers();
    const threads = macs >= PARALLEL_MIN_MACS ? Math.min(this.helpers.length + 1, Math.floor(total / granularity)) : 1;
    if (threads <= 1) { fn(...argsFor(0, total)); return; }
    const per = Math.ceil(total / granularity / threads) * granularity;
    const posted: Array<{ control: Int32Array; sequence: number }> = [];
    for (let t = 1; t < threads; t++) {
      const begin = Math.min(total, t * per), end = Math.min(total, begin + per);
      if (begin >= end) break;
      const { control } = this.helpers[t - 1]!;
      control[2] = call;
      argsFor(begin, end).forEach((value, index) => { control[3 + index] = value; });
      const sequence = control[0]! + 1;
      Atomics.store(control, 0, sequence);
      Atomics.notify(control, 0);
      posted.push({ control, sequence });
    }
    fn(...argsFor(0, Math.min(total, per)));
    for (const { control, sequence } of posted) {
      for (;;) {
        const done = Atomics.load(control, 1);
        if (done === sequence) break;
        if (done === -sequence) throw new Error('wasm kernels: a helper thread failed (a trap in the kernels; this is a bug).');
        Atomics.wait(control, 1, done, 1000);
      }
    }
  }

  /** Stops the helper threads. The arrays stay readable. */
  dispose(): void {
    for (const { worker, control } of this.helpers) {
      control[2] = -1;
      Atomics.add(control, 0, 1);
      Atomics.notify(control, 0);
      void worker.terminate();
    }
    this.helpers.length = 0;
    this.helpersToStart = 0;
  }

  /** Byte address of `array[offset]` in this workspace's memory. */
  private address(array: Float32Array | Int32Array, offset: number): number {
    if (array.buffer !== this.buffer)
      throw new RangeError('wasm kernels: pass arrays from this workspace (`workspace.arrays`, subarrays or views of them).');
    return array.byteOffset + 4 * offset;
  }

  /**
   * The wasm form of `softmaxCrossEntropyRows`: float32 exp (≤ 2 ulp), float64 log and loss sum. Labels (an
   * Int32Array view) and class weights must live in this workspace.
   */
  softmaxCrossEntropy(logits: Float32Array, logitsOffset: number, labels: ArrayLike<number>, rows: number, numClasses: number,
    labelSmoothing: number, classWeights: Float32Array | null, gradient: Float32Array | null, gradientOffset: number,
    gradientScale: number): CrossEntropyBatch {
    if (!(labels instanceof Int32Array)) throw new RangeError('wasm kernels: softmaxCrossEntropy needs the labels as an Int32Array in the workspace.');
    const weightedLossSum = this.exports.softmax_cross_entropy(this.address(logits, logitsOffset), this.address(labels, 0), rows, numClasses,
      labelSmoothing, classWeights === null ? 0 : this.address(classWeights, 0), gradient === null ? 0 : this.address(gradient, gradientOffset),
      gradientScale, CORRECT_OFFSET);
    return { weightedLossSum, correct: this.correctInts[0]! };
  }

  dropout(values: Float32Array, mask: Float32Array, length: number, state: number, rate: number, keep: number): void {
    // nextFloat() < rate ⇔ draw < rate·2^32 ⇔ draw ≤ ⌈rate·2^32⌉ − 1 (draws are integers; rate·2^32 is exact).
    const threshold = Math.min(2 ** 32, Math.ceil(rate * 2 ** 32)) - 1;
    if (threshold < 0) { mask.fill(keep, 0, length); for (let i = 0; i < length; i++) values[i] = values[i]! * mask[i]!; return; }
    this.exports.dropout(this.address(values, 0), this.address(mask, 0), length, state | 0, threshold | 0, keep);
  }

  private stateAddresses(block: ParameterBlock, offset: number): [number, number, number] {
    const [s1, s2, s3] = block.state;
    return [s1 === undefined ? 0 : this.address(s1, offset), s2 === undefined ? 0 : this.address(s2, offset), s3 === undefined ? 0 : this.address(s3, offset)];
  }

  /** Optimizer state below 1e-30 is set to 0 every FLUSH_EVERY_STEPS steps (see StateFlushSchedule, flush_state). */
  private readonly flushSchedule = new StateFlushSchedule();

  private flushStateIfDue(block: ParameterBlock, offset: number, length: number, step: OptimizerStep | null): void {
    if (!this.flushSchedule.due(step)) return;
    for (const state of block.state) if (state.length > 0) this.exports.flush_state(this.address(state, offset), length);
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
    const x = this.address(input, inputOffset), w = this.address(weights, weightsOffset), b = this.address(bias, biasOffset);
    const o = this.address(out, outOffset);
    this.run(CALL.forward, outputDim, 2, rows * inputDim * outputDim, (begin, end) => [x, rows, inputDim, w, b, outputDim, o, begin, end]);
  }

  backwardInput(gradOut: Float32Array, rows: number, outputDim: number, weights: Float32Array, weightsOffset: number, inputDim: number,
    gradInput: Float32Array): void {
    const g = this.address(gradOut, 0), w = this.address(weights, weightsOffset), gx = this.address(gradInput, 0);
    this.run(CALL.backwardInput, inputDim, 16, rows * inputDim * outputDim, (begin, end) => [g, rows, outputDim, w, inputDim, gx, begin, end]);
  }

  backwardWeights(gradOut: Float32Array, rows: number, outputDim: number, input: Float32Array, inputOffset: number, inputDim: number,
    block: ParameterBlock, offset: number, step: OptimizerStep | null): void {
    this.writeUpdate(step);
    const [s1, s2, s3] = this.stateAddresses(block, offset);
    const g = this.address(gradOut, 0), x = this.address(input, inputOffset);
    const p = this.address(block.params, offset), gw = this.address(block.grads, offset);
    this.run(CALL.backwardWeights, outputDim, 2, rows * inputDim * outputDim,
      (begin, end) => [g, rows, outputDim, x, inputDim, p, gw, s1, s2, s3, UPDATE_OFFSET, begin, end]);
    this.flushStateIfDue(block, offset, outputDim * inputDim + outputDim, step);
  }

  standardizeRows(input: Float32Array, rows: number, dim: number, mean: Float32Array, invStd: Float32Array): void {
    this.exports.standardize_rows(this.address(input, 0), rows, dim, this.address(mean, 0), this.address(invStd, 0));
  }

  update(block: ParameterBlock, offset: number, length: number, step: OptimizerStep): void {
    this.writeUpdate(step);
    const [s1, s2, s3] = this.stateAddresses(block, offset);
    const p = this.address(block.params, offset), gw = this.address(block.grads, offset);
    const at = (address: number, begin: number): number => (address === 0 ? 0 : address + 4 * begin);
    this.run(CALL.update, length, 4, length * 4, (begin, end) =>
      [at(p, begin), at(gw, begin), at(s1, begin), at(s2, begin), at(s3, begin), end - begin, UPDATE_OFFSET]);
    this.flushStateIfDue(block, offset, length, step);
  }
}

/** Whether this runtime runs the WebAssembly SIMD kernels (Node 20 does). */
export function isWasmSimdAvailable(): boolean {
  return kernelModule() !== null;
}

export const wasmDenseKernels: DenseKernels = {
  name: 'wasm-simd',
  createWorkspace(lengths, options = {}) {
    const module = kernelModule();
    if (module === null) throw new RangeError('wasmDenseKernels: this runtime cannot run WebAssembly SIMD; use jsDenseKernels.');
    const threads = options.threads ?? 1;
    if (!(Number.isInteger(threads) && threads >= 1)) throw new RangeError(`createWorkspace: 'threads' must be a positive integer, got ${threads}.`);
    return new WasmDenseWorkspace(module, lengths, threads);
  },
};

/** The WebAssembly SIMD kernels where they run, else the reference JS kernels. */
export function fastestDenseKernels(): DenseKernels {
  return isWasmSimdAvailable() ? wasmDenseKernels : jsDenseKernels;
}
