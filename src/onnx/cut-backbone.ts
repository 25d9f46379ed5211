import { FinetuneError, nearestNames } from '../errors.js';
import type { Pooling } from '../types.js';
import { attribute, attributeInt, makeNode, makeTensor, makeValueInfo, opsetVersion, valueInfoDims } from './graph-builder.js';
import { findFeatureTensor, findQuantParams, featureCandidates, indexGraph, isQuantizedType } from './find-feature-tensor.js';
import type { FeatureCandidate, GraphIndex, QuantParams } from './find-feature-tensor.js';
import { cloneGraphShallow } from './graph-names.js';
import { inferShapes } from './infer-shapes.js';
import type { Dim } from './infer-shapes.js';
import { pruneGraph } from './prune-graph.js';
import { TensorDataType, dataTypeName } from './proto.js';
import type { GraphProto, ModelProto, NodeProto, ValueInfoProto } from './proto.js';

export interface CutBackboneOptions {
  /**
   * Name of the tensor to cut at. @defaultValue the tensor feeding the final classifier (walking back
   * from the output through Softmax, Gemm or MatMul+Add or their QLinear forms, Flatten/Reshape, Dropout)
   */
  layer?: string;
  /**
   * How the tensor becomes [N, D]. A spatial map [N, C, H, W]: `avg`/`max` pool over H×W (D = C), `flatten`
   * (D = C·H·W). A token sequence [N, T, D]: `cls` (token 0), `mean-tokens` (mean of tokens 1…T−1), `avg`/`max`
   * over all tokens, `flatten` (T·D). `none` is only valid for tensors that are already [N, D]. Ignored for [N, D].
   * @defaultValue `'avg'` for maps with H×W > 1; maps of [N, C, 1, 1] are flattened (`'flatten'`); `'cls'` for tokens
   */
  pooling?: Pooling;
}

export interface CutBackbone {
  /** The cut model: input `inputName`, single output `features` float32 [N, embeddingDim]. */
  model: ModelProto;
  inputName: string;
  /** Input dims after the cut; a fixed batch of 1 is replaced by `'N'`. */
  inputShape: Array<number | string>;
  /** The original tensor the model was cut at (before dequantizing and pooling). */
  featureTensor: string;
  /** Dims of `featureTensor` in the original model. */
  featureShape: Array<number | string | null>;
  embeddingDim: number;
  /** The pooling applied: `none` when the tensor was already [N, D]. */
  pooling: Pooling;
  /** True when `featureTensor` was quantized and a DequantizeLinear was added. */
  dequantized: boolean;
  /** True when a fixed input batch of 1 was made symbolic. */
  batchMadeSymbolic: boolean;
}

/** Name of the cut model's output. */
export const FEATURES_OUTPUT = 'features';
/** Prefix of every node and tensor the cut adds. */
const PREFIX = 'finetune/';

/**
 * Cuts a classification model at its feature layer: the result's only output is `features` [N, D],
 * float32, and every node and initializer no longer needed is removed. The input model is not modified
 * (weights are shared, not copied).
 * @throws FinetuneError LAYER_NOT_FOUND for an unknown `layer`; GRAPH_EDIT_FAILED when no classifier is
 * recognised (the message lists candidate tensors) or the result cannot be batched; INVALID_OPTION for
 * `pooling: 'none'` on a spatial map.
 */
