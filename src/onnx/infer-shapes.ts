/**
 * Static shape inference for the operators of image backbones: enough to know the shapes of candidate
 * feature tensors. It is not a full ONNX shape inference: operators it does not know produce tensors of
 * unknown shape, and `value_info`/graph inputs/outputs, when present, fill the gaps.
 *
 * Small integer tensors (shapes, axes) are tracked by value too, so Reshape targets computed with
 * Shape → Gather → Unsqueeze → Concat resolve, including symbolic batch sizes.
 */
import { attributeInt, attributeInts, attributeString, getAttribute, valueInfoDims, valueInfoElemType } from './graph-builder.js';
import { TensorDataType } from './proto.js';
import type { GraphProto, NodeProto, TensorProto } from './proto.js';
import { tensorNumbers } from './tensor-data.js';

/** A dimension: a size, a symbolic name (`'N'`, `'batch_size'`), or null when unknown. */
export type Dim = number | string | null;

export interface TensorInfo {
  /** TensorProto.DataType code, when known. */
  elemType?: number;
  /** Dims, when the rank is known. */
  dims?: Dim[];
  /** Element values of small integer tensors (shapes, axes), when known. */
  value?: Dim[];
  /** True for initializers (weights) and Constant outputs. */
  constant?: boolean;
}

export interface InferShapesOptions {
  /** Opset of the default domain; decides where Squeeze/Unsqueeze/Reduce* read their axes. @defaultValue `13` */
  opset?: number;
}

const MAX_TRACKED_VALUES = 64;

/** Infers element types and shapes of every tensor in the graph it can. Keys are tensor names. */
export function inferShapes(graph: GraphProto, options: InferShapesOptions = {}): Map<string, TensorInfo> {
  const opset = options.opset ?? 13;
  const infos = new Map<string, TensorInfo>();
  for (const tensor of graph.initializer) infos.set(tensor.name ?? '', constantInfo(tensor));
  for (const input of graph.input) {
    const name = input.name ?? '';
    if (!infos.has(name)) infos.set(name, { elemType: valueInfoElemType(input), dims: declaredDims(input) });
  }
  const declared = new Map<string, TensorInfo>();
  for (const info of [...graph.value_info, ...graph.output]) {
    declared.set(info.name ?? '', { elemType: valueInfoElemType(info), dims: declaredDims(info) });
  }
  for (const node of graph.node) {
    let outputs: TensorInfo[] = [];
    try {
      outputs = inferNode(node, (name) => (name ? infos.get(name) ?? declared.get(name) ?? {} : {}), opset);
    } catch {
      outputs = [];
    }
    node.output.forEach((name, index) => {
      if (!name) return;
      const inferred = outputs[index] ?? {};
      const fromDeclared = declared.get(name);
      const merged: TensorInfo = { ...inferred };
      if (fromDeclared?.elemType !== undefined && merged.elemType === undefined) merged.elemType = fromDeclared.elemType;
      if (fromDeclared?.dims && (!merged.dims || merged.dims.some((dim) => dim === null))) merged.dims = fromDeclared.dims;
      infos.set(name, merged);
    });
  }
  return infos;
}

function declaredDims(info: Parameters<typeof valueInfoDims>[0]): Dim[] | undefined {
  const dims = valueInfoDims(info);
  return dims?.map((dim) => (dim === '' ? null : dim));
}

function constantInfo(tensor: TensorProto): TensorInfo {
  const info: TensorInfo = { elemType: tensor.data_type ?? 0, dims: [...tensor.dims], constant: true };
  const type = tensor.data_type ?? 0;
  let count = 1;
  for (const dim of tensor.dims) count *= dim;
  if (count <= MAX_TRACKED_VALUES && (type === TensorDataType.INT64 || type === TensorDataType.INT32)) {
    try { info.value = tensorNumbers(tensor); } catch { /* leave unknown */ }
  }
  return info;
}

type Lookup = (name: string) => TensorInfo;

