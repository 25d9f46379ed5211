import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve, sep } from 'node:path';
import { FinetuneError } from '../errors.js';
import { DataLocation, onnxType } from './proto.js';
import type { AttributeProto, GraphProto, ModelProto, TensorProto } from './proto.js';

export interface DecodeModelOptions {
  /**
   * Folder that external-data paths are relative to (the model file's folder). Needed only when the
   * model keeps tensors in external files. @defaultValue none: external tensors are an error
   */
  baseDir?: string;
  /**
   * `load`: read external tensors into `raw_data` so the model is self-contained; `keep`: leave the
   * references as they are (enough for inspecting the graph). @defaultValue `'load'`
   */
  externalData?: 'load' | 'keep';
  /** Name shown in error messages. @defaultValue `'the model'` */
  source?: string;
}

const INVALID_HINT =
  'Check that the file is a complete .onnx model: a truncated or interrupted download is the usual cause; ' +
  'download or export it again.';

/**
 * Reads an ONNX model file. Tensors stored as external data are loaded from files relative to the model's
 * folder. The file is read once; every `raw_data` is a view into that buffer (or into the external file's).
 */
export async function readModel(path: string, options: Omit<DecodeModelOptions, 'baseDir' | 'source'> = {}): Promise<ModelProto> {
  let bytes: Buffer;
  try {
    const info = await stat(path);
    if (info.isDirectory()) {
      throw new FinetuneError('MODEL_INVALID', `"${path}" is a folder, not an ONNX model file.`,
        'Pass the path of the .onnx file inside it.');
    }
    bytes = await readFile(path);
  } catch (error) {
    if (error instanceof FinetuneError) throw error;
    throw fileError(path, error);
  }
  return decodeModel(bytes, { ...options, baseDir: dirname(path), source: `"${path}"` });
}

/**
 * Decodes ONNX protobuf bytes into a {@link ModelProto}. `bytes` fields (raw_data) are views into `bytes`,
 * not copies, so keep `bytes` unchanged while the model is in use.
 * @throws FinetuneError MODEL_INVALID when the bytes are not a complete ONNX model.
 */
export function decodeModel(bytes: Uint8Array, options: DecodeModelOptions = {}): ModelProto {
  const source = options.source ?? 'the model';
  let model: ModelProto;
  try {
    const type = onnxType('ModelProto');
    const message = type.decode(bytes);
    model = type.toObject(message, { longs: Number, arrays: true }) as ModelProto;
  } catch (cause) {
    const reason = cause instanceof RangeError ? 'the data ends in the middle of a field (truncated file?)'
      : `it is not a protobuf message (${cause instanceof Error ? cause.message : String(cause)})`;
    throw new FinetuneError('MODEL_INVALID', `${capitalize(source)} is not a valid ONNX model: ${reason}.`, INVALID_HINT,
      { cause });
  }
  validateModel(model, source);
  if ((options.externalData ?? 'load') === 'load') loadExternalData(model, options.baseDir, source);
  return model;
}

function validateModel(model: ModelProto, source: string): void {
  const problem = !model.graph ? 'it has no graph'
    : model.ir_version === undefined || model.ir_version < 1 || model.ir_version > 100
      ? `its IR version is ${model.ir_version ?? 'missing'}`
      : model.ir_version >= 3 && model.opset_import.length === 0 ? 'it declares no opset (the file may be cut short)'
        : model.graph.node.some((node) => !node.op_type) ? 'a node has no operator type'
          : model.graph.output.length === 0 ? 'its graph has no outputs'
            : undefined;
  if (problem) {
    throw new FinetuneError('MODEL_INVALID', `${capitalize(source)} is not a valid ONNX model: ${problem}.`, INVALID_HINT);
  }
}

