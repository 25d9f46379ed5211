/**
 * The vocabulary of static shape inference: what is known about a tensor, and the signature of the rule that
 * infers a node's outputs from its inputs.
 */
import type { NodeProto } from '../proto.js';

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

/** What a rule may ask about the node it infers. */
export interface ShapeContext {
  /** Opset of the default domain; decides where Squeeze/Unsqueeze/Reduce* read their axes. */
  readonly opset: number;
  /** What is known of the node's input `index`: `{}` when the input is absent, omitted (`''`) or unknown. */
  input(index: number): TensorInfo;
}

/**
 * Infers the outputs of one node, in the order of `node.output`. A missing entry, or `{}`, means unknown.
 *
 * Rules must not throw on odd but decodable graphs (hostile attributes, axes out of range, inputs of unknown
 * rank): they return unknown instead. An exception from a rule is a bug in the rule, and inferShapes reports it
 * with the node's name rather than turning it into an unknown shape.
 */
export type ShapeRule = (node: NodeProto, context: ShapeContext) => TensorInfo[];

/** The rules of one operator family, keyed by `op_type` (any domain: contrib ops share ai.onnx names' meaning). */
export type ShapeRuleTable = Readonly<Record<string, ShapeRule>>;
