import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, realpathSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, isAbsolute, resolve, sep } from 'node:path';
import protobuf from 'protobufjs';
import { FinetuneError } from '../errors.js';
import { setDiskWeight, skimWeights } from './disk-weights.js';
import type { SkimmedWeights } from './disk-weights.js';
import { DataLocation, onnxType } from './proto.js';
import type { AttributeProto, GraphProto, ModelProto, TensorProto } from './proto.js';

/**
 * Limits on what decoding a model may cost, so that a hostile or broken file fails with a clear error instead of
 * exhausting memory. Decoding takes about 1 kB of memory per node, on top of the file's bytes.
 */
export interface ModelLimits {
  /** Largest model: the .onnx file plus its external data, in bytes. @defaultValue `4 GiB` */
  readonly maxModelBytes?: number;
  /** Most nodes, counting those in subgraphs and functions. @defaultValue `250_000` */
  readonly maxNodes?: number;
}

export const DEFAULT_MODEL_LIMITS: Readonly<Required<ModelLimits>> = { maxModelBytes: 4 * 2 ** 30, maxNodes: 250_000 };

export interface DecodeModelOptions {
  /**
   * Folder that external-data paths are relative to (the model file's folder). Needed only when the
   * model keeps tensors in external files. @defaultValue none: external tensors are an error
   */
  baseDir?: string;
  /**
   * `load`: read external tensors into `raw_data` so the model is self-contained; `keep`: leave the
   * references as they are (enough for inspecting the graph; no external file is opened). @defaultValue `'load'`
   */
  externalData?: 'load' | 'keep';
  /** Name shown in error messages. @defaultValue `'the model'` */
  source?: string;
  /** @defaultValue {@link DEFAULT_MODEL_LIMITS} */
  limits?: ModelLimits;
}

export interface ReadModelOptions extends Omit<DecodeModelOptions, 'baseDir' | 'source'> {
  /**
   * `memory`: every weight is read into `raw_data`; `disk`: the large graph initializers (float or 8-bit, 4 kB or
   * more) stay in the file, as references streamModel copies from and loadDiskWeights reads (see disk-weights.ts):
   * the model then costs its structure in memory, not its weights. @defaultValue `'memory'`
   */
  weights?: 'memory' | 'disk';
}

const INVALID_HINT =
  'Check that the file is a complete .onnx model: a truncated or interrupted download is the usual cause; ' +
  'download or export it again.';

/**
 * Reads an ONNX model file. Tensors stored as external data are loaded from files relative to the model's
 * folder (regular files within it only). The file is read once; every `raw_data` is a view into that buffer (or
 * into the external file's).
 * @throws FinetuneError FILE_NOT_FOUND; MODEL_INVALID; LIMIT_EXCEEDED when the model is over `limits`.
 */
export async function readModel(path: string, options: ReadModelOptions = {}): Promise<ModelProto> {
  const limits = resolveModelLimits(options.limits);
  let bytes: Buffer;
  try {
    // O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer; it is then refused as not a file.
    const handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    try {
      const info = await handle.stat();
      if (info.isDirectory()) {
        throw new FinetuneError('MODEL_INVALID', `"${path}" is a folder, not an ONNX model file.`, 'Pass the path of the .onnx file inside it.');
      }
      if (!info.isFile()) {
        throw new FinetuneError('MODEL_INVALID', `"${path}" is not a regular file (a pipe, socket or device).`, 'Pass the path of an .onnx file.');
      }
      checkModelBytes(info.size, limits, `"${path}"`);
      if (options.weights === 'disk') return readLeavingWeights(path, handle.fd, info, options, limits);
      bytes = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof FinetuneError) throw error;
    throw fileError(path, error);
  }
  return decodeModel(bytes, { ...options, baseDir: dirname(path), source: `"${path}"` });
}

/** readModel with `weights: 'disk'`: the model's bytes but its large weights, decoded, and references to those. */
function readLeavingWeights(path: string, fd: number, info: { size: number; mtimeMs: number }, options: ReadModelOptions,
  limits: Required<ModelLimits>): ModelProto {
  const source = `"${path}"`;
  let skimmed: SkimmedWeights;
  try {
    skimmed = skimWeights(fd, info.size);
  } catch (cause) {
    if (!(cause instanceof RangeError)) throw fileError(path, cause);
    throw new FinetuneError('MODEL_INVALID', `${capitalize(source)} is not a valid ONNX model: the data ends in the middle of a field ` +
      `(truncated file?) (${cause.message}).`, INVALID_HINT, { cause });
  }
  // The weights left on disk count against the size limit of external data too.
  const left = info.size - skimmed.bytes.length;
  const model = decodeModel(skimmed.bytes, { ...options, baseDir: dirname(path), source,
    limits: { ...limits, maxModelBytes: limits.maxModelBytes - left } });
  const realPath = realpathSync(path);
  const initializers = model.graph?.initializer ?? [];
  for (const [index, { offset, length }] of skimmed.weights) {
    const tensor = initializers[index];
    if (!tensor || tensor.raw_data !== undefined) throw new Error(`readModel: initializer ${index} of ${source} is not the one skimmed.`);
    setDiskWeight(tensor, { path: realPath, offset, length, fileSize: info.size, mtimeMs: info.mtimeMs });
  }
  return model;
}

