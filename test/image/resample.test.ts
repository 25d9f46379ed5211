import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { type ExactResizeFilter, type PixelImage, resample, resampleFloat } from '../../src/image/resample.js';

/** Written by scripts/goldens/resample-goldens.py from Pillow 9.4 and PyTorch 1.13 (Debian's python3-pil/-torch). */
interface GoldenCase {
  name: string; width: number; height: number; channels: number; outWidth: number; outHeight: number;
  input: string; pil: Partial<Record<'pil-bilinear' | 'pil-bicubic' | 'nearest', string>>;
  /** Pillow's box [left, top, right, bottom]; such cases have only the pil-* filters and no torchBilinear. */
  sourceBox?: [number, number, number, number];
  torchBilinear?: string;
}
const goldens = JSON.parse(readFileSync(new URL('./fixtures/resample-goldens.json', import.meta.url), 'utf8')) as
  { versions: Record<string, string>; cases: GoldenCase[] };

const bytes = (base64: string): Uint8Array => new Uint8Array(Buffer.from(base64, 'base64'));
const floats = (base64: string): Float32Array => {
  const buffer = Buffer.from(base64, 'base64');
  const out = new Float32Array(buffer.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buffer.readFloatLE(4 * i);
  return out;
};
const imageOf = (golden: GoldenCase): PixelImage =>
  ({ data: bytes(golden.input), width: golden.width, height: golden.height, channels: golden.channels });

function maxAbsDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): { max: number; at: number } {
  assert.equal(actual.length, expected.length);
  let max = 0, at = -1;
  for (let i = 0; i < actual.length; i++) {
    const difference = Math.abs(actual[i]! - expected[i]!);
    if (difference > max) { max = difference; at = i; }
  }
  return { max, at };
}

describe('resample: golden values from Pillow and PyTorch', () => {
  it('covers up- and downscaling, odd sizes, 1×N images and 1 to 4 channels', () => {
    const names = goldens.cases.map((golden) => golden.name);
    assert.ok(goldens.cases.some((g) => g.outWidth > g.width && g.outHeight > g.height), 'an upscale');
    assert.ok(goldens.cases.some((g) => g.outWidth < g.width && g.outHeight < g.height), 'a downscale');
    assert.ok(goldens.cases.some((g) => g.width === 1 || g.height === 1), 'a 1×N image');
    assert.deepEqual([...new Set(goldens.cases.map((g) => g.channels))].sort(), [1, 2, 3, 4], names.join(', '));
    assert.ok(goldens.cases.some((g) => g.sourceBox !== undefined), 'a fractional source box');
  });

  for (const golden of goldens.cases) {
    const [left, top, right, bottom] = golden.sourceBox ?? [];
    const sourceBox = golden.sourceBox && { left: left!, top: top!, right: right!, bottom: bottom! };
    for (const filter of ['pil-bilinear', 'pil-bicubic', 'nearest'] as const satisfies readonly ExactResizeFilter[]) {
      const expected = golden.pil[filter];
      if (expected === undefined) continue;
      it(`${filter}: ${golden.name} within ±1 of Pillow ${goldens.versions['Pillow']}`, () => {
        const actual = resample(imageOf(golden), filter, golden.outWidth, golden.outHeight, sourceBox && { sourceBox });
        assert.equal(actual.width, golden.outWidth);
        assert.equal(actual.height, golden.outHeight);
        assert.equal(actual.channels, golden.channels);
        const { max, at } = maxAbsDifference(actual.data, bytes(expected));
        assert.ok(max <= 1, `max |difference| ${max} at value ${at}`);
      });
    }
    if (golden.torchBilinear === undefined) continue;
    const torchBilinear = golden.torchBilinear;
    it(`torch-bilinear: ${golden.name} within 1e-4 of PyTorch ${goldens.versions['torch']} in float`, () => {
      const expected = floats(torchBilinear);
      const actual = resampleFloat(imageOf(golden), golden.outWidth, golden.outHeight);
      const { max, at } = maxAbsDifference(actual, expected);
      assert.ok(max <= 1e-4, `max |difference| ${max} at value ${at}`);
      // The uint8 result is that float rounded once.
      const rounded = resample(imageOf(golden), 'torch-bilinear', golden.outWidth, golden.outHeight).data;
      assert.ok(maxAbsDifference(rounded, expected).max <= 0.5 + 1e-4);
    });
  }
});

describe('resample: windows and arguments', () => {
  const image: PixelImage = {
    data: Uint8Array.from({ length: 37 * 23 * 3 }, (_, i) => (i * 7919) % 251), width: 37, height: 23, channels: 3,
  };

  for (const filter of ['pil-bilinear', 'pil-bicubic', 'nearest', 'torch-bilinear'] as const) {
    it(`${filter}: a window is exactly that region of the full result (down and up)`, () => {
      for (const [outWidth, outHeight] of [[16, 11], [61, 40], [37, 9]] as const) {
        const full = resample(image, filter, outWidth, outHeight);
        const window = { left: Math.floor(outWidth / 3), top: Math.floor(outHeight / 4), width: Math.ceil(outWidth / 2), height: Math.ceil(outHeight / 2) };
        const part = resample(image, filter, outWidth, outHeight, { window });
        assert.equal(part.width, window.width);
        assert.equal(part.height, window.height);
        for (let row = 0; row < window.height; row++) {
          const start = ((window.top + row) * outWidth + window.left) * 3;
          assert.deepEqual(part.data.subarray(row * window.width * 3, (row + 1) * window.width * 3),
            full.data.subarray(start, start + window.width * 3), `${outWidth}×${outHeight} row ${row}`);
        }
      }
    });
  }

  it('the same size is the identity for every filter', () => {
    for (const filter of ['pil-bilinear', 'pil-bicubic', 'nearest', 'torch-bilinear'] as const)
      assert.deepEqual(resample(image, filter, 37, 23).data, image.data, filter);
  });

  it('rejects inconsistent images, sizes and windows, naming the value', () => {
    assert.throws(() => resample({ ...image, width: 36 }, 'pil-bilinear', 8, 8), /data\.length \(2553\) is not width × height × channels \(2484\)/);
    assert.throws(() => resample(image, 'pil-bilinear', 0, 8), /invalid output size 0×8/);
    assert.throws(() => resample(image, 'nearest', 8, 8, { window: { left: 4, top: 0, width: 5, height: 8 } }), /window 5×8 at \(4, 0\) is not inside 8×8/);
    assert.throws(() => resample(image, 'nearest', 8, 8, { sourceBox: { left: 0, top: 0, right: 2, bottom: 2 } }), /only defined for the pil-\* filters, not nearest/);
    assert.throws(() => resample(image, 'pil-bilinear', 8, 8, { sourceBox: { left: 0, top: 0, right: 38, bottom: 2 } }), /sourceBox \(0, 0, 38, 2\) is not inside 37×23/);
    assert.throws(() => resample(image, 'lanczos' as never, 8, 8), /unknown filter lanczos/);
  });
});
