/**
 * Weights that stay on disk: a model read with `readModel(path, { weights: 'disk' })` holds its large initializers
 * as references to their bytes in the model file instead of in memory, so a 550 MB backbone costs a few MB of
 * JavaScript heap. streamModel copies such weights from the file into the model it writes; {@link loadDiskWeights}
 * reads them into memory for the code that needs the bytes (an in-memory onnxruntime session).
 *
 * A reference lives in a symbol-keyed property of the TensorProto, set only by readModel, never read from a file:
 * object spread (`{ ...tensor }`) keeps it, protobuf encoding ignores it, and encodeModel refuses a model that still
 * has one (its bytes would be missing).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { FinetuneError } from '../errors.js';
import { DataLocation, TensorDataType } from './proto.js';
import { byteLength as sum, varint } from './protobuf-wire.js';
import type { ModelProto, TensorProto } from './proto.js';

/** Where a tensor's raw_data bytes sit in a file, and the file's size and mtime when it was read. */
export interface DiskWeight {
  /** Absolute path of the file (symbolic links resolved). */
  readonly path: string;
  readonly offset: number;
  readonly length: number;
  readonly fileSize: number;
  readonly mtimeMs: number;
}

const DISK_WEIGHT = Symbol('finetune.diskWeight');
type WithDiskWeight = TensorProto & { [DISK_WEIGHT]?: DiskWeight };

/**
 * The tensor's bytes on disk, when its raw_data was left there. A copy given data of its own (raw_data, or an external
 * reference such as referenceWeights makes) has none, even though object spread copied the reference.
 */
export function diskWeightOf(tensor: TensorProto): DiskWeight | undefined {
  if (tensor.raw_data !== undefined || tensor.data_location === DataLocation.EXTERNAL) return undefined;
  return (tensor as WithDiskWeight)[DISK_WEIGHT];
}

/** Marks `tensor` (which has no raw_data) as having its raw_data at `weight`. */
export function setDiskWeight(tensor: TensorProto, weight: DiskWeight): void {
  (tensor as WithDiskWeight)[DISK_WEIGHT] = weight;
}

/** Whether any graph initializer of the model still has its bytes on disk. */
export function hasDiskWeights(model: ModelProto): boolean {
  // Any object may come here (encodeModel checks first, then reports what is malformed).
  const initializer: unknown = model.graph?.initializer;
  return Array.isArray(initializer) && initializer.some((tensor: TensorProto | null) => tensor !== null && typeof tensor === 'object' &&
    diskWeightOf(tensor) !== undefined);
}

/**
 * A copy of `model` whose initializers with bytes on disk have them in raw_data (read now, one range each); other
 * tensors are shared. Returns `model` itself when it has none.
 * @throws FinetuneError MODEL_INVALID when a file changed or is gone since the model was read.
 */
export function loadDiskWeights(model: ModelProto): ModelProto {
  const graph = model.graph;
  if (!graph || !hasDiskWeights(model)) return model;
  const files = new Map<string, number>();
  try {
    const initializer = graph.initializer.map((tensor): TensorProto => {
      const weight = diskWeightOf(tensor);
      if (!weight) return tensor;
      let fd = files.get(weight.path);
      if (fd === undefined) {
        fd = openUnchanged(weight);
        files.set(weight.path, fd);
      }
      const raw = Buffer.allocUnsafe(weight.length);
      readRange(fd, raw, weight);
      const loaded: WithDiskWeight = { ...tensor, raw_data: raw };
      delete loaded[DISK_WEIGHT];
      return loaded;
    });
    return { ...model, graph: { ...graph, initializer } };
  } finally {
    for (const fd of files.values()) closeSync(fd);
  }
}

/**
 * Calls `write` with the bytes of `weight`, in order, in chunks of at most 16 MiB (one reused buffer: copy what you
 * keep). @throws FinetuneError MODEL_INVALID when the file changed or is gone since the model was read.
 */
