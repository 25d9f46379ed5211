/**
 * The two convolution passes of the `pil-*` filters in WebAssembly SIMD (source: wasm/resample.c, built by
 * scripts/build-wasm.ts). Same integer arithmetic as the JS loops in resample-kernels.js, so the same bytes; several times
 * faster, which is what lets the exact filter keep up with libvips' own (scripts/bench-decode.ts).
 *
 * One instance per thread, created on first use, with one memory that grows to the largest image seen: a call copies
 * the source pixels and the weights in, runs both passes in place and copies the window out.
 */
import { RESAMPLE_WASM_BASE64 } from './wasm/resample-wasm.js';

interface ResampleExports {
  readonly __heap_base: { readonly value: number };
  convolve_rows(src: number, width: number, channels: number, firstRow: number, lastRow: number, bounds: number,
    weights: number, stride: number, outCount: number, out: number): void;
  convolve_columns(rows: number, rowLength: number, firstRow: number, bounds: number, weights: number, stride: number,
    outRows: number, out: number): void;
}

/** What resample.ts computes for one axis (see convolutionAxis in resample-kernels.js). */
export interface WasmConvolutionAxis {
  readonly bounds: Int32Array;
  readonly weights: Int32Array;
  readonly stride: number;
}

/** The slice of the WebAssembly JS API used here (TypeScript declares `WebAssembly` only in lib.dom). */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { readonly exports: unknown };
  Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer; grow(pages: number): number };
}
const wasm = (globalThis as unknown as { WebAssembly?: WebAssemblyApi }).WebAssembly;

const PAGE_BYTES = 65536;
/** The module's stack and static data live below this (checked against its `__heap_base`). */
const RESERVED_BYTES = PAGE_BYTES;
/** Readable bytes after the source: the kernels read 4-byte pixels and groups of 4 taps. */
const SOURCE_PADDING = 16;
/** Byte offsets in the C code are 32-bit signed. */
const MAX_BYTES = 2 ** 31 - PAGE_BYTES;

class WasmResampler {
  private readonly exports: ResampleExports;
  private readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };

  constructor(module: object) {
    this.memory = new wasm!.Memory({ initial: 2 });
    this.exports = new wasm!.Instance(module, { env: { memory: this.memory } }).exports as ResampleExports;
    if (this.exports.__heap_base.value > RESERVED_BYTES)
      throw new Error(`wasm resample: the module uses ${this.exports.__heap_base.value} bytes of static memory, more than the ${RESERVED_BYTES} reserved.`);
  }

  /**
   * Both passes: the horizontal one over source rows [firstRow, lastRow) (or a copy of the window's columns when
   * `horizontal` is null), then the vertical one (or none). Returns window.height rows of window.width pixels.
   */
  convolve(source: Uint8Array, width: number, channels: number, horizontal: WasmConvolutionAxis | null,
      vertical: WasmConvolutionAxis | null, windowLeft: number, outWidth: number, outHeight: number,
      firstRow: number, lastRow: number): Uint8Array {
    const rowLength = outWidth * channels;
    const rowsBytes = (lastRow - firstRow) * rowLength;
    const outBytes = vertical === null ? 0 : outHeight * rowLength;
    let end = RESERVED_BYTES;
    const place = (bytes: number): number => { const at = end; end += Math.ceil(bytes / 16) * 16; return at; };
    const sourceAt = horizontal === null ? 0 : place(source.length + SOURCE_PADDING);
    const rowsAt = place(rowsBytes + SOURCE_PADDING);
    const outAt = place(outBytes);
    const axes = [horizontal, vertical].map((axis) => axis === null ? null
      : { bounds: place(axis.bounds.byteLength), weights: place(axis.weights.byteLength), axis });
    if (end > MAX_BYTES) throw new RangeError(`resample: a ${width}-pixel-wide image needs ${end} bytes, more than the wasm kernels address.`);
    const missing = Math.ceil((end - this.memory.buffer.byteLength) / PAGE_BYTES);
    if (missing > 0) this.memory.grow(missing);
    const buffer = this.memory.buffer;
    const bytes = new Uint8Array(buffer);
    for (const placed of axes) {
      if (placed === null) continue;
      new Int32Array(buffer, placed.bounds, placed.axis.bounds.length).set(placed.axis.bounds);
      new Int32Array(buffer, placed.weights, placed.axis.weights.length).set(placed.axis.weights);
    }
    const [horizontalAt, verticalAt] = axes;
    if (horizontal === null || horizontalAt === null || horizontalAt === undefined) {
      for (let row = firstRow; row < lastRow; row++) {
        const start = (row * width + windowLeft) * channels;
        bytes.set(source.subarray(start, start + rowLength), rowsAt + (row - firstRow) * rowLength);
      }
    } else {
      bytes.set(source, sourceAt);
      this.exports.convolve_rows(sourceAt, width, channels, firstRow, lastRow, horizontalAt.bounds, horizontalAt.weights,
        horizontal.stride, outWidth, rowsAt);
    }
    if (vertical === null || verticalAt === null || verticalAt === undefined) return bytes.slice(rowsAt, rowsAt + rowsBytes);
    this.exports.convolve_columns(rowsAt, rowLength, firstRow, verticalAt.bounds, verticalAt.weights, vertical.stride,
      outHeight, outAt);
    return bytes.slice(outAt, outAt + outBytes);
  }
}

let resampler: WasmResampler | null | undefined;

/** This thread's wasm resampler, or null when the runtime cannot run WebAssembly SIMD (then resample.ts uses JS). */
export function wasmResampler(): WasmResampler | null {
  if (resampler === undefined) {
    const bytes = Buffer.from(RESAMPLE_WASM_BASE64, 'base64');
    resampler = wasm !== undefined && wasm.validate(bytes) ? new WasmResampler(new wasm.Module(bytes)) : null;
  }
  return resampler;
}
