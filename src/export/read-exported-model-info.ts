import { readFile } from 'node:fs/promises';
import protobuf from 'protobufjs';
import { FinetuneError } from '../errors.js';
import { valueInfoDims, valueInfoElemType } from '../onnx/graph-builder.js';
import { onnxType, TensorDataType } from '../onnx/proto.js';
import type { ModelProto, StringStringEntryProto, ValueInfoProto } from '../onnx/proto.js';
import { validatePreprocessSpec } from '../image/preprocess-spec.js';
import type { PreprocessSpec } from '../types.js';
import { EXPORT_NAMES, METADATA_KEYS } from './metadata-keys.js';
import type { ExportedInputType } from './metadata-keys.js';

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

interface SkimmedModel {
  metadata: StringStringEntryProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  initializerNames: Set<string>;
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

// #region skimming

// Field numbers from onnx.proto.
const MODEL_GRAPH = 7, MODEL_METADATA = 14;
const GRAPH_INITIALIZER = 5, GRAPH_INPUT = 11, GRAPH_OUTPUT = 12;
const TENSOR_NAME = 8;
const WIRE_LENGTH_DELIMITED = 2;

/** Decodes only metadata_props and the graph's inputs, outputs and initializer names; weights are skipped. */
function skimModel(bytes: Uint8Array, where: string): SkimmedModel {
  const skim: SkimmedModel = { metadata: [], inputs: [], outputs: [], initializerNames: new Set() };
  try {
    const entryType = onnxType('StringStringEntryProto');
    const valueInfoType = onnxType('ValueInfoProto');
    const reader = protobuf.Reader.create(bytes);
    let sawGraph = false;
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      const field = tag >>> 3, wireType = tag & 7;
      if (field === MODEL_METADATA && wireType === WIRE_LENGTH_DELIMITED) {
        skim.metadata.push(entryType.toObject(entryType.decode(reader, reader.uint32())) as StringStringEntryProto);
      } else if (field === MODEL_GRAPH && wireType === WIRE_LENGTH_DELIMITED) {
        sawGraph = true;
        const end = reader.uint32() + reader.pos;
        while (reader.pos < end) {
          const graphTag = reader.uint32();
          const graphField = graphTag >>> 3, graphWire = graphTag & 7;
          if ((graphField === GRAPH_INPUT || graphField === GRAPH_OUTPUT) && graphWire === WIRE_LENGTH_DELIMITED) {
            const info = valueInfoType.toObject(valueInfoType.decode(reader, reader.uint32()), { longs: Number, arrays: true }) as ValueInfoProto;
            (graphField === GRAPH_INPUT ? skim.inputs : skim.outputs).push(info);
          } else if (graphField === GRAPH_INITIALIZER && graphWire === WIRE_LENGTH_DELIMITED) {
            const name = tensorName(reader, reader.uint32() + reader.pos);
            if (name !== undefined) skim.initializerNames.add(name);
          } else {
            reader.skipType(graphWire);
          }
        }
      } else {
        reader.skipType(wireType);
      }
    }
    if (!sawGraph) throw new Error('no graph');
  } catch (cause) {
    throw new FinetuneError('MODEL_INVALID', `Model ${where} is not a valid ONNX model (${cause instanceof Error ? cause.message : String(cause)}).`,
      'Check that the file is complete; export it again if it was cut short.', { cause });
  }
  return skim;
}

/** The name of a TensorProto whose bytes end at `end`; leaves the reader at `end`. */
function tensorName(reader: protobuf.Reader, end: number): string | undefined {
  let name: string | undefined;
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === TENSOR_NAME && (tag & 7) === WIRE_LENGTH_DELIMITED) name = reader.string();
    else reader.skipType(tag & 7);
  }
  return name;
}

// #endregion
