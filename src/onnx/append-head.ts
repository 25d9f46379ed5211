/**
 * Appends a dense classification head to a graph: Gemm (+ Relu) per layer → Softmax → probabilities, with the
 * top-1 class name (ArgMax → Gather from a constant string tensor) and every class name (Identity of that tensor)
 * as further outputs. Every node and tensor it adds is named `finetune/head/…`.
 *
 * Every added operator means the same thing in ai.onnx opsets 7 to 21 (Softmax gets an explicit axis=1 on a 2-D
 * input, ArgMax/Gather use non-negative axes), so the graph's opset need not change.
 */
import type { DenseLayer } from '../types.js';
import { attribute, makeNode, makeTensor, makeValueInfo } from './graph-builder.js';
import type { DimSpec } from './graph-builder.js';
import type { NameScope } from './graph-names.js';
import type { GraphProto, NodeProto, TensorProto } from './proto.js';

/** Prefix of the names of every node and tensor the head adds. */
export const HEAD_PREFIX = 'finetune/head/';
/** Name of the first Gemm node; its first input is the features tensor the head reads. */
export const HEAD_FIRST_GEMM = `${HEAD_PREFIX}Gemm_0`;

export interface HeadOutputNames {
  /** float [N, C] softmax probabilities. */
  readonly probabilities: string;
  /** string [N]: the top-1 class name. */
  readonly label: string;
  /** string [C]: every class name in index order. */
  readonly labels: string;
}

export interface AppendDenseHeadOptions {
  /** The layers, first to last; kernels are [inputDim × outputDim] row-major (Gemm's B, transB = 0). */
  readonly layers: readonly DenseLayer[];
  /** Class names in index order, one per output of the last layer. */
  readonly classNames: readonly string[];
  readonly outputNames: HeadOutputNames;
  /** Names in use in the graph; the head's names are taken from it. */
  readonly scope: NameScope;
  /** The batch dim of the declared outputs. @defaultValue `'N'` */
  readonly batchDim?: DimSpec;
  /** List the added initializers as graph inputs too, as IR 3 requires. @defaultValue `false` */
  readonly listInitializersAsInputs?: boolean;
}

/**
 * Appends the head's nodes and initializers to `graph` (edited in place: pass a {@link cloneGraphShallow} copy)
 * and makes its three outputs the graph's outputs.
 * @throws TypeError for an unknown activation.
 */
export function appendDenseHead(graph: GraphProto, featuresTensor: string, options: AppendDenseHeadOptions): void {
  const { layers, classNames, outputNames, scope } = options;
  const batchDim = options.batchDim ?? 'N';
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let x = featuresTensor;
  const lastLayer = layers.length - 1;
  layers.forEach((layer, index) => {
    const kernelName = scope.unique(`${HEAD_PREFIX}dense_${index}/kernel`);
    const biasName = scope.unique(`${HEAD_PREFIX}dense_${index}/bias`);
    initializers.push(makeTensor(kernelName, 'float32', [layer.inputDim, layer.outputDim], layer.kernel));
    initializers.push(makeTensor(biasName, 'float32', [layer.outputDim], layer.bias));
    const gemmName = scope.unique(index === lastLayer ? `${HEAD_PREFIX}logits` : `${HEAD_PREFIX}Gemm_${index}`);
    nodes.push(makeNode('Gemm', [x, kernelName, biasName], [gemmName], {
      name: `${HEAD_PREFIX}Gemm_${index}`,
      attributes: [attribute.float('alpha', 1), attribute.float('beta', 1), attribute.int('transA', 0), attribute.int('transB', 0)],
    }));
    x = gemmName;
    if (layer.activation === 'relu') {
      const reluName = scope.unique(`${HEAD_PREFIX}Relu_${index}`);
      nodes.push(makeNode('Relu', [x], [reluName], { name: reluName }));
      x = reluName;
    } else if (layer.activation !== 'linear') {
      throw new TypeError(`appendDenseHead: unknown activation '${String(layer.activation)}' in layer ${index}.`);
    }
  });
  // axis=1 on a 2-D tensor means the same before opset 13 (coerce to 2-D at axis) and after (one axis).
  nodes.push(makeNode('Softmax', [x], [outputNames.probabilities], {
    name: `${HEAD_PREFIX}Softmax`, attributes: [attribute.int('axis', 1)],
  }));
  const argmaxName = scope.unique(`${HEAD_PREFIX}argmax`);
  nodes.push(makeNode('ArgMax', [outputNames.probabilities], [argmaxName], {
    name: `${HEAD_PREFIX}ArgMax`, attributes: [attribute.int('axis', 1), attribute.int('keepdims', 0)],
  }));
  const classNamesName = scope.unique(`${HEAD_PREFIX}class_names`);
  initializers.push(makeTensor(classNamesName, 'string', [classNames.length], classNames));
  nodes.push(makeNode('Gather', [classNamesName, argmaxName], [outputNames.label], {
    name: `${HEAD_PREFIX}Gather`, attributes: [attribute.int('axis', 0)],
  }));
  nodes.push(makeNode('Identity', [classNamesName], [outputNames.labels], { name: `${HEAD_PREFIX}Identity` }));

  graph.node.push(...nodes);
  graph.initializer.push(...initializers);
  if (options.listInitializersAsInputs) {
    for (const tensor of initializers) graph.input.push(makeValueInfo(tensor.name ?? '', tensor.data_type ?? 0, tensor.dims));
  }
  const numClasses = classNames.length;
  graph.output = [
    makeValueInfo(outputNames.probabilities, 'float32', [batchDim, numClasses]),
    makeValueInfo(outputNames.label, 'string', [batchDim]),
    makeValueInfo(outputNames.labels, 'string', [numClasses]),
  ];
}