const SAME_SHAPE = new Set([
  'Identity', 'Relu', 'LeakyRelu', 'PRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Clip', 'Elu', 'Selu',
  'Celu', 'Softplus', 'Softsign', 'Mish', 'Gelu', 'Erf', 'Exp', 'Log', 'Neg', 'Abs', 'Sqrt', 'Reciprocal', 'Floor',
  'Ceil', 'Round', 'Sign', 'Not', 'Softmax', 'LogSoftmax', 'Hardmax', 'Dropout', 'BatchNormalization', 'LRN',
  'InstanceNormalization', 'LayerNormalization', 'MeanVarianceNormalization', 'Cast', 'CastLike', 'QuantizeLinear',
  'DequantizeLinear', 'DynamicQuantizeLinear', 'QLinearLeakyRelu', 'QLinearSigmoid', 'QLinearSoftmax', 'ThresholdedRelu',
  'Shrink', 'IsNaN', 'IsInf', 'Sin', 'Cos', 'FastGelu', 'BiasGelu', 'QuickGelu',
]);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sum', 'Max', 'Min', 'Mean', 'Equal', 'Greater', 'Less',
  'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Xor', 'Where', 'Mod', 'BitShift', 'PRelu']);
const BOOL_OUTPUT = new Set(['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Xor', 'Not', 'IsNaN', 'IsInf']);

