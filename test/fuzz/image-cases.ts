/**
 * Fuzz cases for image files: seeded mutations of small valid images in every format the dataset scan accepts
 * (PNG in four colour types, baseline and progressive JPEG, lossy and lossless WebP, GIF, TIFF, AVIF), header
 * edits that claim huge dimensions (checksums fixed, so the decoder believes them), decompression bombs, and
 * other formats hiding behind an image extension (SVG with external references or huge sizes, text).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { deriveSeed, Rng } from '../../src/util/rng.js';
import type { FuzzCase } from './harness.js';
import { flipBits, pick, spliceBytes, truncate } from './mutate.js';
import type { Mutation } from './mutate.js';
import { pngWithHeader, withPngSize } from './png.js';

interface BaseImage {
  readonly name: string;
  readonly extension: string;
  readonly bytes: Uint8Array;
}

/** A 24×20 gradient with a little structure, in each format. */
export async function baseImages(): Promise<BaseImage[]> {
  const width = 24, height = 20;
  const rgba = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const offset = (y * width + x) * 4;
      rgba[offset] = x * 10; rgba[offset + 1] = y * 12; rgba[offset + 2] = (x * y) & 255; rgba[offset + 3] = 128 + x * 5;
    }
  }
  const image = () => sharp(rgba, { raw: { width, height, channels: 4 } });
  const encode = async (name: string, extension: string, pipeline: Sharp): Promise<BaseImage> =>
    ({ name, extension, bytes: new Uint8Array(await pipeline.toBuffer()) });
  const bases = [
    await encode('png-rgb', '.png', image().removeAlpha().png()),
    await encode('png-rgba', '.png', image().png()),
    await encode('png-gray16', '.png', image().grayscale().png().toColourspace('grey16')),
    await encode('png-palette', '.png', image().png({ palette: true, colours: 8 })),
    await encode('jpeg', '.jpg', image().removeAlpha().jpeg({ quality: 80 })),
    await encode('jpeg-progressive', '.jpeg', image().removeAlpha().jpeg({ progressive: true })),
    await encode('webp', '.webp', image().webp({ quality: 70 })),
    await encode('webp-lossless', '.webp', image().webp({ lossless: true })),
    await encode('gif', '.gif', image().gif()),
    await encode('tiff', '.tiff', image().tiff({ compression: 'lzw' })),
  ];
  try {
    bases.push(await encode('avif', '.avif', image().avif({ quality: 50, effort: 0 })));
  } catch {
    // a sharp without AV1 encoding: the other formats still run
  }
  return bases;
}

/** Rewrites the size fields of a PNG, JPEG, GIF or WebP header (and the PNG CRC) to `width` × `height`. */
function withClaimedSize(base: BaseImage, width: number, height: number): Uint8Array | null {
  const bytes = base.bytes.slice();
  const view = new DataView(bytes.buffer);
  if (base.extension === '.png') return withPngSize(base.bytes, width, height);
  if (base.extension === '.jpg' || base.extension === '.jpeg') {
    for (let i = 2; i + 9 < bytes.length; i++) {   // SOF0/SOF2: FF C0|C2, length, precision, height, width
      if (bytes[i] === 0xff && (bytes[i + 1] === 0xc0 || bytes[i + 1] === 0xc2)) {
        view.setUint16(i + 5, Math.min(height, 65535)); view.setUint16(i + 7, Math.min(width, 65535));
        return bytes;
      }
    }
    return null;
  }
  if (base.extension === '.gif') {
    view.setUint16(6, Math.min(width, 65535), true); view.setUint16(8, Math.min(height, 65535), true);
    return bytes;
  }
  return null;
}

const SVGS: ReadonlyArray<readonly [string, string]> = [
  ['svg-huge', '<svg xmlns="http://www.w3.org/2000/svg" width="200000" height="200000"><rect width="100%" height="100%" fill="red"/></svg>'],
  ['svg-external-file', '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="32" height="32"><image xlink:href="file:///etc/passwd" width="32" height="32"/></svg>'],
  ['svg-external-http', '<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><image href="http://127.0.0.1:9/x.png" width="32" height="32"/></svg>'],
  ['svg-entities', `<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">${Array.from({ length: 8 }, (_, i) => `<!ENTITY ${'b'.repeat(i + 1)} "${`&${i === 0 ? 'a' : 'b'.repeat(i)};`.repeat(10)}">`).join('')}]><svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><text>&bbbbbbbb;</text></svg>`],
  ['svg-xxe', '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><text>&x;</text></svg>'],
  ['svg-deep', `<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32">${'<g>'.repeat(20000)}${'</g>'.repeat(20000)}</svg>`],
];

