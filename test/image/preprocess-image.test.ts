import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { FinetuneError } from '../../src/errors.js';
import {
  decodeToRgb, normalizePixels, preprocessImage, preshrinkPlan, resizeGeometry,
} from '../../src/image/preprocess-image.js';
import { resample } from '../../src/image/resample.js';
import { IMAGENET_SPEC } from '../../src/image/preprocess-spec.js';
import type { PreprocessSpec } from '../../src/types.js';

let tmp: string;
before(async () => { tmp = await mkdtemp(join(tmpdir(), 'finetune-preprocess-')); });
after(async () => { await rm(tmp, { recursive: true, force: true }); });

/** A lossless PNG of raw interleaved pixels. */
const rawPng = (pixels: number[], width: number, height: number, channels: 1 | 2 | 3 | 4 = 3): Promise<Buffer> =>
  sharp(Buffer.from(pixels), { raw: { width, height, channels } }).png().toBuffer();

const spec = (overrides: Partial<PreprocessSpec>): PreprocessSpec => ({ ...IMAGENET_SPEC, ...overrides });
const pixelAt = (image: { data: Uint8Array; width: number }, x: number, y: number): number[] =>
  [...image.data.subarray((y * image.width + x) * 3, (y * image.width + x) * 3 + 3)];

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++)
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tolerance, `${what}[${i}]: ${actual[i]} vs ${expected[i]} (±${tolerance})`);
}

async function assertDecodeFails(input: string | Uint8Array, pattern: RegExp, options: { sourceName?: string } = {}): Promise<FinetuneError> {
  let caught: unknown;
  try { await decodeToRgb(input, IMAGENET_SPEC, options); } catch (error) { caught = error; }
  assert.ok(caught instanceof FinetuneError, `expected IMAGE_DECODE_FAILED, got ${String(caught)}`);
  assert.equal(caught.code, 'IMAGE_DECODE_FAILED');
  assert.match(caught.message, pattern);
  assert.ok(caught.hint);
  return caught;
}

// A 2×2 image: red, green / blue, white.
const TWO_BY_TWO = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255];

describe('normalizePixels', () => {
  it('applies (pixel × scale − mean) / std per RGB channel, NCHW, RGB (ImageNet values by hand)', () => {
    const out = normalizePixels(Uint8Array.from(TWO_BY_TWO), spec({ resizeSize: 2, cropSize: 2, resizeMode: 'direct' }));
    // R plane: (1 − 0.485)/0.229 = 2.2489083, (0 − 0.485)/0.229 = −2.1179039
    // G plane: (1 − 0.456)/0.224 = 2.4285714, (0 − 0.456)/0.224 = −2.0357143
    // B plane: (1 − 0.406)/0.225 = 2.64,      (0 − 0.406)/0.225 = −1.8044444
    assertClose(out, [
      2.2489083, -2.1179039, -2.1179039, 2.2489083,
      -2.0357143, 2.4285714, -2.0357143, 2.4285714,
      -1.8044444, -1.8044444, 2.64, 2.64,
    ], 1e-6, 'NCHW RGB');
  });

  it('reorders to BGR and lays out NHWC', () => {
    const custom = spec({ resizeSize: 2, cropSize: 2, scale: 1, mean: [10, 20, 30], std: [2, 4, 5] });
    const rgb = Uint8Array.from([20, 40, 130, 0, 0, 0, 10, 20, 30, 12, 24, 35]);
    // Per pixel, RGB: (20−10)/2 = 5, (40−20)/4 = 5, (130−30)/5 = 20 | −5, −5, −6 | 0, 0, 0 | 1, 1, 1
    assert.deepEqual([...normalizePixels(rgb, { ...custom, layout: 'NHWC' })], [5, 5, 20, -5, -5, -6, 0, 0, 0, 1, 1, 1]);
    assert.deepEqual([...normalizePixels(rgb, { ...custom, layout: 'NHWC', channelOrder: 'BGR' })],
      [20, 5, 5, -6, -5, -5, 0, 0, 0, 1, 1, 1]);
    assert.deepEqual([...normalizePixels(rgb, { ...custom, layout: 'NCHW', channelOrder: 'BGR' })],
      [20, -6, 0, 1, 5, -5, 0, 1, 5, -5, 0, 1]);
  });

  it('writes into out at outOffset and nowhere else; rejects wrong sizes', () => {
    const custom = spec({ resizeSize: 2, cropSize: 2, scale: 1, mean: [0, 0, 0], std: [1, 1, 1] });
    const out = new Float32Array(20).fill(Number.NaN);
    const returned = normalizePixels(Uint8Array.from(TWO_BY_TWO), custom, out, 5);
    assert.equal(returned, out);
    assert.ok(out.subarray(0, 5).every(Number.isNaN) && out.subarray(17).every(Number.isNaN));
    assert.deepEqual([...out.subarray(5, 17)], [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255]);
    assert.throws(() => normalizePixels(new Uint8Array(11), custom), RangeError);
    assert.throws(() => normalizePixels(Uint8Array.from(TWO_BY_TWO), custom, new Float32Array(12), 1), RangeError);
  });
});