function inferNode(node: NodeProto, get: Lookup, opset: number): TensorInfo[] {
  const op = node.op_type ?? '';
  const x = get(node.input[0] ?? '');
  switch (op) {
    case 'Constant': return [constantNodeInfo(node)];
    case 'Shape': {
      if (!x.dims) return [{ elemType: TensorDataType.INT64 }];
      const rank = x.dims.length;
      const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
      const value = x.dims.slice(clamp(attributeInt(node, 'start', 0)), clamp(attributeInt(node, 'end', rank)));
      return [{ elemType: TensorDataType.INT64, dims: [value.length], value }];
    }
    case 'Size': return [{ elemType: TensorDataType.INT64, dims: [] }];
    case 'ConstantOfShape': {
      const shape = get(node.input[0] ?? '').value;
      const valueTensor = getAttribute(node, 'value')?.t;
      return [{ elemType: valueTensor?.data_type ?? TensorDataType.FLOAT, dims: shape ? [...shape] : undefined, constant: true }];
    }
    case 'Gemm': case 'QGemm': {
      const b = get(node.input[op === 'QGemm' ? 3 : 1] ?? '');
      const transA = attributeInt(node, 'transA', 0), transB = attributeInt(node, 'transB', 0);
      const m = x.dims ? x.dims[transA ? 1 : 0] ?? null : null;
      const n = b.dims ? b.dims[transB ? 0 : 1] ?? null : null;
      return [{ elemType: op === 'QGemm' ? outputZeroPointType(node, get, 7) ?? TensorDataType.FLOAT : x.elemType, dims: [m, n] }];
    }
    case 'MatMul': case 'MatMulInteger': case 'QLinearMatMul': case 'MatMulIntegerToFloat': {
      const b = get(node.input[op === 'QLinearMatMul' ? 3 : 1] ?? '');
      const elemType = op === 'MatMulInteger' ? TensorDataType.INT32 : op === 'MatMulIntegerToFloat' ? TensorDataType.FLOAT : x.elemType;
      return [{ elemType, dims: matMulDims(x.dims, b.dims) }];
    }
    case 'Conv': case 'ConvInteger': case 'QLinearConv': case 'NhwcConv': {
      const w = get(node.input[op === 'QLinearConv' ? 3 : 1] ?? '');
      const elemType = op === 'ConvInteger' ? TensorDataType.INT32 : x.elemType;
      if (!x.dims || !w.dims) return [{ elemType }];
      const kernel = attributeInts(node, 'kernel_shape', w.dims.slice(2).map((d) => (typeof d === 'number' ? d : 0)));
      return [{ elemType, dims: [x.dims[0] ?? null, w.dims[0] ?? null, ...spatialDims(node, x.dims.slice(2), kernel)] }];
    }
    case 'MaxPool': case 'AveragePool': case 'LpPool': case 'QLinearAveragePool': {
      if (!x.dims) return [{ elemType: x.elemType }];
      const kernel = attributeInts(node, 'kernel_shape');
      const out: TensorInfo = { elemType: x.elemType, dims: [x.dims[0] ?? null, x.dims[1] ?? null, ...spatialDims(node, x.dims.slice(2), kernel)] };
      return [out, { elemType: TensorDataType.INT64, dims: out.dims }];
    }
    case 'GlobalAveragePool': case 'GlobalMaxPool': case 'GlobalLpPool': case 'QLinearGlobalAveragePool': {
      if (!x.dims) return [{ elemType: x.elemType }];
      if (op === 'QLinearGlobalAveragePool' && attributeInt(node, 'channels_last', 0) === 1) {
        return [{ elemType: x.elemType, dims: [x.dims[0] ?? null, ...x.dims.slice(1, -1).map(() => 1), x.dims[x.dims.length - 1] ?? null] }];
      }
      return [{ elemType: x.elemType, dims: [x.dims[0] ?? null, x.dims[1] ?? null, ...x.dims.slice(2).map(() => 1)] }];
    }
    case 'Flatten': {
      if (!x.dims) return [{ elemType: x.elemType }];
      let axis = attributeInt(node, 'axis', 1);
      if (axis < 0) axis += x.dims.length;
      return [{ elemType: x.elemType, dims: [product(x.dims.slice(0, axis)), product(x.dims.slice(axis))] }];
    }
    case 'Reshape': {
      const shape = get(node.input[1] ?? '').value;
      return [{ elemType: x.elemType, dims: shape ? reshapeDims(x.dims, shape, attributeInt(node, 'allowzero', 0) === 1) : undefined, value: x.value }];
    }
    case 'Squeeze': case 'Unsqueeze': {
      const axes = opset >= 13 && node.input[1] ? numbers(get(node.input[1]).value) : attributeInts(node, 'axes');
      if (!x.dims) return [{ elemType: x.elemType }];
      if (op === 'Squeeze') {
        const rank = x.dims.length;
        const drop = axes ? new Set(axes.map((a) => (a < 0 ? a + rank : a))) : undefined;
        const dims = x.dims.filter((dim, i) => (drop ? !drop.has(i) : dim !== 1));
        return [{ elemType: x.elemType, dims, value: x.value }];
      }
      if (!axes) return [{ elemType: x.elemType }];
      const rank = x.dims.length + axes.length;
      const inserted = new Set(axes.map((a) => (a < 0 ? a + rank : a)));
      const dims: Dim[] = [];
      let source = 0;
      for (let i = 0; i < rank; i++) dims.push(inserted.has(i) ? 1 : x.dims[source++] ?? null);
      return [{ elemType: x.elemType, dims, value: x.value }];
    }
    case 'Concat': case 'QLinearConcat': {
      const inputs = op === 'QLinearConcat' ? node.input.slice(2).filter((_, i) => i % 3 === 0) : node.input;
      const parts = inputs.map((name) => get(name));
      const first = parts[0];
      if (!first?.dims || parts.some((part) => !part.dims)) return [{ elemType: first?.elemType }];
      const rank = first.dims.length;
      let axis = attributeInt(node, 'axis', 0);
      if (axis < 0) axis += rank;
      const dims = [...first.dims];
      let total: Dim = 0;
      for (const part of parts) total = addDims(total, part.dims![axis] ?? null);
      dims[axis] = total;
      const values = parts.every((part) => part.value) ? parts.flatMap((part) => part.value!) : undefined;
      return [{ elemType: first.elemType, dims, value: values }];
    }
    case 'Transpose': {
      if (!x.dims) return [{ elemType: x.elemType }];
      const perm = attributeInts(node, 'perm', x.dims.map((_, i) => x.dims!.length - 1 - i));
      return [{ elemType: x.elemType, dims: perm.map((p) => x.dims![p] ?? null) }];
    }
    case 'Gather': {
      const indices = get(node.input[1] ?? '');
      if (!x.dims || !indices.dims) return [{ elemType: x.elemType }];
      let axis = attributeInt(node, 'axis', 0);
      if (axis < 0) axis += x.dims.length;
      const dims = [...x.dims.slice(0, axis), ...indices.dims, ...x.dims.slice(axis + 1)];
      let value: Dim[] | undefined;
      if (x.value && indices.value && axis === 0 && x.dims.length === 1) {
        value = indices.value.map((i) => (typeof i === 'number' ? x.value![i < 0 ? i + x.value!.length : i] ?? null : null));
      }
      return [{ elemType: x.elemType, dims, value }];
    }
    case 'ReduceMean': case 'ReduceSum': case 'ReduceMax': case 'ReduceMin': case 'ReduceProd': case 'ReduceL2':
    case 'ReduceL1': case 'ReduceLogSumExp': case 'ReduceSumSquare': case 'ReduceLogSum': {
      if (!x.dims) return [{ elemType: x.elemType }];
      const axesFromInput = (op === 'ReduceSum' && opset >= 13) || opset >= 18;
      const axes = axesFromInput ? (node.input[1] ? numbers(get(node.input[1]).value) : []) : attributeInts(node, 'axes');
      if (!axes) return [{ elemType: x.elemType }];
      const keepdims = attributeInt(node, 'keepdims', 1) === 1;
      const rank = x.dims.length;
      const reduced = new Set(axes.length ? axes.map((a) => (a < 0 ? a + rank : a)) : x.dims.map((_, i) => i));
      const dims: Dim[] = [];
      x.dims.forEach((dim, i) => {
        if (!reduced.has(i)) dims.push(dim);
        else if (keepdims) dims.push(1);
      });
      return [{ elemType: x.elemType, dims }];
    }
    case 'ArgMax': case 'ArgMin': {
      if (!x.dims) return [{ elemType: TensorDataType.INT64 }];
      let axis = attributeInt(node, 'axis', 0);
      if (axis < 0) axis += x.dims.length;
      const dims = attributeInt(node, 'keepdims', 1) === 1 ? x.dims.map((d, i) => (i === axis ? 1 : d)) : x.dims.filter((_, i) => i !== axis);
      return [{ elemType: TensorDataType.INT64, dims }];
    }
    default:
      break;
  }
  if (op === 'QLinearAdd' || op === 'QLinearMul') {
    return [{ elemType: x.elemType, dims: broadcastDims([x.dims, get(node.input[3] ?? '').dims]) }];
  }
  if (BROADCAST.has(op)) {
    const inputs = node.input.filter(Boolean).map((name) => get(name));
    const elemType = BOOL_OUTPUT.has(op) ? TensorDataType.BOOL : op === 'Where' ? inputs[1]?.elemType : x.elemType;
    let value: Dim[] | undefined;
    if (inputs.length === 2 && inputs[0]!.value && inputs[1]!.value && ['Add', 'Sub', 'Mul', 'Div'].includes(op)) {
      value = elementwiseValues(op, inputs[0]!.value, inputs[1]!.value);
    }
    return [{ elemType, dims: broadcastDims(inputs.map((info) => info.dims)), value }];
  }
  if (SAME_SHAPE.has(op)) {
    let elemType = BOOL_OUTPUT.has(op) ? TensorDataType.BOOL : x.elemType;
    if (op === 'Cast') elemType = attributeInt(node, 'to', elemType ?? 0);
    if (op === 'CastLike') elemType = get(node.input[1] ?? '').elemType;
    if (op === 'DequantizeLinear') elemType = get(node.input[1] ?? '').elemType ?? TensorDataType.FLOAT;
    if (op === 'QuantizeLinear') {
      elemType = node.input[2] ? get(node.input[2]).elemType ?? TensorDataType.UINT8
        : attributeInt(node, 'output_dtype', TensorDataType.UINT8) || TensorDataType.UINT8;
    }
    if (op === 'DynamicQuantizeLinear') {
      return [{ elemType: TensorDataType.UINT8, dims: x.dims }, { elemType: TensorDataType.FLOAT, dims: [] },
        { elemType: TensorDataType.UINT8, dims: [] }];
    }
    const value = op === 'Identity' || op === 'Cast' ? x.value : undefined;
    const out: TensorInfo = { elemType, dims: x.dims, value };
    if (op === 'Dropout') return [out, { elemType: TensorDataType.BOOL, dims: x.dims }];
    return [out];
  }
  return [];
}

