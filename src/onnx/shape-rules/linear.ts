/** Matrix products: Gemm (2-D, optional transposes) and MatMul (numpy.matmul), with their quantized forms. */
import { attributeInt } from '../graph-builder.js';
import { TensorDataType } from '../proto.js';
import { matMulDims } from './dims.js';
import type { ShapeRule, ShapeRuleTable } from './types.js';

/** Gemm: A [M, K] (or [K, M] with transA), B [K, N] (or [N, K] with transB) → [M, N]. */
function gemm(bIndex: number, outputType: 'a' | 'zero-point'): ShapeRule {
  return (node, context) => {
    const a = context.input(0), b = context.input(bIndex);
    const transA = attributeInt(node, 'transA', 0), transB = attributeInt(node, 'transB', 0);
    const m = a.dims ? a.dims[transA ? 1 : 0] ?? null : null;
    const n = b.dims ? b.dims[transB ? 0 : 1] ?? null : null;
    // QGemm (com.microsoft) returns float unless it is given an output zero point (input 7).
    const elemType = outputType === 'a' ? a.elemType : context.input(7).elemType ?? TensorDataType.FLOAT;
    return [{ elemType, dims: [m, n] }];
  };
}

/** MatMul-like: `bIndex` is where B sits (3 for QLinearMatMul: a, a_scale, a_zero_point, b, …). */
function matMul(bIndex: number, elemType?: number): ShapeRule {
  return (_node, context) => {
    const a = context.input(0);
    return [{ elemType: elemType ?? a.elemType, dims: matMulDims(a.dims, context.input(bIndex).dims) }];
  };
}

export const linearRules: ShapeRuleTable = {
  Gemm: gemm(1, 'a'),
  QGemm: gemm(3, 'zero-point'),
  MatMul: matMul(1),
  MatMulInteger: matMul(1, TensorDataType.INT32),
  MatMulIntegerToFloat: matMul(1, TensorDataType.FLOAT),
  QLinearMatMul: matMul(3),
};
