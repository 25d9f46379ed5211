/**
 * Element-wise operators: unary ones keep their input's shape; binary and variadic ones broadcast (numpy rules).
 * Casts and (de)quantization keep the shape and change the element type.
 */
import { attributeInt } from '../graph-builder.js';
import { TensorDataType } from '../proto.js';
import type { NodeProto } from '../proto.js';
import { broadcastDims, elementwiseValues } from './dims.js';
import type { Dim, ShapeContext, ShapeRule, ShapeRuleTable, TensorInfo } from './types.js';

/** Unary operators whose output has the input's type and shape (activations, normalizations, math). */
const SAME_TYPE_AND_SHAPE = [
  'Relu', 'LeakyRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Clip', 'Elu', 'Selu', 'Celu', 'Softplus',
  'Softsign', 'Mish', 'Gelu', 'Erf', 'Exp', 'Log', 'Neg', 'Abs', 'Sqrt', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Sign',
  'Softmax', 'LogSoftmax', 'Hardmax', 'BatchNormalization', 'LRN', 'InstanceNormalization',
  'MeanVarianceNormalization', 'QLinearLeakyRelu', 'QLinearSigmoid', 'QLinearSoftmax', 'ThresholdedRelu', 'Shrink',
  'Sin', 'Cos', 'FastGelu', 'BiasGelu', 'QuickGelu',
] as const;

/** Unary predicates: the input's shape, bool elements. */
const UNARY_BOOL = ['Not', 'IsNaN', 'IsInf'] as const;

/** Broadcasting operators with the first input's element type. */
const BROADCAST_SAME_TYPE = ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sum', 'Max', 'Min', 'Mean', 'Mod', 'BitShift', 'PRelu'] as const;

/** Broadcasting comparisons and logic: bool elements. */
const BROADCAST_BOOL = ['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Xor'] as const;

/** The node's inputs that are present (an omitted optional input is `''`). */
export function presentInputs(node: NodeProto, context: ShapeContext): TensorInfo[] {
  const infos: TensorInfo[] = [];
  node.input.forEach((name, index) => { if (name) infos.push(context.input(index)); });
  return infos;
}

const sameTypeAndShape: ShapeRule = (_node, context) => {
  const x = context.input(0);
  return [{ elemType: x.elemType, dims: x.dims }];
};

const unaryBool: ShapeRule = (_node, context) => [{ elemType: TensorDataType.BOOL, dims: context.input(0).dims }];

/** Identity and Cast also pass small integer values through (shape arithmetic often casts). */
const identity: ShapeRule = (_node, context) => {
  const x = context.input(0);
  return [{ elemType: x.elemType, dims: x.dims, value: x.value }];
};

const cast: ShapeRule = (node, context) => {
  const x = context.input(0);
  return [{ elemType: attributeInt(node, 'to', x.elemType ?? 0), dims: x.dims, value: x.value }];
};

const castLike: ShapeRule = (_node, context) => [{ elemType: context.input(1).elemType, dims: context.input(0).dims }];

/** Output 1 is the mask (bool), when asked for. */
const dropout: ShapeRule = (_node, context) => {
  const x = context.input(0);
  return [{ elemType: x.elemType, dims: x.dims }, { elemType: TensorDataType.BOOL, dims: x.dims }];
};

/** Output type: the zero point's (input 2), else the `output_dtype` attribute (opset 21), else uint8. */
const quantizeLinear: ShapeRule = (node, context) => {
  const elemType = node.input[2] ? context.input(2).elemType ?? TensorDataType.UINT8
    : attributeInt(node, 'output_dtype', TensorDataType.UINT8) || TensorDataType.UINT8;
  return [{ elemType, dims: context.input(0).dims }];
};

/** Output type: the scale's (input 1), float when unknown. */
const dequantizeLinear: ShapeRule = (_node, context) =>
  [{ elemType: context.input(1).elemType ?? TensorDataType.FLOAT, dims: context.input(0).dims }];

