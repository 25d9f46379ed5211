/**
 * Locating the tensor that feeds a classification model's final classifier, the candidate feature tensors
 * shown to users, and the quantization parameters of a quantized tensor.
 */
import { attributeInts, getAttribute } from './graph-builder.js';
import type { GraphProto, NodeProto } from './proto.js';
import { TensorDataType } from './proto.js';
import type { Dim, TensorInfo } from './infer-shapes.js';
import type { Pooling } from '../types.js';

/** Graph lookups built once: who produces and who consumes each tensor. */
export interface GraphIndex {
  readonly graph: GraphProto;
  readonly producer: ReadonlyMap<string, NodeProto>;
  readonly consumers: ReadonlyMap<string, readonly NodeProto[]>;
  readonly initializers: ReadonlySet<string>;
  readonly infos: ReadonlyMap<string, TensorInfo>;
}

export function indexGraph(graph: GraphProto, infos: ReadonlyMap<string, TensorInfo>): GraphIndex {
  const producer = new Map<string, NodeProto>();
  const consumers = new Map<string, NodeProto[]>();
  for (const node of graph.node) {
    for (const name of node.output) if (name) producer.set(name, node);
    for (const name of node.input) {
      if (!name) continue;
      const list = consumers.get(name);
      if (list) list.push(node);
      else consumers.set(name, [node]);
    }
  }
  return { graph, producer, consumers, initializers: new Set(graph.initializer.map((t) => t.name ?? '')), infos };
}

/** Scale and zero-point tensors of a quantized (uint8/int8) tensor. */
export interface QuantParams {
  scale: string;
  zeroPoint: string;
}

export interface FeatureSearchResult {
  /** The tensor feeding the classifier, walked back through Dropout and trivial flattens. */
  tensor: string;
  /** Set when `tensor` is quantized. */
  quant?: QuantParams;
  /** The operator recognised as the classifier, for messages (`Gemm`, `QLinearMatMul`, `Conv 1×1`…). */
  classifier: string;
  /** Set when there is no classifier and `tensor` is the model's token-sequence output [N, T, D] (a transformer). */
  tokenSequence?: true;
}

export interface FeatureSearchFailure {
  /** Why the walk stopped, as a sentence fragment. */
  reason: string;
}

const POST_PROCESSING = new Set(['Softmax', 'LogSoftmax', 'Identity', 'Flatten', 'Reshape', 'Squeeze', 'Cast', 'Dropout', 'DequantizeLinear']);
const POOLING = new Set(['GlobalAveragePool', 'AveragePool', 'ReduceMean', 'QLinearGlobalAveragePool', 'QLinearAveragePool', 'GlobalMaxPool']);

/**
 * Walks back from the first graph output through post-processing (Softmax, Flatten/Reshape, Dropout,
 * DequantizeLinear), the classifier (Gemm, MatMul(+Add), QLinearMatMul(+QLinearAdd), QGemm, or a 1×1 Conv
 * [→ Relu] → pooling head as in SqueezeNet), then Dropout and flattens of [N, C, 1, 1] maps.
 */
export function findFeatureTensor(index: GraphIndex): FeatureSearchResult | FeatureSearchFailure {
  const output = index.graph.output[0]?.name;
  if (!output) return { reason: 'the graph has no output' };
  let tensor = output;
  let node = index.producer.get(tensor);
  for (let guard = 0; node && POST_PROCESSING.has(node.op_type ?? '') && guard < 16; guard++) {
    tensor = node.input[0] ?? '';
    node = index.producer.get(tensor);
  }
  if (!node) return { reason: `the output "${output}" comes straight from the graph input` };
  const found = classifierInput(index, node);
  if ('reason' in found) {
    const tokens = tokenSequenceOutput(index);
    return tokens ? { tensor: tokens, classifier: 'none', tokenSequence: true } : found;
  }
  const walked = walkBackTrivial(index, found.tensor);
  return { ...found, tensor: walked };
}

/**
 * A transformer feature extractor's hidden states: the graph output of shape [N, T, D] with T and D known
 * (`last_hidden_state` first, by name), or undefined.
 */
export function tokenSequenceOutput(index: GraphIndex): string | undefined {
  const sequences = index.graph.output.map((output) => output.name ?? '').filter((name) => {
    const info = index.infos.get(name);
    return info?.dims?.length === 3 && typeof info.dims[1] === 'number' && typeof info.dims[2] === 'number'
      && (info.elemType === undefined || info.elemType === TensorDataType.FLOAT);
  });
  return sequences.find((name) => name === 'last_hidden_state') ?? sequences[0];
}

/** The poolings that turn a tensor of these dims into [N, D] (see CutBackboneOptions.pooling); the default first. */
export function poolingsFor(dims: readonly Dim[] | null | undefined): Pooling[] {
  switch (dims?.length) {
    case 2: return ['none'];
    case 3: return ['cls', 'mean-tokens', 'avg', 'max', 'flatten'];
    case 4: return dims.slice(2).every((dim) => dim === 1) ? ['flatten', 'avg', 'max'] : ['avg', 'max', 'flatten'];
    default: return [];
  }
}