/**
 * Decodes ONNX protobuf bytes into a {@link ModelProto}. `bytes` fields (raw_data) are views into `bytes`,
 * not copies, so keep `bytes` unchanged while the model is in use.
 * @throws FinetuneError MODEL_INVALID when the bytes are not a complete ONNX model; LIMIT_EXCEEDED when the model
 * is over `limits` (checked before decoding).
 */
export function decodeModel(bytes: Uint8Array, options: DecodeModelOptions = {}): ModelProto {
  const source = options.source ?? 'the model';
  const limits = resolveModelLimits(options.limits);
  checkModelBytes(bytes.length, limits, source);
  let model: ModelProto;
  try {
    const nodes = countNodes(bytes, limits.maxNodes);
    if (nodes > limits.maxNodes) {
      throw new FinetuneError('LIMIT_EXCEEDED', `${capitalize(source)} has more than ${limits.maxNodes.toLocaleString('en-US')} nodes, ` +
        `the limit (decoding takes about 1 kB of memory per node).`,
        `If you trust the model, raise the limit with --max-nodes (library: limits.maxNodes).`);
    }
    const type = onnxType('ModelProto');
    const message = type.decode(bytes);
    model = type.toObject(message, { longs: Number, arrays: true }) as ModelProto;
  } catch (cause) {
    if (cause instanceof FinetuneError) throw cause;
    const reason = cause instanceof RangeError ? 'the data ends in the middle of a field (truncated file?)'
      : cause instanceof NestingError ? cause.message
      : `it is not a protobuf message (${cause instanceof Error ? cause.message : String(cause)})`;
    throw new FinetuneError('MODEL_INVALID', `${capitalize(source)} is not a valid ONNX model: ${reason}.`, INVALID_HINT,
      { cause });
  }
  validateModel(model, source);
  if ((options.externalData ?? 'load') === 'load') loadExternalData(model, options.baseDir, source, limits.maxModelBytes - bytes.length);
  return model;
}

/** The limits with defaults filled in. @throws RangeError for a limit that is not a positive integer. */
export function resolveModelLimits(limits: ModelLimits = {}): Required<ModelLimits> {
  const resolved = { ...DEFAULT_MODEL_LIMITS, ...definedOnly(limits) };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`Model limit '${name}' must be a positive integer, got ${value}.`);
  }
  return resolved;
}

function definedOnly(limits: ModelLimits): ModelLimits {
  return Object.fromEntries(Object.entries(limits).filter(([, value]) => value !== undefined));
}

function checkModelBytes(sizeBytes: number, limits: Required<ModelLimits>, source: string): void {
  if (sizeBytes <= limits.maxModelBytes) return;
  throw new FinetuneError('LIMIT_EXCEEDED', `${capitalize(source)} is ${formatSize(sizeBytes)}, over the model size limit of ${formatSize(limits.maxModelBytes)}.`,
    `If you trust the model, raise the limit with --max-model-size (e.g. --max-model-size ${formatSize(2 * sizeBytes).replace(' ', '')}).`);
}

function formatSize(sizeBytes: number): string {
  return sizeBytes >= 2 ** 30 ? `${(sizeBytes / 2 ** 30).toFixed(1)} GiB` : `${(sizeBytes / 2 ** 20).toFixed(1)} MiB`;
}

// #region node count

// Field numbers from onnx.proto.
const MODEL_GRAPH = 7, MODEL_TRAINING_INFO = 20, MODEL_FUNCTIONS = 25;
const GRAPH_NODE = 1, NODE_ATTRIBUTE = 5, ATTRIBUTE_GRAPH = 6, ATTRIBUTE_GRAPHS = 11;
const TRAINING_INITIALIZATION = 1, TRAINING_ALGORITHM = 2, FUNCTION_NODE = 7;
const LENGTH_DELIMITED = 2;
/**
 * Graphs nested deeper than this (If/Loop bodies inside bodies…) are refused: each level is three protobuf messages
 * deep (graph → node → attribute), and protobuf decoders (protobufjs, onnxruntime's) stop at 100.
 */
