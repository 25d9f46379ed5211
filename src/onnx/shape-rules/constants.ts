/**
 * Constants and shape queries: initializers, Constant, ConstantOfShape, Shape and Size. Small integer tensors
 * (≤ 64 elements) are tracked by value, so Reshape targets computed from Shape → Gather → Concat resolve.
 */
import { attributeInt, getAttribute } from '../graph-builder.js';
import { TensorDataType, dataTypeByteSize } from '../proto.js';
import type { TensorProto } from '../proto.js';
import { tensorNumbers } from '../tensor-data.js';
import type { ShapeRule, ShapeRuleTable, TensorInfo } from './types.js';

/** Integer tensors with at most this many elements have their values tracked. */
export const MAX_TRACKED_VALUES = 64;

/** What an initializer (or a Constant's tensor) tells: its type, dims, and the values of small integer tensors. */
export function constantInfo(tensor: TensorProto): TensorInfo {
  const type = tensor.data_type ?? 0;
  const info: TensorInfo = { elemType: type, dims: [...tensor.dims], constant: true };
  if ((type === TensorDataType.INT64 || type === TensorDataType.INT32) && hasReadableValues(tensor)) info.value = tensorNumbers(tensor);
  return info;
}

/** Small, well-formed dims, and exactly as many stored values as they call for (a damaged tensor stays unknown). */
function hasReadableValues(tensor: TensorProto): boolean {
  let count = 1;
  for (const dim of tensor.dims) {
    if (!Number.isSafeInteger(dim) || dim < 0) return false;
    count *= dim;
  }
  if (count > MAX_TRACKED_VALUES) return false;
  const raw = tensor.raw_data;
  if (raw && raw.byteLength > 0) return raw.byteLength === count * dataTypeByteSize(tensor.data_type)!;
  const stored = tensor.data_type === TensorDataType.INT64 ? tensor.int64_data.length : tensor.int32_data.length;
  return stored === count;
}

/** Constant: the tensor in its one attribute (`value`, `value_int(s)`, `value_float(s)`, `value_string(s)`). */
const constant: ShapeRule = (node) => {
  const attr = node.attribute[0];
  if (!attr) return [{}];
  if (attr.t) return [constantInfo(attr.t)];
  switch (attr.name) {
    case 'value_int': return [{ elemType: TensorDataType.INT64, dims: [], value: [attr.i ?? 0], constant: true }];
    case 'value_ints': return [{ elemType: TensorDataType.INT64, dims: [attr.ints.length], value: [...attr.ints], constant: true }];
    case 'value_float': return [{ elemType: TensorDataType.FLOAT, dims: [], constant: true }];
    case 'value_floats': return [{ elemType: TensorDataType.FLOAT, dims: [attr.floats.length], constant: true }];
    case 'value_string': return [{ elemType: TensorDataType.STRING, dims: [], constant: true }];
    case 'value_strings': return [{ elemType: TensorDataType.STRING, dims: [attr.strings.length], constant: true }];
    default: return [{}];
  }
};

/**
 * ConstantOfShape: dims are the input's values; the element type is the `value` tensor's (float by default). A small
 * integer fill of known size is tracked by value (exports build `-1` masks for Expand with it).
 */
const constantOfShape: ShapeRule = (node, context) => {
  const shape = context.input(0).value;
  const valueTensor = getAttribute(node, 'value')?.t;
  const elemType = valueTensor?.data_type ?? TensorDataType.FLOAT;
  const info: TensorInfo = { elemType, dims: shape ? [...shape] : undefined, constant: true };
  const count = shape?.every((dim) => typeof dim === 'number') ? (shape as number[]).reduce((a, b) => a * b, 1) : undefined;
  if (valueTensor && count !== undefined && count <= MAX_TRACKED_VALUES && (elemType === TensorDataType.INT64 || elemType === TensorDataType.INT32)) {
    const fill = constantInfo(valueTensor).value?.[0];
    if (typeof fill === 'number') info.value = Array.from({ length: count }, () => fill);
  }
  return [info];
};

/** Shape: int64 [rank] (or the `start`..`end` slice, opset 15), whose values are the input's dims. */
const shape: ShapeRule = (node, context) => {
  const x = context.input(0);
  if (!x.dims) return [{ elemType: TensorDataType.INT64 }];
  const rank = x.dims.length;
  const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const value = x.dims.slice(clamp(attributeInt(node, 'start', 0)), clamp(attributeInt(node, 'end', rank)));
  return [{ elemType: TensorDataType.INT64, dims: [value.length], value }];
};

/** Size: an int64 scalar. */
const size: ShapeRule = () => [{ elemType: TensorDataType.INT64, dims: [] }];

export const constantRules: ShapeRuleTable = { Constant: constant, ConstantOfShape: constantOfShape, Shape: shape, Size: size };