/** Hostile files written once per run: size claims, bombs, formats behind an image extension. */
async function hostileImages(bases: readonly BaseImage[]): Promise<Array<{ name: string; extension: string; bytes: Uint8Array }>> {
  const out: Array<{ name: string; extension: string; bytes: Uint8Array }> = [];
  for (const base of bases) {
    for (const [width, height] of [[0, 0], [1, 100_000], [65_535, 65_535], [2 ** 31 - 1, 2 ** 31 - 1], [4_000_000_000, 1]] as const) {
      const bytes = withClaimedSize(base, width, height);
      if (bytes !== null) out.push({ name: `${base.name}-claims-${width}x${height}`, extension: base.extension, bytes });
    }
  }
  // Decompression bombs: tiny files that inflate to hundreds of MB of pixels.
  const rowBytes = (width: number, channels: number): number => 1 + width * channels;
  out.push({ name: 'png-bomb-10000x10000-rgb', extension: '.png', bytes: pngWithHeader(10_000, 10_000, 2, deflateSync(Buffer.alloc(rowBytes(10_000, 3) * 10_000), { level: 9 })) });
  out.push({ name: 'png-bomb-30000x30000-gray-short', extension: '.png', bytes: pngWithHeader(30_000, 30_000, 0, deflateSync(Buffer.alloc(rowBytes(30_000, 1) * 200), { level: 9 })) });
  for (const [name, svg] of SVGS) out.push({ name, extension: '.png', bytes: new Uint8Array(Buffer.from(svg)) });
  out.push({ name: 'text-as-jpeg', extension: '.jpg', bytes: new Uint8Array(Buffer.from('not an image\n')) });
  out.push({ name: 'html-as-webp', extension: '.webp', bytes: new Uint8Array(Buffer.from('<html><body>hi</body></html>')) });
  out.push({ name: 'one-byte', extension: '.gif', bytes: Uint8Array.of(0x47) });
  out.push({ name: 'png-signature-only', extension: '.png', bytes: Uint8Array.from([137, 80, 78, 71, 13, 10, 26, 10]) });
  out.push({ name: 'jpeg-soi-eoi', extension: '.jpg', bytes: Uint8Array.from([0xff, 0xd8, 0xff, 0xd9]) });
  return out;
}

/**
 * `count` cases, deterministic for a seed: every hostile file once, then 1–3 stacked byte
 * mutations (flips, truncations, splices) of a random base image.
 */
export async function* imageCases(root: string, count: number, seed: number): AsyncGenerator<FuzzCase> {
  const bases = await baseImages();
  let index = 0;
  const nextId = (): string => `image-${String(index++).padStart(4, '0')}`;
  for (const hostile of await hostileImages(bases)) {
    if (index >= count) break;
    const id = nextId();
    const path = join(root, `${id}${hostile.extension}`);
    writeFileSync(path, hostile.bytes);
    yield { id, target: 'image', path, description: `hostile ${hostile.name}` };
  }
  while (index < count) {
    const id = nextId();
    const rng = new Rng(deriveSeed(seed, index));
    const base = pick(rng, bases);
    let bytes = base.bytes;
    const steps: string[] = [];
    for (let i = 1 + (rng.nextInt(3) === 0 ? 1 + rng.nextInt(2) : 0); i > 0; i--) {
      const mutation: Mutation = pick(rng, [flipBits, flipBits, flipBits, truncate, spliceBytes])(rng, bytes);
      bytes = mutation.bytes;
      steps.push(mutation.description);
    }
    const path = join(root, `${id}${base.extension}`);
    writeFileSync(path, bytes);
    yield { id, target: 'image', path, description: `${base.name}: ${steps.join(' + ')}` };
  }
}

/** The unmutated base images: they must decode, and warm the worker up. */
export async function imageWarmupCases(root: string): Promise<FuzzCase[]> {
  return (await baseImages()).map((base) => {
    const path = join(root, `warmup-${base.name}${base.extension}`);
    writeFileSync(path, base.bytes);
    return { id: `warmup-${base.name}`, target: 'image' as const, path, description: `${base.name} unchanged` };
  });
}
