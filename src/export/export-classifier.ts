/**
 * Builds the deployable classifier: cut backbone (+ baked preprocessing) + trained head + Softmax, one graph.
 *
 * Outputs of every exported model:
 * - `probabilities` float [N, C]
 * - `label` string [N], the top-1 class name (ArgMax → Gather from the constant class-name tensor)
 * - `labels` string [C], the class names, so runtimes that cannot read metadata (onnxruntime-web) have them.
 *
 * Added nodes and tensors are prefixed `finetune/`. Every added operator means the same thing in ai.onnx
 * opsets 7 to 21 (Softmax gets an explicit axis=1 on a 2-D input, ArgMax/Gather use non-negative axes), so
 * the backbone's opset is kept unless `opset` asks for a newer one.
 */
import { readFileSync } from 'node:fs';
import { FinetuneError } from '../errors.js';
import {
  attribute, irVersionForOpset, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo, opsetVersion, setOpsetAtLeast,
  valueInfoDims, valueInfoElemType,
} from '../onnx/graph-builder.js';
import type { DimSpec } from '../onnx/graph-builder.js';
import { TensorDataType } from '../onnx/proto.js';
import type { GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto } from '../onnx/proto.js';
import { foldStandardization } from '../train/standardization.js';
import type { HeadWeights, PreprocessSpec } from '../types.js';
import { cloneGraphShallow, graphTensorNames, NameScope, renameTensor } from './graph-names.js';
import { EXPORT_FORMAT_VERSION, EXPORT_NAMES, METADATA_KEYS } from './metadata-keys.js';
import type { ExportedInputType } from './metadata-keys.js';

/** Lowest ai.onnx opset the export supports (Gemm-7 broadcasting, Cast with an int `to`). */
export const MIN_EXPORT_OPSET = 7;
/** Default opset of head-only exports. */
const HEAD_ONLY_OPSET = 13;

export interface ExportMetadataOptions {
  /** Zoo id or file name of the backbone, stored as `finetune.backbone_id`. */
  backboneId?: string;
  /** sha256 of the original backbone file, stored as `finetune.backbone_sha256`. */
  backboneSha256?: string;
  /** Training summary (epochs, best epoch, metrics, …), stored as JSON in `finetune.training_summary`. */
  trainingSummary?: unknown;
  /** @defaultValue the `version` of finetune's package.json */
  toolVersion?: string;
  /** Further `metadata_props` entries; they override the entries above on the same key. */
  metadata?: Readonly<Record<string, string>>;
}

export interface ExportClassifierOptions extends ExportMetadataOptions {
  /** Class names in index order; `classNames.length` must equal the head's `numClasses`. */
  classNames: readonly string[];
  /** The preprocessing the features were computed with; stored in metadata and baked in when `withPreprocessing`. */
  preprocess: PreprocessSpec;
  /**
   * Bake preprocessing into the graph: input `image` uint8 [N, H, W, 3] RGB at the crop size. `false` keeps
   * the backbone's float input. @defaultValue `true`
   */
  withPreprocessing?: boolean;
  /**
   * ai.onnx opset of the exported model. Must be at least the backbone's; raising it fails when the backbone
   * has operators whose signature changed in between. @defaultValue the backbone's opset
   */
  opset?: number;
}

export interface ExportHeadOptions extends ExportMetadataOptions {
  classNames: readonly string[];
  /** Stored in metadata for reference; head-only models take features, not images. */
  preprocess?: PreprocessSpec;
  /** ai.onnx opset, 7 or newer. @defaultValue `13` */
  opset?: number;
}

/**
 * One self-contained classifier graph from a cut backbone (its single output, or the one named `features`, is
 * [N, D] float32) and a trained head. The input model is not modified; its weights are shared, not copied.
 * @throws FinetuneError EXPORT_FAILED when the backbone and head do not fit together; INVALID_OPTION for a bad `opset`.
 */
