/**
 * Models derived from an exported classifier for the web parity check, so that a difference between
 * onnxruntime-web and onnxruntime-node can be located: in the baked preprocessing, in the backbone, or in the head.
 */
import { FinetuneError } from '../errors.js';
import { HEAD_FIRST_GEMM, HEAD_PREFIX } from '../onnx/append-head.js';
import { PREPROCESS_PREFIX } from '../onnx/bake-preprocessing.js';
import { makeValueInfo } from '../onnx/graph-builder.js';
import type { ModelProto, NodeProto } from '../onnx/proto.js';
import { encodeModel } from '../onnx/write-model.js';

export interface ParityProbes {
  /** The exported model with two more outputs: the backbone input (when preprocessing is baked) and the features. */
  readonly probeModel: Uint8Array;
  /** The head alone: input `featureTensor`, outputs as the exported model. */
  readonly headModel: Uint8Array;
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

/** Builds the probe and head models from an exported classifier. */
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

  const headInputs = new Set(headNodes.flatMap((node) => node.input));
  const head: ModelProto = {
    ...model,
    // IR 4+ so that initializers need not be listed as inputs.
    ir_version: Math.max(model.ir_version ?? 0, 4),
    metadata_props: [],
    graph: {
      ...graph,
      node: headNodes,
      initializer: graph.initializer.filter((tensor) => headInputs.has(tensor.name ?? '')),
      input: [makeValueInfo(featureTensor, 'float32', undefined)],
      value_info: [],
      quantization_annotation: [],
    },
  };
  return { probeModel: encodeModel(probe), headModel: encodeModel(head), featureTensor, preprocessedTensor, quantizedBackbone };
}

function isQuantized(node: NodeProto): boolean {
  return QUANTIZED_OP.test(node.op_type ?? '');
}