function classifierInput(index: GraphIndex, node: NodeProto): FeatureSearchResult | FeatureSearchFailure {
  const op = node.op_type ?? '';
  const isConst = (name: string | undefined): boolean => !!name && (index.initializers.has(name) || index.infos.get(name)?.constant === true);
  switch (op) {
    case 'Gemm':
      return { tensor: node.input[0] ?? '', classifier: 'Gemm' };
    case 'QGemm':
      return { tensor: node.input[0] ?? '', classifier: 'QGemm', quant: { scale: node.input[1] ?? '', zeroPoint: node.input[2] ?? '' } };
    case 'MatMul':
      if (isConst(node.input[1])) return { tensor: node.input[0] ?? '', classifier: 'MatMul' };
      break;
    case 'Add': {
      const [a, b] = node.input;
      const other = isConst(a) ? b : isConst(b) ? a : undefined;
      const matmul = other ? index.producer.get(other) : undefined;
      if (matmul?.op_type === 'MatMul' && isConst(matmul.input[1])) return { tensor: matmul.input[0] ?? '', classifier: 'MatMul+Add' };
      if (matmul?.op_type === 'Gemm') return { tensor: matmul.input[0] ?? '', classifier: 'Gemm+Add' };
      break;
    }
    case 'QLinearAdd': {
      const matmul = [node.input[0], node.input[3]].map((name) => (name ? index.producer.get(name) : undefined))
        .find((producer) => producer?.op_type === 'QLinearMatMul');
      if (matmul) return qlinearMatMulInput(matmul, 'QLinearMatMul+QLinearAdd');
      break;
    }
    case 'QLinearMatMul':
      return qlinearMatMulInput(node, 'QLinearMatMul');
    case 'Conv': case 'QLinearConv':
      if (isPointwise(index, node)) return convInput(node, 'Conv 1×1');
      break;
    default:
      if (POOLING.has(op)) {
        let inner = index.producer.get(node.input[0] ?? '');
        if (inner && (inner.op_type === 'Relu' || inner.op_type === 'Clip')) inner = index.producer.get(inner.input[0] ?? '');
        if (inner && (inner.op_type === 'Conv' || inner.op_type === 'QLinearConv') && isPointwise(index, inner)) {
          return convInput(inner, `Conv 1×1 → ${op}`);
        }
        return { reason: `the last ${op} ("${node.output[0]}") is not preceded by a 1×1 classifier convolution` };
      }
  }
  return { reason: `the output is computed by a ${op} node ("${node.name || node.output[0]}"), not a recognised classifier` };
}

function qlinearMatMulInput(node: NodeProto, classifier: string): FeatureSearchResult {
  return { tensor: node.input[0] ?? '', classifier, quant: { scale: node.input[1] ?? '', zeroPoint: node.input[2] ?? '' } };
}

function convInput(node: NodeProto, classifier: string): FeatureSearchResult {
  const result: FeatureSearchResult = { tensor: node.input[0] ?? '', classifier };
  if (node.op_type === 'QLinearConv') result.quant = { scale: node.input[1] ?? '', zeroPoint: node.input[2] ?? '' };
  return result;
}

function isPointwise(index: GraphIndex, node: NodeProto): boolean {
  const weight = index.infos.get(node.input[node.op_type === 'QLinearConv' ? 3 : 1] ?? '')?.dims;
  const kernel = getAttribute(node, 'kernel_shape') ? attributeInts(node, 'kernel_shape') : weight?.slice(2);
  return !!kernel && kernel.length > 0 && kernel.every((k) => k === 1);
}

/** Steps back through Dropout/Identity, and through Flatten/Reshape/Squeeze of maps whose spatial dims are all 1. */
export function walkBackTrivial(index: GraphIndex, start: string): string {
  let tensor = start;
  for (let guard = 0; guard < 16; guard++) {
    const node = index.producer.get(tensor);
    const op = node?.op_type ?? '';
    if (!node) break;
    if (op === 'Dropout' || op === 'Identity') {
      tensor = node.input[0] ?? '';
      continue;
    }
    if (op === 'Flatten' || op === 'Reshape' || op === 'Squeeze') {
      const dims = index.infos.get(node.input[0] ?? '')?.dims;
      if (dims && dims.length >= 3 && dims.slice(2).every((dim) => dim === 1)) {
        tensor = node.input[0] ?? '';
        continue;
      }
    }
    break;
  }
  return tensor;
}

const QUANTIZED_TYPES: ReadonlySet<number> = new Set([TensorDataType.UINT8, TensorDataType.INT8, TensorDataType.UINT16, TensorDataType.INT16]);

/** True for uint8/int8 (and 16-bit) integer tensors that carry quantized values. */
export function isQuantizedType(elemType: number | undefined): boolean {
  return elemType !== undefined && QUANTIZED_TYPES.has(elemType);
}

