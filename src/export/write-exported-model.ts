import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { encodeModel } from '../onnx/write-model.js';
import type { ModelProto } from '../onnx/proto.js';
import { sha256 } from '../util/hash.js';

export interface WriteExportedModelOptions {
  /**
   * Runs on the complete temporary file before it is renamed into place, e.g. the parity check. If it throws,
   * the temporary file is removed, `path` is left as it was, and the error is rethrown.
   * @defaultValue none
   */
  verify?: (tmpPath: string, bytes: Uint8Array) => Promise<void>;
}

export interface WrittenModel {
  readonly path: string;
  readonly sizeBytes: number;
  readonly sha256: string;
}

/**
 * Encodes and writes an exported model atomically: the bytes go to a temporary file beside `path`, which is
 * renamed over `path` only when writing (and `verify`, if given) succeeded. A failure leaves nothing behind:
 * neither a partial file nor the temporary one.
 * @throws FinetuneError EXPORT_FAILED when the model cannot be encoded (nothing is written then).
 */
export async function writeExportedModel(path: string, model: ModelProto,
  options: WriteExportedModelOptions = {}): Promise<WrittenModel> {
  const bytes = encodeModel(model);
  await mkdir(dirname(path), { recursive: true });
  const tmpPath = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmpPath, bytes);
    if (options.verify) await options.verify(tmpPath, bytes);
    await rename(tmpPath, path);
  } catch (error) {
    await rm(tmpPath, { force: true });
    throw error;
  }
  return { path, sizeBytes: bytes.byteLength, sha256: sha256(bytes) };
}