describe('resizeGeometry', () => {
  it('matches imagenet_preprocess.py (shorter side 256, round, crop at floor((w − 224) / 2))', () => {
    assert.deepEqual(resizeGeometry(640, 480, IMAGENET_SPEC),
      { resizeWidth: 341, resizeHeight: 256, cropLeft: 58, cropTop: 16, cropSize: 224 });   // 640·256/480 = 341.33
    assert.deepEqual(resizeGeometry(300, 500, IMAGENET_SPEC),
      { resizeWidth: 256, resizeHeight: 427, cropLeft: 16, cropTop: 101, cropSize: 224 });  // 500·256/300 = 426.67
    assert.deepEqual(resizeGeometry(640, 480, { ...IMAGENET_SPEC, resizeMode: 'direct' }),
      { resizeWidth: 256, resizeHeight: 256, cropLeft: 16, cropTop: 16, cropSize: 224 });
  });
});

describe('resizeGeometry: rounding conventions (spec.geometry)', () => {
  /** torchvision's own sizes, crop corners and pixels, from scripts/goldens/geometry-goldens.py. */
  const goldens = JSON.parse(readFileSync(new URL('./fixtures/geometry-goldens.json', import.meta.url), 'utf8')) as {
    geometry: Array<{ width: number; height: number; resizeSize: number; cropSize: number; resizeWidth: number;
      resizeHeight: number; cropLeft: number; cropTop: number }>;
    pixels: Array<{ width: number; height: number; resizeSize: number; cropSize: number; input: string; output: string }>;
  };
  const sized = (golden: { resizeSize: number; cropSize: number }, geometry?: PreprocessSpec['geometry']): PreprocessSpec =>
    spec({ resizeSize: golden.resizeSize, cropSize: golden.cropSize, ...(geometry ? { geometry } : {}) });

  it('torchvision: Resize(int) + CenterCrop give torchvision\'s sizes and corners', () => {
    for (const golden of goldens.geometry) {
      const { width, height, resizeSize, cropSize, ...expected } = golden;
      assert.deepEqual({ ...resizeGeometry(width, height, sized(golden, 'torchvision')) }, { ...expected, cropSize },
        `${width}×${height} → ${resizeSize}, crop ${cropSize}`);
    }
  });

  it('the goldens include cases where torchvision and the zoo round differently (the longer side and the corner)', () => {
    const differ = (key: 'resizeWidth' | 'resizeHeight' | 'cropLeft' | 'cropTop') => goldens.geometry.filter((golden) =>
      resizeGeometry(golden.width, golden.height, sized(golden))[key] !== golden[key]);
    assert.ok(differ('resizeHeight').some((golden) => golden.width === 375 && golden.height === 500));   // 298.67: 299 vs 298
    assert.ok(differ('resizeWidth').length > 0 && differ('cropLeft').length > 0 && differ('cropTop').length > 0);
  });

  it('transformers floors the longer side and the corner; zoo (the default, and absent) rounds the side to nearest', () => {
    const base = spec({ resizeSize: 224, cropSize: 224 });
    assert.deepEqual({ ...resizeGeometry(375, 500, { ...base, geometry: 'transformers' }) },
      { resizeWidth: 224, resizeHeight: 298, cropLeft: 0, cropTop: 37, cropSize: 224 });   // 500·224/375 = 298.67
    assert.deepEqual({ ...resizeGeometry(375, 500, base) }, { resizeWidth: 224, resizeHeight: 299, cropLeft: 0, cropTop: 37, cropSize: 224 });
    assert.deepEqual(resizeGeometry(375, 500, { ...base, geometry: 'zoo' }), resizeGeometry(375, 500, base));
    // 101×100 → 64, crop 61: corner (64 − 61) / 2 = 1.5 → 1 (floor), torchvision 2 (half to even).
    const small = spec({ resizeSize: 64, cropSize: 61 });
    assert.deepEqual({ ...resizeGeometry(101, 100, { ...small, geometry: 'transformers' }) },
      { resizeWidth: 64, resizeHeight: 64, cropLeft: 1, cropTop: 1, cropSize: 61 });
    assert.deepEqual({ ...resizeGeometry(101, 100, small) }, { resizeWidth: 65, resizeHeight: 64, cropLeft: 2, cropTop: 1, cropSize: 61 });
    assert.throws(() => resizeGeometry(10, 10, { ...base, geometry: 'keras' as 'zoo' }), RangeError);
  });

  for (const golden of goldens.pixels) {
    it(`torchvision + pil-bilinear: Compose([Resize(${golden.resizeSize}), CenterCrop(${golden.cropSize})]) of a ` +
        `${golden.width}×${golden.height} PNG gives torchvision's pixels`, async () => {
      const png = await rawPng([...Buffer.from(golden.input, 'base64')], golden.width, golden.height, 3);
      const image = await decodeToRgb(png, { ...sized(golden, 'torchvision'), resizeFilter: 'pil-bilinear' });
      assert.deepEqual([...image.data], [...Buffer.from(golden.output, 'base64')]);
    });
  }
});