/** Calls `visit` on every tensor of the model, including those in attributes and subgraphs. */
export function forEachTensor(model: ModelProto, visit: (tensor: TensorProto) => void): void {
  const visitAttribute = (attribute: AttributeProto): void => {
    if (attribute.t) visit(attribute.t);
    for (const tensor of attribute.tensors) visit(tensor);
    if (attribute.sparse_tensor?.values) visit(attribute.sparse_tensor.values);
    if (attribute.sparse_tensor?.indices) visit(attribute.sparse_tensor.indices);
    if (attribute.g) visitGraph(attribute.g);
    for (const graph of attribute.graphs) visitGraph(graph);
  };
  const visitGraph = (graph: GraphProto): void => {
    for (const tensor of graph.initializer) visit(tensor);
    for (const sparse of graph.sparse_initializer) {
      if (sparse.values) visit(sparse.values);
      if (sparse.indices) visit(sparse.indices);
    }
    for (const node of graph.node) for (const attribute of node.attribute) visitAttribute(attribute);
  };
  if (model.graph) visitGraph(model.graph);
  for (const info of model.training_info) {
    if (info.initialization) visitGraph(info.initialization);
    if (info.algorithm) visitGraph(info.algorithm);
  }
  for (const fn of model.functions) for (const node of fn.node) for (const attribute of node.attribute) visitAttribute(attribute);
}

function loadExternalData(model: ModelProto, baseDir: string | undefined, source: string): void {
  const files = new Map<string, Buffer>();
  forEachTensor(model, (tensor) => {
    if (tensor.data_location !== DataLocation.EXTERNAL) return;
    const entries = new Map(tensor.external_data.map((entry) => [entry.key ?? '', entry.value ?? '']));
    const location = entries.get('location');
    const tensorName = tensor.name ?? '(unnamed)';
    if (!location) {
      throw new FinetuneError('MODEL_INVALID', `Tensor "${tensorName}" of ${source} is stored externally but names no file.`,
        INVALID_HINT);
    }
    if (baseDir === undefined) {
      throw new FinetuneError('MODEL_INVALID',
        `${capitalize(source)} keeps tensor "${tensorName}" in the external file "${location}", and no folder was given to find it.`,
        'Load the model with readModel(path), or pass decodeModel(bytes, { baseDir }).');
    }
    const root = resolve(baseDir);
    const path = resolve(root, location);
    if (isAbsolute(location) || !path.startsWith(root + sep)) {
      throw new FinetuneError('MODEL_INVALID',
        `Tensor "${tensorName}" points outside the model's folder ("${location}").`,
        'External data files must sit in the model folder or below it.');
    }
    let data = files.get(path);
    if (!data) {
      try {
        data = readFileSync(path);
      } catch (error) {
        const wrapped = fileError(path, error);
        throw new FinetuneError(wrapped.code, `${wrapped.message.replace(/\.$/, '')} (external data of tensor "${tensorName}").`,
          'Keep the external data files next to the .onnx file they belong to.', { cause: error });
      }
      files.set(path, data);
    }
    const offset = Number(entries.get('offset') ?? 0);
    const length = entries.has('length') ? Number(entries.get('length')) : data.length - offset;
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > data.length) {
      throw new FinetuneError('MODEL_INVALID',
        `Tensor "${tensorName}" reads bytes ${offset}..${offset + length} of "${location}", which has ${data.length} bytes.`,
        INVALID_HINT);
    }
    tensor.raw_data = data.subarray(offset, offset + length);
    delete tensor.data_location;
    tensor.external_data = [];
  });
}

function fileError(path: string, error: unknown): FinetuneError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') {
    return new FinetuneError('FILE_NOT_FOUND', `No file at "${path}".`,
      'Check the path, or pass a zoo model id (`finetune models list`).', { cause: error });
  }
  if (code === 'EISDIR') {
    return new FinetuneError('MODEL_INVALID', `"${path}" is a folder, not an ONNX model file.`,
      'Pass the path of the .onnx file inside it.', { cause: error });
  }
  return new FinetuneError('FILE_NOT_FOUND', `Cannot read "${path}": ${code ?? String(error)}.`,
    'Check the file permissions.', { cause: error });
}

const capitalize = (text: string): string => text.charAt(0).toUpperCase() + text.slice(1);