export function exportClassifier(cutBackbone: ModelProto, head: HeadWeights, options: ExportClassifierOptions): ModelProto {
  checkHead(head, options.classNames);
  const source = cutBackbone.graph;
  if (!source) throw new FinetuneError('EXPORT_FAILED', 'The backbone model has no graph.', 'Cut the backbone again.');
  const backboneOpset = opsetVersion(cutBackbone) ?? 0;
  if (backboneOpset < MIN_EXPORT_OPSET) {
    throw new FinetuneError('EXPORT_FAILED', `The backbone uses ai.onnx opset ${backboneOpset}; export supports opset ${MIN_EXPORT_OPSET} and newer.`,
      'Convert the backbone to a newer opset (onnx.version_converter) or pick another zoo variant.');
  }
  const targetOpset = resolveTargetOpset(source, backboneOpset, options.opset);
  const withPreprocessing = options.withPreprocessing ?? true;

  const graph = cloneGraphShallow(source);
  const featuresOutput = pickFeaturesOutput(graph);
  const featuresName = featuresOutput.name ?? '';
  checkFeatureDims(featuresOutput, head);
  const backboneInput = pickBackboneInput(graph);

  // Free the public names: an internal tensor called `probabilities` (or `image`) gets a finetune/ name.
  const reserved: string[] = [EXPORT_NAMES.probabilities, EXPORT_NAMES.label, EXPORT_NAMES.labels];
  if (withPreprocessing) reserved.push(EXPORT_NAMES.image);
  const scope = new NameScope(graphTensorNames(graph));
  const renamed = new Map<string, string>();
  for (const name of reserved) {
    if (scope.has(name)) {
      const to = scope.unique(`finetune/renamed/${name}`);
      renameTensor(graph, name, to);
      renamed.set(name, to);
    }
    scope.reserve(name);
  }
  const featureTensor = renamed.get(featuresName) ?? featuresName;
  const backboneInputName = renamed.get(backboneInput.name ?? '') ?? backboneInput.name ?? '';
  const inputInfo = graph.input.find((input) => input.name === backboneInputName) ?? backboneInput;

  const irVersion = targetOpset > backboneOpset
    ? Math.max(cutBackbone.ir_version ?? 0, irVersionForOpset(targetOpset)) : cutBackbone.ir_version ?? 0;
  // IR 3 graphs must list initializers among the inputs too.
  const needsInitializerInputs = irVersion < 4;
  const added: TensorProto[] = [];
  const preprocessNodes: NodeProto[] = [];
  let imageInput: ValueInfoProto | undefined;
  if (withPreprocessing) {
    const baked = bakePreprocessing(inputInfo, options.preprocess, scope);
    preprocessNodes.push(...baked.nodes);
    added.push(...baked.initializers);
    imageInput = baked.input;
  }
  const batchDim = firstDim(featuresOutput);
  const headPart = buildHeadNodes(featureTensor, head, options.classNames, scope, batchDim);
  added.push(...headPart.initializers);

  graph.node = [...preprocessNodes, ...graph.node, ...headPart.nodes];
  graph.initializer = [...graph.initializer, ...added];
  const inputs = graph.input.filter((input) => !(withPreprocessing && input === inputInfo));
  if (imageInput) inputs.unshift(imageInput);
  if (needsInitializerInputs) for (const tensor of added) inputs.push(makeValueInfo(tensor.name ?? '', tensor.data_type ?? 0, tensor.dims));
  graph.input = inputs;
  graph.output = headPart.outputs;
  graph.name = `finetune/${source.name ?? 'classifier'}`;

  const inputType: ExportedInputType = withPreprocessing ? 'uint8-image' : 'float';
  const model: ModelProto = {
    ...cutBackbone,
    opset_import: cutBackbone.opset_import.map((entry) => ({ ...entry })),
    producer_name: 'finetune',
    producer_version: options.toolVersion ?? toolVersion(),
    doc_string: `Image classifier exported by finetune: ${options.classNames.length} classes on ${options.backboneId ?? 'a cut backbone'}.`,
    graph,
    metadata_props: mergeMetadata(cutBackbone.metadata_props, buildMetadata(options, inputType, options.preprocess)),
  };
  if (targetOpset > backboneOpset) setOpsetAtLeast(model, targetOpset);
  return model;
}

/**
 * Just the head: input `features` float [N, D] (raw features; standardization is folded in), outputs
 * `probabilities`, `label` and `labels`, as in {@link exportClassifier}.
 */