export async function copyDiskWeight(weight: DiskWeight, write: (chunk: Uint8Array) => Promise<void>): Promise<void> {
  let file: FileHandle;
  try {
    file = await open(weight.path, 'r');
  } catch (cause) {
    throw changed(weight, `it cannot be opened (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`, cause);
  }
  try {
    checkUnchanged(weight, await file.stat());
    const chunk = Buffer.allocUnsafe(Math.min(weight.length, 16 * 2 ** 20));
    for (let done = 0; done < weight.length;) {
      const want = Math.min(chunk.length, weight.length - done);
      const { bytesRead } = await file.read(chunk, 0, want, weight.offset + done);
      if (bytesRead === 0) throw changed(weight, `it ended at byte ${weight.offset + done}`);
      await write(chunk.subarray(0, bytesRead));
      done += bytesRead;
    }
  } finally {
    await file.close();
  }
}

/** Reads the bytes of `weight` into `into` (at least `weight.length` long). @throws FinetuneError as copyDiskWeight. */
export function readDiskWeight(weight: DiskWeight, into: Uint8Array): void {
  const fd = openUnchanged(weight);
  try {
    readRange(fd, into, weight);
  } finally {
    closeSync(fd);
  }
}

function openUnchanged(weight: DiskWeight): number {
  let fd: number;
  try {
    fd = openSync(weight.path, 'r');
  } catch (cause) {
    throw changed(weight, `it cannot be opened (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`, cause);
  }
  try {
    checkUnchanged(weight, fstatSync(fd));
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return fd;
}

/** @throws FinetuneError MODEL_INVALID when the file's size or mtime differ from when the model was read. */
function checkUnchanged(weight: DiskWeight, info: { readonly size: number; readonly mtimeMs: number }): void {
  if (info.size !== weight.fileSize || info.mtimeMs !== weight.mtimeMs) throw changed(weight, 'it was modified');
}

function readRange(fd: number, into: Uint8Array, weight: DiskWeight): void {
  for (let done = 0; done < weight.length;) {
    const read = readSync(fd, into, done, weight.length - done, weight.offset + done);
    if (read === 0) throw changed(weight, `it ended at byte ${weight.offset + done}`);
    done += read;
  }
}

function changed(weight: DiskWeight, what: string, cause?: unknown): FinetuneError {
  return new FinetuneError('MODEL_INVALID', `The model file "${weight.path}" changed since it was read: ${what}.`,
    'Keep the backbone file in place while a run uses it, and run again.', cause === undefined ? undefined : { cause });
}

// #region reading a model without its weights

/** Initializers of at least this many raw bytes, of these types, stay on disk; smaller ones (shapes, scales) are read. */
export const DISK_WEIGHT_MIN_BYTES = 4096;
const WEIGHT_TYPES: ReadonlySet<number> = new Set([TensorDataType.FLOAT, TensorDataType.FLOAT16, TensorDataType.BFLOAT16,
  TensorDataType.DOUBLE, TensorDataType.INT8, TensorDataType.UINT8]);

// Field numbers from onnx.proto.
const MODEL_GRAPH = 7, GRAPH_INITIALIZER = 5, TENSOR_DATA_TYPE = 2, TENSOR_RAW_DATA = 9;
const VARINT = 0, FIXED64 = 1, LENGTH_DELIMITED = 2, FIXED32 = 5;

/** The model's bytes without the raw_data of its large graph initializers, and where those are in the file. */
export interface SkimmedWeights {
  /** A valid ModelProto encoding: the file's bytes with the large raw_data fields left out. */
  readonly bytes: Uint8Array;
  /** By index in the graph's initializers: where their raw_data is in the file. */
  readonly weights: ReadonlyMap<number, { readonly offset: number; readonly length: number }>;
}

/**
 * Reads the model file open at `fd` (of `size` bytes) field by field, copying everything but the raw_data of graph
 * initializers of {@link DISK_WEIGHT_MIN_BYTES} or more of a float or 8-bit type, whose places it notes instead.
 * Memory: the model minus those weights. @throws RangeError on bytes that end in the middle of a field.
 */
export function skimWeights(fd: number, size: number): SkimmedWeights {
  const file = new FileCursor(fd, size);
  const out: Uint8Array[] = [];
  let weights = new Map<number, { offset: number; length: number }>();
  while (file.pos < size) {
    const fieldStart = file.pos;
    const tag = file.varint();
    if (tag >>> 3 !== MODEL_GRAPH || (tag & 7) !== LENGTH_DELIMITED) {
      file.skipField(tag & 7);
      out.push(file.copy(fieldStart, file.pos));
      continue;
    }
    // protobufjs keeps the last graph field of a model: so do the weights' indices.
    weights = new Map();
    const graphEnd = file.end(file.varint());
    const graph: Uint8Array[] = [];
    let index = 0;
    while (file.pos < graphEnd) {
      const start = file.pos;
      const graphTag = file.varint();
      if (graphTag >>> 3 === GRAPH_INITIALIZER && (graphTag & 7) === LENGTH_DELIMITED) {
        const length = file.varint();
        const tensorEnd = file.end(length);
        const skimmed = length >= DISK_WEIGHT_MIN_BYTES ? skimTensor(file, tensorEnd) : null;
        if (skimmed) {
          weights.set(index, skimmed.raw);
          graph.push(Uint8Array.of(graphTag), varint(sum(skimmed.fields)), ...skimmed.fields);
        } else {
          graph.push(file.copy(start, tensorEnd));
        }
        file.pos = tensorEnd;
        index++;
      } else {
        file.skipField(graphTag & 7);
        if (file.pos > graphEnd) throw new RangeError('index out of range');
        graph.push(file.copy(start, file.pos));
      }
    }
    out.push(Uint8Array.of(tag), varint(sum(graph)), ...graph);
  }
  return { bytes: Buffer.concat(out), weights };
}

/** The fields of a tensor message but its raw_data, and where that is; null to keep the tensor as it is. */
function skimTensor(file: FileCursor, end: number): { fields: Uint8Array[]; raw: { offset: number; length: number } } | null {
  const fields: Uint8Array[] = [];
  let raw: { offset: number; length: number } | null = null;
  let dataType: number | undefined;
  while (file.pos < end) {
    const start = file.pos;
    const tag = file.varint();
    const field = tag >>> 3, wireType = tag & 7;
    if (field === TENSOR_RAW_DATA && wireType === LENGTH_DELIMITED) {
      const length = file.varint();
      raw = { offset: file.pos, length };
      file.pos = file.end(length);
      continue;
    }
    if (field === TENSOR_DATA_TYPE && wireType === VARINT) dataType = file.varint();
    else file.skipField(wireType);
    fields.push(file.copy(start, file.pos));
  }
  if (file.pos !== end) throw new RangeError('index out of range');
  if (!raw || raw.length < DISK_WEIGHT_MIN_BYTES || dataType === undefined || !WEIGHT_TYPES.has(dataType)) return null;
  return { fields, raw };
}

/** Positional reads of a file through a 1 MiB window. */
class FileCursor {
  pos = 0;
  readonly #window = Buffer.allocUnsafe(2 ** 20);
  #windowStart = 0;
  #windowEnd = 0;

  constructor(private readonly fd: number, private readonly size: number) {}

  /** The end of a field of `length` bytes starting here. @throws RangeError past the end of the file. */
  end(length: number): number {
    const end = this.pos + length;
    if (end > this.size) throw new RangeError('index out of range');
    return end;
  }

  varint(): number {
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      const byte = this.#byte();
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
    throw new RangeError('invalid varint encoding');
  }

  skipField(wireType: number): void {
    switch (wireType) {
      case VARINT: this.varint(); return;
      case FIXED64: this.pos = this.end(8); return;
      case LENGTH_DELIMITED: { const length = this.varint(); this.pos = this.end(length); return; }
      case FIXED32: this.pos = this.end(4); return;
      default: throw new RangeError(`invalid wire type ${wireType} at offset ${this.pos}`);
    }
  }

  /** A copy of the file's bytes [start, end). */
  copy(start: number, end: number): Uint8Array {
    const bytes = Buffer.allocUnsafe(end - start);
    for (let done = 0; done < bytes.length;) {
      const read = readSync(this.fd, bytes, done, bytes.length - done, start + done);
      if (read === 0) throw new RangeError('index out of range');
      done += read;
    }
    return bytes;
  }

  #byte(): number {
    if (this.pos >= this.size) throw new RangeError('index out of range');
    if (this.pos < this.#windowStart || this.pos >= this.#windowEnd) {
      const read = readSync(this.fd, this.#window, 0, this.#window.length, this.pos);
      if (read === 0) throw new RangeError('index out of range');
      this.#windowStart = this.pos;
      this.#windowEnd = this.pos + read;
    }
    return this.#window[this.pos++ - this.#windowStart]!;
  }
}

// #endregion
