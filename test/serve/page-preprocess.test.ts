/** The page's preprocessing (plain JavaScript for the browser) must match the library's, value for value. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import {
  decodeToRgb, normalizePixels as libraryNormalize, resizeGeometry as libraryGeometry,
} from '../../src/image/preprocess-image.js';
import { normalizePixels, resizeGeometry, resizeToCrop, rgbaToRgb, topK } from '../../src/serve/page/preprocess.js';
import type { PreprocessSpec } from '../../src/types.js';
import { seededRandom } from './tiny-classifier.js';

const BASE: PreprocessSpec = {
  resizeMode: 'shorter-side', resizeSize: 256, resizeFilter: 'pil-bilinear', cropSize: 224, scale: 1 / 255,
  mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB', layout: 'NCHW',
};

describe('page preprocess.js', () => {
  it('computes the resize and crop geometry with the library\'s own function, in the spec\'s convention', () => {
    assert.equal(resizeGeometry, libraryGeometry);
    assert.deepEqual({ ...resizeGeometry(32, 47, { ...BASE, resizeSize: 32, cropSize: 32 }) },
      { resizeWidth: 32, resizeHeight: 47, cropLeft: 0, cropTop: 7, cropSize: 32 });
    assert.deepEqual({ ...resizeGeometry(375, 500, { ...BASE, resizeSize: 224, geometry: 'torchvision' }) },
      { resizeWidth: 224, resizeHeight: 298, cropLeft: 0, cropTop: 37, cropSize: 224 });
  });

  it('normalises pixels bit-for-bit like the library for every layout and channel order', () => {
    const cropSize = 5;
    const random = seededRandom(9);
    const rgb = Uint8Array.from({ length: cropSize * cropSize * 3 }, () => Math.floor(random() * 256));
    for (const layout of ['NCHW', 'NHWC'] as const) {
      for (const channelOrder of ['RGB', 'BGR'] as const) {
        const spec: PreprocessSpec = { ...BASE, cropSize, resizeSize: cropSize, layout, channelOrder, scale: 1, mean: [103.9, 116.8, 123.7], std: [57.4, 57.1, 58.4] };
        assert.deepEqual(normalizePixels(rgb, spec), libraryNormalize(rgb, spec), `${layout} ${channelOrder}`);
      }
    }
    // Hand check: pixel 0, channel R, NCHW/RGB: (rgb[0] × 1 − 103.9) / 57.4.
    const spec: PreprocessSpec = { ...BASE, cropSize, resizeSize: cropSize, scale: 1, mean: [103.9, 116.8, 123.7], std: [57.4, 57.1, 58.4] };
    assert.equal(normalizePixels(rgb, spec)[0], Math.fround((rgb[0]! - 103.9) / 57.4));
  });

  it('resizes decoded pixels to the crop exactly as decodeToRgb does, for every exact filter', async () => {
    const random = seededRandom(11);
    for (const [width, height] of [[61, 47], [23, 90], [640, 480], [9, 9]] as const) {
      const rgb = Uint8Array.from({ length: width * height * 3 }, () => Math.floor(random() * 256));
      const png = await sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
      for (const resizeFilter of ['pil-bilinear', 'pil-bicubic', 'torch-bilinear', 'nearest'] as const) {
        for (const [resizeSize, cropSize] of [[32, 28], [256, 224]] as const) {
          for (const geometry of ['zoo', 'torchvision'] as const) {
            const spec: PreprocessSpec = { ...BASE, resizeFilter, resizeSize, cropSize, geometry };
            assert.deepEqual(resizeToCrop(rgb, width, height, spec), (await decodeToRgb(png, spec)).data,
              `${width}×${height} ${resizeFilter} ${resizeSize}/${cropSize} ${geometry}`);
          }
        }
      }
    }
    assert.equal(resizeToCrop(new Uint8Array(12), 2, 2, { ...BASE, resizeFilter: 'sharp-linear' }), null);   // libvips' own: canvas
  });

  it('drops alpha and ranks classes', () => {
    assert.deepEqual([...rgbaToRgb([1, 2, 3, 255, 4, 5, 6, 0])], [1, 2, 3, 4, 5, 6]);
    const ranked = topK([0.1, 0.6, 0.1, 0.2], ['a', 'b', 'c', 'd'], 3);
    assert.deepEqual(ranked.map((entry) => entry.className), ['b', 'd', 'a']);
    assert.equal(topK([0.5, 0.5], ['x'], 5)[1]!.className, 'class 1');
  });
});
