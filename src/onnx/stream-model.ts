/**
 * Writes a model to disk piece by piece, so that no buffer of the whole model is ever built: the small parts
 * (graph structure, tensor headers) are encoded with protobufjs, and each weight is written straight from its
 * `raw_data` view. Fields are emitted in field-number order, so the file is byte-identical to
 * {@link encodeModel}'s bytes. Optionally the large initializers go to an external data file beside the model,
 * as ONNX's external data format describes (`location`, `offset`, `length`; offsets aligned for memory mapping),
 * which is how models over protobuf's 2 GiB limit are stored.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { FinetuneError } from '../errors.js';
import { DataLocation, onnxType } from './proto.js';
import { byteLength as sum, varint, varintLength } from './protobuf-wire.js';
import type { ModelProto, TensorProto } from './proto.js';
import { copyDiskWeight, diskWeightOf, readDiskWeight } from './disk-weights.js';
import type { DiskWeight } from './disk-weights.js';

/** Protobuf messages cannot exceed 2 GiB. */
export const MAX_PROTOBUF_BYTES = 2 ** 31 - 1;

export interface ExternalDataTarget {
  /** Where to write the external data file. */
  readonly path: string;
  /** The file name recorded in the model: relative to the model's folder, e.g. `model.onnx.data`. */
  readonly location: string;
  /** Initializers with fewer raw bytes stay inside the model (as `onnx.save` does). @defaultValue `1024` */
  readonly thresholdBytes?: number;
  /** Each tensor starts at a multiple of this offset, so runtimes can memory-map it. @defaultValue `4096` */
  readonly alignment?: number;
}

export interface StreamModelOptions {
  /** Put the graph's large initializers into this external data file. @defaultValue none: every weight inline */
  readonly externalData?: ExternalDataTarget | null;
}

/** Where the bytes of one initializer's raw_data sit: in the .onnx file itself, or in the external data file. */
export interface WeightLocation {
  readonly name: string;
  readonly file: 'model' | 'external';
  readonly offset: number;
  readonly length: number;
}

export interface StreamedModel {
  /** Bytes of the .onnx file. */
  readonly sizeBytes: number;
  /** sha256 of the .onnx file. */
  readonly sha256: string;
  /** The external data file, when one was written. */
  readonly externalData: { readonly path: string; readonly sizeBytes: number; readonly tensors: number } | null;
  /** Where each graph initializer's raw_data went (initializers without raw_data are not listed). */
  readonly weights: readonly WeightLocation[];
}

// Field numbers from onnx.proto: where the pieces written here sit among their siblings.
const MODEL_GRAPH = 7, GRAPH_INITIALIZER = 5, TENSOR_RAW_DATA = 9;
const LENGTH_DELIMITED = 2;
const tag = (field: number): number => (field << 3) | LENGTH_DELIMITED;

/** Bytes the model takes when every weight is inline, computed without building them. */
export function inlineModelSize(model: ModelProto): number {
  return planModel(model, null).modelBytes;
}

/**
 * Writes `model` to `path` (replacing it), and its large initializers to `options.externalData` when given.
 * The model object is not modified. Not atomic: write to a temporary path and rename (see writeExportedModel).
 * @throws FinetuneError EXPORT_FAILED when the model cannot be encoded, or is over 2 GiB without external data.
 */
export async function streamModel(model: ModelProto, path: string, options: StreamModelOptions = {}): Promise<StreamedModel> {
  const external = options.externalData ?? null;
  const plan = planModel(model, external);
  if (plan.modelBytes > MAX_PROTOBUF_BYTES) {
    throw new FinetuneError('EXPORT_FAILED',
      `The model takes ${plan.modelBytes} bytes in one file, over protobuf's 2 GiB limit.`,
      'Export with --external-data: the weights then go to model.onnx.data beside model.onnx.');
  }
  const hash = createHash('sha256');
  const handle = await open(path, 'w');
  try {
    const out = new PieceWriter(handle, hash);
    for (const piece of plan.modelPieces) await out.write(piece);
    await out.flush();
    if (out.written !== plan.modelBytes) throw new Error(`streamModel: wrote ${out.written} bytes, planned ${plan.modelBytes}.`);
  } finally {
    await handle.close();
  }
  let externalData: StreamedModel['externalData'] = null;
  if (external) {
    const dataHandle = await open(external.path, 'w');
    try {
      const out = new PieceWriter(dataHandle, null);
      for (const piece of plan.dataPieces) await out.write(piece);
      await out.flush();
      externalData = { path: external.path, sizeBytes: out.written, tensors: plan.externalTensors };
    } finally {
      await dataHandle.close();
    }
  }
  return { sizeBytes: plan.modelBytes, sha256: hash.digest('hex'), externalData, weights: plan.weights };
}

