import { FinetuneError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { hasDiskWeights } from './disk-weights.js';
import { onnxType } from './proto.js';
import type { ModelProto } from './proto.js';

/** Protobuf messages cannot exceed 2 GiB; larger models need external data, which we do not write. */
const MAX_MESSAGE_BYTES = 2 ** 31 - 1;

/**
 * Encodes a model to ONNX protobuf bytes. Accepts decoded models and hand-built plain objects alike;
 * int64 fields may be numbers (±9223372036854775807 or beyond are written as INT64_MAX/MIN).
 * @throws FinetuneError EXPORT_FAILED when the object is not a valid ModelProto or is over 2 GiB, or when some of its
 * weights are still on disk (see disk-weights.ts).
 */
export function encodeModel(model: ModelProto): Uint8Array {
  if (hasDiskWeights(model)) {
    throw new FinetuneError('EXPORT_FAILED', 'The model was read with its weights left on disk; encoding it would leave them out.',
      'Read them first with loadDiskWeights(model), or write the model with streamModel/writeExportedModel, which copy them from the file.');
  }
  let bytes: Uint8Array;
  try {
    const type = onnxType('ModelProto');
    bytes = type.encode(type.fromObject(model)).finish();
  } catch (cause) {
    if (cause instanceof RangeError && /length|size|allocation/i.test(cause.message)) {
      throw new FinetuneError('EXPORT_FAILED', 'The model is too large for one ONNX file (protobuf limit: 2 GiB).',
        'Use a smaller backbone or a quantized variant.', { cause });
    }
    throw new FinetuneError('EXPORT_FAILED', `Cannot encode the ONNX model: ${cause instanceof Error ? cause.message : String(cause)}.`,
      'This is a bug in the graph construction; please report it with the command you ran.', { cause });
  }
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw new FinetuneError('EXPORT_FAILED', `The model encodes to ${bytes.length} bytes, over protobuf's 2 GiB limit.`,
      'Use a smaller backbone or a quantized variant.');
  }
  return bytes;
}

/** Encodes and writes a model atomically: readers see the old file or the complete new one. */
export async function writeModel(path: string, model: ModelProto): Promise<void> {
  await writeFileAtomic(path, encodeModel(model));
}
