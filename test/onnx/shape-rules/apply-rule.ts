/** Runs one shape rule on a node whose inputs are described directly, without building a graph. */
import { makeNode } from '../../../src/onnx/graph-builder.js';
import type { AttributeProto } from '../../../src/onnx/proto.js';
import { SHAPE_RULES } from '../../../src/onnx/shape-rules/index.js';
import type { ShapeRuleTable, TensorInfo } from '../../../src/onnx/shape-rules/index.js';

export interface RuleCase {
  /** Input infos in order; `null` is an omitted optional input (`''`). */
  inputs: ReadonlyArray<TensorInfo | null>;
  attributes?: readonly AttributeProto[];
  /** @defaultValue `13` */
  opset?: number;
  /** @defaultValue `1` */
  outputs?: number;
}

/** The outputs the family's rule for `op` infers. Fails when the family has no rule for `op`. */
export function applyRule(family: ShapeRuleTable, op: string, options: RuleCase): TensorInfo[] {
  const rule = family[op];
  if (!rule) throw new Error(`no rule for ${op} in this family`);
  if (SHAPE_RULES.get(op) !== rule) throw new Error(`the table does not use this family's rule for ${op}`);
  const names = options.inputs.map((info, index) => (info === null ? '' : `in${index}`));
  const outputs = Array.from({ length: options.outputs ?? 1 }, (_, index) => `out${index}`);
  const node = makeNode(op, names, outputs, { attributes: options.attributes ?? [] });
  return rule(node, { opset: options.opset ?? 13, input: (index) => options.inputs[index] ?? {} });
}

/** Dims of the first output. */
export function outDims(family: ShapeRuleTable, op: string, options: RuleCase): TensorInfo['dims'] {
  return applyRule(family, op, options)[0]?.dims;
}

export const FLOAT = 1, UINT8 = 2, INT8 = 3, INT32 = 6, INT64 = 7, BOOL = 9;
