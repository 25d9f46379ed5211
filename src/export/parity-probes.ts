/**
 * Models derived from an exported classifier for the parity check, so that each part export added can be checked on
 * its own and a difference located: in the baked preprocessing, in the backbone, or in the head.
 * They share the exported model's tensors (nothing is copied); the caller encodes or streams them.
 */
import { FinetuneError } from '../errors.js';
import { HEAD_FIRST_GEMM, HEAD_PREFIX } from '../onnx/append-head.js';
import { PREPROCESS_PREFIX } from '../onnx/bake-preprocessing.js';
import { makeValueInfo } from '../onnx/graph-builder.js';
import type { GraphProto, ModelProto, NodeProto } from '../onnx/proto.js';

export interface ParityProbes {
  /** The exported model with more outputs: the features and, when preprocessing is baked, the backbone input. */
  readonly probe: ModelProto;
  /** The head alone: input `featureTensor`, outputs as the exported model. Small. */
  readonly head: ModelProto;
  /** The baked preprocessing alone: the image input → `preprocessedTensor`; null when the model takes float input. Small. */
  readonly preprocessing: ModelProto | null;
  /** The tensor the head reads (the backbone's features). */
  readonly featureTensor: string;
  /** The output of the baked preprocessing, or null when the model takes the backbone's float input. */
  readonly preprocessedTensor: string | null;
  /**
   * Whether the backbone runs integer kernels (QLinear*, ConvInteger, …). Their results legitimately differ between
   * onnxruntime builds (x86 AVX2 u8s8 arithmetic saturates, wasm's does not), so end-to-end web parity is not required.
   */
  readonly quantizedBackbone: boolean;
}

const QUANTIZED_OP = /^(QLinear|QGemm|QAttention|ConvInteger|MatMulInteger|DynamicQuantize|MatMulNBits|QuantizeLinear|DequantizeLinear)/;

/** Builds the probe, head and preprocessing models of an exported classifier. */
export function buildParityProbes(model: ModelProto): ParityProbes {
  const graph = model.graph;
  const firstGemm = graph?.node.find((node) => node.name === HEAD_FIRST_GEMM);
  const featureTensor = firstGemm?.input[0];
  if (!graph || !firstGemm || !featureTensor) {
    throw new FinetuneError('PARITY_FAILED', `The model has no "${HEAD_FIRST_GEMM}" node; it was not exported by this version of finetune.`,
      'Export the model again.');
  }
  const preprocessNodes = graph.node.filter((node) => node.name?.startsWith(PREPROCESS_PREFIX));
  const preprocessedTensor = preprocessNodes.at(-1)?.output[0] ?? null;
  const headNodes = graph.node.filter((node) => node.name?.startsWith(HEAD_PREFIX));
  const backboneNodes = graph.node.filter((node) => !node.name?.startsWith(HEAD_PREFIX) && !node.name?.startsWith(PREPROCESS_PREFIX));
  const quantizedBackbone = backboneNodes.some(isQuantized);

  const extraOutputs = [preprocessedTensor, featureTensor].filter((name): name is string => name !== null)
    .map((name) => makeValueInfo(name, 'float32', undefined));
  const probe: ModelProto = { ...model, graph: { ...graph, output: [...graph.output, ...extraOutputs] } };
  const head = part(model, graph, headNodes, [makeValueInfo(featureTensor, 'float32', undefined)], graph.output);
  const preprocessing = preprocessedTensor === null ? null
    : part(model, graph, preprocessNodes, graph.input.filter((input) => preprocessNodes.some((node) => node.input.includes(input.name ?? ''))),
      [makeValueInfo(preprocessedTensor, 'float32', undefined)]);
  return { probe, head, preprocessing, featureTensor, preprocessedTensor, quantizedBackbone };
}

/** A model of some of the graph's nodes, with the initializers they read; IR 4+ so initializers need not be inputs. */
function part(model: ModelProto, graph: GraphProto, nodes: NodeProto[], inputs: GraphProto['input'], outputs: GraphProto['output']): ModelProto {
  const read = new Set(nodes.flatMap((node) => node.input));
  return {
    ...model,
    ir_version: Math.max(model.ir_version ?? 0, 4),
    metadata_props: [],
    graph: {
      ...graph,
      node: nodes,
      initializer: graph.initializer.filter((tensor) => read.has(tensor.name ?? '')),
      input: inputs,
      output: outputs,
      value_info: [],
      quantization_annotation: [],
    },
  };
}

function isQuantized(node: NodeProto): boolean {
  return QUANTIZED_OP.test(node.op_type ?? '');
}