export function exportHead(head: HeadWeights, options: ExportHeadOptions): ModelProto {
  checkHead(head, options.classNames);
  const opset = options.opset ?? HEAD_ONLY_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_EXPORT_OPSET) {
    throw new FinetuneError('INVALID_OPTION', `Opset ${opset} is not supported for export.`,
      `Pass --opset ${MIN_EXPORT_OPSET} or newer (default ${HEAD_ONLY_OPSET}).`);
  }
  const scope = new NameScope(Object.values(EXPORT_NAMES));
  const headPart = buildHeadNodes(EXPORT_NAMES.features, head, options.classNames, scope, 'N');
  const inputs = [makeValueInfo(EXPORT_NAMES.features, 'float32', ['N', head.embeddingDim])];
  if (irVersionForOpset(opset) < 4) {
    for (const tensor of headPart.initializers) inputs.push(makeValueInfo(tensor.name ?? '', tensor.data_type ?? 0, tensor.dims));
  }
  const graph = makeGraph(headPart.nodes, inputs, headPart.outputs, {
    name: 'finetune/head', initializers: headPart.initializers,
  });
  const metadata = buildMetadata(options, 'features', options.preprocess);
  return makeModel(graph, {
    opset, producerName: 'finetune', producerVersion: options.toolVersion ?? toolVersion(),
    docString: `Classification head exported by finetune: ${head.embeddingDim} features → ${options.classNames.length} classes.`,
    metadata: Object.fromEntries(metadata.map((entry) => [entry.key, entry.value])),
  });
}

// #region head

interface HeadPart {
  nodes: NodeProto[];
  initializers: TensorProto[];
  outputs: ValueInfoProto[];
}

/** Gemm (+Relu) per layer, Softmax, ArgMax → Gather for `label`, Identity for `labels`. */
function buildHeadNodes(featuresName: string, head: HeadWeights, classNames: readonly string[], scope: NameScope,
  batchDim: DimSpec): HeadPart {
  const folded = foldStandardization(head);
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let x = featuresName;
  const lastLayer = folded.layers.length - 1;
  folded.layers.forEach((layer, index) => {
    const kernelName = scope.unique(`finetune/head/dense_${index}/kernel`);
    const biasName = scope.unique(`finetune/head/dense_${index}/bias`);
    initializers.push(makeTensor(kernelName, 'float32', [layer.inputDim, layer.outputDim], layer.kernel));
    initializers.push(makeTensor(biasName, 'float32', [layer.outputDim], layer.bias));
    const gemmName = scope.unique(index === lastLayer ? 'finetune/head/logits' : `finetune/head/Gemm_${index}`);
    nodes.push(makeNode('Gemm', [x, kernelName, biasName], [gemmName], {
      name: `finetune/head/Gemm_${index}`,
      attributes: [attribute.float('alpha', 1), attribute.float('beta', 1), attribute.int('transA', 0), attribute.int('transB', 0)],
    }));
    x = gemmName;
    if (layer.activation === 'relu') {
      const reluName = scope.unique(`finetune/head/Relu_${index}`);
      nodes.push(makeNode('Relu', [x], [reluName], { name: reluName }));
      x = reluName;
    } else if (layer.activation !== 'linear') {
      throw new TypeError(`exportClassifier: unknown activation '${String(layer.activation)}' in layer ${index}.`);
    }
  });
  // axis=1 on a 2-D tensor means the same before opset 13 (coerce to 2-D at axis) and after (one axis).
  nodes.push(makeNode('Softmax', [x], [EXPORT_NAMES.probabilities], {
    name: 'finetune/head/Softmax', attributes: [attribute.int('axis', 1)],
  }));
  const argmaxName = scope.unique('finetune/head/argmax');
  nodes.push(makeNode('ArgMax', [EXPORT_NAMES.probabilities], [argmaxName], {
    name: 'finetune/head/ArgMax', attributes: [attribute.int('axis', 1), attribute.int('keepdims', 0)],
  }));
  const classNamesName = scope.unique('finetune/head/class_names');
  initializers.push(makeTensor(classNamesName, 'string', [classNames.length], classNames));
  nodes.push(makeNode('Gather', [classNamesName, argmaxName], [EXPORT_NAMES.label], {
    name: 'finetune/head/Gather', attributes: [attribute.int('axis', 0)],
  }));
  nodes.push(makeNode('Identity', [classNamesName], [EXPORT_NAMES.labels], { name: 'finetune/head/Identity' }));
  const numClasses = classNames.length;
  return {
    nodes,
    initializers,
    outputs: [
      makeValueInfo(EXPORT_NAMES.probabilities, 'float32', [batchDim, numClasses]),
      makeValueInfo(EXPORT_NAMES.label, 'string', [batchDim]),
      makeValueInfo(EXPORT_NAMES.labels, 'string', [numClasses]),
    ],
  };
}

