/**
 * Seeded byte and structure mutations for the fuzz tests. Each returns the mutated bytes and a short description
 * (printed with a failure, so a case can be reproduced from its seed and read by a person).
 */
import { Rng } from '../../src/util/rng.js';
import { allFields, concatBytes, encodeVarint, parseMessage, serializeFields } from './protobuf-wire.js';
import type { ParsedMessage, WireField } from './protobuf-wire.js';

export interface Mutation {
  readonly bytes: Uint8Array;
  readonly description: string;
}

// Inputs are plain Uint8Arrays (never Buffers): Uint8Array#slice copies, Buffer#slice would return a view.

export const pick = <T>(rng: Rng, values: readonly T[]): T => values[rng.nextInt(values.length)]!;

/** Flips `1 … maxBits` random bits; `avoid` ranges (tensor data) are hit only 1 time in 5. */
export function flipBits(rng: Rng, input: Uint8Array, maxBits = 8,
  avoid: ReadonlyArray<readonly [number, number]> = []): Mutation {
  const bytes = input.slice();
  const count = 1 + rng.nextInt(maxBits);
  const positions: number[] = [];
  const inAvoided = (offset: number): boolean => avoid.some(([start, end]) => offset >= start && offset < end);
  for (let i = 0; i < count; i++) {
    let offset = rng.nextInt(bytes.length);
    for (let attempt = 0; attempt < 8 && inAvoided(offset) && rng.nextInt(5) !== 0; attempt++) offset = rng.nextInt(bytes.length);
    bytes[offset]! ^= 1 << rng.nextInt(8);
    positions.push(offset);
  }
  return { bytes, description: `flip ${count} bit(s) at ${positions.join(',')}` };
}

/** Cuts the bytes at a random offset (sometimes very early, sometimes 1 byte short). */
export function truncate(rng: Rng, input: Uint8Array): Mutation {
  const length = pick(rng, [0, 1, 2, 8, input.length - 1, rng.nextInt(input.length), rng.nextInt(Math.min(input.length, 256))]);
  const at = Math.max(0, Math.min(input.length - 1, length));
  return { bytes: input.slice(0, at), description: `truncate to ${at} of ${input.length} bytes` };
}

/** Overwrites, inserts or deletes a few bytes with edge values (0x00, 0xff, 0x7f, 0x80). */
export function spliceBytes(rng: Rng, input: Uint8Array): Mutation {
  const at = rng.nextInt(Math.max(1, input.length));
  const filler = Uint8Array.from({ length: 1 + rng.nextInt(8) }, () => pick(rng, [0x00, 0xff, 0x7f, 0x80, rng.nextInt(256)]));
  switch (rng.nextInt(3)) {
    case 0: {
      const bytes = input.slice();
      bytes.set(filler.subarray(0, Math.max(0, bytes.length - at)), at);
      return { bytes, description: `overwrite ${filler.length} byte(s) at ${at}` };
    }
    case 1:
      return { bytes: concatBytes([input.subarray(0, at), filler, input.subarray(at)]), description: `insert ${filler.length} byte(s) at ${at}` };
    default: {
      const count = 1 + rng.nextInt(16);
      return { bytes: concatBytes([input.subarray(0, at), input.subarray(at + count)]), description: `delete ${count} byte(s) at ${at}` };
    }
  }
}

const EDGE_LENGTHS = [0n, 1n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 35n, 2n ** 63n - 1n, 2n ** 64n - 1n];

/** Rewrites one length prefix of a protobuf in place, leaving everything around it unchanged (inconsistent). */
export function editLengthField(rng: Rng, input: Uint8Array, parsed: ParsedMessage): Mutation {
  const site = pick(rng, parsed.lengthSites);
  const old = BigInt(site.payloadLength);
  const value = pick(rng, [...EDGE_LENGTHS, old + 1n, old > 0n ? old - 1n : 0n, old * 2n, BigInt(rng.nextInt(1 << 28)),
    BigInt(input.length - site.lengthEnd + 1)]);
  const bytes = concatBytes([input.subarray(0, site.lengthStart), encodeVarint(value), input.subarray(site.lengthEnd)]);
  return { bytes, description: `length at ${site.lengthStart} (depth ${site.depth}, ${site.isMessage ? 'message' : 'bytes'}) ${old} → ${value}` };
}

const EDGE_VARINTS = [0n, 1n, 2n, 7n, 13n, 255n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 64n - 1n /* -1 */, 2n ** 64n - 2n ** 31n];
const EDGE_STRINGS = ['', ' ', '../../../../etc/passwd', '/etc/passwd', 'a'.repeat(70_000), 'input', 'output', 'features',
  '\u0000', 'é☃\u202e', 'finetune/head/Gemm', '%s%n', 'NaN', '-1', '1e400', 'con', '.', '..'];

/**
 * A consistent edit of the message tree (every enclosing length recomputed): change a varint, delete or duplicate
 * a field, replace a string/bytes payload, or move a field to another message.
 */
export function editTree(rng: Rng, input: Uint8Array): Mutation {
  const { fields } = parseMessage(input);
  const entries = allFields(fields);
  const { field, parent } = pick(rng, entries);
  let description: string;
  switch (rng.nextInt(5)) {
    case 0: {
      const varints = entries.filter((entry) => entry.field.wireType === 0);
      if (varints.length === 0) return flipBits(rng, input);
      const target = pick(rng, varints).field as Extract<WireField, { wireType: 0 }>;
      const old = target.value;
      target.value = pick(rng, [...EDGE_VARINTS, old + 1n, old > 0n ? old - 1n : 1n]);
      description = `varint field ${target.number} ${old} → ${target.value}`;
      break;
    }
    case 1:
      parent.splice(parent.indexOf(field), 1);
      description = `delete field ${field.number}`;
      break;
    case 2: {
      const copies = 1 + (rng.nextInt(4) === 0 ? rng.nextInt(64) : 0);
      for (let i = 0; i < copies; i++) parent.splice(parent.indexOf(field), 0, structuredClone(field));
      description = `duplicate field ${field.number} ×${copies}`;
      break;
    }
    case 3: {
      const strings = entries.filter((entry) => entry.field.wireType === 2 && entry.field.children === null);
      if (strings.length === 0) return flipBits(rng, input);
      const target = pick(rng, strings).field as Extract<WireField, { wireType: 2 }>;
      const text = pick(rng, EDGE_STRINGS);
      target.value = new TextEncoder().encode(text);
      description = `field ${target.number} := "${text.length > 40 ? `${text.slice(0, 8)}…(${text.length})` : text}"`;
      break;
    }
    default: {
      const messages = entries.filter((entry) => entry.field.wireType === 2 && entry.field.children !== null);
      if (messages.length === 0) return flipBits(rng, input);
      const target = pick(rng, messages).field as Extract<WireField, { wireType: 2 }>;
      target.children!.push(structuredClone(field));
      description = `copy field ${field.number} into a field ${target.number} message`;
    }
  }
  return { bytes: serializeFields(fields), description };
}
