/**
 * Operators that move elements without computing on them: Flatten, Reshape, Squeeze/Unsqueeze, Transpose, Concat,
 * Gather, Slice and Expand. Small integer values flow through them, so shape arithmetic (Shape → Gather → Unsqueeze →
 * Concat → Reshape, Shape → Slice, Expand to a computed shape) resolves, symbolic batch sizes included, as in
 * transformer exports (token axis slices, the CLS token expanded to the batch).
 */
import { attributeInt, attributeInts } from '../graph-builder.js';
import { addDims, broadcastDims, normalizeAxes, normalizeAxis, numbers, product, reshapeDims } from './dims.js';
import type { Dim, ShapeContext, ShapeRule, ShapeRuleTable, TensorInfo } from './types.js';
import type { NodeProto } from '../proto.js';

/** Flatten: [d0 … d(axis−1)] and [d(axis) …] each multiplied into one dim; axis may equal the rank. */
const flatten: ShapeRule = (node, context) => {
  const x = context.input(0);
  if (!x.dims) return [{ elemType: x.elemType }];
  const axis = normalizeAxis(attributeInt(node, 'axis', 1), x.dims.length, 1);
  if (axis === undefined) return [{ elemType: x.elemType }];
  return [{ elemType: x.elemType, dims: [product(x.dims.slice(0, axis)), product(x.dims.slice(axis))] }];
};

/** Reshape: dims from the shape input's values (0 copies the input dim unless allowzero; −1 is inferred). */
const reshape: ShapeRule = (node, context) => {
  const x = context.input(0);
  const shape = context.input(1).value;
  return [{ elemType: x.elemType, dims: shape ? reshapeDims(x.dims, shape, attributeInt(node, 'allowzero', 0) === 1) : undefined, value: x.value }];
};

/** Axes of Squeeze/Unsqueeze: from input 1 since opset 13, from the `axes` attribute before. */
function squeezeAxes(node: NodeProto, context: ShapeContext): number[] | undefined {
  if (context.opset >= 13 && node.input[1]) return numbers(context.input(1).value);
  const axes = attributeInts(node, 'axes');
  return axes;
}

/** Squeeze: drops the listed axes, or every axis of size 1 when none are listed. */
const squeeze: ShapeRule = (node, context) => {
  const x = context.input(0);
  const axes = squeezeAxes(node, context);
  if (!x.dims) return [{ elemType: x.elemType }];
  let dims: Dim[];
  if (axes && axes.length > 0) {
    const drop = normalizeAxes(axes, x.dims.length);
    if (!drop) return [{ elemType: x.elemType }];
    dims = x.dims.filter((_, i) => !drop.includes(i));
  } else if (axes) {
    dims = x.dims.filter((dim) => dim !== 1);
  } else {
    // Axes computed at run time: which dims go is unknown.
    return [{ elemType: x.elemType }];
  }
  return [{ elemType: x.elemType, dims, value: x.value }];
};

/** Unsqueeze: inserts axes of size 1 at the listed positions of the output. */
const unsqueeze: ShapeRule = (node, context) => {
  const x = context.input(0);
  const axes = squeezeAxes(node, context);
  if (!x.dims || !axes) return [{ elemType: x.elemType }];
  const rank = x.dims.length + axes.length;
  const inserted = normalizeAxes(axes, rank);
  if (!inserted) return [{ elemType: x.elemType }];
  const dims: Dim[] = [];
  let source = 0;
  for (let i = 0; i < rank; i++) dims.push(inserted.includes(i) ? 1 : x.dims[source++] ?? null);
  return [{ elemType: x.elemType, dims, value: x.value }];
};

/** Transpose: dims permuted by `perm` (reversed by default). */
const transpose: ShapeRule = (node, context) => {
  const x = context.input(0);
  if (!x.dims) return [{ elemType: x.elemType }];
  const dims = x.dims;
  const perm = attributeInts(node, 'perm', dims.map((_, i) => dims.length - 1 - i));
  const valid = perm.length === dims.length && normalizeAxes(perm, dims.length)?.every((axis, i) => axis === perm[i]);
  if (!valid) return [{ elemType: x.elemType }];
  return [{ elemType: x.elemType, dims: perm.map((p) => dims[p] ?? null) }];
};

/** Concat along `axis`: the sizes on that axis add up; values of small integer tensors are concatenated. */
function concatOf(parts: TensorInfo[], node: NodeProto): TensorInfo[] {
  const first = parts[0];
  if (!first?.dims || parts.some((part) => !part.dims)) return [{ elemType: first?.elemType }];
  const axis = normalizeAxis(attributeInt(node, 'axis', 0), first.dims.length);
  if (axis === undefined) return [{ elemType: first.elemType }];
  const dims = [...first.dims];
  let total: Dim = 0;
  for (const part of parts) total = addDims(total, part.dims![axis] ?? null);
  dims[axis] = total;
  const value = parts.every((part) => part.value) ? parts.flatMap((part) => part.value!) : undefined;
  return [{ elemType: first.elemType, dims, value }];
}

const concat: ShapeRule = (node, context) => concatOf(node.input.map((_, index) => context.input(index)), node);

/** QLinearConcat (com.microsoft): y_scale, y_zero_point, then (x, x_scale, x_zero_point) per input. */
const qLinearConcat: ShapeRule = (node, context) => {
  const parts: TensorInfo[] = [];
  for (let index = 2; index < node.input.length; index += 3) parts.push(context.input(index));
  return concatOf(parts, node);
};