describe('decodeToRgb: the resize filter, end to end through the decoder', () => {
  /** Pillow and PyTorch outputs written by scripts/goldens/resample-goldens.py (see test/image/resample.test.ts). */
  const goldens = JSON.parse(readFileSync(new URL('./fixtures/resample-goldens.json', import.meta.url), 'utf8')) as {
    cases: Array<{ name: string; width: number; height: number; channels: number; outWidth: number; outHeight: number;
      input: string; pil: Record<string, string | undefined>; torchBilinear?: string; sourceBox?: number[] }>;
  };
  const fromBase64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64'));

  // Gray and RGB inputs (what a PNG holds without alpha) whose golden size is a shorter-side resize and small enough
  // not to be pre-shrunk: decode them from a PNG with the crop = the shorter side, and compare with the same window of
  // Pillow's / PyTorch's result.
  const geometryOf = (golden: (typeof goldens.cases)[number]) => {
    const side = Math.min(golden.outWidth, golden.outHeight);
    return { side, ...resizeGeometry(golden.width, golden.height, spec({ resizeSize: side, cropSize: side })) };
  };
  const endToEnd = goldens.cases.filter((golden) => {
    const geometry = geometryOf(golden);
    return (golden.channels === 1 || golden.channels === 3) && !golden.sourceBox &&
      geometry.resizeWidth === golden.outWidth && geometry.resizeHeight === golden.outHeight &&
      preshrinkPlan({ width: golden.width, height: golden.height, jpeg: false }, { width: golden.outWidth, height: golden.outHeight }, 'pil-bilinear') === null;
  });
  it('has end-to-end cases, among them the 28×28 → 64×64 upscale of the issue', () => {
    assert.ok(endToEnd.length >= 4, endToEnd.map((golden) => golden.name).join(', '));
    assert.ok(endToEnd.some((golden) => golden.name === 'upscale-28-to-64-gray'));
  });
  for (const golden of endToEnd) {
    const geometry = geometryOf(golden), side = geometry.side;
    const expectedRgb = (values: ArrayLike<number>): number[] => {
      const rgb: number[] = [];
      for (let row = geometry.cropTop; row < geometry.cropTop + side; row++) {
        for (let column = geometry.cropLeft; column < geometry.cropLeft + side; column++) {
          const at = (row * golden.outWidth + column) * golden.channels;
          for (let channel = 0; channel < 3; channel++) rgb.push(values[at + (golden.channels === 1 ? 0 : channel)]!);
        }
      }
      return rgb;
    };
    for (const filter of ['pil-bilinear', 'pil-bicubic', 'nearest', 'torch-bilinear'] as const) {
      it(`${filter}: ${golden.name} as a PNG gives Pillow's / PyTorch's pixels`, async () => {
        const png = await rawPng([...fromBase64(golden.input)], golden.width, golden.height, golden.channels as 1 | 3);
        const image = await decodeToRgb(png, spec({ resizeSize: side, cropSize: side, resizeFilter: filter }));
        if (filter === 'torch-bilinear') {
          const floats = Buffer.from(golden.torchBilinear!, 'base64');
          const values = Array.from({ length: floats.length / 4 }, (_, i) => floats.readFloatLE(4 * i));
          assertClose(image.data, expectedRgb(values), 0.5 + 1e-4, golden.name);   // PyTorch's floats, rounded once
        } else {
          assert.deepEqual([...image.data], expectedRgb(fromBase64(golden.pil[filter]!)), golden.name);
        }
      });
    }
  }

  it('sharp-linear (libvips, the legacy filter) differs from Pillow on the upscale, which is why it is not the default', async () => {
    const golden = goldens.cases.find((candidate) => candidate.name === 'upscale-28-to-64-gray')!;
    const png = await rawPng([...fromBase64(golden.input)], 28, 28, 1);
    const image = await decodeToRgb(png, spec({ resizeMode: 'direct', resizeSize: 64, cropSize: 64, resizeFilter: 'sharp-linear' }));
    const pillow = fromBase64(golden.pil['pil-bilinear']!);
    let max = 0;
    for (let pixel = 0; pixel < 64 * 64; pixel++) max = Math.max(max, Math.abs(image.data[3 * pixel]! - pillow[pixel]!));
    assert.ok(max > 10, `max |sharp-linear − Pillow| is only ${max}`);
  });
});

