/**
 * Writes an exported model to disk atomically, streamed (no buffer of the whole model), with its weights inline or
 * in `<model>.data` beside it. The files are written in a temporary folder next to the target, checked there, and
 * moved into place only when both writing and the check succeeded.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ModelProto } from '../onnx/proto.js';
import { MAX_PROTOBUF_BYTES, inlineModelSize, streamModel } from '../onnx/stream-model.js';
import type { WeightLocation } from '../onnx/stream-model.js';

export interface WriteExportedModelOptions {
  /**
   * Keep the weights in `<model file>.data` beside the model: `true`, `false`, or `'auto'`: when the model would
   * not fit in one protobuf file (2 GiB). onnxruntime loads the pair from the model's path. @defaultValue `'auto'`
   */
  externalData?: boolean | 'auto';
  /**
   * Runs on the complete files in their temporary folder before they are moved into place, e.g. the parity check.
   * If it throws, nothing is moved, the temporary folder is removed, and the error is rethrown. @defaultValue none
   */
  verify?: (written: WrittenModel) => Promise<void>;
}

export interface WrittenModel {
  /** The model file: the final path once writeExportedModel returns; inside the temporary folder during `verify`. */
  readonly path: string;
  readonly sizeBytes: number;
  /** sha256 of the model file. */
  readonly sha256: string;
  /** `<model>.data`, when the weights are external. */
  readonly externalData: { readonly path: string; readonly sizeBytes: number } | null;
  /** Where each initializer's bytes are (see streamModel): lets a probe model share them. */
  readonly weights: readonly WeightLocation[];
}

/** The external data file of a model file: `<model file name>.data` beside it. */
export const externalDataName = (modelPath: string): string => `${basename(modelPath)}.data`;

/**
 * Writes `model` to `path` (and `<path>.data` with external data), atomically: the files are written to a temporary
 * folder beside `path`, checked by `verify`, and renamed into place (the data file first). A failure leaves the
 * previous files as they were and nothing else behind. A stale `<path>.data` of an earlier export is removed when
 * the new model keeps its weights inline.
 * @throws FinetuneError EXPORT_FAILED when the model cannot be encoded (nothing is written then).
 */
export async function writeExportedModel(path: string, model: ModelProto,
  options: WriteExportedModelOptions = {}): Promise<WrittenModel> {
  const requested = options.externalData ?? 'auto';
  const external = requested === 'auto' ? inlineModelSize(model) > MAX_PROTOBUF_BYTES : requested;
  const dir = dirname(path);
  const name = basename(path);
  const dataName = externalDataName(path);
  await mkdir(dir, { recursive: true });
  const tmpDir = join(dir, `.${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmpDir);
  try {
    const tmpPath = join(tmpDir, name);
    const streamed = await streamModel(model, tmpPath, {
      externalData: external ? { path: join(tmpDir, dataName), location: dataName } : null,
    });
    const written = (modelPath: string, dataPath: string): WrittenModel => ({
      path: modelPath, sizeBytes: streamed.sizeBytes, sha256: streamed.sha256, weights: streamed.weights,
      externalData: streamed.externalData ? { path: dataPath, sizeBytes: streamed.externalData.sizeBytes } : null,
    });
    if (options.verify) await options.verify(written(tmpPath, join(tmpDir, dataName)));
    // The data first: the new model never points at old data. A reader between the two renames may see the old
    // model with the new data file, which it reads only if the old model had external data too.
    if (streamed.externalData) await rename(join(tmpDir, dataName), join(dir, dataName));
    await rename(tmpPath, path);
    if (!streamed.externalData) await rm(join(dir, dataName), { force: true });
    return written(path, join(dir, dataName));
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
}