/**
 * The bytes {@link encodeModel} gives, for a model whose weights may still be on disk (see disk-weights.ts): one
 * buffer of the model's size, each weight read straight into its place, so the weights are never in memory twice.
 * @throws FinetuneError EXPORT_FAILED over 2 GiB; MODEL_INVALID when a weight's file changed since it was read.
 */
export function encodeModelReadingWeights(model: ModelProto): Uint8Array {
  const plan = planModel(model, null);
  if (plan.modelBytes > MAX_PROTOBUF_BYTES) {
    throw new FinetuneError('EXPORT_FAILED', `The model takes ${plan.modelBytes} bytes in one file, over protobuf's 2 GiB limit.`,
      'Use a smaller backbone or a quantized variant.');
  }
  const bytes = Buffer.allocUnsafe(plan.modelBytes);
  let offset = 0;
  for (const piece of plan.modelPieces) {
    if (piece instanceof Uint8Array) bytes.set(piece, offset);
    else readDiskWeight(piece, bytes.subarray(offset, offset + piece.length));
    offset += piece.length;
  }
  return bytes;
}

/**
 * A copy of `model` whose initializers listed in `weights` are no longer stored in it but read from the files that
 * {@link streamModel} wrote: `locations` gives the file name (relative to the new model's folder) of the model file
 * and of the external data file. Inline weights of a model file can be referenced this way too, so a small model
 * can share the weights of a large one already on disk. Weights under `thresholdBytes` (default 1024) stay in the
 * new model. Tensors are copied, never their data.
 */
export function referenceWeights(model: ModelProto, weights: readonly WeightLocation[],
  locations: { readonly model: string; readonly external?: string }, options: { readonly thresholdBytes?: number } = {}): ModelProto {
  const graph = model.graph;
  if (!graph) return model;
  // Small tensors stay inline: onnxruntime reads shape inputs (of Reshape, ConstantOfShape…) while loading the graph,
  // before external data is available.
  const threshold = options.thresholdBytes ?? 1024;
  const byName = new Map(weights.filter((weight) => weight.length >= threshold).map((weight) => [weight.name, weight]));
  const initializer = graph.initializer.map((tensor): TensorProto => {
    const weight = byName.get(tensor.name ?? '');
    if (!weight) return tensor;
    const location = weight.file === 'model' ? locations.model : locations.external;
    if (location === undefined) throw new RangeError(`referenceWeights: no location given for the ${weight.file} file of "${weight.name}".`);
    return {
      ...tensor, raw_data: undefined, data_location: DataLocation.EXTERNAL,
      external_data: [{ key: 'location', value: location }, { key: 'offset', value: String(weight.offset) },
        { key: 'length', value: String(weight.length) }],
    };
  });
  return { ...model, graph: { ...graph, initializer } };
}

// #region planning

/** Bytes in hand, or a weight still in its file (a model read with `weights: 'disk'`), copied from there. */
type Piece = Uint8Array | DiskWeight;

interface ModelPlan {
  /** The .onnx file, in order. */
  readonly modelPieces: Piece[];
  readonly weights: WeightLocation[];
  readonly modelBytes: number;
  /** The external data file, in order (padding included). */
  readonly dataPieces: Piece[];
  readonly externalTensors: number;
}

