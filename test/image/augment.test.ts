import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { FinetuneError } from '../../src/errors.js';
import {
  AUGMENT_DEFAULTS, NO_AUGMENT, type AugmentSpec, augmentSpecKey, augmentedRgb, describeAugmentSpec, isNoAugment,
  mirrorRows, parseAugmentSpec, validateAugmentSpec,
} from '../../src/image/augment.js';
import { decodeToRgb } from '../../src/image/preprocess-image.js';
import { IMAGENET_SPEC } from '../../src/image/preprocess-spec.js';
import { sha256 } from '../../src/util/hash.js';
import type { PreprocessSpec } from '../../src/types.js';

const SPEC: PreprocessSpec = { ...IMAGENET_SPEC, resizeSize: 40, cropSize: 32 };
const ALL = parseAugmentSpec('flip,crop,rotate,color');
const only = (parts: Partial<AugmentSpec>): AugmentSpec => ({ ...NO_AUGMENT, ...parts });

let tmp: string;
let photo: Buffer;   // 60×45, smooth gradients plus texture: every augmentation changes it visibly
let flat: Buffer;    // 50×30 flat colour
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'finetune-augment-'));
  const width = 60, height = 45, pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const i = (y * width + x) * 3;
    pixels[i] = 4 * x; pixels[i + 1] = 5 * y; pixels[i + 2] = ((x * 7 + y * 13) % 32) * 8;
  }
  photo = await sharp(pixels, { raw: { width, height, channels: 3 } }).png().toBuffer();
  flat = await sharp({ create: { width: 50, height: 30, channels: 3, background: { r: 200, g: 30, b: 60 } } }).png().toBuffer();
});
after(async () => { await rm(tmp, { recursive: true, force: true }); });

const differs = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0;

describe('parseAugmentSpec', () => {
  it('gives the documented defaults', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(ALL)), {
      flip: { probability: 0.5 }, crop: { scale: [0.5, 1], ratio: [0.75, 4 / 3] }, rotate: { maxDegrees: 15 },
      color: { brightness: 0.2, contrast: 0.2, saturation: 0.2 },
    });
    assert.deepEqual(parseAugmentSpec('none'), NO_AUGMENT);
    assert.ok(isNoAugment(parseAugmentSpec('')) && !isNoAugment(ALL));
    assert.equal(describeAugmentSpec(ALL), 'flip p=0.5, crop scale 0.5–1 ratio 0.75–1.33, rotate ±15°, color b0.2 c0.2 s0.2');
  });

  it('takes parameters', () => {
    const spec = parseAugmentSpec(' flip=1, crop=0.3-0.9 ,rotate=5,brightness=0.4 ');
    assert.equal(spec.flip?.probability, 1);
    assert.deepEqual(spec.crop?.scale, [0.3, 0.9]);
    assert.deepEqual(spec.crop?.ratio, AUGMENT_DEFAULTS.crop.ratio);
    assert.equal(spec.rotate?.maxDegrees, 5);
    assert.deepEqual(spec.color, { brightness: 0.4, contrast: 0, saturation: 0 });
    assert.deepEqual(parseAugmentSpec('crop=0.6').crop?.scale, [0.6, 1]);
  });

  it('rejects unknown names and bad values, quoting the item', () => {
    const invalid = (pattern: RegExp) => (e: unknown): boolean =>
      e instanceof FinetuneError && e.code === 'INVALID_OPTION' && pattern.test(`${e.message} ${e.hint}`);
    assert.throws(() => parseAugmentSpec('flip,flop'), invalid(/"flop".*did you mean "flip"/));
    assert.throws(() => parseAugmentSpec('flip=2'), invalid(/"flip=2"/));
    assert.throws(() => parseAugmentSpec('crop=0.9-0.5'), invalid(/"crop=0\.9-0\.5"/));
    assert.throws(() => parseAugmentSpec('rotate=90'), invalid(/"rotate=90"/));
    assert.throws(() => validateAugmentSpec({ ...NO_AUGMENT, crop: { scale: [0, 1], ratio: [1, 1] } }), invalid(/crop\.scale/));
  });

  it('has a cache key that ignores key order and changes with any parameter', () => {
    const reordered = { color: ALL.color, rotate: ALL.rotate, crop: ALL.crop, flip: ALL.flip };
    assert.equal(augmentSpecKey(reordered), augmentSpecKey(ALL));
    assert.notEqual(augmentSpecKey(parseAugmentSpec('flip,crop,rotate=14,color')), augmentSpecKey(ALL));
  });
});