function checkHead(head: HeadWeights, classNames: readonly string[]): void {
  if (head.layers.length === 0) throw new RangeError('exportClassifier: the head has no layers.');
  if (classNames.length !== head.numClasses) {
    throw new RangeError(`exportClassifier: ${classNames.length} class names for a head with ${head.numClasses} outputs.`);
  }
  const seen = new Set<string>();
  for (const name of classNames) {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('exportClassifier: class names must be non-empty strings.');
    if (seen.has(name)) throw new RangeError(`exportClassifier: class name "${name}" appears twice.`);
    seen.add(name);
  }
  let inputDim = head.embeddingDim;
  head.layers.forEach((layer, index) => {
    if (layer.inputDim !== inputDim) {
      throw new RangeError(`exportClassifier: layer ${index} takes ${layer.inputDim} inputs, the previous one gives ${inputDim}.`);
    }
    if (layer.kernel.length !== layer.inputDim * layer.outputDim || layer.bias.length !== layer.outputDim) {
      throw new RangeError(`exportClassifier: layer ${index} has a kernel of ${layer.kernel.length} and a bias of ${layer.bias.length} ` +
        `values; expected ${layer.inputDim * layer.outputDim} and ${layer.outputDim}.`);
    }
    inputDim = layer.outputDim;
  });
  const standardization = head.standardization;
  if (standardization !== null) {
    const { mean, std } = standardization;
    if (mean.length !== head.embeddingDim || std.length !== head.embeddingDim) {
      throw new RangeError(`exportClassifier: standardization has ${mean.length} means and ${std.length} stds for ${head.embeddingDim} features.`);
    }
    for (let feature = 0; feature < std.length; feature++) {
      if (!(std[feature]! > 0) || !Number.isFinite(std[feature]!)) {
        throw new RangeError(`exportClassifier: standardization std[${feature}] is ${std[feature]}; it must be positive and finite.`);
      }
    }
  }
  if (inputDim !== head.numClasses) {
    throw new RangeError(`exportClassifier: the last layer gives ${inputDim} outputs, numClasses is ${head.numClasses}.`);
  }
}

// #endregion

// #region backbone

function pickFeaturesOutput(graph: GraphProto): ValueInfoProto {
  const outputs = graph.output;
  const named = outputs.find((output) => output.name === EXPORT_NAMES.features);
  const picked = named ?? (outputs.length === 1 ? outputs[0] : undefined);
  if (!picked?.name) {
    throw new FinetuneError('EXPORT_FAILED',
      `The cut backbone has ${outputs.length} outputs (${outputs.map((o) => `"${o.name ?? ''}"`).join(', ')}) and none is called "features".`,
      'Export from the model returned by cutBackbone(), whose only output is `features`.');
  }
  const elemType = valueInfoElemType(picked);
  if (elemType !== undefined && elemType !== TensorDataType.FLOAT) {
    throw new FinetuneError('EXPORT_FAILED', `The backbone output "${picked.name}" is not float32 (data type ${elemType}).`,
      'Cut the backbone at a float tensor (with --layer).');
  }
  return picked;
}

function checkFeatureDims(output: ValueInfoProto, head: HeadWeights): void {
  const dims = valueInfoDims(output);
  if (!dims) return;
  const width = dims[1];
  if (dims.length !== 2 || (typeof width === 'number' && width !== head.embeddingDim)) {
    throw new FinetuneError('EXPORT_FAILED',
      `The backbone output "${output.name ?? ''}" has shape [${dims.map((d) => d ?? '?').join(', ')}], the head takes [N, ${head.embeddingDim}].`,
      'Train the head on features from this same cut (same --layer and --pooling), or re-embed the dataset.');
  }
}

function firstDim(info: ValueInfoProto): DimSpec {
  const dims = valueInfoDims(info);
  const first = dims?.[0];
  return first === undefined || first === null ? 'N' : first;
}

