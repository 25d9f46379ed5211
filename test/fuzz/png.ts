/** Hand-built PNG files for the fuzz cases: any IHDR the decoder should believe (valid CRCs), any image data. */
import { crc32, deflateSync } from 'node:zlib';

const u32be = (n: number): Buffer => { const out = Buffer.alloc(4); out.writeUInt32BE(n >>> 0); return out; };

function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  return Buffer.concat([u32be(data.length), body, u32be(crc32(body))]);
}

/**
 * A PNG claiming `width` × `height` (8-bit, `colourType` 0 gray, 2 RGB, 6 RGBA) whose only IDAT holds `idat`
 * (already zlib-compressed): with a short `idat` the header promises more pixels than the data holds.
 */
export function pngWithHeader(width: number, height: number, colourType: 0 | 2 | 6, idat: Uint8Array): Uint8Array {
  const ihdr = Buffer.concat([u32be(width), u32be(height), Buffer.from([8, colourType, 0, 0, 0])]);
  return new Uint8Array(Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array())]));
}

/** A complete, valid 1×1 RGB PNG of colour `rgb` (0xRRGGBB). */
export function png1x1(rgb: number): Uint8Array {
  return pngWithHeader(1, 1, 2, deflateSync(Buffer.from([0, (rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255])));
}

/** Rewrites the width and height of a PNG's IHDR and its CRC (the decoder then believes them). */
export function withPngSize(png: Uint8Array, width: number, height: number): Uint8Array {
  const bytes = Buffer.from(png);   // a copy
  bytes.writeUInt32BE(width >>> 0, 16);
  bytes.writeUInt32BE(height >>> 0, 20);
  bytes.writeUInt32BE(crc32(bytes.subarray(12, 29)), 29);
  return new Uint8Array(bytes);
}