const MAX_NESTING = 33;

class NestingError extends Error {}

/**
 * Counts the nodes of a model (subgraphs and functions included) by walking the protobuf framing, without decoding
 * anything else; stops as soon as the count passes `limit`. Weights are skipped in O(1).
 * @throws RangeError on bytes that end in the middle of a field; an Error on graphs nested more than 33 levels deep.
 */
export function countNodes(bytes: Uint8Array, limit = Infinity): number {
  const reader = protobuf.Reader.create(bytes);
  let count = 0;
  const scan = (end: number, depth: number, visit: (field: number, end: number) => boolean): void => {
    if (depth > MAX_NESTING) throw new NestingError(`its graphs are nested more than ${MAX_NESTING} levels deep`);
    while (reader.pos < end && count <= limit) {
      const tag = reader.uint32();
      const field = tag >>> 3, wireType = tag & 7;
      if (wireType === LENGTH_DELIMITED) {
        const length = reader.uint32();
        const fieldEnd = reader.pos + length;
        if (fieldEnd > end) throw new RangeError('index out of range');
        if (!visit(field, fieldEnd)) reader.pos = fieldEnd;
      } else {
        reader.skipType(wireType);
      }
    }
  };
  const graph = (end: number, depth: number): void => scan(end, depth, (field, fieldEnd) => {
    if (field !== GRAPH_NODE) return false;
    count++;
    node(fieldEnd, depth);
    return true;
  });
  const node = (end: number, depth: number): void => scan(end, depth, (field, fieldEnd) => {
    if (field !== NODE_ATTRIBUTE) return false;
    scan(fieldEnd, depth, (attributeField, attributeEnd) => {
      if (attributeField !== ATTRIBUTE_GRAPH && attributeField !== ATTRIBUTE_GRAPHS) return false;
      graph(attributeEnd, depth + 1);
      return true;
    });
    return true;
  });
  scan(bytes.length, 0, (field, fieldEnd) => {
    if (field === MODEL_GRAPH) graph(fieldEnd, 1);
    else if (field === MODEL_TRAINING_INFO) {
      scan(fieldEnd, 1, (trainingField, trainingEnd) => {
        if (trainingField !== TRAINING_INITIALIZATION && trainingField !== TRAINING_ALGORITHM) return false;
        graph(trainingEnd, 2);
        return true;
      });
    } else if (field === MODEL_FUNCTIONS) {
      scan(fieldEnd, 1, (functionField, functionEnd) => {
        if (functionField !== FUNCTION_NODE) return false;
        count++;
        node(functionEnd, 2);
        return true;
      });
    } else return false;
    return true;
  });
  return count;
}

// #endregion

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

/**
 * Reads every external tensor of the model (attributes and subgraphs included) into `raw_data`, in place.
 * See {@link ExternalDataReader} for what a location may name.
 */
function loadExternalData(model: ModelProto, baseDir: string | undefined, source: string, budgetBytes: number): void {
  const reader = new ExternalDataReader(baseDir, source, budgetBytes);
  try {
    forEachTensor(model, (tensor) => {
      if (tensor.data_location !== DataLocation.EXTERNAL) return;
      tensor.raw_data = reader.read(tensor);
      delete tensor.data_location;
      tensor.external_data = [];
    });
  } finally {
    reader.close();
  }
}

/**
 * A copy of `model` whose graph initializers stored as external data are read into `raw_data` (only their byte
 * ranges are read), e.g. to run a small part of a large model on its own. Other tensors are shared, not copied.
 * @throws FinetuneError as {@link readModel} for external data.
 */
export function loadExternalInitializers(model: ModelProto, baseDir: string, options: { limits?: ModelLimits; source?: string } = {}): ModelProto {
  const graph = model.graph;
  if (!graph?.initializer.some((tensor) => tensor.data_location === DataLocation.EXTERNAL)) return model;
  const reader = new ExternalDataReader(baseDir, options.source ?? 'the model', resolveModelLimits(options.limits).maxModelBytes);
  try {
    const initializer = graph.initializer.map((tensor) => (tensor.data_location !== DataLocation.EXTERNAL ? tensor
      : { ...tensor, raw_data: reader.read(tensor), data_location: undefined, external_data: [] }));
    return { ...model, graph: { ...graph, initializer } };
  } finally {
    reader.close();
  }
}

