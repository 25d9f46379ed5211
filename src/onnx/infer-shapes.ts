/**
 * Static shape inference for the operators of image backbones: enough to know the shapes of candidate
 * feature tensors. It is not a full ONNX shape inference: each operator with a rule in the table of
 * `shape-rules/` gets its outputs inferred; an operator without a rule gives outputs of unknown shape, and
 * `value_info`/graph outputs, when present, fill the gaps.
 *
 * Small integer tensors (shapes, axes) are tracked by value too, so Reshape targets computed with
 * Shape → Gather → Unsqueeze → Concat resolve, including symbolic batch sizes.
 */
import { valueInfoDims, valueInfoElemType } from './graph-builder.js';
import type { GraphProto, NodeProto, ValueInfoProto } from './proto.js';
import { SHAPE_RULES, constantInfo } from './shape-rules/index.js';
import type { Dim, ShapeContext, ShapeRule, TensorInfo } from './shape-rules/index.js';

export type { Dim, TensorInfo } from './shape-rules/index.js';

export interface InferShapesOptions {
  /** Opset of the default domain; decides where Squeeze/Unsqueeze/Reduce* read their axes. @defaultValue `13` */
  opset?: number;
  /** Rules by `op_type`. @defaultValue the built-in table ({@link SHAPE_RULES}) */
  rules?: ReadonlyMap<string, ShapeRule>;
}

const UNKNOWN: TensorInfo = Object.freeze({});

/**
 * Infers element types and shapes of every tensor in the graph it can. Keys are tensor names.
 * @throws Error when a shape rule throws: that is a bug in the rule, reported with the node it failed on.
 */
export function inferShapes(graph: GraphProto, options: InferShapesOptions = {}): Map<string, TensorInfo> {
  const opset = options.opset ?? 13;
  const rules = options.rules ?? SHAPE_RULES;
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
  const lookup = (name: string | undefined): TensorInfo => (name ? infos.get(name) ?? declared.get(name) ?? UNKNOWN : UNKNOWN);
  for (const node of graph.node) {
    const rule = rules.get(node.op_type ?? '');
    // No rule: the outputs are unknown, apart from what value_info declares.
    const outputs = rule ? applyRule(rule, node, { opset, input: (index) => lookup(node.input[index]) }) : [];
    node.output.forEach((name, index) => {
      if (!name) return;
      infos.set(name, mergeDeclared(outputs[index] ?? UNKNOWN, declared.get(name)));
    });
  }
  return infos;
}

function applyRule(rule: ShapeRule, node: NodeProto, context: ShapeContext): TensorInfo[] {
  try {
    return rule(node, context);
  } catch (cause) {
    throw new Error(`inferShapes: the shape rule for ${node.op_type} failed on node "${node.name ?? node.output[0] ?? ''}": ` +
      `${cause instanceof Error ? cause.message : String(cause)}. This is a bug in finetune's shape rules.`, { cause });
  }
}

/** The inferred info, with the declared element type where none was inferred and declared dims where some are unknown. */
function mergeDeclared(inferred: TensorInfo, declared: TensorInfo | undefined): TensorInfo {
  const merged: TensorInfo = { ...inferred };
  if (declared?.elemType !== undefined && merged.elemType === undefined) merged.elemType = declared.elemType;
  if (declared?.dims && (!merged.dims || merged.dims.some((dim) => dim === null))) merged.dims = declared.dims;
  return merged;
}

function declaredDims(info: ValueInfoProto): Dim[] | undefined {
  const dims = valueInfoDims(info);
  return dims?.map((dim) => (dim === '' ? null : dim));
}
