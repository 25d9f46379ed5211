/**
 * A schema-less view of protobuf bytes for structure-aware fuzzing: parse into a tree of fields (a length-delimited
 * payload that itself parses as a message becomes a subtree), edit the tree, serialise it back with every enclosing
 * length recomputed. Also lists where each length prefix sits in the original bytes, for raw (inconsistent) edits.
 */

export type WireField =
  | { readonly number: number; readonly wireType: 0; value: bigint }
  | { readonly number: number; readonly wireType: 1 | 5; value: Uint8Array }
  | { readonly number: number; readonly wireType: 2; value: Uint8Array; children: WireField[] | null };

/** Where one length-delimited field sits in the bytes it was parsed from. */
export interface LengthSite {
  /** Offset of the length varint. */
  readonly lengthStart: number;
  /** Offset just after the length varint (= payload start). */
  readonly lengthEnd: number;
  readonly payloadLength: number;
  /** True when the payload parsed as a message (a subtree), false for bytes/strings. */
  readonly isMessage: boolean;
  readonly depth: number;
}

export interface ParsedMessage {
  readonly fields: WireField[];
  /** Every length-delimited field, in byte order. */
  readonly lengthSites: LengthSite[];
  /** Byte ranges of non-message payloads of ≥ 64 bytes (tensor data), where bit flips only change numbers. */
  readonly blobs: Array<readonly [start: number, end: number]>;
}

const MAX_DEPTH = 64;

function readVarint(bytes: Uint8Array, offset: number, end: number): [value: bigint, next: number] | null {
  let value = 0n;
  let shift = 0n;
  for (let i = offset; i < end && i < offset + 10; i++) {
    const byte = bytes[i]!;
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [value, i + 1];
    shift += 7n;
  }
  return null;
}

export function encodeVarint(value: bigint): Uint8Array {
  let v = BigInt.asUintN(64, value);
  const out: number[] = [];
  do {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? byte : byte | 0x80);
  } while (v !== 0n);
  return Uint8Array.from(out);
}

/** Parses [start, end) as a message; null when it is not one (then the caller keeps the bytes). */
function parseRange(bytes: Uint8Array, start: number, end: number, depth: number,
  sites: LengthSite[], blobs: Array<readonly [number, number]>): WireField[] | null {
  const fields: WireField[] = [];
  const localSites: LengthSite[] = [];
  const localBlobs: Array<readonly [number, number]> = [];
  let offset = start;
  while (offset < end) {
    const tag = readVarint(bytes, offset, end);
    if (tag === null) return null;
    const [key, afterTag] = tag;
    const number = Number(key >> 3n);
    const wireType = Number(key & 7n);
    if (number < 1 || number > 536_870_911) return null;
    if (wireType === 0) {
      const value = readVarint(bytes, afterTag, end);
      if (value === null) return null;
      fields.push({ number, wireType: 0, value: value[0] });
      offset = value[1];
    } else if (wireType === 1 || wireType === 5) {
      const size = wireType === 1 ? 8 : 4;
      if (afterTag + size > end) return null;
      fields.push({ number, wireType, value: bytes.slice(afterTag, afterTag + size) });
      offset = afterTag + size;
    } else if (wireType === 2) {
      const length = readVarint(bytes, afterTag, end);
      if (length === null) return null;
      const [payloadLength, payloadStart] = length;
      const payloadEnd = payloadStart + Number(payloadLength);
      if (payloadLength > BigInt(end - payloadStart)) return null;
      const childSites: LengthSite[] = [];
      const childBlobs: Array<readonly [number, number]> = [];
      const children = depth < MAX_DEPTH && payloadEnd > payloadStart
        ? parseRange(bytes, payloadStart, payloadEnd, depth + 1, childSites, childBlobs) : null;
      localSites.push({ lengthStart: afterTag, lengthEnd: payloadStart, payloadLength: Number(payloadLength), isMessage: children !== null, depth });
      if (children !== null) {
        localSites.push(...childSites);
        localBlobs.push(...childBlobs);
      } else if (payloadEnd - payloadStart >= 64) {
        localBlobs.push([payloadStart, payloadEnd]);
      }
      fields.push({ number, wireType: 2, value: bytes.slice(payloadStart, payloadEnd), children });
      offset = payloadEnd;
    } else {
      return null;   // groups (3, 4) and reserved types: not a message we understand
    }
  }
  sites.push(...localSites);
  blobs.push(...localBlobs);
  return fields;
}

/** Parses a whole protobuf message. Throws when the bytes are not one. */
export function parseMessage(bytes: Uint8Array): ParsedMessage {
  const lengthSites: LengthSite[] = [];
  const blobs: Array<readonly [number, number]> = [];
  const fields = parseRange(bytes, 0, bytes.length, 0, lengthSites, blobs);
  if (fields === null) throw new TypeError('parseMessage: the bytes are not a protobuf message.');
  return { fields, lengthSites, blobs };
}

/** Serialises fields, recomputing every length from the (possibly edited) children. */
export function serializeFields(fields: readonly WireField[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const field of fields) {
    parts.push(encodeVarint(BigInt(field.number) << 3n | BigInt(field.wireType)));
    if (field.wireType === 0) {
      parts.push(encodeVarint(field.value));
    } else if (field.wireType === 2) {
      const payload = field.children !== null ? serializeFields(field.children) : field.value;
      parts.push(encodeVarint(BigInt(payload.length)), payload);
    } else {
      parts.push(field.value);
    }
  }
  return concatBytes(parts);
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Every field of the tree with the list that holds it, depth-first. */
export function allFields(fields: WireField[]): Array<{ field: WireField; parent: WireField[] }> {
  const out: Array<{ field: WireField; parent: WireField[] }> = [];
  const walk = (list: WireField[]): void => {
    for (const field of list) {
      out.push({ field, parent: list });
      if (field.wireType === 2 && field.children !== null) walk(field.children);
    }
  };
  walk(fields);
  return out;
}
