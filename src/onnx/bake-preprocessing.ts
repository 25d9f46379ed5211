/**
 * Bakes image preprocessing into a graph: a new uint8 [N, crop, crop, 3] RGB input → Cast → Mul(scale) → Sub(mean)
 * → Div(std) → Gather (BGR only) → Transpose (NCHW only) → the backbone's float input. The order of arithmetic is
 * the PreprocessSpec's formula, so the values match the embedding stage's float preprocessing. Every node and
 * tensor it adds is named `finetune/preprocess/…`.
 */
import { FinetuneError } from '../errors.js';
import type { PreprocessSpec } from '../types.js';
import { attribute, makeNode, makeTensor, makeValueInfo, valueInfoDims, valueInfoElemType } from './graph-builder.js';
import type { DimSpec } from './graph-builder.js';
import type { NameScope } from './graph-names.js';
import { TensorDataType } from './proto.js';
import type { AttributeProto, GraphProto, NodeProto, TensorProto } from './proto.js';

/** Prefix of the names of every node and tensor the baked preprocessing adds. */
export const PREPROCESS_PREFIX = 'finetune/preprocess/';

export interface BakePreprocessingOptions {
  /** Name of the new uint8 image input. */
  readonly imageInput: string;
  /** Names in use in the graph; the added names are taken from it. */
  readonly scope: NameScope;
  /** List the added initializers as graph inputs too, as IR 3 requires. @defaultValue `false` */
  readonly listInitializersAsInputs?: boolean;
}

/**
 * Replaces the graph input `backboneInput` by `options.imageInput` (now the first input) and prepends the nodes that
 * compute the former input from it. `graph` is edited in place: pass a {@link cloneGraphShallow} copy.
 * @throws FinetuneError EXPORT_FAILED when the input is not float32, or its declared shape does not fit the spec.
 */
export function bakePreprocessing(graph: GraphProto, backboneInput: string, spec: PreprocessSpec, options: BakePreprocessingOptions): void {
  const inputInfo = graph.input.find((input) => input.name === backboneInput);
  if (!inputInfo) throw new RangeError(`bakePreprocessing: the graph has no input "${backboneInput}".`);
  const elemType = valueInfoElemType(inputInfo);
  if (elemType !== undefined && elemType !== TensorDataType.FLOAT) {
    throw new FinetuneError('EXPORT_FAILED', `The backbone input "${backboneInput}" is not float32 (data type ${elemType}); cannot bake preprocessing.`,
      'Export with --no-preprocessing.');
  }
  const crop = spec.cropSize;
  const dims = valueInfoDims(inputInfo);
  let batchDim: DimSpec = 'N';
  if (dims) {
    const expected = spec.layout === 'NCHW' ? [null, 3, crop, crop] : [null, crop, crop, 3];
    const mismatch = dims.length !== 4 || dims.some((dim, axis) => axis > 0 && typeof dim === 'number' && dim !== expected[axis]);
    if (mismatch) {
      throw new FinetuneError('EXPORT_FAILED',
        `The backbone input "${backboneInput}" has shape [${dims.map((d) => d ?? '?').join(', ')}], but the preprocessing spec gives ` +
        `${spec.layout} [N, ${expected.slice(1).join(', ')}].`,
        'Pass the preprocessing the backbone was trained with (--input-size, --layout), or export with --no-preprocessing.');
    }
    batchDim = dims[0] ?? 'N';
  }
  const { scope } = options;
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  const constant = (base: string, values: number[]): string => {
    const name = scope.unique(`${PREPROCESS_PREFIX}${base}`);
    initializers.push(makeTensor(name, 'float32', [3], values));
    return name;
  };
  const steps: Array<{ opType: string; inputs: string[]; attributes: AttributeProto[] }> = [];
  steps.push({ opType: 'Cast', inputs: [], attributes: [attribute.int('to', TensorDataType.FLOAT)] });
  steps.push({ opType: 'Mul', inputs: [constant('scale', [spec.scale, spec.scale, spec.scale])], attributes: [] });
  steps.push({ opType: 'Sub', inputs: [constant('mean', [...spec.mean])], attributes: [] });
  steps.push({ opType: 'Div', inputs: [constant('std', [...spec.std])], attributes: [] });
  if (spec.channelOrder === 'BGR') {
    const indicesName = scope.unique(`${PREPROCESS_PREFIX}bgr_indices`);
    initializers.push(makeTensor(indicesName, 'int64', [3], [2, 1, 0]));
    steps.push({ opType: 'Gather', inputs: [indicesName], attributes: [attribute.int('axis', 3)] });
  }
  if (spec.layout === 'NCHW') steps.push({ opType: 'Transpose', inputs: [], attributes: [attribute.ints('perm', [0, 3, 1, 2])] });
  let x = options.imageInput;
  steps.forEach((step, index) => {
    const nodeName = scope.unique(`${PREPROCESS_PREFIX}${step.opType}`);
    const output = index === steps.length - 1 ? backboneInput : nodeName;
    nodes.push(makeNode(step.opType, [x, ...step.inputs], [output], { name: nodeName, attributes: step.attributes }));
    x = output;
  });

  graph.node = [...nodes, ...graph.node];
  graph.initializer.push(...initializers);
  graph.input = [makeValueInfo(options.imageInput, 'uint8', [batchDim, crop, crop, 3]), ...graph.input.filter((input) => input !== inputInfo)];
  if (options.listInitializersAsInputs) {
    for (const tensor of initializers) graph.input.push(makeValueInfo(tensor.name ?? '', tensor.data_type ?? 0, tensor.dims));
  }
}