/** y uint8 like x; y_scale float and y_zero_point uint8 scalars. */
const dynamicQuantizeLinear: ShapeRule = (_node, context) => [
  { elemType: TensorDataType.UINT8, dims: context.input(0).dims },
  { elemType: TensorDataType.FLOAT, dims: [] },
  { elemType: TensorDataType.UINT8, dims: [] },
];

/**
 * Broadcast over every present input; Add/Sub/Mul/Div and Equal of two small integer tensors, and Where over three,
 * also compute their values (exports turn `expand(-1, …)` into Where(Equal(shape, −1), 1, shape)).
 */
function broadcast(elemTypeOf: (inputs: TensorInfo[]) => number | undefined): ShapeRule {
  return (node, context) => {
    const inputs = presentInputs(node, context);
    const op = node.op_type;
    let value: TensorInfo['value'];
    const [a, b, c] = inputs;
    if (inputs.length === 2 && a!.value && b!.value && (op === 'Add' || op === 'Sub' || op === 'Mul' || op === 'Div')) {
      value = elementwiseValues(op, a!.value, b!.value);
    } else if (inputs.length === 2 && a!.value && b!.value && op === 'Equal') {
      value = equalValues(a!.value, b!.value);
    } else if (inputs.length === 3 && a!.value && b!.value && c!.value && op === 'Where') {
      value = whereValues(a!.value, b!.value, c!.value);
    }
    return [{ elemType: elemTypeOf(inputs), dims: broadcastDims(inputs.map((info) => info.dims)), value }];
  };
}

/** Elementwise over 1-D values where each side has the same length or length 1; undefined otherwise. */
function zipValues(sides: ReadonlyArray<readonly Dim[]>, combine: (items: Dim[]) => Dim): Dim[] | undefined {
  const length = Math.max(...sides.map((side) => side.length));
  if (sides.some((side) => side.length !== length && side.length !== 1)) return undefined;
  return Array.from({ length }, (_, i) => combine(sides.map((side) => side[side.length === 1 ? 0 : i] ?? null)));
}

/** Equal as 1/0; a symbolic dim never equals a negative number (dims are ≥ 0), and equals the same symbol. */
function equalValues(a: readonly Dim[], b: readonly Dim[]): Dim[] | undefined {
  return zipValues([a, b], ([x, y]) => {
    if (x === null || y === null || x === undefined || y === undefined) return null;
    if (typeof x === 'number' && typeof y === 'number') return x === y ? 1 : 0;
    if (typeof x === 'string' && typeof y === 'string') return x === y ? 1 : null;
    const number = typeof x === 'number' ? x : (y as number);
    return number < 0 ? 0 : null;
  });
}

/** Where(condition, a, b) of known values: a where the condition is 1, b where it is 0. */
function whereValues(condition: readonly Dim[], a: readonly Dim[], b: readonly Dim[]): Dim[] | undefined {
  return zipValues([condition, a, b], ([keep, x, y]) => (keep === 1 ? x ?? null : keep === 0 ? y ?? null : null));
}

/** QLinearAdd/QLinearMul (com.microsoft): a, a_scale, a_zero_point, b, …: broadcast a with b. */
const qLinearBinary: ShapeRule = (_node, context) => {
  const a = context.input(0);
  return [{ elemType: a.elemType, dims: broadcastDims([a.dims, context.input(3).dims]) }];
};

const table: Record<string, ShapeRule> = {
  Identity: identity, Cast: cast, CastLike: castLike, Dropout: dropout,
  QuantizeLinear: quantizeLinear, DequantizeLinear: dequantizeLinear, DynamicQuantizeLinear: dynamicQuantizeLinear,
  QLinearAdd: qLinearBinary, QLinearMul: qLinearBinary,
  Where: broadcast((inputs) => inputs[1]?.elemType),
};
for (const op of SAME_TYPE_AND_SHAPE) table[op] = sameTypeAndShape;
for (const op of UNARY_BOOL) table[op] = unaryBool;
for (const op of BROADCAST_SAME_TYPE) table[op] = broadcast((inputs) => inputs[0]?.elemType);
for (const op of BROADCAST_BOOL) table[op] = broadcast(() => TensorDataType.BOOL);

export const elementwiseRules: ShapeRuleTable = table;