/**
 * The scale and zero point of a quantized tensor, from a node that reads it (DequantizeLinear, QLinear*)
 * or the node that produced it (QuantizeLinear, QLinear*), following Reshape/Flatten/Squeeze which keep them.
 */
export function findQuantParams(index: GraphIndex, tensor: string): QuantParams | undefined {
  for (let guard = 0, name = tensor; guard < 8; guard++) {
    for (const consumer of index.consumers.get(name) ?? []) {
      const found = readerParams(consumer, name);
      if (found) return found;
    }
    const producer = index.producer.get(name);
    if (!producer) return undefined;
    const found = writerParams(producer);
    if (found) return found;
    if (!['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose', 'MaxPool', 'Identity'].includes(producer.op_type ?? '')) return undefined;
    name = producer.input[0] ?? '';
  }
  return undefined;
}

function readerParams(node: NodeProto, tensor: string): QuantParams | undefined {
  const at = (i: number): QuantParams | undefined => {
    const scale = node.input[i], zeroPoint = node.input[i + 1];
    return scale && zeroPoint ? { scale, zeroPoint } : undefined;
  };
  const position = node.input.indexOf(tensor);
  switch (node.op_type) {
    case 'DequantizeLinear': case 'QLinearConv': case 'QLinearMatMul': case 'QLinearGlobalAveragePool':
    case 'QLinearAveragePool': case 'QLinearLeakyRelu': case 'QLinearSigmoid': case 'QGemm':
      return position === 0 ? at(1) : undefined;
    case 'QLinearAdd': case 'QLinearMul':
      return position === 0 ? at(1) : position === 3 ? at(4) : undefined;
    default:
      return undefined;
  }
}

function writerParams(node: NodeProto): QuantParams | undefined {
  const at = (i: number): QuantParams | undefined => {
    const scale = node.input[i], zeroPoint = node.input[i + 1];
    return scale && zeroPoint ? { scale, zeroPoint } : undefined;
  };
  switch (node.op_type) {
    case 'QuantizeLinear': return at(1);
    case 'QLinearConv': case 'QLinearMatMul': case 'QLinearAdd': case 'QLinearMul': return at(6);
    case 'QLinearGlobalAveragePool': case 'QLinearAveragePool': case 'QLinearLeakyRelu': case 'QLinearSigmoid': return at(3);
    default: return undefined;
  }
}

/** A tensor worth offering as a feature layer. */
export interface FeatureCandidate {
  name: string;
  dims: Dim[] | null;
  /** `float32`, `uint8`, … */
  elemType: number | null;
  /** Operator that produces it. */
  producer: string;
  /** How it can be pooled to [N, D], the default first (`cls`, `mean-tokens`… for token sequences). */
  poolings: Pooling[];
}

const CANDIDATE_PRODUCERS = new Set([
  'GlobalAveragePool', 'GlobalMaxPool', 'AveragePool', 'MaxPool', 'QLinearGlobalAveragePool', 'QLinearAveragePool',
  'ReduceMean', 'Flatten', 'Reshape', 'Squeeze', 'Concat', 'QLinearConcat', 'Dropout',
]);
const CLASSIFIER_OPS = new Set(['Gemm', 'MatMul', 'QLinearMatMul', 'QGemm']);

/**
 * Up to `limit` candidate feature tensors, nearest to the output first: outputs of pooling, flatten and
 * concat nodes and inputs of Gemm/MatMul layers, whose shapes are [N, C] or [N, C, H, W]; for transformer feature
 * extractors (a graph output [N, T, D]), their outputs first: the token sequence and any pooled output
 * (`pooler_output`, `image_embeds`).
 */
export function featureCandidates(index: GraphIndex, limit = 8): FeatureCandidate[] {
  const seen = new Set<string>();
  const out: FeatureCandidate[] = [];
  const outputs = new Set(index.graph.output.map((o) => o.name ?? ''));
  const transformerOutputs = tokenSequenceOutput(index) !== undefined;
  const push = (name: string | undefined, asOutput = false): void => {
    if (!name || seen.has(name) || (outputs.has(name) && !asOutput) || index.initializers.has(name)) return;
    seen.add(name);
    const info = index.infos.get(name);
    const dims = info?.dims;
    if (dims && dims.length !== 2 && dims.length !== 4 && !(asOutput && dims.length === 3)) return;
    out.push({ name, dims: dims ?? null, elemType: info?.elemType ?? null, producer: index.producer.get(name)?.op_type ?? 'input', poolings: poolingsFor(dims) });
  };
  if (transformerOutputs) for (const output of index.graph.output) push(output.name ?? undefined, true);
  const nodes = index.graph.node;
  for (let i = nodes.length - 1; i >= 0 && out.length < limit; i--) {
    const node = nodes[i]!;
    const op = node.op_type ?? '';
    if (CLASSIFIER_OPS.has(op)) push(node.input[0]);
    else if (CANDIDATE_PRODUCERS.has(op)) push(node.output[0]);
  }
  return out.slice(0, limit);
}
