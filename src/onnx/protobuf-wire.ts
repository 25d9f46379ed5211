/** Pieces of the protobuf wire format, for code that writes or rewrites ONNX files field by field. */

/** The varint encoding of a non-negative integer (up to 2^53). */
export function varint(value: number): Uint8Array {
  const bytes: number[] = [];
  while (value >= 0x80) {
    bytes.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  bytes.push(value);
  return Uint8Array.from(bytes);
}

/** Bytes of the varint encoding of `value`. */
export function varintLength(value: number): number {
  let length = 1;
  while (value >= 0x80) { value = Math.floor(value / 0x80); length++; }
  return length;
}

/** Total bytes of `pieces`. */
export function byteLength(pieces: readonly { readonly length: number }[]): number {
  let total = 0;
  for (const piece of pieces) total += piece.length;
  return total;
}
