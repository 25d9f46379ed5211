/**
 * The NumPy .npy header (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html): a 6-byte magic,
 * the format version, the header length (uint16 LE in 1.0, uint32 LE in 2.0/3.0), then a Python-literal dict
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (n, d), }` padded with spaces to a multiple of 64 bytes and
 * ending in '\n'. The data follows in C order. Writers and readers of .npy files in finetune use these two
 * functions (whole arrays in embed/encode-npy.ts, streamed feature files in train/feature-file.ts).
 */

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59] as const; // \x93NUMPY

export interface NpyHeader {
  /** NumPy dtype string, e.g. '<f4' (little-endian float32) or '<i4'. */
  readonly descr: string;
  readonly fortranOrder: boolean;
  readonly shape: readonly number[];
  /** Byte offset of the first value. */
  readonly dataOffset: number;
}

/**
 * Header bytes (version 1.0) for an array of `descr` and `shape`; the data goes right after them. `minBytes` pads
 * the header to at least that length (a writer that learns the row count only at the end reserves room for it).
 */
export function encodeNpyHeader(descr: string, shape: readonly number[], minBytes = 0): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const preambleBytes = 10;   // magic (6) + version (2) + header length (2)
  header += ' '.repeat(Math.max(0, minBytes - preambleBytes - header.length - 1));
  header += ' '.repeat((64 - ((preambleBytes + header.length + 1) % 64)) % 64) + '\n';
  if (header.length > 0xffff) throw new RangeError('encodeNpyHeader: header too long for format 1.0.');
  const out = new Uint8Array(preambleBytes + header.length);
  out.set([...MAGIC, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[preambleBytes + i] = header.charCodeAt(i);
  return out;
}

/**
 * Parses the header at the start of `bytes` (the first 64 KiB of a file are always enough for what finetune
 * writes; a longer header throws). Throws a RangeError naming what is wrong; callers wrap it with the path.
 */
export function decodeNpyHeader(bytes: Uint8Array): NpyHeader {
  if (bytes.length < 10 || MAGIC.some((value, index) => bytes[index] !== value))
    throw new RangeError('not a .npy file (no \\x93NUMPY magic)');
  const major = bytes[6]!;
  if (major < 1 || major > 3) throw new RangeError(`unsupported .npy format version ${major}.${bytes[7]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) throw new RangeError('truncated .npy header');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataOffset = 8 + lengthBytes + headerLength;
  if (dataOffset > bytes.length) throw new RangeError(`.npy header of ${headerLength} bytes is longer than the ${bytes.length} bytes read`);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(8 + lengthBytes, dataOffset));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new RangeError(`malformed .npy header ${JSON.stringify(text.trim())}`);
  const shape = shapeText.split(',').map((part) => part.trim()).filter((part) => part !== '').map(Number);
  if (shape.some((dim) => !Number.isSafeInteger(dim) || dim < 0)) throw new RangeError(`malformed .npy shape (${shapeText})`);
  return { descr, fortranOrder: fortran === 'True', shape, dataOffset };
}