function constantNodeInfo(node: NodeProto): TensorInfo {
  const attr = node.attribute[0];
  if (!attr) return {};
  if (attr.t) return constantInfo(attr.t);
  switch (attr.name) {
    case 'value_int': return { elemType: TensorDataType.INT64, dims: [], value: [attr.i ?? 0], constant: true };
    case 'value_ints': return { elemType: TensorDataType.INT64, dims: [attr.ints.length], value: [...attr.ints], constant: true };
    case 'value_float': return { elemType: TensorDataType.FLOAT, dims: [], constant: true };
    case 'value_floats': return { elemType: TensorDataType.FLOAT, dims: [attr.floats.length], constant: true };
    case 'value_string': return { elemType: TensorDataType.STRING, dims: [], constant: true };
    case 'value_strings': return { elemType: TensorDataType.STRING, dims: [attr.strings.length], constant: true };
    default: return {};
  }
}

function outputZeroPointType(node: NodeProto, get: Lookup, index: number): number | undefined {
  const name = node.input[index];
  return name ? get(name).elemType : undefined;
}

function numbers(values: Dim[] | undefined): number[] | undefined {
  if (!values || values.some((v) => typeof v !== 'number')) return undefined;
  return values as number[];
}

function product(dims: Dim[]): Dim {
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

function addDims(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a === 0) return b;
  if (b === 0) return a;
  return null;
}