/**
 * Gather: data dims with the gathered axis replaced by the indices' dims. Gathering from a 1-D tensor whose values
 * are known (a shape) with known indices gives known values.
 */
const gather: ShapeRule = (node, context) => {
  const x = context.input(0), indices = context.input(1);
  if (!x.dims || !indices.dims) return [{ elemType: x.elemType }];
  const axis = normalizeAxis(attributeInt(node, 'axis', 0), x.dims.length);
  if (axis === undefined) return [{ elemType: x.elemType }];
  const dims = [...x.dims.slice(0, axis), ...indices.dims, ...x.dims.slice(axis + 1)];
  let value: Dim[] | undefined;
  const source = x.value;
  if (source && indices.value && axis === 0 && x.dims.length === 1) {
    value = indices.value.map((i) => (typeof i === 'number' ? source[i < 0 ? i + source.length : i] ?? null : null));
  }
  return [{ elemType: x.elemType, dims, value }];
};

/** Slice parameters: from inputs 1–4 since opset 10, from attributes before; undefined when not known statically. */
function sliceParameters(node: NodeProto, context: ShapeContext, rank: number):
    { starts: number[]; ends: number[]; axes: number[]; steps: number[] } | undefined {
  const fromInputs = context.opset >= 10;
  const starts = fromInputs ? numbers(context.input(1).value) : attributeInts(node, 'starts');
  const ends = fromInputs ? numbers(context.input(2).value) : attributeInts(node, 'ends');
  if (!starts || !ends || starts.length !== ends.length) return undefined;
  const defaultAxes = starts.map((_, i) => i);
  const rawAxes = fromInputs ? (node.input[3] ? numbers(context.input(3).value) : defaultAxes) : attributeInts(node, 'axes', defaultAxes);
  const steps = fromInputs && node.input[4] ? numbers(context.input(4).value) : starts.map(() => 1);
  const axes = rawAxes ? normalizeAxes(rawAxes, rank) : undefined;
  if (!axes || !steps || axes.length !== starts.length || steps.length !== starts.length || steps.some((step) => step === 0)) return undefined;
  return { starts, ends, axes, steps };
}

/** The indices start:end:step of an axis of `size` selects, clamped as ONNX Slice does. */
function sliceRange(size: number, start: number, end: number, step: number): { first: number; count: number } {
  if (step > 0) {
    const first = Math.min(Math.max(start < 0 ? start + size : start, 0), size);
    const last = Math.min(Math.max(end < 0 ? end + size : end, 0), size);
    return { first, count: Math.max(0, Math.ceil((last - first) / step)) };
  }
  const first = Math.min(Math.max(start < 0 ? start + size : start, 0), size - 1);
  const last = Math.min(Math.max(end < 0 ? end + size : end, -1), size - 1);
  return { first, count: Math.max(0, Math.ceil((first - last) / -step)) };
}

/** Whether start:end:step keeps a whole axis of unknown size (0:INT_MAX:1, as `x[:, 1:]` leaves the other axes). */
const keepsWholeAxis = (start: number, end: number, step: number): boolean => start === 0 && step === 1 && end >= 2 ** 31 - 1;

/**
 * Slice: each sliced axis gets the number of indices it keeps (symbolic axes stay symbolic when kept whole, else
 * unknown); slicing a 1-D tensor of known values (a shape) gives known values.
 */
const slice: ShapeRule = (node, context) => {
  const x = context.input(0);
  if (!x.dims) return [{ elemType: x.elemType }];
  const params = sliceParameters(node, context, x.dims.length);
  if (!params) return [{ elemType: x.elemType, dims: x.dims.map(() => null) }];
  const dims = [...x.dims];
  let value = x.value && x.dims.length === 1 ? [...x.value] : undefined;
  params.axes.forEach((axis, i) => {
    const size = dims[axis] ?? null;
    const start = params.starts[i]!, end = params.ends[i]!, step = params.steps[i]!;
    if (typeof size !== 'number') {
      if (!keepsWholeAxis(start, end, step)) dims[axis] = null;
      if (!keepsWholeAxis(start, end, step)) value = undefined;
      return;
    }
    const { first, count } = sliceRange(size, start, end, step);
    dims[axis] = count;
    if (value) value = Array.from({ length: count }, (_, k) => value![first + k * step] ?? null);
  });
  return [{ elemType: x.elemType, dims, value }];
};

/** Expand: the input broadcast against the shape input's values (numpy rules: a 1 takes the other side's size). */
const expand: ShapeRule = (_node, context) => {
  const x = context.input(0), shape = context.input(1);
  if (shape.value) return [{ elemType: x.elemType, dims: broadcastDims([x.dims, shape.value]) }];
  const rank = typeof shape.dims?.[0] === 'number' && x.dims ? Math.max(x.dims.length, shape.dims[0]) : undefined;
  return [{ elemType: x.elemType, dims: rank === undefined ? undefined : Array.from({ length: rank }, () => null) }];
};

export const layoutRules: ShapeRuleTable = {
  Flatten: flatten, Reshape: reshape, Squeeze: squeeze, Unsqueeze: unsqueeze, Transpose: transpose,
  Concat: concat, QLinearConcat: qLinearConcat, Gather: gather, Slice: slice, Expand: expand,
};