function planModel(model: ModelProto, external: ExternalDataTarget | null): ModelPlan {
  const graph = model.graph;
  const modelBefore = encodeFields('ModelProto', model, (id) => id < MODEL_GRAPH);
  const modelAfter = encodeFields('ModelProto', model, (id) => id > MODEL_GRAPH);
  const modelPieces: Piece[] = [modelBefore];
  const dataPieces: Piece[] = [];
  let externalTensors = 0;
  const weights: WeightLocation[] = [];
  /** Inline raw_data pieces by their index in modelPieces, to locate once the pieces before them are known. */
  const inlineRaw = new Map<number, string>();
  if (graph) {
    const graphBefore = encodeFields('GraphProto', graph, (id) => id < GRAPH_INITIALIZER);
    const graphAfter = encodeFields('GraphProto', graph, (id) => id > GRAPH_INITIALIZER);
    const threshold = external?.thresholdBytes ?? 1024;
    const alignment = external?.alignment ?? 4096;
    let dataOffset = 0;
    const tensorPieces: Piece[] = [];
    let graphBytes = graphBefore.length + graphAfter.length;
    for (const tensor of graph.initializer) {
      const raw: Piece | undefined = diskWeightOf(tensor) ?? tensor.raw_data;
      let pieces: Piece[];
      if (external && raw && raw.length >= threshold) {
        const offset = Math.ceil(dataOffset / alignment) * alignment;
        if (offset > dataOffset) dataPieces.push(new Uint8Array(offset - dataOffset));
        dataPieces.push(raw);
        dataOffset = offset + raw.length;
        weights.push({ name: tensor.name ?? '', file: 'external', offset, length: raw.length });
        externalTensors++;
        pieces = [encodeTensorHeader({
          ...tensor, raw_data: undefined, data_location: DataLocation.EXTERNAL,
          external_data: [{ key: 'location', value: external.location }, { key: 'offset', value: String(offset) },
            { key: 'length', value: String(raw.length) }],
        }, () => true)];
      } else if (raw) {
        // raw_data (field 9) between the fields before and after it, as protobufjs orders them.
        pieces = [encodeTensorHeader(tensor, (id) => id < TENSOR_RAW_DATA), Uint8Array.of(tag(TENSOR_RAW_DATA)), varint(raw.length), raw,
          encodeTensorHeader(tensor, (id) => id > TENSOR_RAW_DATA)];
        // modelPieces will be [modelBefore, tag, length, graphBefore, ...tensorPieces, …]; raw is pieces[3] here.
        inlineRaw.set(4 + tensorPieces.length + 2 + 3, tensor.name ?? '');
      } else {
        pieces = [encodeTensorHeader(tensor, () => true)];
      }
      const tensorBytes = sum(pieces);
      tensorPieces.push(Uint8Array.of(tag(GRAPH_INITIALIZER)), varint(tensorBytes), ...pieces);
      graphBytes += 1 + varintLength(tensorBytes) + tensorBytes;
    }
    modelPieces.push(Uint8Array.of(tag(MODEL_GRAPH)), varint(graphBytes), graphBefore, ...tensorPieces, graphAfter);
  }
  modelPieces.push(modelAfter);
  let offset = 0;
  modelPieces.forEach((piece, index) => {
    const name = inlineRaw.get(index);
    if (name !== undefined) weights.push({ name, file: 'model', offset, length: piece.length });
    offset += piece.length;
  });
  return { modelPieces, modelBytes: offset, dataPieces, externalTensors, weights };
}

/** The fields of `object` whose numbers pass `include`, encoded as a message of type `typeName`. */
function encodeFields(typeName: string, object: object, include: (id: number) => boolean): Uint8Array {
  const type = onnxType(typeName);
  const subset: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    if (include(field.id) && field.name in object) subset[field.name] = (object as Record<string, unknown>)[field.name];
  }
  try {
    return type.encode(type.fromObject(subset)).finish();
  } catch (cause) {
    throw new FinetuneError('EXPORT_FAILED', `Cannot encode the ONNX model: ${cause instanceof Error ? cause.message : String(cause)}.`,
      'This is a bug in the graph construction; please report it with the command you ran.', { cause });
  }
}

function encodeTensorHeader(tensor: TensorProto, include: (id: number) => boolean): Uint8Array {
  return encodeFields('TensorProto', { ...tensor, raw_data: undefined }, (id) => id !== TENSOR_RAW_DATA && include(id));
}

// #endregion

/** Sequential writes: small pieces are gathered into 1 MiB chunks, large ones go straight from their buffers. */
class PieceWriter {
  static readonly CHUNK_BYTES = 2 ** 20;
  written = 0;
  readonly #staging = new Uint8Array(PieceWriter.CHUNK_BYTES);
  #staged = 0;

  constructor(private readonly handle: FileHandle, private readonly hash: Hash | null) {}

  async write(piece: Piece): Promise<void> {
    if (piece.length === 0) return;
    if (!(piece instanceof Uint8Array)) {
      await this.flush();
      await copyDiskWeight(piece, (chunk) => this.#writeAll(chunk));
      return;
    }
    if (this.#staged + piece.length <= this.#staging.length) {
      this.#staging.set(piece, this.#staged);
      this.#staged += piece.length;
      return;
    }
    await this.flush();
    if (piece.length < this.#staging.length / 2) {
      this.#staging.set(piece, 0);
      this.#staged = piece.length;
      return;
    }
    await this.#writeAll(piece);
  }

  async flush(): Promise<void> {
    if (this.#staged === 0) return;
    await this.#writeAll(this.#staging.subarray(0, this.#staged));
    this.#staged = 0;
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    this.hash?.update(bytes);
    // Large weights are written in 64 MiB slices: one write call per slice, no copy.
    for (let start = 0; start < bytes.length;) {
      const end = Math.min(bytes.length, start + 64 * PieceWriter.CHUNK_BYTES);
      const { bytesWritten } = await this.handle.write(bytes, start, end - start);
      start += bytesWritten;
    }
    this.written += bytes.length;
  }
}