describe('decodeToRgb: pre-shrinking big images', () => {
  // Measured 3.1 grey levels on the striped image below (libvips' own sharp-linear: 2.8); photos stay below 0.6
  // (scripts/experiments/preshrink-fidelity.ts). A shifted pre-shrink (e.g. a wrong source box) gives 5.8 and more.
  const MAX_MEAN_PRESHRINK_ERROR = 4;

  it('decodes big JPEGs at the scale libvips would (S / (s + 1)), other formats at full size, and caps every exact filter', () => {
    const jpeg = (width: number, height: number) => ({ width, height, jpeg: true });
    // sharp-linear decodes 4000×3000 → 341×256 at 1/4 (shrink 11.7): 800×600 is the largest size that keeps 1/4.
    assert.deepEqual(preshrinkPlan(jpeg(4000, 3000), { width: 341, height: 256 }, 'pil-bilinear'), { width: 800, height: 600 });
    assert.deepEqual(preshrinkPlan(jpeg(4000, 2667), { width: 384, height: 256 }, 'pil-bicubic'), { width: 800, height: 533 });
    assert.deepEqual(preshrinkPlan(jpeg(2000, 1500), { width: 341, height: 256 }, 'pil-bilinear'), { width: 666, height: 500 });   // 1/2
    assert.deepEqual(preshrinkPlan(jpeg(8000, 6000), { width: 341, height: 256 }, 'pil-bilinear'), { width: 888, height: 666 });   // 1/8
    assert.equal(preshrinkPlan(jpeg(1500, 1000), { width: 384, height: 256 }, 'pil-bilinear'), null);   // libvips decodes it whole too
    assert.equal(preshrinkPlan({ ...jpeg(4000, 3000), jpeg: false }, { width: 341, height: 256 }, 'pil-bilinear'), null);   // a PNG: exact
    // Above 16 MP a PNG (a decompression bomb) is shrunk to 3× the target first: memory stays that of a thumbnail.
    assert.deepEqual(preshrinkPlan({ width: 10_000, height: 10_000, jpeg: false }, { width: 40, height: 40 }, 'pil-bilinear'), { width: 120, height: 120 });
    assert.deepEqual(preshrinkPlan({ width: 5000, height: 4000, jpeg: false }, { width: 320, height: 256 }, 'pil-bicubic'), { width: 960, height: 768 });
    assert.equal(preshrinkPlan({ width: 5000, height: 4000, jpeg: false }, { width: 320, height: 256 }, 'pil-bicubic', { maxExactPixels: 25_000_000 }), null);
    assert.equal(preshrinkPlan(jpeg(4000, 3000), { width: 341, height: 256 }, 'torch-bilinear'), null);   // samples full resolution
    assert.deepEqual(preshrinkPlan(jpeg(4000, 3000), { width: 341, height: 256 }, 'pil-bilinear', { factor: 3 }), { width: 1023, height: 768 });
    const capped = preshrinkPlan(jpeg(9000, 6000), { width: 384, height: 256 }, 'nearest');
    assert.ok(capped !== null && capped.width * capped.height <= 40_000_000 && Math.abs(capped.width / capped.height - 1.5) < 1e-3,
      JSON.stringify(capped));
    assert.equal(preshrinkPlan(jpeg(9000, 6000), { width: 384, height: 256 }, 'nearest', { maxDecodedPixels: 60_000_000 }), null);
    // A long thin image never shrinks below the target on either axis.
    assert.deepEqual(preshrinkPlan({ width: 200_000, height: 300, jpeg: false }, { width: 170_667, height: 256 }, 'nearest',
      { maxDecodedPixels: 10_000_000 }), { width: 170_667, height: 256 });
  });

  it('a pre-shrunk JPEG stays close to the full-resolution filter', async () => {
    // 2001×1337 (no side divisible by the JPEG shrink factor), hard edges every 37 and 29 pixels: a hard case.
    const width = 2001, height = 1337;
    const pixels = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const offset = 3 * (y * width + x);
        pixels[offset] = Math.floor(x / 37) % 2 ? 230 : 20;
        pixels[offset + 1] = Math.floor(y / 29) % 2 ? 210 : 40;
        pixels[offset + 2] = (x + 2 * y) % 256;
      }
    }
    const bytes = await sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();
    const target = spec({ resizeSize: 100, cropSize: 96, resizeFilter: 'pil-bilinear' });
    const geometry = resizeGeometry(width, height, target);   // 150×100: decoded at 1/4, pre-shrunk to 400×267
    assert.deepEqual(preshrinkPlan({ width, height, jpeg: true }, { width: geometry.resizeWidth, height: geometry.resizeHeight }, 'pil-bilinear'),
      { width: 400, height: 267 });
    const window = { left: geometry.cropLeft, top: geometry.cropTop, width: 96, height: 96 };
    const full = await sharp(bytes).raw().toBuffer();
    const exact = resample({ data: full, width, height, channels: 3 }, 'pil-bilinear', geometry.resizeWidth, geometry.resizeHeight, { window }).data;
    const decoded = (await decodeToRgb(bytes, target)).data;
    const meanDifference = decoded.reduce((sum, value, i) => sum + Math.abs(value - exact[i]!), 0) / decoded.length;
    assert.ok(meanDifference < MAX_MEAN_PRESHRINK_ERROR, `mean |pre-shrunk − full resolution| ${meanDifference}`);
  });
});

