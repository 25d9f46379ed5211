/**
 * Convolutions and pools on [N, C, spatial…] tensors (NCHW), plus the NHWC contrib forms. Output spatial sizes
 * follow the ONNX operator docs (see {@link spatialDims}).
 */
import { attributeInt, attributeInts } from '../graph-builder.js';
import { TensorDataType } from '../proto.js';
import { spatialDims } from './dims.js';
import type { Dim, ShapeRule, ShapeRuleTable } from './types.js';

/** Conv-like: X [N, C, D…], W [M, C/group, k…] → [N, M, D'…]. `wIndex` is 3 for QLinearConv. */
function conv(wIndex: number, elemType?: number): ShapeRule {
  return (node, context) => {
    const x = context.input(0), w = context.input(wIndex);
    const outType = elemType ?? x.elemType;
    if (!x.dims || !w.dims || x.dims.length < 2) return [{ elemType: outType }];
    const kernel = attributeInts(node, 'kernel_shape', w.dims.slice(2).map((d) => (typeof d === 'number' ? d : 0)));
    return [{ elemType: outType, dims: [x.dims[0] ?? null, w.dims[0] ?? null, ...spatialDims(node, x.dims.slice(2), kernel)] }];
  };
}

/** NhwcConv (com.microsoft): X [N, D…, C], W [M, C/group, k…] → [N, D'…, M]. */
const nhwcConv: ShapeRule = (node, context) => {
  const x = context.input(0), w = context.input(1);
  if (!x.dims || !w.dims || x.dims.length < 2) return [{ elemType: x.elemType }];
  const kernel = attributeInts(node, 'kernel_shape', w.dims.slice(2).map((d) => (typeof d === 'number' ? d : 0)));
  return [{ elemType: x.elemType, dims: [x.dims[0] ?? null, ...spatialDims(node, x.dims.slice(1, -1), kernel), w.dims[0] ?? null] }];
};

/** MaxPool and friends: [N, C, D…] → [N, C, D'…]; MaxPool's optional output 1 holds int64 indices. */
const pool: ShapeRule = (node, context) => {
  const x = context.input(0);
  if (!x.dims || x.dims.length < 2) return [{ elemType: x.elemType }];
  const kernel = attributeInts(node, 'kernel_shape');
  const dims = [x.dims[0] ?? null, x.dims[1] ?? null, ...spatialDims(node, x.dims.slice(2), kernel)];
  return [{ elemType: x.elemType, dims }, { elemType: TensorDataType.INT64, dims }];
};

/** Global pools keep N and C and reduce every spatial axis to 1 (QLinearGlobalAveragePool may be channels-last). */
const globalPool: ShapeRule = (node, context) => {
  const x = context.input(0);
  if (!x.dims || x.dims.length < 2) return [{ elemType: x.elemType }];
  const channelsLast = node.op_type === 'QLinearGlobalAveragePool' && attributeInt(node, 'channels_last', 0) === 1;
  const dims: Dim[] = channelsLast
    ? [x.dims[0] ?? null, ...x.dims.slice(1, -1).map(() => 1), x.dims[x.dims.length - 1] ?? null]
    : [x.dims[0] ?? null, x.dims[1] ?? null, ...x.dims.slice(2).map(() => 1)];
  return [{ elemType: x.elemType, dims }];
};

export const convPoolRules: ShapeRuleTable = {
  Conv: conv(1),
  ConvInteger: conv(1, TensorDataType.INT32),
  QLinearConv: conv(3),
  NhwcConv: nhwcConv,
  MaxPool: pool, AveragePool: pool, LpPool: pool, QLinearAveragePool: pool,
  GlobalAveragePool: globalPool, GlobalMaxPool: globalPool, GlobalLpPool: globalPool, QLinearGlobalAveragePool: globalPool,
};