function pickBackboneInput(graph: GraphProto): ValueInfoProto {
  const initializerNames = new Set(graph.initializer.map((tensor) => tensor.name ?? ''));
  const inputs = graph.input.filter((input) => !initializerNames.has(input.name ?? ''));
  if (inputs.length !== 1 || !inputs[0]?.name) {
    throw new FinetuneError('EXPORT_FAILED',
      `The backbone has ${inputs.length} inputs (${inputs.map((i) => `"${i.name ?? ''}"`).join(', ')}); export needs exactly one image input.`,
      'Use a single-input image classification backbone.');
  }
  return inputs[0];
}

// #endregion

// #region preprocessing

interface BakedPreprocessing {
  input: ValueInfoProto;
  nodes: NodeProto[];
  initializers: TensorProto[];
}

/**
 * `image` uint8 [N, crop, crop, 3] RGB → Cast → Mul(scale) → Sub(mean) → Div(std) → Gather (BGR only) →
 * Transpose (NCHW only) → the backbone's input tensor. The order of arithmetic is the spec's formula, so the
 * values match the embedding stage's float preprocessing.
 */
function bakePreprocessing(backboneInput: ValueInfoProto, spec: PreprocessSpec, scope: NameScope): BakedPreprocessing {
  const inputName = backboneInput.name ?? '';
  const elemType = valueInfoElemType(backboneInput);
  if (elemType !== undefined && elemType !== TensorDataType.FLOAT) {
    throw new FinetuneError('EXPORT_FAILED', `The backbone input "${inputName}" is not float32 (data type ${elemType}); cannot bake preprocessing.`,
      'Export with --no-preprocessing.');
  }
  const crop = spec.cropSize;
  const dims = valueInfoDims(backboneInput);
  let batchDim: DimSpec = 'N';
  if (dims) {
    const expected = spec.layout === 'NCHW' ? [null, 3, crop, crop] : [null, crop, crop, 3];
    const mismatch = dims.length !== 4 || dims.some((dim, axis) => axis > 0 && typeof dim === 'number' && dim !== expected[axis]);
    if (mismatch) {
      throw new FinetuneError('EXPORT_FAILED',
        `The backbone input "${inputName}" has shape [${dims.map((d) => d ?? '?').join(', ')}], but the preprocessing spec gives ` +
        `${spec.layout} [N, ${expected.slice(1).join(', ')}].`,
        'Pass the preprocessing the backbone was trained with (--input-size, --layout), or export with --no-preprocessing.');
    }
    batchDim = dims[0] ?? 'N';
  }
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  const constant = (base: string, values: number[]): string => {
    const name = scope.unique(`finetune/preprocess/${base}`);
    initializers.push(makeTensor(name, 'float32', [3], values));
    return name;
  };
  const steps: Array<{ opType: string; inputs: string[]; attributes: ReturnType<typeof attribute.int>[] }> = [];
  steps.push({ opType: 'Cast', inputs: [], attributes: [attribute.int('to', TensorDataType.FLOAT)] });
  steps.push({ opType: 'Mul', inputs: [constant('scale', [spec.scale, spec.scale, spec.scale])], attributes: [] });
  steps.push({ opType: 'Sub', inputs: [constant('mean', [...spec.mean])], attributes: [] });
  steps.push({ opType: 'Div', inputs: [constant('std', [...spec.std])], attributes: [] });
  if (spec.channelOrder === 'BGR') {
    const indicesName = scope.unique('finetune/preprocess/bgr_indices');
    initializers.push(makeTensor(indicesName, 'int64', [3], [2, 1, 0]));
    steps.push({ opType: 'Gather', inputs: [indicesName], attributes: [attribute.int('axis', 3)] });
  }
  if (spec.layout === 'NCHW') steps.push({ opType: 'Transpose', inputs: [], attributes: [attribute.ints('perm', [0, 3, 1, 2])] });
  let x: string = EXPORT_NAMES.image;
  steps.forEach((step, index) => {
    const nodeName = scope.unique(`finetune/preprocess/${step.opType}`);
    const output = index === steps.length - 1 ? inputName : nodeName;
    nodes.push(makeNode(step.opType, [x, ...step.inputs], [output], { name: nodeName, attributes: step.attributes }));
    x = output;
  });
  return { input: makeValueInfo(EXPORT_NAMES.image, 'uint8', [batchDim, crop, crop, 3]), nodes, initializers };
}

// #endregion

// #region opset

