/** Reductions over axes (Reduce*) and index reductions (ArgMax/ArgMin). */
import { attributeInt, attributeInts } from '../graph-builder.js';
import { TensorDataType } from '../proto.js';
import type { NodeProto } from '../proto.js';
import { normalizeAxes, normalizeAxis, numbers } from './dims.js';
import type { Dim, ShapeContext, ShapeRule, ShapeRuleTable } from './types.js';

const REDUCE_OPS = ['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL2', 'ReduceL1',
  'ReduceLogSumExp', 'ReduceSumSquare', 'ReduceLogSum'] as const;

/**
 * Axes to reduce: from input 1 for ReduceSum since opset 13 and every Reduce* since opset 18, from the `axes`
 * attribute before. `[]` means all axes (noop_with_empty_axes is not modelled); undefined means unknown.
 */
function reduceAxes(node: NodeProto, context: ShapeContext): number[] | undefined {
  const fromInput = (node.op_type === 'ReduceSum' && context.opset >= 13) || context.opset >= 18;
  if (!fromInput) return attributeInts(node, 'axes');
  return node.input[1] ? numbers(context.input(1).value) : [];
}

const reduce: ShapeRule = (node, context) => {
  const x = context.input(0);
  if (!x.dims) return [{ elemType: x.elemType }];
  const axes = reduceAxes(node, context);
  const rank = x.dims.length;
  const reduced = axes && (axes.length > 0 ? normalizeAxes(axes, rank) : x.dims.map((_, i) => i));
  if (!reduced) return [{ elemType: x.elemType }];
  const keepdims = attributeInt(node, 'keepdims', 1) === 1;
  const dims: Dim[] = [];
  x.dims.forEach((dim, i) => {
    if (!reduced.includes(i)) dims.push(dim);
    else if (keepdims) dims.push(1);
  });
  return [{ elemType: x.elemType, dims }];
};

/** ArgMax/ArgMin: int64 indices; the axis is kept as 1 (keepdims, the default) or dropped. */
const argReduce: ShapeRule = (node, context) => {
  const x = context.input(0);
  if (!x.dims) return [{ elemType: TensorDataType.INT64 }];
  const axis = normalizeAxis(attributeInt(node, 'axis', 0), x.dims.length);
  if (axis === undefined) return [{ elemType: TensorDataType.INT64 }];
  const dims = attributeInt(node, 'keepdims', 1) === 1 ? x.dims.map((d, i) => (i === axis ? 1 : d)) : x.dims.filter((_, i) => i !== axis);
  return [{ elemType: TensorDataType.INT64, dims }];
};

const table: Record<string, ShapeRule> = { ArgMax: argReduce, ArgMin: argReduce };
for (const op of REDUCE_OPS) table[op] = reduce;

export const reduceRules: ShapeRuleTable = table;