function spatialDims(node: NodeProto, input: Dim[], kernel: number[]): Dim[] {
  const rank = input.length;
  const strides = attributeInts(node, 'strides', input.map(() => 1));
  const dilations = attributeInts(node, 'dilations', input.map(() => 1));
  const pads = attributeInts(node, 'pads', new Array<number>(rank * 2).fill(0));
  const autoPad = attributeString(node, 'auto_pad', 'NOTSET');
  const ceilMode = attributeInt(node, 'ceil_mode', 0) === 1;
  return input.map((size, i) => {
    if (typeof size !== 'number') return null;
    const stride = strides[i] ?? 1;
    const effective = (dilations[i] ?? 1) * ((kernel[i] ?? 1) - 1) + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(size / stride);
    if (autoPad === 'VALID') return Math.floor((size - effective) / stride) + 1;
    const span = size + (pads[i] ?? 0) + (pads[i + rank] ?? 0) - effective;
    return (ceilMode ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  });
}

function matMulDims(a: Dim[] | undefined, b: Dim[] | undefined): Dim[] | undefined {
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

function broadcastDims(shapes: Array<Dim[] | undefined>): Dim[] | undefined {
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

function elementwiseValues(op: string, a: Dim[], b: Dim[]): Dim[] | undefined {
  const length = Math.max(a.length, b.length);
  if ((a.length !== length && a.length !== 1) || (b.length !== length && b.length !== 1)) return undefined;
  const out: Dim[] = [];
  for (let i = 0; i < length; i++) {
    const x = a[a.length === 1 ? 0 : i], y = b[b.length === 1 ? 0 : i];
    if (typeof x !== 'number' || typeof y !== 'number') { out.push(null); continue; }
    out.push(op === 'Add' ? x + y : op === 'Sub' ? x - y : op === 'Mul' ? x * y : Math.trunc(x / y));
  }
  return out;
}

/** Output dims of Reshape(data with `input` dims, `shape`): 0 copies (unless allowzero), -1 is inferred. */
function reshapeDims(input: Dim[] | undefined, shape: Dim[], allowZero: boolean): Dim[] {
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
