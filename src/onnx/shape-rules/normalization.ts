/**
 * Layer normalizations of transformer graphs, which have several outputs: LayerNormalization (Y, Mean, InvStdDev),
 * SimplifiedLayerNormalization (RMS norm) and ONNX Runtime's fused SkipLayerNormalization forms (com.microsoft),
 * which also return the sum of input and skip. Y has the input's type and shape; the statistics keep the axes
 * before `axis` and have size 1 from `axis` on.
 */
import { attributeInt } from '../graph-builder.js';
import { TensorDataType } from '../proto.js';
import { normalizeAxis } from './dims.js';
import type { Dim, ShapeRule, ShapeRuleTable, TensorInfo } from './types.js';

/** Dims of the mean / inverse-std outputs: 1 from the normalized axis on. */
function statisticsDims(dims: Dim[] | undefined, axis: number): Dim[] | undefined {
  if (!dims) return undefined;
  const from = normalizeAxis(axis, dims.length);
  return from === undefined ? undefined : dims.map((dim, i) => (i < from ? dim : 1));
}

/** LayerNormalization / SimplifiedLayerNormalization (opset 17; `stash_type` 1 = float statistics). */
const layerNormalization: ShapeRule = (node, context) => {
  const x = context.input(0);
  const statistics: TensorInfo = {
    elemType: attributeInt(node, 'stash_type', 1) === 1 ? TensorDataType.FLOAT : x.elemType,
    dims: statisticsDims(x.dims, attributeInt(node, 'axis', -1)),
  };
  return [{ elemType: x.elemType, dims: x.dims }, statistics, statistics];
};

/** SkipLayerNormalization (com.microsoft): output, mean, inv_std_var, input_skip_bias_sum; normalizes the last axis. */
const skipLayerNormalization: ShapeRule = (_node, context) => {
  const x = context.input(0);
  const statistics: TensorInfo = { elemType: TensorDataType.FLOAT, dims: statisticsDims(x.dims, -1) };
  return [{ elemType: x.elemType, dims: x.dims }, statistics, statistics, { elemType: x.elemType, dims: x.dims }];
};

export const normalizationRules: ShapeRuleTable = {
  LayerNormalization: layerNormalization,
  SimplifiedLayerNormalization: layerNormalization,
  SkipLayerNormalization: skipLayerNormalization,
  SkipSimplifiedLayerNormalization: skipLayerNormalization,
};