export function cutBackbone(model: ModelProto, options: CutBackboneOptions = {}): CutBackbone {
  const source = model.graph;
  if (!source) throw new FinetuneError('MODEL_INVALID', 'The model has no graph.', 'Pass a complete ONNX model.');
  const opset = opsetVersion(model) ?? 13;
  const infos = inferShapes(source, { opset });
  const index = indexGraph(source, infos);

  const realInputs = source.input.filter((input) => !index.initializers.has(input.name ?? ''));
  const input = realInputs[0];
  if (!input?.name) {
    throw new FinetuneError('MODEL_INVALID', 'The model has no input tensor (every graph input is a weight).', 'Pass an image model.');
  }

  const featureTensor = options.layer ?? autoFeatureTensor(index);
  if (options.layer !== undefined) checkLayer(index, options.layer);

  const featureInfo = infos.get(featureTensor);
  const featureDims = featureInfo?.dims;
  if (!featureDims || featureDims.length < 2) {
    throw new FinetuneError('GRAPH_EDIT_FAILED',
      `Cannot determine the shape of tensor "${featureTensor}"${featureDims ? ` (rank ${featureDims.length})` : ''}, so it cannot be cut there.`,
      `Pass --layer with a tensor of shape [N, C], [N, C, H, W] or [N, T, D]; candidates: ${describeCandidates(featureCandidates(index))}.`);
  }

  let quant: QuantParams | undefined;
  if (isQuantizedType(featureInfo.elemType)) {
    quant = findQuantParams(index, featureTensor);
    if (!quant) {
      throw new FinetuneError('GRAPH_EDIT_FAILED',
        `Tensor "${featureTensor}" is ${dataTypeName(featureInfo.elemType)} but no scale/zero point for it was found.`,
        'Pick a float tensor or one read by a DequantizeLinear/QLinear node (`finetune inspect <model>` lists candidates).');
    }
  } else if (featureInfo.elemType !== undefined && featureInfo.elemType !== TensorDataType.FLOAT) {
    throw new FinetuneError('GRAPH_EDIT_FAILED',
      `Tensor "${featureTensor}" is ${dataTypeName(featureInfo.elemType)}, not a float feature map.`,
      `Pass --layer with a float or quantized tensor; candidates: ${describeCandidates(featureCandidates(index))}.`);
  }

  // Build the new graph: share tensors and untouched nodes, copy the arrays we edit.
  const graph = cloneGraphShallow(source);
  const taken = new Set<string>([...index.producer.keys(), ...index.initializers, ...source.input.map((i) => i.name ?? '')]);
  if (taken.has(FEATURES_OUTPUT) && !(featureTensor === FEATURES_OUTPUT && featureDims.length === 2 && !quant)) {
    throw new FinetuneError('GRAPH_EDIT_FAILED', `The model already has a tensor named "${FEATURES_OUTPUT}".`,
      'Cut it at a different tensor with --layer, or rename the tensor in the model.');
  }

  const added: NodeProto[] = [];
  let current = featureTensor;
  const step = (opType: string, output: string, extraInputs: string[] = [], attributes = [] as ReturnType<typeof attribute.int>[]): void => {
    added.push(makeNode(opType, [current, ...extraInputs], [output], { name: `${PREFIX}${opType}`, attributes }));
    current = output;
  };

  const rank = featureDims.length;
  let pooling: Pooling = 'none';
  let embeddingDim: Dim;
  const constant = (name: string, dims: number[], values: number[]): string => {
    graph.initializer.push(makeTensor(`${PREFIX}${name}`, 'int64', dims, values));
    if ((model.ir_version ?? 10) < 4) graph.input.push(makeValueInfo(`${PREFIX}${name}`, 'int64', dims));
    return `${PREFIX}${name}`;
  };
  if (rank === 2) {
    embeddingDim = featureDims[1] ?? null;
    if (quant) step('DequantizeLinear', FEATURES_OUTPUT, [quant.scale, quant.zeroPoint]);
  } else if (rank === 3) {
    // A token sequence [N, T, D] (transformer hidden states).
    pooling = options.pooling ?? 'cls';
    if (pooling === 'none') {
      throw new FinetuneError('INVALID_OPTION',
        `Tensor "${featureTensor}" is a token sequence [${featureDims.join(', ')}]; pooling 'none' needs a [N, D] tensor.`,
        'Use --pooling cls (the first token), mean-tokens (mean of the patch tokens), avg or max.');
    }
    const tokens = featureDims[1] ?? null;
    if (pooling === 'mean-tokens' && typeof tokens === 'number' && tokens < 2) {
      throw new FinetuneError('INVALID_OPTION', `Tensor "${featureTensor}" [${featureDims.join(', ')}] has no patch tokens after the first.`,
        'Use --pooling cls or avg.');
    }
    if (quant) step('DequantizeLinear', `${PREFIX}dequantized`, [quant.scale, quant.zeroPoint]);
    const reduce = (op: 'ReduceMean' | 'ReduceMax'): void => {
      // Axes moved from an attribute to an input in opset 18.
      if (opset >= 18) step(op, FEATURES_OUTPUT, [constant('token_axis', [1], [1])], [attribute.int('keepdims', 0)]);
      else step(op, FEATURES_OUTPUT, [], [attribute.ints('axes', [1]), attribute.int('keepdims', 0)]);
    };
    if (pooling === 'cls') {
      step('Gather', FEATURES_OUTPUT, [constant('cls_index', [], [0])], [attribute.int('axis', 1)]);
    } else if (pooling === 'mean-tokens') {
      if (opset >= 10) step('Slice', `${PREFIX}patch_tokens`, [constant('slice_start', [1], [1]), constant('slice_end', [1], [Number.MAX_SAFE_INTEGER]), constant('token_axis_slice', [1], [1])]);
      else step('Slice', `${PREFIX}patch_tokens`, [], [attribute.ints('starts', [1]), attribute.ints('ends', [Number.MAX_SAFE_INTEGER]), attribute.ints('axes', [1])]);
      reduce('ReduceMean');
    } else if (pooling === 'avg') {
      reduce('ReduceMean');
    } else if (pooling === 'max') {
      reduce('ReduceMax');
    } else {
      step('Flatten', FEATURES_OUTPUT, [], [attribute.int('axis', 1)]);
    }
    embeddingDim = pooling === 'flatten' ? productOf(featureDims.slice(1)) : featureDims[2] ?? null;
  } else {
    const spatial = featureDims.slice(2);
    const unitSpatial = spatial.every((dim) => dim === 1);
    pooling = options.pooling ?? (unitSpatial ? 'flatten' : 'avg');
    if (pooling === 'none' || pooling === 'cls' || pooling === 'mean-tokens') {
      throw new FinetuneError('INVALID_OPTION',
        `Tensor "${featureTensor}" is a spatial map [${featureDims.join(', ')}]; pooling '${pooling}' needs a ${pooling === 'none' ? '[N, D] tensor' : 'token sequence [N, T, D]'}.`,
        "Use --pooling avg, max or flatten.");
    }
    if (quant) step('DequantizeLinear', `${PREFIX}dequantized`, [quant.scale, quant.zeroPoint]);
    if (pooling === 'avg') step('GlobalAveragePool', `${PREFIX}pooled`);
    if (pooling === 'max') step('GlobalMaxPool', `${PREFIX}pooled`);
    step('Flatten', FEATURES_OUTPUT, [], [attribute.int('axis', 1)]);
    embeddingDim = pooling === 'flatten' ? productOf(featureDims.slice(1)) : featureDims[1] ?? null;
  }
  if (current !== FEATURES_OUTPUT) step('Identity', FEATURES_OUTPUT);
  if (typeof embeddingDim !== 'number') {
    throw new FinetuneError('GRAPH_EDIT_FAILED',
      `The width of "${featureTensor}" [${featureDims.join(', ')}] is not a fixed number.`,
      'Pick a tensor whose channel and spatial sizes are fixed with --layer.');
  }
  graph.node.push(...added);

  // Batch: a fixed input batch of 1 becomes symbolic.
  const inputDims = valueInfoDims(input) ?? [];
  const batchMadeSymbolic = inputDims[0] === 1;
  const batchDim: string = typeof inputDims[0] === 'string' && inputDims[0] ? inputDims[0] : 'N';
  let newInput: ValueInfoProto = input;
  if (batchMadeSymbolic) {
    newInput = makeValueInfo(input.name, valueInfoElemTypeOf(input), ['N', ...inputDims.slice(1)]);
    graph.input = graph.input.map((entry) => (entry === input ? newInput : entry));
    graph.value_info = [];
  }
  graph.output = [makeValueInfo(FEATURES_OUTPUT, 'float32', [batchDim, embeddingDim])];
  pruneGraph(graph);
  if (batchMadeSymbolic) rewriteBatchReshapes(graph, infos, (model.ir_version ?? 10) < 4);

  // Check the result: the features must be [batch, embeddingDim] with a batch that is not fixed to 1.
  const check = inferShapes(graph, { opset }).get(FEATURES_OUTPUT)?.dims;
  if (check && (check[0] === 1 || (typeof check[1] === 'number' && check[1] !== embeddingDim))) {
    throw new FinetuneError('GRAPH_EDIT_FAILED',
      `After cutting at "${featureTensor}" the features have shape [${check.join(', ')}], expected [N, ${embeddingDim}].`,
      'Part of the kept graph fixes the batch size; cut at an earlier tensor with --layer.');
  }

  const cutModel: ModelProto = {
    ...model,
    opset_import: model.opset_import.map((entry) => ({ ...entry })),
    graph,
    metadata_props: [...model.metadata_props.filter((entry) => !entry.key?.startsWith(PREFIX)),
      { key: `${PREFIX}feature_tensor`, value: featureTensor }, { key: `${PREFIX}pooling`, value: pooling }],
    training_info: [],
  };
  return {
    model: cutModel,
    inputName: input.name,
    inputShape: (valueInfoDims(newInput) ?? []).map((dim) => dim ?? '?'),
    featureTensor,
    featureShape: featureDims,
    embeddingDim,
    pooling,
    dequantized: quant !== undefined,
    batchMadeSymbolic,
  };
}

