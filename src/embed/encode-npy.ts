/**
 * NumPy .npy (format version 1.0) encoding for `finetune cache export`: a 6-byte magic, the version, a
 * little-endian uint16 header length, a Python-literal dict header padded with spaces to a multiple of 64 bytes
 * and ending in '\n', then the raw little-endian data in C order.
 * Spec: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */

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
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const preambleBytes = 10;   // magic (6) + version (2) + header length (2)
  const unpadded = preambleBytes + header.length + 1;
  header = header + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  if (header.length > 0xffff) throw new RangeError('encodeNpy: header too long for format 1.0.');
  const out = new Uint8Array(preambleBytes + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);   // \x93NUMPY, version 1.0
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[preambleBytes + i] = header.charCodeAt(i);
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  out.set(body, preambleBytes + header.length);   // host byte order: little-endian (EmbeddingCache refuses big-endian hosts)
  return out;
}
