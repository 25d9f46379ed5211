/**
 * Builds the deployable classifier: cut backbone (+ baked preprocessing) + trained head + Softmax, one graph,
 * with finetune's metadata. The graph edits are the onnx layer's ({@link bakePreprocessing},
 * {@link appendDenseHead}); the names and metadata are the exported-model format's ({@link EXPORT_NAMES},
 * {@link exportMetadata}).
 *
 * Outputs of every exported model:
 * - `probabilities` float [N, C]
 * - `label` string [N], the top-1 class name (ArgMax → Gather from the constant class-name tensor)
 * - `labels` string [C], the class names, so runtimes that cannot read metadata (onnxruntime-web) have them.
 *
 * The backbone's opset is kept unless `opset` asks for a newer one: every node export adds means the same in
 * ai.onnx opsets 7 to 21.
 */
import { FinetuneError } from '../errors.js';
import { appendDenseHead } from '../onnx/append-head.js';
import { bakePreprocessing } from '../onnx/bake-preprocessing.js';
import { irVersionForOpset, makeGraph, makeModel, makeValueInfo, opsetVersion, setOpsetAtLeast, valueInfoDims, valueInfoElemType } from '../onnx/graph-builder.js';
import type { DimSpec } from '../onnx/graph-builder.js';
import { cloneGraphShallow, graphTensorNames, NameScope, renameTensor } from '../onnx/graph-names.js';
import { resolveTargetOpset } from '../onnx/opset-upgrade.js';
import { TensorDataType } from '../onnx/proto.js';
import type { GraphProto, ModelProto, ValueInfoProto } from '../onnx/proto.js';
import { foldStandardization } from '../train/standardization.js';
import type { HeadWeights, PreprocessSpec } from '../types.js';
import { toolVersion } from '../util/version.js';
import { EXPORT_NAMES, exportMetadata } from './exported-model-format.js';
import type { ExportMetadataOptions } from './exported-model-format.js';

export type { ExportMetadataOptions } from './exported-model-format.js';

/** Lowest ai.onnx opset the export supports (Gemm-7 broadcasting, Cast with an int `to`). */
export const MIN_EXPORT_OPSET = 7;
/** Default opset of head-only exports. */
const HEAD_ONLY_OPSET = 13;

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

const HEAD_OUTPUTS = { probabilities: EXPORT_NAMES.probabilities, label: EXPORT_NAMES.label, labels: EXPORT_NAMES.labels };

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

  const irVersion = targetOpset > backboneOpset
    ? Math.max(cutBackbone.ir_version ?? 0, irVersionForOpset(targetOpset)) : cutBackbone.ir_version ?? 0;
  // IR 3 graphs must list initializers among the inputs too.
  const listInitializersAsInputs = irVersion < 4;
  if (withPreprocessing) {
    bakePreprocessing(graph, backboneInputName, options.preprocess, { imageInput: EXPORT_NAMES.image, scope, listInitializersAsInputs });
  }
  appendDenseHead(graph, featureTensor, {
    layers: foldStandardization(head).layers, classNames: options.classNames, outputNames: HEAD_OUTPUTS, scope,
    batchDim: firstDim(featuresOutput), listInitializersAsInputs,
  });
  graph.name = `finetune/${source.name ?? 'classifier'}`;

  const model: ModelProto = {
    ...cutBackbone,
    opset_import: cutBackbone.opset_import.map((entry) => ({ ...entry })),
    producer_name: 'finetune',
    producer_version: options.toolVersion ?? toolVersion(),
    doc_string: `Image classifier exported by finetune: ${options.classNames.length} classes on ${options.backboneId ?? 'a cut backbone'}.`,
    graph,
    metadata_props: exportMetadata({
      classNames: options.classNames, inputType: withPreprocessing ? 'uint8-image' : 'float', preprocess: options.preprocess,
      toolVersion: toolVersion(),
    }, options, cutBackbone.metadata_props),
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
  const graph = makeGraph([], [makeValueInfo(EXPORT_NAMES.features, 'float32', ['N', head.embeddingDim])], [], { name: 'finetune/head' });
  appendDenseHead(graph, EXPORT_NAMES.features, {
    layers: foldStandardization(head).layers, classNames: options.classNames, outputNames: HEAD_OUTPUTS, scope,
    listInitializersAsInputs: irVersionForOpset(opset) < 4,
  });
  const metadata = exportMetadata({
    classNames: options.classNames, inputType: 'features', preprocess: options.preprocess, toolVersion: toolVersion(),
  }, options);
  return makeModel(graph, {
    opset, producerName: 'finetune', producerVersion: options.toolVersion ?? toolVersion(),
    docString: `Classification head exported by finetune: ${head.embeddingDim} features → ${options.classNames.length} classes.`,
    metadata: Object.fromEntries(metadata.map((entry) => [entry.key, entry.value])),
  });
}

// #region checks

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

// #region version

// #endregion