function autoFeatureTensor(index: GraphIndex): string {
  const found = findFeatureTensor(index);
  if ('tensor' in found) return found.tensor;
  throw new FinetuneError('GRAPH_EDIT_FAILED',
    `Cannot find the classifier automatically: ${found.reason}.`,
    `Pass --layer with the tensor to cut at; candidate feature tensors: ${describeCandidates(featureCandidates(index))}.`);
}

function checkLayer(index: GraphIndex, layer: string): void {
  if (index.producer.has(layer) || index.graph.input.some((input) => input.name === layer && !index.initializers.has(layer))) return;
  const names = [...index.producer.keys(), ...index.graph.input.map((input) => input.name ?? '')]
    .filter((name) => !index.initializers.has(name));
  if (index.initializers.has(layer)) {
    throw new FinetuneError('LAYER_NOT_FOUND', `"${layer}" is a weight of the model, not an activation.`,
      `Pick a tensor computed from the input; candidates: ${describeCandidates(featureCandidates(index))}.`);
  }
  throw new FinetuneError('LAYER_NOT_FOUND', `No tensor named "${layer}" in the model.`,
    `Nearest names: ${nearestNames(layer, names).join(', ')}. \`finetune inspect <model>\` lists candidate feature tensors.`);
}

/** `name [N, C, H, W]` pairs for hints. */
export function describeCandidates(candidates: readonly FeatureCandidate[]): string {
  if (candidates.length === 0) return '(none found; run `finetune inspect <model>`)';
  return candidates.map((candidate) => `${candidate.name} [${candidate.dims?.map((d) => d ?? '?').join(', ') ?? '?'}]`).join(', ');
}

