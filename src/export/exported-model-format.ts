/**
 * The format of the models finetune exports, in one place: the graph input/output names, the `metadata_props` keys,
 * the format version, how the metadata is written ({@link exportMetadata}) and how a model is read back
 * ({@link readExportedModelInfo}). onnxruntime-node exposes metadata as custom metadata; onnxruntime-web cannot read
 * it, which is why the class names are also a constant string output (`labels`).
 */
import { readFile } from 'node:fs/promises';
import { FinetuneError } from '../errors.js';
import { validatePreprocessSpec } from '../image/preprocess-spec.js';
import { valueInfoDims, valueInfoElemType } from '../onnx/graph-builder.js';
import { TensorDataType } from '../onnx/proto.js';
import type { ModelProto, StringStringEntryProto, ValueInfoProto } from '../onnx/proto.js';
import { skimModel } from '../onnx/skim-model.js';
import type { SkimmedModel } from '../onnx/skim-model.js';
import type { PreprocessSpec } from '../types.js';

// #region names and keys

/** The `metadata_props` keys finetune writes into exported models. */
export const METADATA_KEYS = {
  /** JSON array of class names in index order. */
  classNames: 'finetune.class_names',
  /** JSON PreprocessSpec (absent for head-only exports without one). */
  preprocess: 'finetune.preprocess',
  /** `uint8-image` | `float` | `features`: what the graph input holds. */
  inputType: 'finetune.input_type',
  backboneId: 'finetune.backbone_id',
  backboneSha256: 'finetune.backbone_sha256',
  /** JSON object: epochs, best epoch, validation accuracy, … as the caller provides it. */
  trainingSummary: 'finetune.training_summary',
  toolVersion: 'finetune.tool_version',
  /** Version of this layout of inputs, outputs and keys. */
  formatVersion: 'finetune.format_version',
} as const;

/** Bumped when the layout of exported models changes incompatibly. */
export const EXPORT_FORMAT_VERSION = '1';

/** Graph input and output names of exported models. */
export const EXPORT_NAMES = {
  /** Input with baked preprocessing: uint8 [N, H, W, 3] RGB at the crop size. */
  image: 'image',
  /** Input of head-only exports: float [N, D]. */
  features: 'features',
  /** float [N, C] softmax probabilities. */
  probabilities: 'probabilities',
  /** string [N]: the top-1 class name. */
  label: 'label',
  /** string [C]: every class name in index order (a constant). */
  labels: 'labels',
} as const;

/** What the exported graph's input holds. */
export type ExportedInputType = 'uint8-image' | 'float' | 'features';

// #endregion

// #region writing

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

/** What the metadata describes besides {@link ExportMetadataOptions}. */
export interface ExportedModelDescription {
  readonly classNames: readonly string[];
  readonly inputType: ExportedInputType;
  readonly preprocess: PreprocessSpec | undefined;
  /** finetune's version, when `options.toolVersion` does not give one. */
  readonly toolVersion: string;
}

/** The `metadata_props` entries of an exported model; `existing` entries (the backbone's) are kept unless overridden. */
export function exportMetadata(description: ExportedModelDescription, options: ExportMetadataOptions,
  existing: readonly StringStringEntryProto[] = []): Array<{ key: string; value: string }> {
  const entries: Record<string, string> = {
    [METADATA_KEYS.formatVersion]: EXPORT_FORMAT_VERSION,
    [METADATA_KEYS.classNames]: JSON.stringify(description.classNames),
    [METADATA_KEYS.inputType]: description.inputType,
    [METADATA_KEYS.toolVersion]: options.toolVersion ?? description.toolVersion,
  };
  if (description.preprocess) entries[METADATA_KEYS.preprocess] = JSON.stringify(description.preprocess);
  if (options.backboneId !== undefined) entries[METADATA_KEYS.backboneId] = options.backboneId;
  if (options.backboneSha256 !== undefined) entries[METADATA_KEYS.backboneSha256] = options.backboneSha256;
  if (options.trainingSummary !== undefined) entries[METADATA_KEYS.trainingSummary] = JSON.stringify(options.trainingSummary);
  Object.assign(entries, options.metadata ?? {});
  const ours = Object.entries(entries).map(([key, value]) => ({ key, value }));
  const kept = existing.filter((entry) => entry.key !== undefined && !Object.hasOwn(entries, entry.key))
    .map((entry) => ({ key: entry.key ?? '', value: entry.value ?? '' }));
  return [...kept, ...ours];
}

// #endregion

// #region reading

