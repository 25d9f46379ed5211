/**
 * Arithmetic on dims that may be symbolic (`'N'`) or unknown (null), shared by the shape rules. Every helper
 * answers null (or undefined for a whole shape) rather than guessing when the inputs do not determine the result.
 */
import { attributeInts, attributeString, attributeInt } from '../graph-builder.js';
import type { NodeProto } from '../proto.js';
import type { Dim } from './types.js';

/** `axis` counted from the end when negative, or undefined when it is not in [-rank, rank + extra). */
export function normalizeAxis(axis: number, rank: number, extra = 0): number | undefined {
  const normalized = axis < 0 ? axis + rank : axis;
  return Number.isInteger(normalized) && normalized >= 0 && normalized < rank + extra ? normalized : undefined;
}

/** Every axis normalised, or undefined when one is out of range or repeated. */
export function normalizeAxes(axes: readonly number[], rank: number): number[] | undefined {
  const normalized: number[] = [];
  for (const axis of axes) {
    const value = normalizeAxis(axis, rank);
    if (value === undefined || normalized.includes(value)) return undefined;
    normalized.push(value);
  }
  return normalized;
}

/** The values when all are numbers, else undefined (shape values may hold symbols or unknowns). */
export function numbers(values: Dim[] | undefined): number[] | undefined {
  if (!values || values.some((v) => typeof v !== 'number')) return undefined;
  return values as number[];
}

/** Product of dims: a number, a single symbol times 1, 0 when a factor is 0, else null. */
export function product(dims: Dim[]): Dim {
  let numeric = 1;
  const symbols: string[] = [];
  for (const dim of dims) {
    if (dim === null) return null;
    if (typeof dim === 'string') symbols.push(dim);
    else numeric *= dim;
  }
  if (symbols.length === 0) return numeric;
  if (symbols.length === 1 && numeric === 1) return symbols[0]!;
  return numeric === 0 ? 0 : null;
}

/** a + b: numeric sums, and x + 0 = x for symbols. */
export function addDims(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a === 0) return b;
  if (b === 0) return a;
  return null;
}

/**
 * Output sizes of the spatial axes of Conv and the pools (ONNX operator docs): `auto_pad` SAME_* gives
 * ceil(in / stride); VALID and explicit pads give floor or ceil((in + pads − dilation·(kernel − 1) − 1) / stride) + 1.
 */
export function spatialDims(node: NodeProto, input: Dim[], kernel: number[]): Dim[] {
  const rank = input.length;
  const strides = attributeInts(node, 'strides', input.map(() => 1));
  const dilations = attributeInts(node, 'dilations', input.map(() => 1));
  const pads = attributeInts(node, 'pads', new Array<number>(rank * 2).fill(0));
  const autoPad = attributeString(node, 'auto_pad', 'NOTSET');
  const ceilMode = attributeInt(node, 'ceil_mode', 0) === 1;
  return input.map((size, i) => {
    if (typeof size !== 'number') return null;
    const stride = strides[i] ?? 1;
    if (!(stride > 0)) return null;
    const effective = (dilations[i] ?? 1) * ((kernel[i] ?? 1) - 1) + 1;
    let out: number;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') out = Math.ceil(size / stride);
    else if (autoPad === 'VALID') out = Math.floor((size - effective) / stride) + 1;
    else {
      const span = size + (pads[i] ?? 0) + (pads[i + rank] ?? 0) - effective;
      out = (ceilMode ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
    }
    return Number.isSafeInteger(out) && out >= 0 ? out : null;
  });
}

/** Numpy-style broadcasting of several shapes; undefined when any rank is unknown. */
export function broadcastDims(shapes: Array<Dim[] | undefined>): Dim[] | undefined {
  if (shapes.some((shape) => !shape)) return undefined;
  const rank = Math.max(0, ...shapes.map((shape) => shape!.length));
  const dims: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let result: Dim = 1;
    for (const shape of shapes) {
      const dim = shape![shape!.length - rank + i];
      if (dim === undefined || dim === 1) continue;
      if (result === 1) result = dim;
      else if (result !== dim) {
        result = typeof result === 'number' && typeof dim === 'number' ? null : typeof dim === 'number' ? dim : result;
      }
    }
    dims.push(result);
  }
  return dims;
}

/** numpy.matmul shapes: 1-D operands are promoted and the added axis dropped again; batch axes broadcast. */
export function matMulDims(a: Dim[] | undefined, b: Dim[] | undefined): Dim[] | undefined {
  if (!a || !b || a.length === 0 || b.length === 0) return undefined;
  const left = a.length === 1 ? [1, a[0]!] : a;
  const right = b.length === 1 ? [b[0]!, 1] : b;
  const batch = broadcastDims([left.slice(0, -2), right.slice(0, -2)]);
  if (!batch) return undefined;
  const dims: Dim[] = [...batch];
  if (a.length > 1) dims.push(left[left.length - 2] ?? null);
  if (b.length > 1) dims.push(right[right.length - 1] ?? null);
  return dims;
}

/** Element values of Add/Sub/Mul/Div on two small integer tensors (one may be a scalar); Div truncates. */
export function elementwiseValues(op: 'Add' | 'Sub' | 'Mul' | 'Div', a: Dim[], b: Dim[]): Dim[] | undefined {
  const length = Math.max(a.length, b.length);
  if ((a.length !== length && a.length !== 1) || (b.length !== length && b.length !== 1)) return undefined;
  const out: Dim[] = [];
  for (let i = 0; i < length; i++) {
    const x = a[a.length === 1 ? 0 : i], y = b[b.length === 1 ? 0 : i];
    if (typeof x !== 'number' || typeof y !== 'number' || (op === 'Div' && y === 0)) { out.push(null); continue; }
    out.push(op === 'Add' ? x + y : op === 'Sub' ? x - y : op === 'Mul' ? x * y : Math.trunc(x / y));
  }
  return out;
}

/** Output dims of Reshape(data with `input` dims, `shape`): 0 copies (unless allowzero), -1 is inferred. */
export function reshapeDims(input: Dim[] | undefined, shape: Dim[], allowZero: boolean): Dim[] {
  const dims: Dim[] = shape.map((value, i) => (value === 0 && !allowZero ? input?.[i] ?? null : value));
  const inferred = dims.indexOf(-1);
  if (inferred === -1) return dims;
  dims[inferred] = null;
  if (!input) return dims;
  // Cancel symbolic dims that appear on both sides, then divide the numeric products.
  const remaining = [...input];
  let known = 1;
  for (let i = 0; i < dims.length; i++) {
    if (i === inferred) continue;
    const dim = dims[i]!;
    if (typeof dim === 'number') { known *= dim; continue; }
    const match = remaining.indexOf(dim);
    if (dim === null || match === -1) return dims;
    remaining.splice(match, 1);
  }
  const total = product(remaining);
  if (typeof total === 'number' && known > 0 && total % known === 0) dims[inferred] = total / known;
  else if (typeof total === 'string' && known === 1) dims[inferred] = total;
  return dims;
}