/**
 * In a graph whose input batch was 1, Reshape targets that hard-code that 1 would pin the batch again:
 * replace the leading 1 by 0 (copy the input's dim) or, with allowzero, by -1.
 */
function rewriteBatchReshapes(graph: GraphProto, infos: ReturnType<typeof inferShapes>, listInitializersAsInputs: boolean): void {
  graph.node = graph.node.map((node) => {
    if (node.op_type !== 'Reshape') return node;
    const shape = infos.get(node.input[1] ?? '')?.value;
    const dataDims = infos.get(node.input[0] ?? '')?.dims;
    if (!shape || shape[0] !== 1 || dataDims?.[0] !== 1 || shape.some((v) => typeof v !== 'number')) return node;
    const values = shape as number[];
    const allowZero = attributeInt(node, 'allowzero', 0) === 1;
    let lead = 0;
    if (allowZero) {
      if (values.includes(-1)) return node;
      lead = -1;
    }
    const name = `${PREFIX}${node.name || node.output[0]}/shape`;
    graph.initializer.push(makeTensor(name, 'int64', [values.length], [lead, ...values.slice(1)]));
    // IR 3 requires every initializer to be listed as a graph input as well.
    if (listInitializersAsInputs) graph.input.push(makeValueInfo(name, 'int64', [values.length]));
    return { ...node, input: [node.input[0] ?? '', name] };
  });
  pruneGraph(graph);
}

function productOf(dims: Dim[]): Dim {
  let total = 1;
  for (const dim of dims) {
    if (typeof dim !== 'number') return null;
    total *= dim;
  }
  return total;
}

function valueInfoElemTypeOf(info: ValueInfoProto): number {
  return info.type?.tensor_type?.elem_type ?? TensorDataType.FLOAT;
}