/** What predict and evaluate need to know about a model this tool exported, read from the model alone. */
export interface ExportedModelInfo {
  /** Class names in index order (from metadata). */
  readonly classNames: readonly string[];
  /** How images become the input; null only for head-only models exported without one. */
  readonly preprocess: PreprocessSpec | null;
  /** The graph input to feed. */
  readonly inputName: string;
  /** `uint8-image`: decoded RGB crops [N, H, W, 3]; `float`: the backbone's float tensor; `features`: embeddings. */
  readonly inputType: ExportedInputType;
  /** Dims of the input: numbers, symbolic names, or null for unknown. */
  readonly inputShape: ReadonlyArray<number | string | null>;
  readonly outputNames: readonly string[];
  /** Every metadata_props entry. */
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * Reads class names, preprocessing and the input of an exported model. For a path, only the model's metadata and
 * graph inputs/outputs are decoded; the weights are skipped, so this is fast even for a 500 MB VGG.
 * @throws FinetuneError FILE_NOT_FOUND; MODEL_INVALID when the file is not a finetune export or its metadata is damaged.
 */
export async function readExportedModelInfo(source: string | Uint8Array | ModelProto): Promise<ExportedModelInfo> {
  let skim: SkimmedModel;
  let where: string;
  if (typeof source === 'string') {
    where = `"${source}"`;
    let bytes: Uint8Array;
    try {
      bytes = await readFile(source);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      throw new FinetuneError(code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'MODEL_INVALID', `Cannot read model ${where}: ${code ?? String(cause)}.`,
        'Pass the path of a .onnx file written by `finetune` (model.onnx in the run folder).', { cause });
    }
    skim = skimModel(bytes, where);
  } else if (source instanceof Uint8Array) {
    where = 'the model';
    skim = skimModel(source, where);
  } else {
    where = 'the model';
    const graph = source.graph;
    const initializers = new Set((graph?.initializer ?? []).map((tensor) => tensor.name ?? ''));
    skim = { metadata: source.metadata_props, inputs: graph?.input ?? [], outputs: graph?.output ?? [], initializerNames: initializers };
  }
  return interpret(skim, where);
}

const NOT_EXPORTED_HINT = 'predict and evaluate take models written by `finetune` (model.onnx or head.onnx in the run folder); re-export it.';

function interpret(skim: SkimmedModel, where: string): ExportedModelInfo {
  const metadata: Record<string, string> = {};
  for (const entry of skim.metadata) if (entry.key !== undefined) metadata[entry.key] = entry.value ?? '';
  const classNamesText = metadata[METADATA_KEYS.classNames];
  if (classNamesText === undefined) {
    throw new FinetuneError('MODEL_INVALID', `Model ${where} was not exported by finetune: it has no "${METADATA_KEYS.classNames}" metadata.`,
      NOT_EXPORTED_HINT);
  }
  const classNames = parseJson(classNamesText, METADATA_KEYS.classNames, where);
  if (!Array.isArray(classNames) || classNames.length === 0 || !classNames.every((name) => typeof name === 'string')) {
    throw new FinetuneError('MODEL_INVALID', `Model ${where} has damaged "${METADATA_KEYS.classNames}" metadata: ${classNamesText.slice(0, 80)}.`,
      NOT_EXPORTED_HINT);
  }
  const preprocessText = metadata[METADATA_KEYS.preprocess];
  let preprocess: PreprocessSpec | null = null;
  if (preprocessText !== undefined) {
    try {
      preprocess = validatePreprocessSpec(parseJson(preprocessText, METADATA_KEYS.preprocess, where) as PreprocessSpec);
    } catch (cause) {
      throw new FinetuneError('MODEL_INVALID', `Model ${where} has damaged "${METADATA_KEYS.preprocess}" metadata.`, NOT_EXPORTED_HINT, { cause });
    }
  }
  const dataInputs = skim.inputs.filter((input) => !skim.initializerNames.has(input.name ?? ''));
  const declared = metadata[METADATA_KEYS.inputType];
  const input = dataInputs[0];
  if (dataInputs.length !== 1 || input?.name === undefined) {
    throw new FinetuneError('MODEL_INVALID', `Model ${where} has ${dataInputs.length} inputs; a finetune export has exactly one.`, NOT_EXPORTED_HINT);
  }
  const inputType = resolveInputType(declared, input);
  if (inputType !== 'features' && preprocess === null) {
    throw new FinetuneError('MODEL_INVALID', `Model ${where} takes images but has no "${METADATA_KEYS.preprocess}" metadata.`, NOT_EXPORTED_HINT);
  }
  const outputNames = skim.outputs.map((output) => output.name ?? '');
  if (!outputNames.includes(EXPORT_NAMES.probabilities)) {
    throw new FinetuneError('MODEL_INVALID', `Model ${where} has no "${EXPORT_NAMES.probabilities}" output (outputs: ${outputNames.join(', ')}).`,
      NOT_EXPORTED_HINT);
  }
  return {
    classNames: classNames as string[],
    preprocess,
    inputName: input.name,
    inputType,
    inputShape: valueInfoDims(input) ?? [],
    outputNames,
    metadata,
  };
}

function resolveInputType(declared: string | undefined, input: ValueInfoProto): ExportedInputType {
  if (declared === 'uint8-image' || declared === 'float' || declared === 'features') return declared;
  // Older or hand-edited files: infer from the input itself.
  if (valueInfoElemType(input) === TensorDataType.UINT8) return 'uint8-image';
  return input.name === EXPORT_NAMES.features ? 'features' : 'float';
}

function parseJson(text: string, key: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new FinetuneError('MODEL_INVALID', `Model ${where} has "${key}" metadata that is not JSON.`, NOT_EXPORTED_HINT, { cause });
  }
}

// #endregion