describe('augmentedRgb', () => {
  it('is deterministic per (image content, view, seed), whether given a path or bytes', async () => {
    const path = join(tmp, 'photo.png');
    await writeFile(path, photo);
    const first = await augmentedRgb(photo, SPEC, ALL, 1, 7);
    const again = await augmentedRgb(path, SPEC, ALL, 1, 7);
    assert.deepEqual(again.data, first.data);
    assert.deepEqual(again.params, first.params);
    const withHash = await augmentedRgb(photo, SPEC, ALL, 1, 7, { contentSha256: sha256(photo) });
    assert.deepEqual(withHash.data, first.data);
    assert.equal(first.data.length, 32 * 32 * 3);
    assert.deepEqual([first.width, first.height, first.sourceWidth, first.sourceHeight], [32, 32, 60, 45]);
  });

  it('gives different views for different view indices, seeds and images; view 0 is the original', async () => {
    const views = await Promise.all([1, 2, 3, 4].map((view) => augmentedRgb(photo, SPEC, ALL, view, 7)));
    for (let i = 0; i < views.length; i++) for (let j = i + 1; j < views.length; j++)
      assert.ok(differs(views[i]!.data, views[j]!.data), `views ${i + 1} and ${j + 1} are identical`);
    assert.ok(differs((await augmentedRgb(photo, SPEC, ALL, 1, 8)).data, views[0]!.data), 'seed changes the view');
    const original = await decodeToRgb(photo, SPEC);
    const zero = await augmentedRgb(photo, SPEC, ALL, 0, 7);
    assert.deepEqual(zero.data, original.data);
    for (const view of views) assert.ok(differs(view.data, original.data));
  });

  it('flips to the exact mirror of the original', async () => {
    const original = await decodeToRgb(photo, SPEC);
    const flipped = await augmentedRgb(photo, SPEC, only({ flip: { probability: 1 } }), 1, 0);
    assert.equal(flipped.params.flipped, true);
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) for (let c = 0; c < 3; c++)
      assert.equal(flipped.data[(y * 32 + x) * 3 + c], original.data[(y * 32 + 31 - x) * 3 + c]);
    const kept = await augmentedRgb(photo, SPEC, only({ flip: { probability: 0 } }), 1, 0);
    assert.deepEqual(kept.data, original.data);
    // p = 0.5 flips some views and not others.
    const decisions = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(async (view) =>
      (await augmentedRgb(photo, SPEC, only({ flip: { probability: 0.5 } }), view, 3)).params.flipped));
    assert.ok(decisions.includes(true) && decisions.includes(false), `flip decisions ${decisions}`);
    const row = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    mirrorRows(row, 3, 1);
    assert.deepEqual([...row], [7, 8, 9, 4, 5, 6, 1, 2, 3]);
  });

  it('crops a box of the requested area and ratio inside the image', async () => {
    const crop = only({ crop: { scale: [0.3, 0.6], ratio: [0.75, 4 / 3] } });
    for (let view = 1; view <= 12; view++) {
      const { params } = await augmentedRgb(photo, SPEC, crop, view, 11);
      const box = params.cropBox!;
      assert.ok(box.left >= 0 && box.top >= 0 && box.left + box.width <= 60 && box.top + box.height <= 45, JSON.stringify(box));
      const area = (box.width * box.height) / (60 * 45);
      assert.ok(area > 0.25 && area < 0.66, `area fraction ${area}`);
      const ratio = box.width / box.height;
      assert.ok(ratio > 0.7 && ratio < 1.4, `ratio ${ratio}`);
    }
  });

  it('rotates and zooms so that no border fill appears, in the sampled direction', async () => {
    const rotate = only({ rotate: { maxDegrees: 15 } });
    for (let view = 1; view <= 4; view++) {
      const image = await augmentedRgb(flat, SPEC, rotate, view, 1);
      assert.notEqual(image.params.rotationDegrees, 0);
      for (let i = 0; i < image.data.length; i += 3)
        assert.deepEqual([...image.data.subarray(i, i + 3)], [200, 30, 60], `pixel ${i / 3} of view ${view}`);
    }
    // A vertical edge (black left, white right) leans left at the top for a counter-clockwise (positive) angle.
    const edge = Buffer.alloc(64 * 64 * 3);
    for (let y = 0; y < 64; y++) edge.fill(255, (y * 64 + 32) * 3, (y * 64 + 64) * 3);
    const edgePng = await sharp(edge, { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
    const square = { ...SPEC, resizeMode: 'direct' as const, resizeSize: 32, cropSize: 32 };
    const firstWhite = (data: Uint8Array, row: number): number => {
      for (let x = 0; x < 32; x++) if (data[(row * 32 + x) * 3]! > 127) return x;
      return 32;
    };
    let checked = 0;
    for (let view = 1; view <= 6; view++) {
      const image = await augmentedRgb(edgePng, square, rotate, view, 2);
      const degrees = image.params.rotationDegrees;
      if (Math.abs(degrees) < 5) continue;
      const lean = firstWhite(image.data, 31) - firstWhite(image.data, 0);
      assert.equal(Math.sign(lean), Math.sign(degrees), `view ${view}: ${degrees}° gave lean ${lean}`);
      checked++;
    }
    assert.ok(checked >= 2, `only ${checked} views had |angle| ≥ 5°`);
  });

  it('jitters brightness, contrast and saturation with the torchvision formulas', async () => {
    const gray = await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: 100, g: 100, b: 100 } } }).png().toBuffer();
    const image = await augmentedRgb(gray, SPEC, only({ color: { brightness: 0.5, contrast: 0.5, saturation: 0.5 } }), 1, 4);
    // Contrast and saturation leave a flat gray unchanged; brightness scales it.
    const expected = Math.round(100 * image.params.brightness);
    assert.notEqual(image.params.brightness, 1);
    assert.ok(image.data.every((v) => v === expected), `expected all ${expected}`);

    const saturationOnly = await augmentedRgb(flat, SPEC, only({ color: { brightness: 0, contrast: 0, saturation: 1 } }), 1, 4);
    const s = saturationOnly.params.saturation;
    const luma = 0.299 * 200 + 0.587 * 30 + 0.114 * 60;
    assert.deepEqual([...saturationOnly.data.subarray(0, 3)],
      [200, 30, 60].map((v) => Math.min(255, Math.max(0, Math.round(luma + (v - luma) * s)))));
  });

  it('draws each augmentation from its own stream: enabling colour does not move the crop or flip', async () => {
    const a = await augmentedRgb(photo, SPEC, parseAugmentSpec('flip,crop'), 3, 5);
    const b = await augmentedRgb(photo, SPEC, parseAugmentSpec('flip,crop,color'), 3, 5);
    assert.deepEqual([a.params.cropBox, a.params.flipped], [b.params.cropBox, b.params.flipped]);
  });

  it('throws IMAGE_DECODE_FAILED for undecodable input', async () => {
    await assert.rejects(augmentedRgb(Buffer.from('not an image'), SPEC, ALL, 1, 0, { sourceName: 'x.png' }),
      (e: unknown) => e instanceof FinetuneError && e.code === 'IMAGE_DECODE_FAILED' && /"x\.png"/.test(e.message));
    await assert.rejects(augmentedRgb(photo, SPEC, ALL, -1, 0), RangeError);
  });
});