describe('decodeToRgb / preprocessImage', () => {
  // 4×4 image whose pixel (x, y) is (10x + 1, 10y + 2, 100 + x + 4y).
  const grid = (width: number, height: number): number[] => {
    const pixels: number[] = [];
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels.push(10 * x + 1, 10 * y + 2, 100 + x + 4 * y);
    return pixels;
  };

  it('passes pixels through exactly when no resampling is needed, and center-crops', async () => {
    const png = await rawPng(grid(4, 4), 4, 4);
    const full = await decodeToRgb(png, spec({ resizeMode: 'direct', resizeSize: 4, cropSize: 4 }));
    assert.deepEqual([...full.data], grid(4, 4));
    const crop = await decodeToRgb(png, spec({ resizeMode: 'direct', resizeSize: 4, cropSize: 2 }));
    assert.equal(crop.width, 2);
    assert.deepEqual([...crop.data], [11, 12, 105, 21, 12, 106, 11, 22, 109, 21, 22, 110]); // (1,1) (2,1) (1,2) (2,2)
  });

  it('shorter-side mode keeps the aspect ratio and crops the middle of the long side', async () => {
    const tall = await decodeToRgb(await rawPng(grid(4, 7), 4, 7), spec({ resizeSize: 4, cropSize: 4 }));
    assert.deepEqual([tall.width, tall.height, tall.sourceWidth, tall.sourceHeight], [4, 4, 4, 7]);
    assert.deepEqual(pixelAt(tall, 0, 0), [1, 12, 104]);   // floor((7 − 4)/2) = 1: rows 1..4
    assert.deepEqual(pixelAt(tall, 3, 3), [31, 42, 119]);
    const wide = await decodeToRgb(await rawPng(grid(8, 4), 8, 4), spec({ resizeSize: 4, cropSize: 4 }));
    assert.deepEqual(pixelAt(wide, 0, 0), [21, 2, 102]);   // columns 2..5
    assert.deepEqual(pixelAt(wide, 3, 3), [51, 32, 117]);
  });

  it('resizes a flat colour to the same colour, up and down', async () => {
    for (const [width, height] of [[10, 20], [3, 2], [300, 200]] as const) {
      const png = await sharp({ create: { width, height, channels: 3, background: { r: 30, g: 60, b: 90 } } }).png().toBuffer();
      const image = await decodeToRgb(png, spec({ resizeSize: 8, cropSize: 6 }));
      assert.deepEqual([image.width, image.height, image.sourceWidth, image.sourceHeight], [6, 6, width, height]);
      for (let pixel = 0; pixel < 36; pixel++) assert.deepEqual(pixelAt(image, pixel % 6, Math.floor(pixel / 6)), [30, 60, 90]);
    }
  });

  it('antialiases when shrinking (a 1-px checkerboard becomes mid-grey, not black/white aliasing)', async () => {
    const pixels: number[] = [];
    for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) pixels.push((x + y) % 2 ? 255 : 0);
    const image = await decodeToRgb(await rawPng(pixels, 64, 64, 1), spec({ resizeMode: 'direct', resizeSize: 16, cropSize: 16 }));
    for (let i = 0; i < image.data.length; i++) assert.ok(Math.abs(image.data[i]! - 127.5) < 12, `value ${image.data[i]} at ${i}`);
  });

  it('preprocessImage equals normalizePixels(decodeToRgb) for every layout and channel order, into a batch buffer', async () => {
    const path = join(tmp, 'grid.png');
    await writeFile(path, await rawPng(grid(8, 6), 8, 6));
    for (const layout of ['NCHW', 'NHWC'] as const) for (const channelOrder of ['RGB', 'BGR'] as const) {
      const custom = spec({ resizeSize: 5, cropSize: 4, layout, channelOrder });
      const expected = normalizePixels((await decodeToRgb(path, custom)).data, custom);
      const batch = new Float32Array(2 * 48);
      await preprocessImage(path, custom, { out: batch, outOffset: 48 });
      assert.deepEqual(batch.subarray(48), expected);
      assert.ok(batch.subarray(0, 48).every((v) => v === 0));
    }
  });

  it('applies the EXIF orientation (JPEG tagged orientation 6 = rotate 90° clockwise)', async () => {
    // Stored 16 wide × 8 high: left half red, right half blue. Displayed: 8 wide × 16 high, red on top.
    const stored = await sharp({ create: { width: 16, height: 8, channels: 3, background: { r: 0, g: 0, b: 255 } } })
      .composite([{ input: { create: { width: 8, height: 8, channels: 3, background: { r: 255, g: 0, b: 0 } } }, left: 0, top: 0 }])
      .jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toBuffer();
    const metadata = await sharp(stored).metadata();
    assert.deepEqual([metadata.width, metadata.height, metadata.orientation], [16, 8, 6]);
    const image = await decodeToRgb(stored, spec({ resizeSize: 8, cropSize: 8 }));
    assert.deepEqual([image.sourceWidth, image.sourceHeight], [8, 16]);
    // The crop keeps rows 4..11: rows 0..3 of the crop are red, rows 4..7 blue.
    assertClose(pixelAt(image, 4, 0), [255, 0, 0], 40, 'top');
    assertClose(pixelAt(image, 4, 7), [0, 0, 255], 40, 'bottom');
  });

  it('turns grayscale, gray+alpha and RGBA into RGB, compositing alpha onto white', async () => {
    const gray = await decodeToRgb(await rawPng([10, 200, 30, 40], 2, 2, 1), spec({ resizeSize: 2, cropSize: 2 }));
    assert.deepEqual([...gray.data], [10, 10, 10, 200, 200, 200, 30, 30, 30, 40, 40, 40]);
    const grayAlpha = await decodeToRgb(await rawPng([10, 255, 200, 0, 0, 51, 90, 255], 2, 2, 2), spec({ resizeSize: 2, cropSize: 2 }));
    // 0 at alpha 0.2 → 0.8 × 255 = 204.
    assert.deepEqual([...grayAlpha.data], [10, 10, 10, 255, 255, 255, 204, 204, 204, 90, 90, 90]);
    const rgba = await decodeToRgb(await rawPng([255, 0, 0, 128, 0, 0, 255, 0, 0, 255, 0, 255, 7, 8, 9, 255], 2, 2, 4),
      spec({ resizeSize: 2, cropSize: 2 }));
    // Red at alpha 128/255 over white: 255 × 127/255 = 127 for G and B.
    assert.deepEqual([...rgba.data], [255, 127, 127, 255, 255, 255, 0, 255, 0, 7, 8, 9]);
  });

  it('decodes CMYK JPEG, 16-bit PNG, animated GIF (first frame), WebP, TIFF and AVIF to RGB', async () => {
    const small = spec({ resizeSize: 8, cropSize: 8 });
    const solid = (format: 'webp' | 'tiff' | 'avif') =>
      sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 60, b: 30 } } }).toFormat(format).toBuffer();
    for (const format of ['webp', 'tiff', 'avif'] as const) {
      const image = await decodeToRgb(await solid(format), small);
      assert.equal(image.data.length, 8 * 8 * 3, format);
      assertClose(pixelAt(image, 3, 3), [200, 60, 30], 12, format);
    }
    const cmyk = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 60, b: 30 } } })
      .toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer();
    assert.equal((await sharp(cmyk).metadata()).space, 'cmyk');
    const fromCmyk = pixelAt(await decodeToRgb(cmyk, small), 3, 3);
    assert.ok(fromCmyk[0]! > 150 && fromCmyk[1]! < 100 && fromCmyk[2]! < 80, `CMYK gave ${fromCmyk}`);

    const sixteen = await sharp(Buffer.from(grid(4, 4)), { raw: { width: 4, height: 4, channels: 3 } })
      .toColourspace('rgb16').png().toBuffer();
    assert.equal((await sharp(sixteen).metadata()).depth, 'ushort');
    assert.deepEqual([...(await decodeToRgb(sixteen, spec({ resizeMode: 'direct', resizeSize: 4, cropSize: 4 }))).data], grid(4, 4));

    const frames = Buffer.alloc(4 * 8 * 4);
    for (let pixel = 0; pixel < 32; pixel++) frames.set(pixel < 16 ? [255, 0, 0, 255] : [0, 0, 255, 255], pixel * 4);
    const gif = await sharp(frames, { raw: { width: 4, height: 8, channels: 4, pageHeight: 4 } }).gif().toBuffer();
    assert.equal((await sharp(gif).metadata()).pages, 2);
    const first = await decodeToRgb(gif, spec({ resizeSize: 4, cropSize: 4 }));
    assert.deepEqual([first.sourceWidth, first.sourceHeight], [4, 4]);
    assertClose(pixelAt(first, 1, 1), [255, 0, 0], 8, 'gif frame 0');
  });

  it('throws IMAGE_DECODE_FAILED with the path and reason for corrupt, non-image, empty and missing files', async () => {
    const noise = Buffer.alloc(96 * 96 * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 7919) % 251;
    const jpeg = await sharp(noise, { raw: { width: 96, height: 96, channels: 3 } }).jpeg().toBuffer();
    const truncated = join(tmp, 'truncated.jpg');
    await writeFile(truncated, jpeg.subarray(0, Math.floor(jpeg.length * 0.7)));
    const error = await assertDecodeFails(truncated, /truncated\.jpg.*premature end/i);
    assert.ok(error.cause instanceof Error, 'keeps the sharp error as cause');

    const text = join(tmp, 'notes.png');
    await writeFile(text, 'this is not an image\n');
    await assertDecodeFails(text, /notes\.png.*unsupported image format/);
    const empty = join(tmp, 'empty.jpg');
    await writeFile(empty, '');
    await assertDecodeFails(empty, /empty\.jpg.*empty file \(0 bytes\)/);
    await assertDecodeFails(join(tmp, 'missing.jpg'), /missing\.jpg.*file not found/);
    await assertDecodeFails(new Uint8Array(0), /"uploads\/x\.png".*empty input/, { sourceName: 'uploads/x.png' });
    await assertDecodeFails(Buffer.from('garbage'), /"<7 bytes>"/);
    await assert.rejects(preprocessImage(text, IMAGENET_SPEC), (e: unknown) => e instanceof FinetuneError && e.code === 'IMAGE_DECODE_FAILED');
  });
});