/**
 * Reads external tensors. A location must name a regular file inside the model's folder once symbolic links are
 * resolved (onnxruntime refuses the same files when it is given a path); each file is opened once, without following
 * a final symlink or blocking on a FIFO, and together the files may be at most `budgetBytes`. Only each tensor's
 * byte range is read.
 */
class ExternalDataReader {
  readonly #files = new Map<string, { fd: number; size: number }>();
  #root: string | undefined;
  #openedBytes = 0;

  constructor(private readonly baseDir: string | undefined, private readonly source: string, private readonly budgetBytes: number) {}

  read(tensor: TensorProto): Uint8Array {
    const { source } = this;
    const entries = new Map(tensor.external_data.map((entry) => [entry.key ?? '', entry.value ?? '']));
    const location = entries.get('location');
    const tensorName = tensor.name ?? '(unnamed)';
    if (!location) {
      throw new FinetuneError('MODEL_INVALID', `Tensor "${tensorName}" of ${source} is stored externally but names no file.`,
        INVALID_HINT);
    }
    if (this.baseDir === undefined) {
      throw new FinetuneError('MODEL_INVALID',
        `${capitalize(source)} keeps tensor "${tensorName}" in the external file "${location}", and no folder was given to find it.`,
        'Load the model with readModel(path), or pass decodeModel(bytes, { baseDir }).');
    }
    const root = this.#root ??= realPath(resolve(this.baseDir), tensorName);
    const outside = (resolved?: string): FinetuneError => new FinetuneError('MODEL_INVALID',
      `Tensor "${tensorName}" points outside the model's folder ("${location}"${resolved ? ` resolves to "${resolved}"` : ''}).`,
      'External data files must sit in the model folder or below it, as regular files (symbolic links may not lead out of it).');
    if (isAbsolute(location) || !isWithin(root, resolve(root, location))) throw outside();
    const path = realPath(resolve(root, location), tensorName);
    if (!isWithin(root, path)) throw outside(path);
    let file = this.#files.get(path);
    if (!file) {
      file = openRegularFile(path, tensorName, this.budgetBytes - this.#openedBytes, source);
      this.#openedBytes += file.size;
      this.#files.set(path, file);
    }
    const offset = Number(entries.get('offset') ?? 0);
    const length = entries.has('length') ? Number(entries.get('length')) : file.size - offset;
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > file.size) {
      throw new FinetuneError('MODEL_INVALID',
        `Tensor "${tensorName}" reads bytes ${offset}..${offset + length} of "${location}", which has ${file.size} bytes.`,
        INVALID_HINT);
    }
    const data = Buffer.allocUnsafe(length);
    try {
      for (let done = 0; done < length;) {
        const read = readSync(file.fd, data, done, length - done, offset + done);
        if (read === 0) throw new Error(`the file ended at byte ${offset + done}`);
        done += read;
      }
    } catch (error) {
      throw externalFileError(path, tensorName, error);
    }
    return data;
  }

  close(): void {
    for (const { fd } of this.#files.values()) closeSync(fd);
    this.#files.clear();
  }
}

function isWithin(root: string, path: string): boolean {
  return path.startsWith(root.endsWith(sep) ? root : root + sep);
}

function realPath(path: string, tensorName: string): string {
  try {
    return realpathSync(path);
  } catch (error) {
    throw externalFileError(path, tensorName, error);
  }
}

/** An open regular file of at most `budgetBytes`; opened without following a final symlink or blocking on a FIFO. */
function openRegularFile(path: string, tensorName: string, budgetBytes: number, source: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (error) {
    throw externalFileError(path, tensorName, error);
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) {
      throw new FinetuneError('MODEL_INVALID', `"${path}" (external data of tensor "${tensorName}") is not a regular file.`,
        'External data must be regular files next to the .onnx file.');
    }
    if (info.size > budgetBytes) {
      throw new FinetuneError('LIMIT_EXCEEDED', `${capitalize(source)} with its external data is over the model size limit ` +
        `("${path}" alone is ${formatSize(info.size)}).`,
        'If you trust the model, raise the limit with --max-model-size.');
    }
    return { fd, size: info.size };
  } catch (error) {
    closeSync(fd);
    if (error instanceof FinetuneError) throw error;
    throw externalFileError(path, tensorName, error);
  }
}

function externalFileError(path: string, tensorName: string, error: unknown): FinetuneError {
  const wrapped = fileError(path, error);
  return new FinetuneError(wrapped.code, `${wrapped.message.replace(/\.$/, '')} (external data of tensor "${tensorName}").`,
    'Keep the external data files next to the .onnx file they belong to.', { cause: error });
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
