/**
 * NumPy .npy (format version 1.0) encoding of whole arrays for `finetune cache export`: the header from
 * util/npy.ts, then the raw little-endian data in C order.
 */

import { encodeNpyHeader } from '../util/npy.js';

/** The dtypes finetune writes. */
export type NpyArray = Float32Array | Int32Array;

const DESCR: ReadonlyMap<string, string> = new Map([['Float32Array', '<f4'], ['Int32Array', '<i4']]);

/** Serialises `data` with shape `dims` (product of dims must equal data.length) as a .npy file. */
export function encodeNpy(data: NpyArray, dims: readonly number[]): Uint8Array {
  let count = 1;
  for (const dim of dims) count *= dim;
  if (count !== data.length) {
    throw new RangeError(`encodeNpy: dims [${dims.join(', ')}] hold ${count} values, data has ${data.length}.`);
  }
  const descr = DESCR.get(data.constructor.name);
  if (descr === undefined) throw new TypeError(`encodeNpy: unsupported array type ${data.constructor.name}.`);
  const header = encodeNpyHeader(descr, dims);
  const out = new Uint8Array(header.length + data.byteLength);
  out.set(header, 0);
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  out.set(body, header.length);   // host byte order: little-endian (EmbeddingCache refuses big-endian hosts)
  return out;
}