/**
 * Operators whose inputs or attributes changed at the given ai.onnx version, so a graph written for an older
 * opset is invalid (or means something else) once the model imports the newer one.
 */
const SIGNATURE_CHANGES: ReadonlyArray<readonly [opType: string, version: number]> = [
  ['BatchNormalization', 9], ['Upsample', 10], ['Slice', 10], ['TopK', 10], ['Pad', 11], ['Clip', 11], ['Resize', 11],
  ['Scatter', 11], ['Dropout', 12], ['Softmax', 13], ['LogSoftmax', 13], ['Hardmax', 13], ['Squeeze', 13],
  ['Unsqueeze', 13], ['ReduceSum', 13], ['Split', 13], ['ReduceMean', 18], ['ReduceMax', 18], ['ReduceMin', 18],
  ['ReduceProd', 18], ['ReduceL1', 18], ['ReduceL2', 18], ['ReduceLogSum', 18], ['ReduceLogSumExp', 18],
  ['ReduceSumSquare', 18], ['Split', 18],
];

function resolveTargetOpset(graph: GraphProto, backboneOpset: number, requested: number | undefined): number {
  if (requested === undefined) return backboneOpset;
  if (!Number.isInteger(requested) || requested < backboneOpset) {
    throw new FinetuneError('INVALID_OPTION',
      `Opset ${requested} is older than the backbone's opset ${backboneOpset}; export cannot lower it.`,
      `Omit --opset to keep opset ${backboneOpset}, or pass a newer one.`);
  }
  if (requested === backboneOpset) return requested;
  const opTypes = new Set(graph.node.filter((node) => !node.domain || node.domain === 'ai.onnx').map((node) => node.op_type ?? ''));
  const blocking = new Set<string>();
  for (const [opType, version] of SIGNATURE_CHANGES) {
    if (opTypes.has(opType) && version > backboneOpset && version <= requested) blocking.add(`${opType} (changed in opset ${version})`);
  }
  if (blocking.size > 0) {
    throw new FinetuneError('INVALID_OPTION',
      `Cannot raise the backbone from opset ${backboneOpset} to ${requested}: it uses ${[...blocking].join(', ')}.`,
      `Omit --opset to keep opset ${backboneOpset} (every node finetune adds works there), or convert the backbone first.`);
  }
  return requested;
}

// #endregion

// #region metadata

function buildMetadata(options: ExportMetadataOptions & { classNames: readonly string[] }, inputType: ExportedInputType,
  preprocess: PreprocessSpec | undefined): Array<{ key: string; value: string }> {
  const entries: Record<string, string> = {
    [METADATA_KEYS.formatVersion]: EXPORT_FORMAT_VERSION,
    [METADATA_KEYS.classNames]: JSON.stringify(options.classNames),
    [METADATA_KEYS.inputType]: inputType,
    [METADATA_KEYS.toolVersion]: options.toolVersion ?? toolVersion(),
  };
  if (preprocess) entries[METADATA_KEYS.preprocess] = JSON.stringify(preprocess);
  if (options.backboneId !== undefined) entries[METADATA_KEYS.backboneId] = options.backboneId;
  if (options.backboneSha256 !== undefined) entries[METADATA_KEYS.backboneSha256] = options.backboneSha256;
  if (options.trainingSummary !== undefined) entries[METADATA_KEYS.trainingSummary] = JSON.stringify(options.trainingSummary);
  Object.assign(entries, options.metadata ?? {});
  return Object.entries(entries).map(([key, value]) => ({ key, value }));
}

function mergeMetadata(existing: ReadonlyArray<{ key?: string; value?: string }>, ours: Array<{ key: string; value: string }>):
  Array<{ key: string; value: string }> {
  const ourKeys = new Set(ours.map((entry) => entry.key));
  const kept = existing.filter((entry) => entry.key !== undefined && !ourKeys.has(entry.key))
    .map((entry) => ({ key: entry.key ?? '', value: entry.value ?? '' }));
  return [...kept, ...ours];
}

let cachedToolVersion: string | undefined;

/** finetune's version from package.json, read once. */
export function toolVersion(): string {
  if (cachedToolVersion === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
      cachedToolVersion = typeof pkg.version === 'string' ? pkg.version : 'unknown';
    } catch {
      cachedToolVersion = 'unknown';
    }
  }
  return cachedToolVersion;
}

// #endregion
